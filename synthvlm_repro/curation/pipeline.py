"""Stage 01 end to end: read → normalise → rule filters → dedup → perplexity → image-text → judge → limit.

Rule statistics are computed while the source streams past (in ``num_proc`` processes); the later steps
run on the survivors. Every dropped row lands in ``rejected.parquet`` with the step that dropped it
(``reason``) and why (``detail``), so no row is ever lost silently.

Model steps read at most their model's context from a caption; a step that had to truncate captions
records how many as ``truncated`` in its ``funnel.json`` entry (and logs it). Before the image-text
filters, every original image is opened once: unreadable ones are ``image_unreadable`` rows (an error
naming file and row without ``skip_bad_rows``), near-constant ones are dropped as ``blank`` unscored.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_json, write_parquet, write_text
from synthvlm_repro.curation.dedup import exact_duplicates, near_duplicates
from synthvlm_repro.curation.readers import CaptionInputError, RowValidator, read_chunks
from synthvlm_repro.curation.rules import load_flagged_words, map_ordered, rule_filters, score_captions
from synthvlm_repro.curation.score_cache import IncompleteScoresError, ScoreCache, score_batched
from synthvlm_repro.curation.stats import STAT_COLUMNS
from synthvlm_repro.models import model_revision, resolve_model
from synthvlm_repro.runtime.distributed import local_rank_device

log = logging.getLogger(__name__)


@dataclass
class CurationResult:
    """What :func:`curate` produced (also written under ``captions/``)."""

    curated: pa.Table
    rejected: pa.Table
    funnel: list[dict]
    skipped: list[str] = field(default_factory=list)  # steps that did not run, with the reason
    partial: bool = False  # one shard's model steps only; nothing written (see curate's shard)


def resolve_source(source: str) -> Path:
    """``"sample"`` → the kit's shipped captions; ``toy:<set>/<file>`` → a toy-world file; else a path."""
    if source == "sample":
        from synthvlm_repro.sample_data import sample_captions_path

        return sample_captions_path()
    return Path(resolve_model(source)).expanduser()


class _Funnel:
    """The survivors table plus the rejected pieces and the per-step counts."""

    def __init__(self):
        self.kept: pa.Table | None = None
        self.rejected: list[pa.Table] = []
        self.steps: list[dict] = []
        self.skipped: list[str] = []

    def reject(self, table: pa.Table, reason: str, detail: list[str], duplicate_of: list | None = None) -> None:
        if not len(table):
            return
        table = table.append_column("reason", pa.array([reason] * len(table), pa.string()))
        table = table.append_column("detail", pa.array(detail, pa.string()))
        if duplicate_of is not None:
            table = table.append_column("duplicate_of", pa.array(duplicate_of, pa.string()))
        self.rejected.append(table)

    def step(self, name: str, keep: np.ndarray, columns: dict[str, list] | None = None,
             detail: Callable[[int], str] | None = None, duplicate_of: list | None = None,
             truncated: int | None = None) -> None:
        """Add ``columns`` to the survivors, then keep rows where ``keep`` and reject the rest as ``name``."""
        for col, values in (columns or {}).items():
            self.kept = self.kept.append_column(col, pa.array(values))
        drop = np.flatnonzero(~keep)
        self.reject(self.kept.take(drop), name, [detail(i) if detail else name for i in drop],
                    None if duplicate_of is None else [duplicate_of[i] for i in drop])
        self.kept = self.kept.filter(pa.array(keep))
        self.steps.append({"step": name, "kept": len(self.kept), "dropped": int(len(drop)),
                           **({} if truncated is None else {"truncated": truncated})})

    def skip(self, name: str, why: str) -> None:
        log.info("%s skipped: %s", name, why)
        self.skipped.append(f"{name}: {why}")


def _empty_survivors() -> pa.Table:
    schema = pa.schema([("id", pa.string()), ("caption", pa.string()), ("image", pa.string()), ("row", pa.int64()),
                        ("caption_raw", pa.string()), *[(name, pa.float64()) for name in STAT_COLUMNS]])
    return schema.empty_table()


