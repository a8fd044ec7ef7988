"""Stage 03 end to end: score the synthesis manifest, merge the shards, select, export for LLaVA, and
report (quality table beside the paper's, score distributions, best/worst pairs).

What ``synthvlm-repro selection run``, the runner and notebook 03 all call.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthvlm_repro.atomic import write_parquet, write_text
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.selection.scorer import score_weights
from synthvlm_repro.selection.scoring import merge_scores, read_manifest, score_manifest, score_parts_dir
from synthvlm_repro.selection.select import run_selection
from synthvlm_repro.stage import StageResult

DISTRIBUTIONS_FIGURE = "selection_score_distributions"
EXTREMES_FIGURE = "selection_best_worst"


def quality_table_csv(ctx) -> Path:
    """``selection/quality_table.csv``: the data-quality table beside the paper's §3.1 values."""
    return ctx.paths.quality_table_csv


def merge_and_write_scores(ctx, parts_dir: Path | None = None) -> pd.DataFrame:
    """Merge every shard's parts into ``selection/scores.parquet`` (fails if a shard is unfinished)."""
    rows = read_manifest(ctx.paths.synthesis_manifest)
    scores = merge_scores(rows, parts_dir or score_parts_dir(ctx), score_weights(ctx.cfg.selection))
    write_parquet(ctx.paths.scores_parquet, scores)
    return scores


def run(ctx, progress: bool = True, score: bool = True, **options) -> StageResult:
    """Run stage 03 on ``ctx``'s run dir and write every artifact it documents.

    ``score=False`` (``selection select``, after sharded ``selection score`` jobs) only merges the
    shards' parts, which must all be finished. Scoring resumes: pairs already scored are skipped.
    """
    if options:
        raise TypeError(f"selection run: unknown option(s) {', '.join(options)}")
    ctx.record_stage_config("selection")
    cfg = ctx.cfg.selection
    if score:
        score_manifest(ctx, shard=Shard(), progress=progress)
    scores = merge_and_write_scores(ctx)
    selected = run_selection(ctx, scores)
    sets = {"all candidates": scores, "selected": selected}
    artifacts = {"scores": ctx.paths.scores_parquet, "selected": ctx.paths.selected_parquet,
                 "llava_pretrain_json": ctx.paths.llava_pretrain_json, "images": ctx.paths.llava_image_folder}
    if cfg.quality_dataset:
        from synthvlm_repro.selection.quality import score_dataset

        sets[f"real: {cfg.quality_dataset}"] = score_dataset(ctx, cfg.quality_dataset, cfg.quality_image_dir,
                                                             progress=progress)
    table = write_quality_table(ctx, sets)
    artifacts["quality_table"] = quality_table_csv(ctx)
    figures = write_figures(ctx, sets, scores)
    artifacts.update({path.stem + path.suffix.replace(".", "_"): path for path in figures})
    counts = scores["status"].value_counts()
    summary = {"scores": f"{ctx.paths.scores_parquet}: {len(scores)} pairs "
                         f"({', '.join(f'{k} {v}' for k, v in counts.items())})",
               "selected": f"{ctx.paths.llava_pretrain_json}: {len(selected)} selected, "
                           f"images in {ctx.paths.llava_image_folder}",
               "quality_table": str(quality_table_csv(ctx))}
    return StageResult("selection", artifacts=artifacts, summary=summary,
                       tables={"scores": scores, "selected": selected, "quality": table,
                               "status": counts.rename("pairs").to_frame(),
                               "unreadable": scores.loc[scores["status"] != "ok",
                                                        ["caption_id", "candidate", "path", "status", "error"]],
                               "selected_head": selected_head(selected, cfg)},
                       figures=[p for p in figures if p.suffix == ".png"])


def selected_head(selected: pd.DataFrame, cfg, n: int = 10) -> pd.DataFrame:
    """The top ``n`` selected pairs with every score, CLIPScore also on Hessel's ×2.5 reporting scale."""
    from synthvlm_repro.selection.clipscore import HESSEL_SCALE
    from synthvlm_repro.selection.scoring import active_columns

    head = selected.head(n).assign(**{"CLIP-S (x2.5)": selected["clip_score"].head(n) * HESSEL_SCALE})
    return head[["rank", "caption_id", "candidate", "clip_score", "CLIP-S (x2.5)",
                 *[c for c in active_columns(cfg) if c != "clip_score"], "score", "caption"]]


def write_quality_table(ctx, sets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``selection/quality_table.csv`` for ``sets``, next to the paper's rows; returns the table."""
    from synthvlm_repro.selection.quality import quality_table

    table = quality_table(sets, score_weights(ctx.cfg.selection))
    write_text(quality_table_csv(ctx), table.to_csv(index=False))
    return table


def write_figures(ctx, sets: dict[str, pd.DataFrame], scores: pd.DataFrame) -> list[Path]:
    """The score distributions of ``sets`` and the best/worst candidates, as PNG + PDF under ``figures/``."""
    import matplotlib.pyplot as plt

    from synthvlm_repro.plotting import save_figure
    from synthvlm_repro.selection.report import plot_distributions, plot_extremes

    weights = score_weights(ctx.cfg.selection)
    written = []
    for stem, make in ((DISTRIBUTIONS_FIGURE, lambda: plot_distributions(sets, weights)),
                       (EXTREMES_FIGURE, lambda: plot_extremes(scores, ctx.paths.root, weights, n=6))):
        if stem == EXTREMES_FIGURE and not (scores["status"] == "ok").any():
            continue  # no readable candidate: nothing to show
        fig = make()
        written += save_figure(fig, ctx.paths.figure(stem), smoke=ctx.smoke)
        plt.close(fig)
    return written
