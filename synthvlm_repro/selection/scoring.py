"""One pass over the candidates: each image is decoded once and feeds every active score.

The scores are :class:`~synthvlm_repro.selection.scorer.Scorer` objects (CLIPScore and SSIM, plus any
``selection.extra_scores``). DataLoader workers decode each image and build every scorer's input from
it (CLIP preprocessing, the SSIM round-trip pair, or with the ``skimage`` backend the SSIM itself), a few
images per fetch so that all workers stay busy; the main process regroups them into model batches on
the device and lets each scorer compute its values (CLIP encodes the images and the distinct captions,
SSIM runs batched in torch).

Sharding: captions are dealt to shards (``i/n``, or torchrun's ``RANK``/``WORLD_SIZE``) so the
candidates of a caption stay together and its text is encoded once. Resuming: results are written in
part files of ``chunk_size`` rows under ``selection/score_parts/<settings hash>/``; a rerun skips pairs
already scored with the same settings. Rows are never fatal: a missing/empty path or caption (status
``missing``), a path that leaves the run dir (``refused``, see :mod:`synthvlm_repro.path_policy`), an
unreadable image (``missing``/``corrupt``/``truncated``) and a near-constant image (``blank``, which would
otherwise score SSIM 1.0 and win selection) are recorded with a status and a reason, and never selected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from synthvlm_repro.atomic import write_json, write_parquet
from synthvlm_repro.image_checks import is_near_constant
from synthvlm_repro.runtime.distributed import Shard, cpu_cores_per_rank, current_shard, local_rank_device
from synthvlm_repro.path_policy import PathPolicyError, resolve_within
from synthvlm_repro.selection.scorer import active_scores, build_scorers, combined_score, scorer_class, \
    scorer_settings

KEY = ["caption_id", "candidate"]
MANIFEST_COLUMNS = ["caption_id", "candidate", "caption", "path", "status"]
ROW_COLUMNS = ["caption_id", "candidate", "caption", "path"]
STATUS_COLUMNS = ["status", "error"]
#: The part files' columns with the paper's two scores (more with ``selection.extra_scores``).
SCORE_COLUMNS = ROW_COLUMNS + ["clip_score", "ssim"] + STATUS_COLUMNS


def part_columns(score_columns) -> list[str]:
    """Columns of a part file holding ``score_columns``."""
    return ROW_COLUMNS + list(score_columns) + STATUS_COLUMNS


def active_columns(cfg) -> list[str]:
    """The score columns a config writes, in scorer order."""
    return [c for name in active_scores(cfg) for c in scorer_class(name).columns]


class IncompleteScoresError(ValueError):
    """Some pairs have not been scored yet (a shard is unfinished)."""


# --------------------------------------------------------------------------- inputs


def read_manifest(path: Path) -> pd.DataFrame:
    """The synthesis manifest's columns this stage needs; a bad file is a one-line error naming it."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no synthesis manifest; run stage 02 (synthesis) first")
    df = pd.read_parquet(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (README: synthesis/manifest.parquet)")
    df = df[MANIFEST_COLUMNS].copy()
    df["caption_id"] = df["caption_id"].astype(str)
    bad = pd.to_numeric(df["candidate"], errors="coerce").isna()
    if bad.any():
        row = df[bad].iloc[0]
        raise ValueError(f"{path}: row {df.index[bad][0]} (caption_id {row.caption_id!r}): candidate "
                         f"{row.candidate!r} is not a number")
    df["candidate"] = df["candidate"].astype(int)
    dup = df.duplicated(KEY)
    if dup.any():
        row = df[dup].iloc[0]
        raise ValueError(f"{path}: duplicate row for caption_id {row.caption_id!r} candidate {row.candidate}")
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)


def shard_rows(df: pd.DataFrame, shard: Shard) -> pd.DataFrame:
    """The rows of ``shard``: captions in sorted-id order dealt round-robin."""
    mine = set(shard.take(np.sort(df["caption_id"].unique())))
    return df[df["caption_id"].isin(mine)].reset_index(drop=True)


# --------------------------------------------------------------------------- decoding (workers)


@dataclass
class Decoded:
    index: int
    inputs: dict | None = None  # scorer name → its input for this image (see Scorer.prepare)
    status: str = "ok"
    error: str = ""


def decode_image(path: Path) -> Image.Image:
    """Open and fully decode an RGB image; raises with a reason for missing/corrupt/truncated files."""
    with Image.open(path) as im:
        im.load()  # decode now: a truncated file fails here, not later in a worker-less place
        return im.convert("RGB")


