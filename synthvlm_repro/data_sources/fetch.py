"""``data fetch NAME``: download a registry entry's hub files with ``huggingface_hub`` and place them
under the data root.

Downloads go through ``hf_hub_download`` into the HF cache, which resumes interrupted downloads and,
with ``HF_HUB_OFFLINE=1``, resolves from the cache alone (the same call either way). Placement is the
kit's: a plain file is hard-linked from the cache (copied across filesystems), a zip is extracted member
by member (members already there with the right size are skipped, so an interrupted extraction resumes),
MMLU's parquet is rewritten as the Hendrycks CSV layout that ``evaluation.mmlu_data_dir`` reads. Each
placed file's digest, as the cache names its blob (sha256 for LFS files, git's sha1 otherwise), goes into
``<data root>/.synthvlm-data.json`` so ``data check --checksums`` can verify it later.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from synthvlm_repro.atomic import atomic_open, atomic_path, write_json
from synthvlm_repro.data_sources.digests import blob_digest, file_digest
from synthvlm_repro.data_sources.registry import DataSource, HubFile, get_source
from synthvlm_repro.path_policy import resolve_within

MANIFEST = ".synthvlm-data.json"
COMPLETE_MARK = ".complete"


class FetchError(RuntimeError):
    """A download or placement problem, in one line."""


def hub_path(f: HubFile, cache_dir: str | os.PathLike | None = None) -> Path:
    """The file in the HF cache (downloaded, or resumed, first unless ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(hf_hub_download(f.repo_id, f.filename, repo_type=f.repo_type, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        raise FetchError(f"{f.repo_id}/{f.filename}: not in the HF cache and the hub cannot be reached "
                         "(HF_HUB_OFFLINE=1 or no network): fetch it on a machine online, then copy the cache") from None
    except (EntryNotFoundError, RepositoryNotFoundError) as e:
        raise FetchError(f"{f.repo_id}/{f.filename}: not on the hub ({type(e).__name__}); gated repos need "
                         "`hf auth login`") from None


def read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def _record(root: Path, entries: dict[str, dict]) -> None:
    manifest = read_manifest(root)
    manifest.update(entries)
    write_json(root / MANIFEST, manifest)


def place_file(cached: Path, target: Path) -> None:
    """``target`` as a hard link to the cache blob (a copy when linking is not possible)."""
    blob = cached.resolve()
    if target.exists() and target.stat().st_size == blob.stat().st_size and os.path.samefile(target, blob):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(blob, tmp)
        except OSError:  # another filesystem, or links not allowed
            shutil.copyfile(blob, tmp)


def _strip_prefix(names: list[str], folder_name: str) -> str:
    """Archives that wrap everything in ``<folder_name>/`` are extracted without that level."""
    prefix = folder_name + "/"
    files = [n for n in names if not n.endswith("/")]
    return prefix if files and all(n.startswith(prefix) for n in files) else ""


def extract_zip(archive: Path, target: Path) -> int:
    """Extract ``archive`` into ``target`` (resumable; member paths may not leave ``target``).

    Returns the number of files in the archive. A ``.complete`` mark (archive blob name, file count) is
    written last; with it in place the archive is not opened again.
    """
    mark = target / COMPLETE_MARK
    if mark.exists():
        blob, _, count = mark.read_text().strip().partition(" ")
        if blob == archive.resolve().name:
            return int(count or 0)
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        strip = _strip_prefix([i.filename for i in infos], target.name)
        for info in tqdm(infos, desc=f"extract {archive.name}", unit="file", mininterval=2):
            name = info.filename[len(strip):]
            out = resolve_within(target, name, what=f"{archive.name} member")
            if out.exists() and out.stat().st_size == info.file_size:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, atomic_open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    mark.write_text(f"{archive.resolve().name} {len(infos)}\n")
    return len(infos)


def mmlu_to_hendrycks_csv(parquet_files: dict[str, Path], out_dir: Path) -> dict[str, int]:
    """cais/mmlu parquet (``question, subject, choices, answer``) -> ``{split}/{subject}_{split}.csv`` rows
    ``question,A,B,C,D,answer-letter`` (the layout ``evaluation.mmlu`` reads). Returns rows per split."""
    import pyarrow.parquet as pq

    counts = {}
    for split, path in parquet_files.items():
        by_subject: dict[str, list[list[str]]] = {}
        table = pq.read_table(path, columns=["question", "subject", "choices", "answer"]).to_pylist()
        for i, row in enumerate(table, 1):
            choices, answer = row["choices"], row["answer"]
            if len(choices) != 4 or answer not in (0, 1, 2, 3):
                raise FetchError(f"{path}: row {i}: expected 4 choices and answer 0-3, got {len(choices)} and {answer!r}")
            by_subject.setdefault(row["subject"], []).append([row["question"], *choices, "ABCD"[answer]])
        for subject, rows in by_subject.items():
            with atomic_open(out_dir / split / f"{subject}_{split}.csv", "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(rows)
        counts[split] = len(table)
    return counts


def fetch(name: str, data_root: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
          log=print) -> list[Path]:
    """Fetch registry entry ``name`` into ``data_root``; returns the placed paths.

    Entries without hub files raise :class:`FetchError` carrying their manual steps.
    """
    source = get_source(name)
    root = Path(data_root).expanduser().resolve()
    if not source.fetchable:
        steps = "; ".join(s.replace("DATA_ROOT", str(root)) for s in source.manual)
        raise FetchError(f"{name} is not on the hub; get it by hand: {steps}")
    cached = {f.filename: hub_path(f, cache_dir) for f in source.hub}
    placed = _place(source, root, cached)
    _record(root, {str(p.relative_to(root)): {"source": name, "digest": blob_digest(c)}
                   for p, c in placed if c is not None})
    for path, _ in placed:
        log(f"{name}: {path}")
    return [p for p, _ in placed]


def _place(source: DataSource, root: Path, cached: dict[str, Path]) -> list[tuple[Path, Path | None]]:
    """Put the cached files where the registry says; ``(placed path, cache file or None)`` pairs."""
    target = resolve_within(root, source.path, what=f"{source.name} path")
    if source.unpack == "file":
        (cache_file,) = cached.values()
        place_file(cache_file, target)
        return [(target, cache_file)]
    if source.unpack == "kenlm":
        out = []
        for filename, cache_file in cached.items():
            dest = target / Path(filename).name
            place_file(cache_file, dest)
            out.append((dest, cache_file))
        return out
    if source.unpack == "unzip":
        (cache_file,) = cached.values()
        n = extract_zip(cache_file, target)
        return [(target, None)] if n else []
    if source.unpack == "mmlu_csv":
        splits = {split: next(p for f, p in cached.items() if Path(f).name.startswith(f"{split}-"))
                  for split in ("dev", "test")}
        mmlu_to_hendrycks_csv(splits, target)
        return [(target, None)]
    raise FetchError(f"{source.name}: unknown unpack {source.unpack!r}")


def verify_checksums(root: Path, log=print) -> list[str]:
    """Re-hash every file the manifest records; returns one line per mismatch or missing file."""
    problems = []
    for rel, entry in tqdm(sorted(read_manifest(root).items()), desc="checksums", unit="file", disable=None):
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: recorded by `data fetch` but missing")
            continue
        expected = entry.get("digest")
        if expected and file_digest(path, expected) != expected:
            problems.append(f"{rel}: checksum mismatch (expected {expected})")
    return problems