def _read_and_rule_filter(cfg, source: Path, funnel: _Funnel, progress: bool) -> None:
    filters = rule_filters(cfg)
    scorer = partial(score_captions, normalize=cfg.normalize, flagged=load_flagged_words(cfg.flagged_words_file),
                     char_rep_len=cfg.char_rep_len, word_rep_len=cfg.word_rep_len)
    default_root = source if source.is_dir() else source.parent  # img2dataset folders: refs inside the folder
    image_root = (Path(cfg.image_root).expanduser() if cfg.image_root else default_root).resolve()
    validator = RowValidator(source, cfg.skip_bad_rows, image_root, cfg.allow_absolute_image_paths)
    raw_chunks = read_chunks(source, cfg.source_format, cfg.chunk_rows)
    checked = (validator.check(chunk) for chunk in raw_chunks)
    counts = {"good": 0, "bad": 0}
    kept_parts = []
    bar = tqdm(desc="rule filters", unit="caption", disable=not progress)
    for (good, bad), (texts, stats) in map_ordered(scorer, checked, select=lambda gb: [g[2] for g in gb[0]],
                                                   num_proc=cfg.num_proc):
        counts["good"] += len(good)
        counts["bad"] += len(bad)
        if bad:
            rows, ids, caps, reasons = zip(*bad)
            funnel.reject(pa.table({"id": pa.array(ids, pa.string()), "caption": pa.array(caps, pa.string()),
                                    "row": pa.array(rows, pa.int64())}), "bad_row", list(reasons))
        if not good:
            continue
        rows, ids, raw, images = zip(*good)
        texts = raw if texts is None else texts
        table = pa.table({
            "id": pa.array(ids, pa.string()),
            "caption": pa.array(texts, pa.string()),
            "image": pa.array(images, pa.string()),  # resolved under image_root by the validator
            "row": pa.array(rows, pa.int64()),
            "caption_raw": pa.array(raw, pa.string()),
            **{name: pa.array(stats[name]) for name in STAT_COLUMNS},
        })
        checks = [(f.stat, f.passes(stats[f.stat]), lambda i, f=f: f.describe(stats[f.stat][i])) for f in filters]
        if cfg.normalize:  # ftfy can strip a caption of control characters down to nothing
            checks.insert(0, ("normalize", np.array([bool(t.strip()) for t in texts]),
                              lambda i: "empty after normalisation"))
        alive = np.ones(len(table), dtype=bool)
        for name, passed, describe in checks:
            idx = np.flatnonzero(alive & ~passed)
            funnel.reject(table.take(idx), name, [describe(i) for i in idx])
            counts[name] = counts.get(name, 0) + len(idx)
            alive[idx] = False
        kept_parts.append(table.filter(pa.array(alive)))
        bar.update(len(good) + len(bad))
    bar.close()
    funnel.kept = pa.concat_tables(kept_parts) if kept_parts else _empty_survivors()
    remaining = counts["good"]
    funnel.steps.append({"step": "read", "kept": remaining, "dropped": counts["bad"]})
    for name in (["normalize"] if cfg.normalize else []) + [f.stat for f in filters]:
        remaining -= counts.get(name, 0)
        funnel.steps.append({"step": name, "kept": remaining, "dropped": counts.get(name, 0)})


def _dedup(cfg, funnel: _Funnel, seed: int, progress: bool) -> None:
    ids, caps = funnel.kept.column("id").to_pylist(), funnel.kept.column("caption").to_pylist()
    if cfg.exact_dedup:
        dup = exact_duplicates(ids, caps)
        keep = np.array([d is None for d in dup], dtype=bool)
        funnel.step("exact_dedup", keep, detail=lambda i: f"same text as {dup[i]}", duplicate_of=dup)
        ids, caps = [c for c, k in zip(ids, keep) if k], [c for c, k in zip(caps, keep) if k]
    else:
        funnel.skip("exact_dedup", "curation.exact_dedup is false")
    if cfg.near_dedup_threshold is not None:
        dup = near_duplicates(ids, caps, cfg.near_dedup_threshold, cfg.minhash_num_perm, cfg.minhash_ngram, seed,
                              progress=progress, num_proc=cfg.num_proc)
        keep = np.array([d is None for d in dup], dtype=bool)
        funnel.step("near_dedup", keep, detail=lambda i: f"MinHash-LSH near duplicate of {dup[i]}",
                    duplicate_of=dup)
    else:
        funnel.skip("near_dedup", "curation.near_dedup_threshold is null")


