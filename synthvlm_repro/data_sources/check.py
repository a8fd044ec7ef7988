"""``data check``: is each input where the registry says, in the right layout, complete; then write the
found paths into a profile YAML (``extends: paper``) that a run can use or another profile can extend.

Checks per kind: LLaVA JSON files are streamed (rows counted against the published figure); image sets are
checked against the JSON that names them (every referenced image must exist, missing ones are counted per
set with examples); the evaluation tree is read with the evaluation stage's own benchmark readers; MMLU's
57 x 2 CSV files are parsed; the KenLM files are opened. ``--checksums`` re-hashes what ``data fetch`` placed.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Literal

import yaml
from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_text
from synthvlm_repro.data_sources.fetch import COMPLETE_MARK, MANIFEST, verify_checksums
from synthvlm_repro.data_sources.registry import BY_NAME, EVAL_ANSWER_FILES, SOURCES, DataSource
from synthvlm_repro.path_policy import PathPolicyError, resolve_within

Status = Literal["ok", "warn", "missing", "fail"]
MAX_EXAMPLES = 3


@dataclass
class SourceCheck:
    """The verdict on one registry entry: ``ok``/``warn`` count as present."""

    name: str
    status: Status
    path: Path
    summary: str
    details: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.status in ("ok", "warn")


class _JsonImages:
    """The ``image`` paths each LLaVA JSON names, read once per check run (streamed with ijson)."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[str, tuple[int, list[str]]] = {}

    def rows_and_images(self, source: DataSource) -> tuple[int, list[str]]:
        if source.name not in self.cache:
            self.cache[source.name] = _read_llava_json(self.root / source.path)
        return self.cache[source.name]


def _read_llava_json(path: Path) -> tuple[int, list[str]]:
    import ijson

    rows, images = 0, []
    with open(path, "rb") as fh:
        try:
            for i, row in enumerate(tqdm(ijson.items(fh, "item"), desc=f"read {path.name}", unit="row",
                                         mininterval=2, disable=None), 1):
                if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
                    raise ValueError(f"{path}: row {i}: expected an object with a 'conversations' list")
                rows += 1
                if "image" in row:
                    images.append(row["image"])
        except ijson.JSONError as e:
            raise ValueError(f"{path}: invalid JSON after row {rows}: {e}") from None
    return rows, images


def _count_files(folder: Path) -> int:
    n = 0
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                elif entry.name not in (COMPLETE_MARK, MANIFEST):
                    n += 1
    return n


def check_llava_json(source: DataSource, root: Path, jsons: _JsonImages) -> SourceCheck:
    path = root / source.path
    if not path.is_file():
        return SourceCheck(source.name, "missing", path, "file not found")
    try:
        rows, images = jsons.rows_and_images(source)
    except ValueError as e:
        return SourceCheck(source.name, "fail", path, str(e))
    summary = f"{rows:,} rows, {len(images):,} with an image"
    if source.expected_rows and rows != source.expected_rows:
        return SourceCheck(source.name, "warn", path, summary,
                           [f"expected {source.expected_rows:,} rows ({source.rows_source}): a subset or another version"])
    return SourceCheck(source.name, "ok", path, summary)


def check_image_dir(source: DataSource, root: Path, jsons: _JsonImages) -> SourceCheck:
    folder = root / source.path
    if not folder.is_dir():
        return SourceCheck(source.name, "missing", folder, "folder not found")
    n_files = _count_files(folder)
    if n_files == 0:
        return SourceCheck(source.name, "missing", folder, "folder is empty")
    summary = f"{n_files:,} files"
    if source.images_of is None:
        return SourceCheck(source.name, "ok", folder, summary)
    owner_name, prefix = source.images_of
    owner = BY_NAME[owner_name]
    if not (root / owner.path).is_file():
        return SourceCheck(source.name, "warn", folder, summary,
                           [f"not checked against {owner.path}: that file is not there ({owner_name})"])
    try:
        _, images = jsons.rows_and_images(owner)
    except ValueError as e:
        return SourceCheck(source.name, "warn", folder, summary, [f"not checked: {e}"])
    image_root = root / (owner.image_root or ".")
    wanted = [p for p in images if isinstance(p, str) and p.startswith(prefix)]
    missing, refused = [], []
    for rel in tqdm(wanted, desc=f"stat {source.name}", unit="img", mininterval=2, disable=None):
        try:
            if not resolve_within(image_root, rel, what="image").is_file():
                missing.append(rel)
        except PathPolicyError as e:
            refused.append(str(e))
    summary += f"; {len(wanted) - len(missing) - len(refused):,} of {len(wanted):,} images {owner.path} names"
    details = [f"missing: {m}" for m in missing[:MAX_EXAMPLES]] + refused[:MAX_EXAMPLES]
    if missing or refused:
        return SourceCheck(source.name, "fail", folder, summary + f" ({len(missing) + len(refused):,} missing)", details)
    return SourceCheck(source.name, "ok", folder, summary)


