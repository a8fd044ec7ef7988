"""Generate this process's share of the images: resumable, batched, one seeded generator per image."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_bytes
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.runtime.distributed import Shard, current_shard, local_rank_device
from synthvlm_repro.synthesis.config import SynthesisConfig
from synthvlm_repro.synthesis.images import broken_reason, encode
from synthvlm_repro.synthesis.manifest import (IncompleteManifestError, Journal, all_shards_done, finished_rows,
                                               job_hash, mark_done, merge_manifest, read_journals, write_settings)
from synthvlm_repro.synthesis.pipelines import ImageGenerator, model_identity
from synthvlm_repro.synthesis.plan import WorkItem, batches, load_captions, plan_items

log = logging.getLogger(__name__)


@dataclass
class SynthesisResult:
    shard: Shard
    planned: int  # items in the whole job
    skipped: int  # this shard's items already done before this run
    generated: int  # images rendered by this run
    broken: int
    failed: int
    seconds: float  # wall time spent rendering and writing
    merged: bool  # the manifest was written by this process

    @property
    def images_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0


def run_settings(cfg: SynthesisConfig, global_seed: int) -> dict:
    """Everything an image's bytes depend on (stored once per run, merged into each manifest row)."""
    keys = ("drop_components", "scheduler", "dtype", "variant", "attention", "compile", "vae_upcast", "steps", "guidance_scale", "width",
            "height", "negative_prompt", "high_noise_frac", "max_sequence_length", "batch_size", "batch_invariant",
            "image_format", "jpeg_quality")
    return {**model_identity(cfg), **{k: getattr(cfg, k) for k in keys}, "global_seed": global_seed}


def job_items(ctx: RunContext) -> list[WorkItem]:
    cfg = ctx.cfg.synthesis
    captions = load_captions(ctx.paths.caption_json)
    if cfg.limit is not None:
        captions = captions[: cfg.limit]
    return plan_items(captions, cfg.repeat, ctx.cfg.seed, cfg.batch_size, cfg.image_format)


def synthesize(ctx: RunContext, shard: Shard | None = None, generator: ImageGenerator | None = None,
               progress: bool = True) -> SynthesisResult:
    """Render the missing images of this process's shard, journal them, and merge when all shards are done.

    ``shard`` is an outer ``--shard i/n`` split; ``RANK``/``WORLD_SIZE`` from torchrun or accelerate
    split it further. ``generator`` reuses already loaded pipelines (the grid search and benches do).
    """
    cfg = ctx.cfg.synthesis
    root, parts = ctx.paths.root, ctx.paths.synthesis_parts
    parts.mkdir(parents=True, exist_ok=True)
    shard = current_shard(shard)
    items = job_items(ctx)
    settings_id = write_settings(parts, run_settings(cfg, ctx.cfg.seed))
    job = job_hash(items, settings_id)
    done = finished_rows(read_journals(parts), settings_id, root)
    mine = shard.take(batches(items))
    todo = [b for b in mine if not all((i.caption_id, i.candidate) in done for i in b)]
    skipped = sum(len(b) for b in mine) - sum(len(b) for b in todo)
    result = SynthesisResult(shard, len(items), skipped, 0, 0, 0, 0.0, False)
    log.info("shard %s: %d batches to render, %d images already done", shard.name, len(todo), skipped)
    if todo:
        generator = generator or ImageGenerator.from_config(cfg, local_rank_device(ctx.device))
        write_settings(parts, run_settings(cfg, ctx.cfg.seed))  # hub revisions are known once downloaded
        journal = Journal(ctx.paths.synthesis_journal(shard.name))
        bar = tqdm(total=sum(len(b) for b in todo), desc=f"synthesis {shard.name}", unit="img", disable=not progress)
        for batch in todo:
            rows = _render_batch(generator, batch, cfg, settings_id, shard, root)
            if result.generated == 0 and all(r["status"] == "failed" for r in rows):
                raise RuntimeError(f"synthesis: the first batch failed, stopping: {rows[0]['reason']}")
            journal.append(rows)  # only after every image file of the batch is in place
            result.generated += sum(r["status"] != "failed" for r in rows)
            result.broken += sum(r["status"] == "broken" for r in rows)
            result.failed += sum(r["status"] == "failed" for r in rows)
            result.seconds += sum(r["seconds"] for r in rows)
            bar.update(len(batch))
        bar.close()
    mark_done(parts, shard, job)
    if all_shards_done(parts, shard.count, job):
        merge(ctx, items, settings_id)
        result.merged = True
    return result


def _render_batch(generator: ImageGenerator, batch: list[WorkItem], cfg: SynthesisConfig, settings_id: str,
                  shard: Shard, root: Path) -> list[dict]:
    t0 = time.perf_counter()
    try:
        images = generator.render([i.caption for i in batch], [i.seed for i in batch])
    except RuntimeError as e:  # CUDA OOM and friends: record, go on, retry on the next run
        log.error("batch %d failed: %s", batch[0].batch, e)
        return [_row(i, "failed", str(e).splitlines()[0][:300], False, 0.0, settings_id, shard) for i in batch]
    seconds = (time.perf_counter() - t0) / len(batch)
    reasons = [broken_reason(img, cfg.broken_min_std) for img in images]
    retried = [False] * len(batch)
    redo = [k for k, r in enumerate(reasons) if r]
    if redo and cfg.retry_broken_with_upcast and cfg.vae_upcast is not True:
        t1 = time.perf_counter()
        again = generator.render([batch[k].caption for k in redo], [batch[k].seed for k in redo], vae_upcast=True)
        extra = (time.perf_counter() - t1) / len(redo)
        for k, img in zip(redo, again):
            images[k], reasons[k], retried[k] = img, broken_reason(img, cfg.broken_min_std), True
        log.warning("batch %d: %d broken images re-rendered with the VAE in fp32", batch[0].batch, len(redo))
        seconds += extra * len(redo) / len(batch)
    rows = []
    for item, img, reason, again in zip(batch, images, reasons, retried):
        write_bytes(root / item.path, encode(img, cfg.image_format, cfg.jpeg_quality))
        rows.append(_row(item, "broken" if reason else "ok", reason, again, seconds, settings_id, shard))
    return rows


def _row(item: WorkItem, status: str, reason: str | None, retried: bool, seconds: float, settings_id: str,
         shard: Shard) -> dict:
    return {"caption_id": item.caption_id, "candidate": item.candidate, "caption": item.caption, "seed": item.seed,
            "path": item.path, "status": status, "reason": reason or "", "retried_with_upcast": retried,
            "batch": item.batch, "seconds": round(seconds, 4), "shard": shard.name, "settings_hash": settings_id}


def merge(ctx: RunContext, items: list[WorkItem] | None = None, settings_id: str | None = None):
    """Merge every shard journal into ``synthesis/manifest.parquet`` (and WebDataset shards if configured)."""
    cfg = ctx.cfg.synthesis
    parts = ctx.paths.synthesis_parts
    items = items if items is not None else job_items(ctx)
    settings_id = settings_id or write_settings(parts, run_settings(cfg, ctx.cfg.seed))
    frame = merge_manifest(ctx.paths.root, parts, items, settings_id, ctx.paths.synthesis_manifest)
    if cfg.webdataset:
        from synthvlm_repro.synthesis.webdataset_export import write_webdataset

        write_webdataset(ctx.paths.root, frame, ctx.paths.synthesis_webdataset, cfg.webdataset_shard_size)
    return frame


__all__ = ["SynthesisResult", "synthesize", "merge", "IncompleteManifestError", "job_items", "run_settings"]
