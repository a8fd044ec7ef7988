"""Stage 06 end to end: the automatic preference judge (optional), every figure and table, reproduce.md."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from synthvlm_repro.figures.build import FigureResult, build_figures, figures_dir, judgment_file
from synthvlm_repro.figures.pairs import preference_pairs
from synthvlm_repro.run_context import RunContext

log = logging.getLogger(__name__)


def run_judge_stage(ctx: RunContext, model: str | None = None, device: str | None = None,
                    limit: int | None = None) -> tuple[Path, pd.DataFrame]:
    """Judge the run's synthetic-vs-original pairs with a llava-hf model (resumable JSONL in
    ``<run>/preference/``); returns the file and its records."""
    from synthvlm_repro.figures.judge import LlavaJudge, run_judge

    fig = ctx.cfg.figures
    model = model or fig.judge_model
    pairs = preference_pairs(ctx.cfg, ctx.paths, limit=limit or fig.preference_pairs)
    judge = LlavaJudge(model, device=device or ctx.device, dtype=fig.judge_dtype)
    out = judgment_file(ctx.paths, f"judge-{model}")
    return out, run_judge(judge, pairs, out)


def run_stage(ctx: RunContext, only: list[str] | None = None, judge: bool | None = None) -> list[FigureResult]:
    """Run the judge (when ``figures.judge_enabled`` or ``judge``), build the figures, and write
    reproduce.md (only when every figure was attempted, so a partial rebuild never truncates it)."""
    from synthvlm_repro.figures.artifacts import MissingInput
    from synthvlm_repro.figures.report import write_report

    if ctx.cfg.figures.judge_enabled if judge is None else judge:
        try:
            run_judge_stage(ctx)
        except MissingInput as e:
            log.warning("preference judge skipped: %s", e)
    results = build_figures(ctx, only)
    if not only:
        write_report(ctx, results, figures_dir(ctx))
    return results
