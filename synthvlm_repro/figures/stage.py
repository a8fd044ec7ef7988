"""Stage 06 end to end: the automatic preference judge (when enabled), every figure and table of the
run beside the paper's numbers, and ``reproduce.md``. What ``synthvlm-repro figures run``, the runner
and notebook 06 call."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from synthvlm_repro.figures.artifacts import MissingInput
from synthvlm_repro.figures.build import build_figures, figures_dir, judgment_file, summary
from synthvlm_repro.figures.pairs import preference_pairs
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.stage import StageResult

log = logging.getLogger(__name__)


def judge_pairs(ctx: RunContext, model: str | None = None, device: str | None = None,
                limit: int | None = None) -> tuple[Path, pd.DataFrame]:
    """Judge the run's synthetic-vs-original pairs with a llava-hf model (``figures.judge_model`` unless
    given); judgments are appended to ``<run>/preference/judge-<model>.jsonl`` (resumable). Returns the
    file and this judge's records."""
    from synthvlm_repro.figures.judge import LlavaJudge, run_judge

    fig = ctx.cfg.figures
    model = model or fig.judge_model
    pairs = preference_pairs(ctx.cfg, ctx.paths, limit=limit or fig.preference_pairs)
    judge = LlavaJudge(model, device=device or ctx.device, dtype=fig.judge_dtype)
    out = judgment_file(ctx.paths, f"judge-{model}")
    return out, run_judge(judge, pairs, out)


def run(ctx: RunContext, only: list[str] | None = None, judge: bool | None = None) -> StageResult:
    """Run the judge (when ``figures.judge_enabled``, or ``judge``), build the figures (all, or those in
    ``only``) and write ``reproduce.md`` (only when every figure was attempted, so a partial rebuild
    never truncates it)."""
    from synthvlm_repro.figures.judge import position_bias
    from synthvlm_repro.figures.preference import win_rates
    from synthvlm_repro.figures.report import write_report

    ctx.record_stage_config("figures")
    result = StageResult("figures")
    if ctx.cfg.figures.judge_enabled if judge is None else judge:
        try:
            judged, records = judge_pairs(ctx)
        except MissingInput as e:
            log.warning("preference judge skipped: %s", e)
            result.summary["judge"] = f"skipped: {e}"
        else:
            result.artifacts["judgments"] = judged
            result.tables["judge_win_rates"] = win_rates(records)
            result.summary["judge left-pick rate"] = round(position_bias(records), 3)
    figures = build_figures(ctx, only)
    for r in figures:
        for path in r.files:
            result.artifacts[path.name] = path
        result.figures += [p for p in r.files if p.suffix == ".png"]
        if r.table is not None:
            result.tables[r.name] = r.table
    result.tables["figures"] = summary(figures)
    for status in ("made", "skipped", "failed"):
        result.summary[status] = ", ".join(r.name for r in figures if r.status == status) or "-"
    if not only:
        result.artifacts["reproduce_md"] = write_report(ctx, figures, figures_dir(ctx))
    result.summary["figures dir"] = str(figures_dir(ctx))
    return result