class PairImages:
    """Map-style dataset: row ``i`` → every scorer's input from its decoded image (or the failure reason).

    ``prepare`` maps scorer names to their ``prepare`` callables (what runs in the workers).
    """

    def __init__(self, paths: list[Path], prepare: dict, blank_max_std: float | None = None):
        self.paths, self.prepare, self.blank_max_std = paths, prepare, blank_max_std

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Decoded:
        path = self.paths[i]
        try:
            image = decode_image(path)
        except FileNotFoundError:
            return Decoded(i, status="missing", error=f"file not found: {path}")
        except UnidentifiedImageError as e:
            return Decoded(i, status="corrupt", error=f"not a readable image: {e}")
        except (OSError, SyntaxError, ValueError) as e:
            status = "truncated" if "truncated" in str(e).lower() else "corrupt"
            return Decoded(i, status=status, error=f"{type(e).__name__}: {e}")
        if self.blank_max_std is not None and is_near_constant(image, self.blank_max_std):
            return Decoded(i, status="blank", error=f"near-constant image (pixel std <= {self.blank_max_std:g} "
                                                    "in every channel): no content to score")
        return Decoded(i, inputs={name: prepare(image) for name, prepare in self.prepare.items()})


def stack_inputs(values: list):
    """One scorer's per-image inputs as a batch tensor: tensors and arrays stacked, numbers as float64."""
    import torch

    first = values[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(values)
    if isinstance(first, np.ndarray):
        return torch.from_numpy(np.stack(values))
    return torch.tensor(values, dtype=torch.float64)


def collate_decoded(items: list[Decoded]) -> dict:
    """Stack a batch in the worker (so the main process only moves pinned tensors to the device):
    ``{index, failed, inputs: {scorer name: batch tensor}}``."""
    ok = [d for d in items if d.status == "ok"]
    inputs = {name: stack_inputs([d.inputs[name] for d in ok]) for name in ok[0].inputs} if ok else {}
    return {"index": [d.index for d in ok], "failed": [d for d in items if d.status != "ok"], "inputs": inputs}


FETCH_SIZE = 8  # images per DataLoader fetch; the main process regroups them (see regroup)


def regroup(batches, size: int, device):
    """Merge the loader's small worker batches into model batches of ``size`` decoded images.

    Workers fetch a few images at a time so that every worker is busy even when the run is only a few
    model batches long (a DataLoader hands each batch to one worker). Tensors move to ``device`` as
    they arrive (from pinned memory on CUDA) and are joined there; failures ride with the next batch.
    """
    import torch

    index, failed, parts = [], [], {}

    def take(n: int) -> dict:
        nonlocal index, failed
        out = {"index": index[:n], "failed": failed, "inputs": {}}
        for k, pieces in parts.items():
            if not pieces:
                continue
            joined = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
            out["inputs"][k] = joined[:n]
            parts[k] = [] if len(joined) <= n else [joined[n:]]
        index, failed = index[n:], []
        return out

    for batch in batches:
        failed += batch["failed"]
        index += batch["index"]
        for k, value in batch["inputs"].items():
            parts.setdefault(k, []).append(value.to(device, non_blocking=True))
        while len(index) >= size:
            yield take(size)
    if index or failed:
        yield take(len(index))


def _prefetch(batch_size: int, fetch: int, workers: int) -> int | None:
    """Fetches queued per worker: enough that about two model batches are decoded ahead."""
    return max(2, -(-2 * batch_size // (fetch * workers))) if workers else None


# --------------------------------------------------------------------------- scoring


def settings_fingerprint(cfg) -> tuple[str, dict]:
    """Hash of every setting a score depends on: the active scorers and each one's settings (CLIP model
    and weights, prefix, precision, SSIM geometry, any extra score's), the blank threshold, the chunking.

    The precision enters as configured (``auto``, not the device's resolution of it), so scores made on
    GPUs are found by a ``select`` run on a CPU node. The weights do not enter: they are applied when the
    parts are merged, so ``selection select --set selection.ssim_weight=0`` reuses the same scores.
    """
    payload = {**scorer_settings(cfg), "blank_max_std": cfg.blank_max_std,
               # captions are encoded in windows of chunk_size rows; another window changes the text batches
               # and so clip_score in the last bits (<= 1e-7): a resumed run must not mix two chunkings
               "chunk_size": cfg.chunk_size}
    if cfg.decode != "cpu":  # GPU decoding moves scores by up to ~1e-3: its parts are kept apart
        payload["decode"] = cfg.decode
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12], payload


def _read_parts(parts_dir: Path, columns: list[str] = SCORE_COLUMNS) -> pd.DataFrame:
    files = sorted(parts_dir.glob("shard-*/part-*.parquet"))
    if not files:
        return pd.DataFrame(columns=columns)
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return df.drop_duplicates(KEY, keep="last")


def score_rows(rows: pd.DataFrame, root: Path | None, cfg, device: str, parts_dir: Path,
               shard: Shard = Shard(), clip_model=None, progress: bool = True) -> int:
    """Score this shard's rows not yet in ``parts_dir`` with every active scorer; returns how many rows
    were scored now.

    ``rows`` has ``caption_id, candidate, caption, path, status`` (and optionally ``error``); ``path`` is
    relative to ``root`` and must stay inside it (or absolute when ``root`` is None). Rows whose status is
    not ``ok``, or whose path or caption is unusable, are recorded with a reason, not decoded.
    ``clip_model``: a loaded :class:`~synthvlm_repro.selection.clipscore.ClipScorer` to reuse.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    rows = shard_rows(rows, shard)
    done = _read_parts(parts_dir)
    if len(done):
        done_keys = set(zip(done["caption_id"], done["candidate"]))
        rows = rows[[k not in done_keys for k in zip(rows["caption_id"], rows["candidate"])]]
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return 0
    shard_dir = parts_dir / f"shard-{shard.index:04d}-of-{shard.count:04d}"
    shard_dir.mkdir(parents=True, exist_ok=True)
    part_no = len(list(shard_dir.glob("part-*.parquet")))

    rows, image_paths = check_rows(rows, root)
    skipped = rows[rows["status"] != "ok"]
    todo = rows[rows["status"] == "ok"].reset_index(drop=True)
    paths = [p for p, ok in zip(image_paths, rows["status"] == "ok") if ok]
    columns = active_columns(cfg)
    records = [_record(r, None, r.status, r.error, columns) for r in skipped.itertuples()]

    def flush(final: bool = False) -> None:
        nonlocal records, part_no
        while records and (final or len(records) >= cfg.chunk_size):
            chunk, records = records[: cfg.chunk_size], records[cfg.chunk_size:]
            write_parquet(shard_dir / f"part-{part_no:06d}.parquet",
                          pd.DataFrame(chunk, columns=part_columns(columns)))
            part_no += 1

    if not todo.empty:
        loaded = {"clip_score": clip_model} if clip_model is not None else {}
        scorers = build_scorers(cfg, device, **loaded)
        for scorer in scorers:
            scorer.begin(list(todo["caption"]))
        workers = cpu_cores_per_rank() if cfg.num_workers is None else cfg.num_workers
        if cfg.decode == "gpu":  # nvJPEG on the scoring GPU (selection/gpu_decode.py)
            from synthvlm_repro.selection.gpu_decode import check_decode_device, decoded_batches

            check_decode_device(cfg.decode, device)
            batches = decoded_batches(paths, scorers, cfg, device, workers)
        else:
            dataset = PairImages(paths, {s.name: s.prepare for s in scorers}, cfg.blank_max_std)
            fetch = min(cfg.batch_size, FETCH_SIZE)
            loader = DataLoader(dataset, batch_size=fetch, num_workers=workers, collate_fn=collate_decoded,
                                pin_memory=str(device).startswith("cuda"),
                                prefetch_factor=_prefetch(cfg.batch_size, fetch, workers))
            batches = regroup(loader, cfg.batch_size, device)
        bar = tqdm(total=len(todo), desc=f"scoring shard {shard}", unit="img", disable=not progress)
        for batch in batches:
            for d in batch["failed"]:
                records.append(_record(todo.iloc[d.index], None, d.status, d.error, columns))
            ok = batch["index"]
            if ok:
                values = score_batch(scorers, batch["inputs"], ok)
                for k, i in enumerate(ok):
                    records.append(_record(todo.iloc[i], {c: float(v[k]) for c, v in values.items()}, "ok", "",
                                           columns))
            bar.update(len(ok) + len(batch["failed"]))
            flush()
        bar.close()
    flush(final=True)
    return len(rows)


def check_rows(rows: pd.DataFrame, root: Path | None) -> tuple[pd.DataFrame, list[Path | None]]:
    """``rows`` with ``status``/``error`` set for rows that cannot be scored, and each row's image path.

    Not ``ok`` in the manifest: kept with the synthesis status. Path or caption missing (None, NaN,
    empty): ``missing``. Path outside ``root`` (``../x.jpg``, an absolute path, a symlink out): ``refused``.
    """
    rows = rows.copy()
    errors = list(rows["error"]) if "error" in rows.columns else [""] * len(rows)
    statuses, paths = list(rows["status"]), []
    for k, (status, path, caption) in enumerate(zip(statuses, rows["path"], rows["caption"])):
        resolved = None
        if status != "ok":
            errors[k] = errors[k] if isinstance(errors[k], str) and errors[k] else f"synthesis status {status!r}"
        elif not isinstance(caption, str) or not caption.strip():
            statuses[k], errors[k] = "missing", f"caption is missing or empty: {caption!r}"
        else:
            try:
                if root is None:  # absolute paths (a real dataset's, resolved by its reader)
                    resolved = resolve_within(Path.cwd(), path, allow_absolute=True, what="image path")
                else:
                    resolved = resolve_within(root, path, what="manifest path")
            except PathPolicyError as e:
                missing = path is None or (isinstance(path, float) and np.isnan(path)) or \
                    (isinstance(path, str) and not path.strip())
                statuses[k], errors[k] = ("missing" if missing else "refused"), str(e)
        paths.append(resolved)
    rows["status"], rows["error"] = statuses, errors
    return rows, paths


def _clean(value) -> str | None:
    """A manifest value as stored in the parts: text, or None for a missing one (NaN, None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def score_batch(scorers, inputs: dict, rows: list[int]) -> dict[str, np.ndarray]:
    """Every scorer's values of one model batch: ``{column: values}`` (one value per row)."""
    values = {}
    for scorer in scorers:
        out = scorer.score(inputs[scorer.name], rows)
        missing = [c for c in scorer.columns if c not in out]
        if missing:
            raise ValueError(f"scorer {scorer.name!r} returned no {', '.join(missing)} (its columns)")
        values.update({c: out[c] for c in scorer.columns})
    return values


def _record(row, values: dict | None, status: str, error: str, columns=("clip_score", "ssim")) -> dict:
    """One part-file row: the manifest row, each score column (NaN when not scored), status and error."""
    values = values or {}
    return {"caption_id": row.caption_id, "candidate": int(row.candidate), "caption": _clean(row.caption),
            "path": _clean(row.path), **{c: values.get(c, np.nan) for c in columns}, "status": status, "error": error}


def merge_scores(rows: pd.DataFrame, parts_dir: Path, weights) -> pd.DataFrame:
    """All scored rows of ``rows`` (every shard must be done) with ``score`` =
    :func:`~synthvlm_repro.selection.scorer.combined_score` (``weights``: a mapping or the paper's λ)."""
    scored = _read_parts(parts_dir)
    merged = rows[KEY].merge(scored, on=KEY, how="left", indicator=True)
    missing = merged["_merge"] != "both"
    if missing.any():
        first = merged[missing].iloc[0]
        raise IncompleteScoresError(f"{parts_dir}: {int(missing.sum())} of {len(rows)} pairs not scored yet (first: "
                           f"{first.caption_id!r} #{first.candidate}); run the remaining shards")
    merged = merged.drop(columns="_merge")
    merged["score"] = combined_score(merged, weights)
    values = [c for c in scored.columns if c not in ROW_COLUMNS + STATUS_COLUMNS]
    cols = ROW_COLUMNS + values + ["score"] + STATUS_COLUMNS
    return merged[cols].sort_values(KEY, kind="stable").reset_index(drop=True)


def score_parts_dir(ctx) -> Path:
    """``selection/score_parts/<settings hash>/``: where the candidates' scores for these settings live."""
    return ctx.paths.score_parts_dir(settings_fingerprint(ctx.cfg.selection)[0])


def score_manifest(ctx, shard: Shard | None = None, device: str | None = None,
                   progress: bool = True) -> Path:
    """Score this shard of the run's synthesis manifest; returns the parts folder for these settings."""
    cfg = ctx.cfg.selection
    device = device or local_rank_device(ctx.device)
    _, payload = settings_fingerprint(cfg)
    parts_dir = score_parts_dir(ctx)
    parts_dir.mkdir(parents=True, exist_ok=True)
    write_json(parts_dir / "settings.json", payload)
    rows = read_manifest(ctx.paths.synthesis_manifest)
    score_rows(rows, ctx.paths.root, cfg, device, parts_dir, shard or current_shard(), progress=progress)
    return parts_dir
