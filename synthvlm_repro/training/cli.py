"""``synthvlm-repro train``: LLaVA-1.5 stage 1 / stage 2 from the command line (or as a torchrun worker)."""

from __future__ import annotations

import argparse


def _cmd_train(args: argparse.Namespace) -> int:
    from synthvlm_repro.cli_common import context_from_args
    from synthvlm_repro.training.launch import run_training
    from synthvlm_repro.training.plots import plot_loss_curves
    from synthvlm_repro.training.train import train_stage

    ctx = context_from_args(args)
    stages = (1, 2) if args.stage == "all" else (int(args.stage),)
    if args.in_process:  # one rank of a launched job, or a deliberate single-process run
        for stage in stages:
            print(f"stage {stage}: {train_stage(ctx.cfg.training, ctx.paths, stage, ctx.cfg.seed, ctx.device)}")
        return 0
    finals = run_training(ctx, stages if args.stage != "all" else None)
    for stage, final in finals.items():
        print(f"stage {stage}: {final}")
    plot_loss_curves(ctx.paths, smoke=ctx.smoke)
    return 0


def register(subparsers) -> None:
    """Add the ``train`` subcommand."""
    from synthvlm_repro.cli_common import add_run_args

    p = subparsers.add_parser(
        "train", help="stage 04: LLaVA-1.5 projector pretraining (stage 1) and instruction tuning (stage 2)",
        description="Train LLaVA-1.5 from the run dir's selection/llava_pretrain.json (stage 1, projector only) and "
                    "training.stage2_data (stage 2, projector + LM). Writes training/stage{1,2}/final/ (llava-hf "
                    "model + processor), log_history.json and figures/training_loss.{png,pdf}. Resumes from the "
                    "latest checkpoint. On GPUs it launches torchrun/accelerate (training.launcher) over "
                    "training.num_gpus GPUs and streams training/stage{N}/train.log.")
    add_run_args(p)
    p.add_argument("--stage", choices=("1", "2", "all"), default="all",
                   help="which stage to train (default: all = 1 then 2, unless training.run_stage2 is false)")
    p.add_argument("--in-process", action="store_true",
                   help="train in this process instead of launching a job (what each torchrun/accelerate rank runs)")
    p.set_defaults(func=_cmd_train)
