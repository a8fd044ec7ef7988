"""Stage 01 end to end: read → normalise → rule filters → dedup → perplexity → image-text → judge → limit.

Rule statistics are computed while the source streams past (in ``num_proc`` processes); the later steps
run on the survivors. Every dropped row lands in ``rejected.parquet`` with the step that dropped it
(``reason``) and why (``detail``), so no row is ever lost silently.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthvlm_repro.atomic import write_json, write_parquet, write_text
from synthvlm_repro.curation.dedup import exact_duplicates, near_duplicates
from synthvlm_repro.curation.readers import RowValidator, read_chunks
from synthvlm_repro.curation.rules import load_flagged_words, map_ordered, rule_filters, score_captions
from synthvlm_repro.curation.score_cache import ScoreCache, score_batched
from synthvlm_repro.curation.stats import STAT_COLUMNS
from synthvlm_repro.models import model_revision, resolve_model

log = logging.getLogger(__name__)


@dataclass
class CurationResult:
    """What :func:`curate` produced (also written under ``captions/``)."""

    curated: pa.Table
    rejected: pa.Table
    funnel: list[dict]
    skipped: list[str] = field(default_factory=list)  # steps that did not run, with the reason


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
             detail: Callable[[int], str] | None = None, duplicate_of: list | None = None) -> None:
        """Add ``columns`` to the survivors, then keep rows where ``keep`` and reject the rest as ``name``."""
        for col, values in (columns or {}).items():
            self.kept = self.kept.append_column(col, pa.array(values))
        drop = np.flatnonzero(~keep)
        self.reject(self.kept.take(drop), name, [detail(i) if detail else name for i in drop],
                    None if duplicate_of is None else [duplicate_of[i] for i in drop])
        self.kept = self.kept.filter(pa.array(keep))
        self.steps.append({"step": name, "kept": len(self.kept), "dropped": int(len(drop))})

    def skip(self, name: str, why: str) -> None:
        log.info("%s skipped: %s", name, why)
        self.skipped.append(f"{name}: {why}")


def _empty_survivors() -> pa.Table:
    schema = pa.schema([("id", pa.string()), ("caption", pa.string()), ("image", pa.string()), ("row", pa.int64()),
                        ("caption_raw", pa.string()), *[(name, pa.float64()) for name in STAT_COLUMNS]])
    return schema.empty_table()


def _read_and_rule_filter(cfg, source: Path, funnel: _Funnel, progress: bool) -> None:
    from tqdm.auto import tqdm

    filters = rule_filters(cfg)
    scorer = partial(score_captions, normalize=cfg.normalize, flagged=load_flagged_words(cfg.flagged_words_file),
                     char_rep_len=cfg.char_rep_len, word_rep_len=cfg.word_rep_len)
    validator = RowValidator(source, cfg.skip_bad_rows)
    image_root = (Path(cfg.image_root).expanduser() if cfg.image_root else source.parent).resolve()
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
            "image": pa.array([None if im is None else str(image_root / im) for im in images], pa.string()),
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
                              progress=progress)
        keep = np.array([d is None for d in dup], dtype=bool)
        funnel.step("near_dedup", keep, detail=lambda i: f"MinHash-LSH near duplicate of {dup[i]}",
                    duplicate_of=dup)
    else:
        funnel.skip("near_dedup", "curation.near_dedup_threshold is null")


def _model_step(funnel: _Funnel, cache_root: Path, name: str, identity: dict, scorer: Callable[[list], list[dict]],
                rows: list[int], items: list, batch_size: int, fill: dict, keep: Callable[[dict], np.ndarray],
                detail: Callable[[dict, int], str]) -> None:
    """Score ``items`` (the survivors at positions ``rows``) with a resumable cache, add the scored
    columns (``fill`` for rows not scored), and keep the rows where ``keep(columns)``."""
    ids = funnel.kept.column("id").to_pylist()
    cache = ScoreCache(cache_root, name, identity)
    scored = score_batched(cache, [ids[r] for r in rows], items, scorer, batch_size, desc=name)
    columns = {}
    for col, default in fill.items():
        values = [default] * len(ids)
        for r, s in zip(rows, scored):
            values[r] = s[col]
        columns[col] = values
    funnel.step(name, keep(columns), columns, detail=lambda i: detail(columns, i))


def _threshold_step(funnel, cache_root, name, identity, model, rows, batch_size, low) -> None:
    from synthvlm_repro.curation.image_text import load_rgb

    images, captions = funnel.kept.column("image").to_pylist(), funnel.kept.column("caption").to_pylist()
    pairs = [(images[r], captions[r]) for r in rows]

    def score(batch):
        return [{name: v} for v in model([load_rgb(p) for p, _ in batch], [c for _, c in batch])]

    def keep(cols):  # rows without an image (NaN) pass, as in Data-Juicer
        return ~(np.asarray(cols[name], dtype=float) < low)

    _model_step(funnel, cache_root, name, identity, score, rows, pairs, batch_size, {name: float("nan")}, keep,
                lambda cols, i: f"{name} {cols[name][i]:.4g} < {low:g}")


def _image_text(cfg, funnel: _Funnel, cache_root: Path, device: str) -> None:
    from synthvlm_repro.curation.image_text import BlipItm, ClipSimilarity

    steps = [(n, t) for n, t in (("clip_similarity", cfg.clip_min), ("itm_score", cfg.itm_min)) if t is not None]
    if not steps:
        funnel.skip("image_text", "curation.clip_min and curation.itm_min are null")
        return
    images = funnel.kept.column("image").to_pylist()
    missing = np.array([im is not None and not Path(im).exists() for im in images], dtype=bool)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        if not cfg.skip_bad_rows:
            raise FileNotFoundError(f"{images[first]}: image of caption {funnel.kept.column('id')[first]} not found "
                                    f"({int(missing.sum())} missing; set curation.skip_bad_rows=true to drop them)")
        funnel.step("image_missing", ~missing, detail=lambda i: f"image not found: {images[i]}")
    for name, threshold in steps:
        rows = [i for i, im in enumerate(funnel.kept.column("image").to_pylist()) if im is not None]
        if not rows:
            funnel.skip(name, "no caption has an image (the image-text filters need the original images)")
            continue
        if name == "clip_similarity":
            model = ClipSimilarity(cfg.clip_model, cfg.clip_pretrained, device)
            identity = {"model": cfg.clip_model, "pretrained": cfg.clip_pretrained,
                        "revision": model_revision(cfg.clip_model)}
        else:
            model = BlipItm(cfg.itm_model, device)
            identity = {"model": cfg.itm_model, "revision": model_revision(cfg.itm_model)}
        _threshold_step(funnel, cache_root, name, identity, model, rows, cfg.image_batch_size, threshold)
        del model


def _perplexity(cfg, funnel: _Funnel, cache_root: Path, device: str) -> None:
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
    high = cfg.perplexity_max
    _model_step(funnel, cache_root, "perplexity", identity, lambda b: [{"perplexity": v} for v in scorer(b)],
                list(range(len(funnel.kept))), funnel.kept.column("caption").to_pylist(), cfg.lm_batch_size,
                {"perplexity": float("nan")}, lambda cols: ~(np.asarray(cols["perplexity"]) > high),
                lambda cols, i: f"perplexity {cols['perplexity'][i]:.1f} > {high:g}")


def _judge(cfg, funnel: _Funnel, cache_root: Path, device: str) -> None:
    from synthvlm_repro.curation.judge import JUDGE_PROMPT, CaptionJudge, judge_keeps

    if cfg.judge_mode == "off" or not cfg.judge_model:
        funnel.skip("judge", "curation.judge_mode is off" if cfg.judge_mode == "off" else "no judge_model")
        return
    judge = CaptionJudge(cfg.judge_model, device, cfg.dtype, cfg.judge_max_new_tokens)
    identity = {"model": cfg.judge_model, "revision": model_revision(cfg.judge_model), "prompt": JUDGE_PROMPT,
                "max_new_tokens": cfg.judge_max_new_tokens, "dtype": cfg.dtype}
    record_only = cfg.judge_mode == "record"
    _model_step(funnel, cache_root, "judge", identity, judge, list(range(len(funnel.kept))),
                funnel.kept.column("caption").to_pylist(), cfg.judge_batch_size,
                {"judge_answer": None, "judge_verdict": None},
                lambda cols: judge_keeps(cols["judge_verdict"], record_only),
                lambda cols, i: f"judge answered {cols['judge_answer'][i]!r}")
    if record_only:
        log.info("judge ran in record-only mode: answers kept in judge_answer / judge_verdict, nothing dropped")


def curate(cfg, paths, device: str = "cpu", seed: int = 0, progress: bool = True) -> CurationResult:
    """Run stage 01 with a :class:`CurationConfig` into ``paths`` (a :class:`RunPaths`); returns the result
    and writes ``curated.parquet``, ``rejected.parquet``, ``captions.json`` and ``funnel.json``."""
    source = resolve_source(cfg.source)
    log.info("curating %s", source)
    funnel = _Funnel()
    cache_root = paths.captions / "cache"
    _read_and_rule_filter(cfg, source, funnel, progress)
    _dedup(cfg, funnel, seed, progress)
    for name, model_step in (("perplexity", _perplexity), ("image_text", _image_text), ("judge", _judge)):
        if len(funnel.kept):
            model_step(cfg, funnel, cache_root, device)
        else:  # never load a 70B judge for nothing
            funnel.skip(name, "no captions left")
    if cfg.max_captions is not None:
        keep = np.arange(len(funnel.kept)) < cfg.max_captions
        funnel.step("max_captions", keep, detail=lambda i: f"beyond the first {cfg.max_captions} survivors")
    rejected = (pa.concat_tables(funnel.rejected, promote_options="default") if funnel.rejected
                else funnel.kept.schema.empty_table().append_column("reason", pa.array([], pa.string()))
                .append_column("detail", pa.array([], pa.string())))
    rejected = rejected.sort_by("row")
    result = CurationResult(funnel.kept, rejected, funnel.steps, funnel.skipped)
    write_outputs(result, paths)
    return result


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


def read_outputs(paths) -> CurationResult:
    """The artifacts of a finished stage-01 run, for notebooks and later stages."""
    return CurationResult(pq.read_table(paths.curated_parquet), pq.read_table(paths.rejected_parquet),
                          json.loads(paths.funnel_json.read_text()))
