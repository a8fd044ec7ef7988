"""``synthvlm-repro synthesis {run,merge,regenerate,grid}``; also ``python -m synthvlm_repro.synthesis``
(what ``torchrun`` / ``accelerate launch`` start on every rank)."""

from __future__ import annotations

import argparse
import sys

from synthvlm_repro.cli_common import add_run_args, add_shard_arg, context_from_args

EPILOG = """examples:
  synthvlm-repro synthesis run --profile paper --run-dir /scratch/synthvlm
  torchrun --nproc_per_node 8 -m synthvlm_repro.synthesis run --profile paper --run-dir /scratch/synthvlm
  accelerate launch --num_processes 8 -m synthvlm_repro.synthesis run --profile paper --run-dir /scratch/synthvlm
  sbatch --array=0-15 --wrap 'synthvlm-repro synthesis run --profile paper --run-dir /scratch/synthvlm \\
      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT'
  synthvlm-repro synthesis regenerate --manifest run/synthesis/manifest.parquet --out /tmp/copy
Runs resume: rerun the same command after a crash and finished images are skipped."""


def _cmd_run(args: argparse.Namespace) -> int:
    from synthvlm_repro.runtime.distributed import parse_shard
    from synthvlm_repro.synthesis.stage import run

    ctx = context_from_args(args)
    result = run(ctx, nproc=args.nproc, grid=args.grid, shard=parse_shard(args.shard) if args.shard else None,
                 progress=not args.no_progress)
    print("\n".join(result.summary_lines()))
    if result.summary.get("failed"):  # exit 0 anyway: a failing rank would make torchrun stop the healthy ones
        print(f"warning: {result.summary['failed']} images failed (status 'failed' in the journal); rerun to retry "
              "them", file=sys.stderr)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from synthvlm_repro.synthesis.run import IncompleteManifestError, merge

    ctx = context_from_args(args)
    try:
        frame = merge(ctx)
    except IncompleteManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{ctx.paths.synthesis_manifest}: {len(frame)} rows, " +
          ", ".join(f"{k} {v}" for k, v in frame["status"].value_counts().items()))
    return 0


def _cmd_regenerate(args: argparse.Namespace) -> int:
    from synthvlm_repro.synthesis.regenerate import regenerate

    device = args.device or ("cuda" if _cuda() else "cpu")
    written = regenerate(args.manifest, args.out, device=device, only_missing=args.only_missing)
    print(f"{len(written)} images written under {args.out}")
    return 0


def _cmd_grid(args: argparse.Namespace) -> int:
    from synthvlm_repro.synthesis.grid import grid_search

    ctx = context_from_args(args)
    summary = grid_search(ctx, n_captions=args.captions)
    print(summary.to_string(index=False))
    return 0


def add_arguments(sub) -> None:
    """The synthesis actions, on any argparse subparsers object."""
    run = sub.add_parser("run", help="stage 02: render the missing images, then the figures and the grid search",
                         description="Render every missing image of synthesis/images (in this process, or as a "
                                     "detached torchrun job with --nproc N or on several visible GPUs; rerunning "
                                     "re-attaches to a live job), merge synthesis/manifest.parquet, draw "
                                     "figures/synthesis_samples and, with synthesis.run_grid, run the grid search. "
                                     "Inside torchrun/accelerate (RANK/WORLD_SIZE) or with --shard it renders this "
                                     "process's share only; the last shard to finish merges.")
    add_run_args(run)
    run.add_argument("--nproc", type=int, default=None,
                     help="processes for a detached torchrun job (default: every visible GPU if several, else 1)")
    run.add_argument("--grid", dest="grid", action="store_true", default=None,
                     help="also run the grid search (default: synthesis.run_grid)")
    run.add_argument("--no-grid", dest="grid", action="store_false", help="skip the grid search")
    add_shard_arg(run, "render part I of N of the batches")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    run.set_defaults(func=_cmd_run)

    merge = sub.add_parser("merge", help="merge the shard journals into synthesis/manifest.parquet",
                           description="Merge every shard journal of the run dir into synthesis/manifest.parquet; "
                                       "fails naming the first missing image if some shard has not finished.")
    add_run_args(merge)
    merge.set_defaults(func=_cmd_merge)

    regen = sub.add_parser("regenerate", help="re-render images from a manifest alone",
                           description="Re-render every ok/broken image of a manifest (same models, settings, seeds "
                                       "and batches) into --out/<path>.")
    regen.add_argument("--manifest", required=True, help="path to a synthesis/manifest.parquet")
    regen.add_argument("--out", required=True, help="root folder the manifest's relative paths are written under")
    regen.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    regen.add_argument("--only-missing", action="store_true", help="write only images that do not exist under --out")
    regen.set_defaults(func=_cmd_regenerate)

    grid = sub.add_parser("grid", help="sweep steps x guidance x refiner on a caption sample, scored by CLIPScore",
                          description="Render synthesis.grid_captions sampled captions for every combination of "
                                      "synthesis.grid_steps, grid_guidance and grid_refiner, score them by CLIPScore "
                                      "(selection.clip_model), write synthesis/grid.parquet and a heatmap figure.")
    add_run_args(grid)
    grid.add_argument("--captions", type=int, default=None, help="sample size (default: synthesis.grid_captions)")
    grid.set_defaults(func=_cmd_grid)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def register(subparsers) -> None:
    parser = subparsers.add_parser("synthesis", help="stage 02: render images for the captions (SDXL)",
                                   description="Stage 02: render candidate images for every caption with a "
                                               "diffusers pipeline (SDXL base + refiner by default).", epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser.add_subparsers(dest="action", required=True, metavar="ACTION"))
