"""Stage 02 as one call: render (in this process or as a detached ``torchrun`` job), then the samples
figure, the throughput/cost table and, when ``synthesis.run_grid`` is on, the grid search and its heatmap.

Inside a launched job (``WORLD_SIZE`` set by torchrun / accelerate) or with an explicit ``shard``, the
call renders this process's share only; the process that merges the manifest also draws the samples.
"""

from __future__ import annotations

import logging

from synthvlm_repro.run_context import RunContext
from synthvlm_repro.runtime.distributed import world_size
from synthvlm_repro.stage import StageResult
from synthvlm_repro.runtime.distributed import Shard

log = logging.getLogger(__name__)


def worker_count(device: str, nproc: int | None) -> int:
    """Processes to render with: ``nproc`` if given, else every visible GPU when there are several, else 1
    (always 1 inside a launched process, which must not launch another job)."""
    if _inside_launched_job():
        return 1
    if nproc is not None:
        return max(int(nproc), 1)
    if not device.startswith("cuda"):
        return 1
    import torch

    gpus = torch.cuda.device_count()
    return gpus if gpus > 1 else 1


def _inside_launched_job() -> bool:
    return world_size() > 1


def launch(ctx: RunContext, nproc: int) -> int:
    """Render on ``nproc`` local processes as a detached torchrun job (``synthesis/launch.log``), or
    re-attach to one still running; returns its exit code."""
    from synthvlm_repro.atomic import write_text
    from synthvlm_repro.config import dump_config
    from synthvlm_repro.runtime.launcher import launcher_command, run_detached, running_job

    paths = ctx.paths
    record, log_path, profile_yaml = paths.synthesis_launch_record, paths.synthesis_launch_log, paths.synthesis_launch_config
    if running_job(record) is None:  # a live job keeps the config it started with
        write_text(profile_yaml, dump_config(ctx.cfg))
    # the overrides again (already in the YAML, so idempotent) so each rank records the same stage_runs entry
    worker = ["-m", "synthvlm_repro.synthesis", "run", "--profile", str(profile_yaml),
              "--run-dir", str(ctx.paths.root), "--no-progress"]
    for item in ctx.overrides:
        worker += ["--set", item]
    return run_detached(launcher_command("torchrun", nproc, worker), log_path, record, cwd=ctx.paths.root)


def run(ctx: RunContext, nproc: int | None = None, grid: bool | None = None, shard: Shard | None = None,
        progress: bool = True) -> StageResult:
    """Render every missing image and write the stage's figures; ``grid`` None follows ``synthesis.run_grid``."""
    from synthvlm_repro.synthesis.run import synthesize

    ctx.record_stage_config("synthesis")
    cfg = ctx.cfg.synthesis
    result = StageResult("synthesis")
    if shard is not None or _inside_launched_job():
        rendered = synthesize(ctx, shard, progress=progress)
        result.summary.update(_render_summary(rendered))
        if rendered.merged:
            _report(ctx, result)
        return result
    workers = worker_count(ctx.device, nproc)
    if workers > 1:
        code = launch(ctx, workers)
        if code != 0:
            raise RuntimeError(f"synthesis: torchrun exited with {code}; see {ctx.paths.synthesis_launch_log}")
        result.summary["processes"] = workers
    else:
        result.summary.update(_render_summary(synthesize(ctx, progress=progress)))
    _report(ctx, result)
    if cfg.run_grid if grid is None else grid:
        from synthvlm_repro.synthesis.grid import grid_search

        summary = grid_search(ctx, progress=progress)
        result.tables["grid"] = summary.sort_values("clip_score", ascending=False).reset_index(drop=True)
        result.artifacts["grid"] = ctx.paths.synthesis_grid_parquet
        _add_figure(result, "grid_figure", ctx.paths.figure("synthesis_grid"))
        best = result.tables["grid"].iloc[0]
        result.summary["grid best"] = (f"steps {best['steps']}, guidance {best['guidance_scale']:g}, refiner "
                                       f"{bool(best['refiner'])}: CLIPScore {best['clip_score']:.4f}")
    return result


def _render_summary(rendered) -> dict:
    return {"shard": rendered.shard.name, "rendered": rendered.generated, "already done": rendered.skipped,
            "broken": rendered.broken, "failed": rendered.failed,
            "images/s": round(rendered.images_per_second, 3), "merged": rendered.merged}


def _report(ctx: RunContext, result: StageResult) -> None:
    """Manifest status counts, the samples figure and the throughput/cost table (from the merged manifest)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from synthvlm_repro.plotting import save_figure
    from synthvlm_repro.synthesis.report import gpu_hours_per_100k_kept, sample_figure, throughput

    paths = ctx.paths
    manifest = pd.read_parquet(paths.synthesis_manifest)
    result.artifacts["manifest"] = paths.synthesis_manifest
    result.artifacts["images"] = paths.synthesis_images
    result.tables["status"] = manifest["status"].value_counts().rename("images").to_frame()
    fig = sample_figure(manifest, paths.root, n=8)
    save_figure(fig, paths.figure("synthesis_samples"), smoke=ctx.smoke)
    plt.close(fig)
    _add_figure(result, "samples_figure", paths.figure("synthesis_samples"))
    top_k = ctx.cfg.selection.top_k
    kept_fraction = min(1.0, (top_k or len(manifest)) / max(len(manifest), 1))
    result.tables["throughput"] = pd.Series({
        "device": ctx.device, "images": len(manifest), "images/s per process": round(throughput(manifest), 4),
        "kept fraction (selection.top_k / images)": round(kept_fraction, 4),
        "GPU-hours per 100K kept images": round(gpu_hours_per_100k_kept(manifest, kept_fraction), 2)},
        name="value").to_frame()
    result.summary["images"] = len(manifest)
    result.summary["manifest"] = str(paths.synthesis_manifest)


def _add_figure(result: StageResult, key: str, stem) -> None:
    png = stem.with_suffix(".png")
    result.artifacts[key] = png
    result.artifacts[key + "_pdf"] = stem.with_suffix(".pdf")
    result.figures.append(png)
