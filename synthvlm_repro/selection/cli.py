"""``synthvlm-repro selection {run,score,select,quality}``; also ``python -m synthvlm_repro.selection``
(what ``torchrun`` starts on every rank)."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, add_shard_arg, context_from_args, shard_from_args

EPILOG = """examples:
  synthvlm-repro selection run --profile paper --run-dir /scratch/synthvlm
  torchrun --nproc_per_node 8 -m synthvlm_repro.selection score --profile paper --run-dir /scratch/synthvlm
  sbatch --array=0-15 --wrap 'synthvlm-repro selection score --profile paper --run-dir /scratch/synthvlm \\
      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT'
  synthvlm-repro selection select --profile paper --run-dir /scratch/synthvlm --set selection.ssim_weight=0
  synthvlm-repro selection quality /data/coco/captions_val2017.json --image-dir /data/coco/val2017
Scoring resumes: rerun the same command after a crash and scored pairs are skipped."""


def _cmd_run(args: argparse.Namespace) -> int:
    from synthvlm_repro.selection.stage import run

    result = run(context_from_args(args), progress=not args.no_progress)
    print("\n".join(result.summary.values()))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from synthvlm_repro.selection.scoring import score_manifest

    ctx = context_from_args(args)
    shard = shard_from_args(args)
    parts = score_manifest(ctx, shard, device=args.device, progress=not args.no_progress)
    print(f"shard {shard} scored into {parts}; run `selection select` once every shard is done")
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    from synthvlm_repro.selection.stage import run

    result = run(context_from_args(args), progress=not args.no_progress, score=False)
    print("\n".join(result.summary.values()))
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    from synthvlm_repro.selection.quality import quality_table, score_dataset
    from synthvlm_repro.selection.scorer import score_weights

    ctx = context_from_args(args)
    scores = score_dataset(ctx, args.dataset, args.image_dir, args.name, progress=not args.no_progress)
    name = args.name or args.dataset
    print(quality_table({name: scores}, score_weights(ctx.cfg.selection)).to_string(index=False))
    return 0


def _common(parser: argparse.ArgumentParser, device: bool = True) -> None:
    add_run_args(parser)
    if device:
        parser.add_argument("--device", default=None,
                            help="torch device (default: the profile's; under torchrun this rank's GPU)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_arguments(actions) -> None:
    """The selection actions, for ``synthvlm-repro selection`` and ``python -m synthvlm_repro.selection``."""
    fmt = argparse.RawDescriptionHelpFormatter
    run = actions.add_parser("run", help="score every candidate, then select, export and report (one process)",
                             description="Score all candidates of synthesis/manifest.parquet (resuming), write "
                                         "selection/scores.parquet, select and export the LLaVA set, write "
                                         "selection/quality_table.csv and the score figures.",
                             epilog=EPILOG, formatter_class=fmt)
    _common(run, device=False)
    run.set_defaults(func=_cmd_run)

    score = actions.add_parser("score", help="score one shard of the candidates (resumable)",
                               description="Score one shard of synthesis/manifest.parquet into "
                                           "selection/score_parts/; skips pairs already scored.",
                               epilog=EPILOG, formatter_class=fmt)
    _common(score)
    add_shard_arg(score, "score part I of N of the captions")
    score.set_defaults(func=_cmd_score)

    select = actions.add_parser("select", help="merge the shards' scores, select, write the LLaVA set and report",
                                description="Merge every shard's scores into selection/scores.parquet (fails if "
                                            "one is unfinished), apply the selection rule, write "
                                            "selected.parquet, llava_pretrain.json, selection/images/, "
                                            "quality_table.csv and the score figures (as `run`, without scoring).",
                                epilog=EPILOG, formatter_class=fmt)
    _common(select, device=False)
    select.set_defaults(func=_cmd_select)

    quality = actions.add_parser("quality", help="score a real image-caption dataset for the quality table",
                                 description="Score a real dataset (LLaVA JSON, COCO captions JSON or SynthVLM "
                                             "[{id, caption, image}]) exactly as the candidates; writes "
                                             "selection/quality/<name>.parquet and prints the quality table.",
                                 epilog=EPILOG, formatter_class=fmt)
    _common(quality, device=False)
    quality.add_argument("dataset", help="the dataset's JSON file")
    quality.add_argument("--image-dir", default=None, help="folder the JSON's image paths are relative to "
                                                            "(default: the JSON's folder)")
    quality.add_argument("--name", default=None, help="name of the set in the table (default: the JSON's stem)")
    quality.set_defaults(func=_cmd_quality)


def register(subparsers) -> None:
    """Add ``selection`` with its actions to the ``synthvlm-repro`` command."""
    parser = subparsers.add_parser("selection", help="stage 03: CLIPScore + SSIM scoring and selection",
                                   description="Stage 03: score synthetic pairs by CLIPScore + λ·SSIM and select "
                                               "the LLaVA pretraining set.", epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser.add_subparsers(dest="action", required=True, metavar="ACTION"))