def check_kenlm(source: DataSource, root: Path, jsons: _JsonImages) -> SourceCheck:
    folder = root / source.path
    arpa, sp_model = folder / "en.arpa.bin", folder / "en.sp.model"
    absent = [p.name for p in (arpa, sp_model) if not p.is_file() or p.stat().st_size == 0]
    if absent:
        return SourceCheck(source.name, "missing", folder, f"{', '.join(absent)} not found")
    with open(arpa, "rb") as fh:
        head = fh.read(64)
    if not (head.startswith(b"mmap lm http://kheafield.com/code") or head.lstrip().startswith(b"\\data\\")):
        return SourceCheck(source.name, "fail", arpa, "not a KenLM binary or ARPA file")
    try:
        import sentencepiece
    except ImportError:
        return SourceCheck(source.name, "warn", folder, "files present", ["sentencepiece not installed: model not opened"])
    try:
        pieces = sentencepiece.SentencePieceProcessor(model_file=str(sp_model)).get_piece_size()
    except (RuntimeError, OSError) as e:
        return SourceCheck(source.name, "fail", sp_model, f"SentencePiece cannot open it: {e}")
    return SourceCheck(source.name, "ok", folder, f"KenLM {arpa.stat().st_size / 2**30:.2f} GiB, SentencePiece {pieces} pieces")


def check_mmlu(source: DataSource, root: Path, jsons: _JsonImages) -> SourceCheck:
    from synthvlm_repro.evaluation.mmlu_subjects import MMLU_SUBJECTS

    folder = root / source.path
    if not folder.is_dir():
        return SourceCheck(source.name, "missing", folder, "folder not found")
    rows, absent, bad = 0, [], []
    for split in ("dev", "test"):
        for subject in MMLU_SUBJECTS:
            path = folder / split / f"{subject}_{split}.csv"
            if not path.is_file():
                absent.append(f"{split}/{path.name}")
                continue
            with open(path, newline="", encoding="utf-8") as fh:
                for i, rec in enumerate(csv.reader(fh), 1):
                    if len(rec) != 6 or rec[5] not in ("A", "B", "C", "D"):
                        bad.append(f"{path}:{i}: expected question,A,B,C,D,answer-letter")
                        break
                    rows += 1
    if absent:
        return SourceCheck(source.name, "fail" if len(absent) < 114 else "missing", folder,
                           f"{len(absent)} of 114 subject files missing", absent[:MAX_EXAMPLES])
    if bad:
        return SourceCheck(source.name, "fail", folder, f"{len(bad)} malformed files", bad[:MAX_EXAMPLES])
    summary = f"57 subjects, {rows:,} questions"
    if source.expected_rows and rows != source.expected_rows:
        return SourceCheck(source.name, "warn", folder, summary, [f"expected {source.expected_rows:,} ({source.rows_source})"])
    return SourceCheck(source.name, "ok", folder, summary)