@dataclass
class _Scoring:
    """How this process runs the model steps: the score-cache writer tag, and whether every score must
    already be cached (the merge after a sharded run: no model is loaded)."""

    tag: str = ""
    cached_only: bool = False

    def cache(self, root: Path, name: str, identity: dict) -> ScoreCache:
        return ScoreCache(root, name, identity, writer=self.tag)

    def check(self, cache: ScoreCache, name: str, ids: list[str]) -> list[int]:
        """Positions of ``ids`` not scored yet; with ``cached_only`` an error when there are any."""
        todo = [i for i, cid in enumerate(ids) if cid not in cache.scores]
        if todo and self.cached_only:
            raise IncompleteScoresError(f"{cache.dir}: {len(todo)} of {len(ids)} captions not scored by {name} yet "
                                        f"(first: {ids[todo[0]]!r}); run the remaining shards, then merge")
        return todo


def _model_step(funnel: _Funnel, scoring: _Scoring, cache_root: Path, name: str, identity: dict,
                make_scorer: Callable[[], Callable[[list], list[dict]]], rows: list[int], items: list,
                batch_size: int, fill: dict, keep: Callable[[dict], np.ndarray],
                detail: Callable[[dict, int], str]) -> list[dict]:
    """Score ``items`` (the survivors at positions ``rows``) with a resumable cache (the model is built by
    ``make_scorer`` only when something is left to score), add the scored columns (``fill`` for rows not
    scored), and keep the rows where ``keep(columns)``. Returns the score rows."""
    ids = funnel.kept.column("id").to_pylist()
    cache = scoring.cache(cache_root, name, identity)
    step_ids = [ids[r] for r in rows]
    scorer = make_scorer() if scoring.check(cache, name, step_ids) else None
    scored = score_batched(cache, step_ids, items, scorer, batch_size, desc=name)
    truncated = sum(bool(s.get("truncated")) for s in scored)
    if truncated:
        log.warning("%s: %d caption(s) longer than the model's input were truncated", name, truncated)
    columns = {}
    for col, default in fill.items():
        values = [default] * len(ids)
        for r, s in zip(rows, scored):
            values[r] = s[col]
        columns[col] = values
    funnel.step(name, keep(columns), columns, detail=lambda i: detail(columns, i), truncated=truncated)
    return scored


def _threshold_step(cfg, funnel, scoring, cache_root, name, identity, make_model, rows, low) -> None:
    """An image-text filter: images of the uncached rows streamed by DataLoader workers, scored in order."""
    from tqdm.auto import tqdm

    from synthvlm_repro.curation.image_stream import stream_images

    ids = funnel.kept.column("id").to_pylist()
    images, captions = funnel.kept.column("image").to_pylist(), funnel.kept.column("caption").to_pylist()
    cache = scoring.cache(cache_root, name, identity)
    todo = [rows[i] for i in scoring.check(cache, name, [ids[r] for r in rows])]
    if todo:
        model = make_model()
        with tqdm(total=len(todo), desc=name, unit="image") as bar:
            done = 0
            for batch in stream_images([images[r] for r in todo], cfg.image_batch_size, cfg.image_workers):
                part = todo[done:done + len(batch)]
                scores, cut = model.score(batch, [captions[r] for r in part])
                cache.add([ids[r] for r in part], [{name: v, "truncated": c} for v, c in zip(scores, cut)])
                done += len(batch)
                bar.update(len(batch))
        cache.flush()
        del model
    values = [float("nan")] * len(ids)  # rows without an image (NaN) pass, as in Data-Juicer
    truncated = 0
    for r in rows:
        values[r] = cache.scores[ids[r]][name]
        truncated += bool(cache.scores[ids[r]].get("truncated"))
    if truncated:
        log.warning("%s: %d caption(s) longer than the model's input were truncated", name, truncated)
    funnel.step(name, ~(np.asarray(values, dtype=float) < low), {name: values},
                detail=lambda i: f"{name} {values[i]:.4g} < {low:g}", truncated=truncated)


