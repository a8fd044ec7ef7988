"""Stage 01 as one call: preflight (``doctor``, real profiles only), curate, write the outputs and the
curation figures, and return what the notebook and the CLI show."""

from __future__ import annotations

from synthvlm_repro.run_context import RunContext
from synthvlm_repro.stage import StageResult
from synthvlm_repro.runtime.distributed import Shard

#: Columns of the curated table worth showing, when present.
SHOWN_COLUMNS = ("id", "caption", "image", "perplexity", "clip_similarity", "itm_score", "judge_verdict",
                 "judge_answer")


def run(ctx: RunContext, shard: Shard | None = None, merge: bool = False, progress: bool = True,
        figures: bool = True, preflight: bool | None = None) -> StageResult:
    """Curate ``curation.source`` into ``captions/``.

    ``shard`` (``--shard i/n``, nested with torchrun's ``RANK``/``WORLD_SIZE``) scores one share of the
    model steps; the last shard to finish merges. ``merge`` merges cached shard scores by hand.
    ``preflight`` None runs the doctor on real profiles only (the tiny smoke models need no checks).
    """
    from synthvlm_repro.curation.pipeline import curate
    from synthvlm_repro.runtime.distributed import current_shard

    ctx.record_stage_config("curation")
    result = StageResult("curation")
    shard = current_shard(shard)
    if preflight if preflight is not None else wants_preflight(ctx, shard, merge):
        report = doctor_preflight(ctx)
        result.tables["doctor"] = report.table()
        result.summary["doctor"] = "; ".join(report.problems()) or "no problems found"
    curated = curate(ctx.cfg.curation, ctx.paths, ctx.device, ctx.cfg.seed, progress=progress,
                     shard=None if merge else shard, merge=merge)
    if curated.partial:
        result.summary["partial"] = (f"shard {shard.index}/{shard.count}: {len(curated.curated):,} captions through "
                                     "the model steps; the last shard to finish merges (or run `curation run --merge`)")
        return result
    paths = ctx.paths
    result.artifacts.update(curated=paths.curated_parquet, rejected=paths.rejected_parquet,
                            captions=paths.caption_json, funnel=paths.funnel_json)
    if figures:
        from synthvlm_repro.curation.plots import save_curation_figures

        for written in save_curation_figures(curated, ctx.cfg.curation, paths.figures, smoke=ctx.smoke):
            result.artifacts[f"{written.stem}_{written.suffix[1:]}"] = written
            if written.suffix == ".png":
                result.figures.append(written)
    _tables(curated, result)
    result.summary.update(captions=len(curated.curated), rejected=len(curated.rejected),
                          output=str(paths.caption_json))
    for line in curated.skipped:
        result.summary.setdefault("skipped", []).append(line)
    return result


def wants_preflight(ctx: RunContext, shard: Shard | None = None, merge: bool = False) -> bool:
    """The doctor runs first on real profiles (the tiny smoke models need no checks), once per job: not
    in each shard or a by-hand merge."""
    return not ctx.smoke and (shard is None or shard.count == 1) and not merge


def doctor_preflight(ctx: RunContext):
    """``synthvlm-repro doctor`` for this run (models cached, data present, GPUs and disk enough)."""
    from synthvlm_repro.doctor.report import doctor_report

    return doctor_report(ctx.cfg, ctx.paths.root)


def _tables(curated, result: StageResult) -> None:
    import pandas as pd

    result.tables["funnel"] = pd.DataFrame(curated.funnel)
    rejected = curated.rejected.to_pandas()
    if len(rejected):
        sample = rejected.groupby("reason", sort=False).head(3)
        result.tables["rejected_sample"] = sample[[c for c in ("id", "reason", "detail", "caption")
                                                   if c in sample.columns]].reset_index(drop=True)
    kept = curated.curated.to_pandas()
    result.tables["curated_head"] = kept[[c for c in SHOWN_COLUMNS if c in kept.columns]].head(12)
