"""Stage 03 end to end: score the synthesis manifest, merge the shards, select, export for LLaVA."""

from __future__ import annotations

import pandas as pd

from synthvlm_repro.atomic import write_parquet
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.selection.scoring import merge_scores, read_manifest, score_manifest
from synthvlm_repro.selection.select import run_selection


def merge_and_write_scores(ctx, parts_dir) -> pd.DataFrame:
    """Merge every shard's parts into ``selection/scores.parquet`` (fails if a shard is unfinished)."""
    rows = read_manifest(ctx.paths.synthesis_manifest)
    scores = merge_scores(rows, parts_dir, ctx.cfg.selection.ssim_weight)
    write_parquet(ctx.paths.scores_parquet, scores)
    return scores


def run_stage(ctx, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every candidate (resuming), write ``scores.parquet``, select and export; returns both tables."""
    parts_dir = score_manifest(ctx, shard=Shard(), progress=progress)
    scores = merge_and_write_scores(ctx, parts_dir)
    return scores, run_selection(ctx, scores)