def _image_text(cfg, funnel: _Funnel, scoring: _Scoring, cache_root: Path, device: str) -> None:
    from synthvlm_repro.curation.image_text import BlipItm, ClipSimilarity

    steps = [(n, t) for n, t in (("clip_similarity", cfg.clip_min), ("itm_score", cfg.itm_min)) if t is not None]
    if not steps:
        funnel.skip("image_text", "curation.clip_min and curation.itm_min are null")
        return
    from synthvlm_repro.curation.image_stream import image_exists

    images = funnel.kept.column("image").to_pylist()
    missing = np.array([im is not None and not image_exists(im) for im in images], dtype=bool)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        if not cfg.skip_bad_rows:
            raise FileNotFoundError(f"{images[first]}: image of caption {funnel.kept.column('id')[first]} not found "
                                    f"({int(missing.sum())} missing; set curation.skip_bad_rows=true to drop them)")
        funnel.step("image_missing", ~missing, detail=lambda i: f"image not found: {images[i]}")
    _image_check(cfg, funnel, scoring, cache_root)
    for name, threshold in steps:
        rows = [i for i, im in enumerate(funnel.kept.column("image").to_pylist()) if im is not None]
        if not rows:
            funnel.skip(name, "no caption has an image (the image-text filters need the original images)")
            continue
        if name == "clip_similarity":
            def make(): return ClipSimilarity(cfg.clip_model, cfg.clip_pretrained, device)
            identity = {"model": cfg.clip_model, "pretrained": cfg.clip_pretrained,
                        "revision": model_revision(cfg.clip_model)}
        else:
            def make(): return BlipItm(cfg.itm_model, device)
            identity = {"model": cfg.itm_model, "revision": model_revision(cfg.itm_model)}
        _threshold_step(cfg, funnel, scoring, cache_root, name, identity, make, rows, threshold)


def _file_stamp(path: str) -> str:
    from synthvlm_repro.curation.image_stream import split_ref

    parts = split_ref(path)  # a tar member / parquet cell changes with its container
    try:
        st = os.stat(parts[0] if parts else path)
    except OSError:
        return path
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def _image_check(cfg, funnel: _Funnel, scoring: _Scoring, cache_root: Path) -> None:
    """Open every original image once: unreadable → ``image_unreadable`` (an error without skip_bad_rows),
    near-constant → ``blank``; neither is scored. ``ok``/``blank`` verdicts are cached per caption id with the
    file's path, size and mtime (the check decodes every image); unreadable ones are retried on the next run."""
    from concurrent.futures import ThreadPoolExecutor

    from synthvlm_repro.curation.image_text import CHECK_SIZE, image_status
    from synthvlm_repro.image_checks import BLANK_MAX_STD

    images, ids = funnel.kept.column("image").to_pylist(), funnel.kept.column("id").to_pylist()
    rows = [i for i, im in enumerate(images) if im is not None]
    if not rows:
        return
    cache = scoring.cache(cache_root, "image_check", {"blank_max_std": BLANK_MAX_STD, "check_size": CHECK_SIZE})
    status = ["ok"] * len(images)
    stamps = {r: _file_stamp(images[r]) for r in rows}  # a replaced file is checked again
    todo = [r for r in rows if cache.scores.get(ids[r], {}).get("image") != stamps[r]]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # Pillow decodes without the GIL
        fresh = list(tqdm(pool.map(image_status, [images[r] for r in todo]), total=len(todo), desc="image check",
                          unit="image"))
    for r, verdict in zip(todo, fresh):
        status[r] = verdict
        if not verdict.startswith("unreadable"):
            cache.add([ids[r]], [{"image_status": verdict, "image": stamps[r]}])
    cache.flush()
    for r in rows:
        if cache.scores.get(ids[r], {}).get("image") == stamps[r]:
            status[r] = cache.scores[ids[r]]["image_status"]
    unreadable = np.array([s.startswith("unreadable") for s in status], dtype=bool)
    if unreadable.any() and not cfg.skip_bad_rows:
        first = int(np.flatnonzero(unreadable)[0])
        row = funnel.kept.column("row")[first].as_py()
        raise CaptionInputError(f"{images[first]}: image of caption {ids[first]} (row {row}) is {status[first]} "
                                f"({int(unreadable.sum())} unreadable; set curation.skip_bad_rows=true to drop them)")
    if unreadable.any():
        funnel.step("image_unreadable", ~unreadable, detail=lambda i: f"{images[i]}: {status[i]}")
        status = [s for s, bad in zip(status, unreadable) if not bad]
    blank = np.array([s == "blank" for s in status], dtype=bool)
    funnel.step("blank", ~blank, detail=lambda i: f"near-constant image (every channel's pixel std <= {BLANK_MAX_STD:g})")