def check_llava_eval(source: DataSource, root: Path, jsons: _JsonImages,
                     benchmarks: Iterable[str] | None = None) -> SourceCheck:
    """Each benchmark read with the evaluation stage's own readers; every question's image must exist."""
    from synthvlm_repro.evaluation.benchmarks import BENCHMARKS, BenchmarkDataError, get_benchmark
    from synthvlm_repro.evaluation.config import EvaluationConfig

    folder = root / source.path
    if not folder.is_dir():
        return SourceCheck(source.name, "missing", folder, "folder not found")
    cfg = EvaluationConfig(data_dir=str(folder))
    names = list(benchmarks or BENCHMARKS)
    good, details = [], []
    for name in names:
        try:
            splits = get_benchmark(name).questions(folder, cfg)
        except (BenchmarkDataError, OSError, KeyError, ValueError) as e:
            details.append(f"{name}: {e}")
            continue
        questions = [q for qs in splits.values() for q in qs]
        no_image = [q for q in questions if q.image is not None and not q.image.is_file()]
        answers = [f for f in EVAL_ANSWER_FILES.get(name, ()) if not (folder / f).is_file()]
        if name == "vqav2" and "val" in splits and not (folder / "vqav2/v2_mscoco_val2014_annotations.json").is_file():
            answers.append("vqav2/v2_mscoco_val2014_annotations.json")
        if no_image:
            details.append(f"{name}: {len(no_image):,} of {len(questions):,} images missing, e.g. {no_image[0].image}")
        elif answers:
            details.append(f"{name}: answer file missing: {', '.join(answers)}")
        else:
            good.append(f"{name} {len(questions):,}")
    summary = f"{len(good)}/{len(names)} benchmarks complete" + (f" ({', '.join(good)} questions)" if good else "")
    if len(good) == len(names):
        return SourceCheck(source.name, "ok", folder, summary)
    return SourceCheck(source.name, "fail" if good else "missing", folder, summary, details)


CHECKERS = {"llava_json": check_llava_json, "image_dir": check_image_dir, "kenlm": check_kenlm,
            "mmlu": check_mmlu, "llava_eval": check_llava_eval}


def check_sources(data_root: str | os.PathLike, names: Iterable[str] | None = None, checksums: bool = False,
                  benchmarks: Iterable[str] | None = None) -> list[SourceCheck]:
    """Check the registry entries ``names`` (default: all) under ``data_root``."""
    root = Path(data_root).expanduser().resolve()
    jsons = _JsonImages(root)
    selected = [BY_NAME[n] for n in names] if names else list(SOURCES)
    results = []
    for source in selected:
        if source.kind == "llava_eval":
            results.append(check_llava_eval(source, root, jsons, benchmarks))
        else:
            results.append(CHECKERS[source.kind](source, root, jsons))
    if checksums:
        by_name = {r.name: r for r in results}
        from synthvlm_repro.data_sources.fetch import read_manifest

        manifest = read_manifest(root)
        for problem in verify_checksums(root):
            owner = manifest.get(problem.split(":", 1)[0], {}).get("source")
            if owner in by_name:
                by_name[owner].status = "fail"
                by_name[owner].details.append(problem)
    return results


def profile_overrides(results: list[SourceCheck], data_root: str | os.PathLike) -> dict:
    """The config keys that the present sources fill, as a nested profile mapping (absolute paths)."""
    root = Path(data_root).expanduser().resolve()
    out: dict = {}
    for result in results:
        if not result.present:
            continue
        for key, rel in BY_NAME[result.name].fills.items():
            stage, name = key.split(".", 1)
            out.setdefault(stage, {})[name] = str((root / rel).resolve())
    return out


def write_profile(results: list[SourceCheck], data_root: str | os.PathLike, out: str | os.PathLike,
                  extends: str | None = "paper") -> Path:
    """Write the found paths as a profile YAML (validated by loading it) and return its path."""
    from synthvlm_repro.config import load_config

    body = profile_overrides(results, data_root)
    lines = [f"# written by `synthvlm-repro data check` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"# data root: {Path(data_root).expanduser().resolve()}"]
    lines += [f"# {r.status:7s} {r.name}: {r.summary}" for r in results]
    lines.append("# use it as --profile <this file>, or `extends: <this file>` in a profile of your own")
    data = ({"extends": extends} if extends else {}) | body
    text = "\n".join(lines) + "\n" + yaml.safe_dump(data, sort_keys=False)
    out = Path(out)
    write_text(out, text)
    load_config(out)  # a profile the kit cannot load is a bug here, not the user's problem later
    return out


def format_results(results: list[SourceCheck]) -> str:
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        lines.append(f"{r.status.upper():7s} {r.name:<{width}}  {r.summary}  [{r.path}]")
        lines += [f"{'':7s} {'':<{width}}  - {d}" for d in r.details]
    return "\n".join(lines)