def _perplexity(cfg, funnel: _Funnel, scoring: _Scoring, cache_root: Path, device: str) -> None:
    from synthvlm_repro.curation.perplexity import perplexity_scorer

    scorer = perplexity_scorer(cfg, device)
    if scorer is None:
        funnel.skip("perplexity", "no perplexity model configured" if cfg.perplexity_max is not None
                    else "curation.perplexity_max is null")
        return
    ref = cfg.kenlm_model if scorer.name == "kenlm" else cfg.perplexity_lm
    identity = {"scorer": scorer.name, "model": ref, "sp": cfg.sentencepiece_model, "revision": model_revision(ref)}
    if scorer.name == "kenlm":
        identity["files"] = scorer.file_identity()
    else:
        identity["max_tokens"] = scorer.max_tokens
    high = cfg.perplexity_max
    def score(batch):
        values, truncated = scorer.score(batch)
        return [{"perplexity": v, "truncated": t} for v, t in zip(values, truncated)]

    _model_step(funnel, scoring, cache_root, "perplexity", identity, lambda: score,
                list(range(len(funnel.kept))), funnel.kept.column("caption").to_pylist(), cfg.lm_batch_size,
                {"perplexity": float("nan")}, lambda cols: ~(np.asarray(cols["perplexity"]) > high),
                lambda cols, i: f"perplexity {cols['perplexity'][i]:.1f} > {high:g}")


def _judge(cfg, funnel: _Funnel, scoring: _Scoring, cache_root: Path, device: str) -> None:
    from synthvlm_repro.curation.judge import JUDGE_PROMPT, judge_keeps, make_judge

    if cfg.judge_mode == "off" or not cfg.judge_model:
        funnel.skip("judge", "curation.judge_mode is off" if cfg.judge_mode == "off" else "no judge_model")
        return
    identity = {"model": cfg.judge_model, "revision": model_revision(cfg.judge_model), "prompt": JUDGE_PROMPT,
                "max_new_tokens": cfg.judge_max_new_tokens, "dtype": cfg.dtype}
    if cfg.judge_backend != "generate":  # same verdicts; the recorded answer may be shorter
        identity["backend"] = cfg.judge_backend
    record_only = cfg.judge_mode == "record"
    # The fast judge sorts what it is given by length: hand it several batches at a time.
    chunk = cfg.judge_batch_size * (16 if cfg.judge_backend == "prefix" else 1)
    scored = _model_step(funnel, scoring, cache_root, "judge", identity, lambda: make_judge(cfg, device),
                         list(range(len(funnel.kept))), funnel.kept.column("caption").to_pylist(), chunk,
                         {"judge_answer": None, "judge_verdict": None},
                         lambda cols: judge_keeps(cols["judge_verdict"], record_only),
                         lambda cols, i: f"judge answered {cols['judge_answer'][i]!r}")
    truncated = sum(bool(s.get("judge_truncated")) for s in scored)
    if truncated:
        funnel.steps[-1]["truncated"] = truncated
        log.warning("judge: %d captions were cut to fit the judge's context", truncated)
    if record_only:
        log.info("judge ran in record-only mode: answers kept in judge_answer / judge_verdict, nothing dropped")


def curate(cfg, paths, device: str = "cpu", seed: int = 0, progress: bool = True, shard=None,
           merge: bool = False) -> CurationResult:
    """Run stage 01 with a :class:`CurationConfig` into ``paths`` (a :class:`RunPaths`); returns the result
    and writes ``curated.parquet``, ``rejected.parquet``, ``captions.json`` and ``funnel.json``.

    With ``shard`` (a :class:`~synthvlm_repro.runtime.distributed.Shard` of count > 1) the model steps score only
    this shard's share of the survivors into ``captions/cache/`` and nothing else is written; the last shard
    to finish merges (as does ``merge=True``: every score must be cached, no model is loaded).
    """
    if shard is not None and shard.count > 1:
        return _curate_shard(cfg, paths, device, seed, progress, shard)
    source = resolve_source(cfg.source)
    log.info("curating %s", source)
    funnel = _Funnel()
    cache_root = paths.curation_cache
    scoring = _Scoring(cached_only=merge)
    _read_and_rule_filter(cfg, source, funnel, progress)
    _dedup(cfg, funnel, seed, progress)
    _model_steps(cfg, funnel, scoring, cache_root, device)
    if cfg.max_captions is not None:
        keep = np.arange(len(funnel.kept)) < cfg.max_captions
        funnel.step("max_captions", keep, detail=lambda i: f"beyond the first {cfg.max_captions} survivors")
    rejected = (pa.concat_tables(funnel.rejected, promote_options="default") if funnel.rejected
                else funnel.kept.schema.empty_table().append_column("reason", pa.array([], pa.string()))
                .append_column("detail", pa.array([], pa.string())))
    rejected = rejected.sort_by("row")
    if not len(funnel.kept):
        log.warning("no caption survived curation (%d rejected; see %s)", len(rejected), paths.rejected_parquet)
    result = CurationResult(funnel.kept, rejected, funnel.steps, funnel.skipped)
    write_outputs(result, paths)
    return result


def _model_steps(cfg, funnel: _Funnel, scoring: _Scoring, cache_root: Path, device: str) -> None:
    for name, model_step in (("perplexity", _perplexity), ("image_text", _image_text), ("judge", _judge)):
        if len(funnel.kept):
            model_step(cfg, funnel, scoring, cache_root, device if name == "judge" else local_rank_device(device))
        else:  # never load a 70B judge for nothing
            funnel.skip(name, "no captions left")


def shard_marker(paths, shard) -> Path:
    return paths.curation_shard_json(shard.name)


def _curate_shard(cfg, paths, device, seed, progress, shard) -> CurationResult:
    """Rule filters and dedup (cheap, the same in every shard), then the model steps on survivors
    ``shard.index::shard.count``; marks the shard done and merges when every shard is."""
    source = resolve_source(cfg.source)
    log.info("curating %s, shard %d/%d", source, shard.index, shard.count)
    funnel = _Funnel()
    _read_and_rule_filter(cfg, source, funnel, progress)
    _dedup(cfg, funnel, seed, progress)
    survivors = len(funnel.kept)
    funnel.kept = funnel.kept.take(np.arange(shard.index, survivors, shard.count))
    assigned = len(funnel.kept)
    _model_steps(cfg, funnel, _Scoring(tag=f"shard{shard.name}"), paths.curation_cache, device)
    write_json(shard_marker(paths, shard), {"shard": [shard.index, shard.count], "survivors": survivors,
                                            "assigned": assigned, "kept": len(funnel.kept), "steps": funnel.steps})
    if all(shard_marker(paths, type(shard)(i, shard.count)).exists() for i in range(shard.count)):
        log.info("every shard of %d is done: merging", shard.count)
        try:
            return curate(cfg, paths, device, seed, progress, merge=True)
        except IncompleteScoresError as e:  # another shard is rerunning with new settings: it will merge
            log.info("not merged yet: %s", e)
    return CurationResult(funnel.kept, funnel.kept.schema.empty_table(), funnel.steps, funnel.skipped, partial=True)


def write_outputs(result: CurationResult, paths) -> None:
    """The stage's artifacts (README contract), each written atomically."""
    write_parquet(paths.curated_parquet, result.curated)
    write_parquet(paths.rejected_parquet, result.rejected)
    records = []
    for cid, caption, image in zip(*(result.curated.column(c).to_pylist() for c in ("id", "caption", "image"))):
        records.append({"id": cid, "caption": caption, **({"image": image} if image else {})})
    # json.dumps (one shot) runs the C encoder; json.dump with an indent is ~10x slower on 1M records.
    write_text(paths.caption_json, json.dumps(records, ensure_ascii=False) + "\n")
    write_json(paths.funnel_json, result.funnel)
