"""``synthvlm-repro train``: LLaVA-1.5 training phase 1 / phase 2 from the command line (or as a torchrun worker).

LLaVA calls these "stage 1" and "stage 2"; in this kit a stage is one of the pipeline stages 01–06."""

from __future__ import annotations

import argparse


def _cmd_train(args: argparse.Namespace) -> int:
    from synthvlm_repro.cli_common import context_from_args
    from synthvlm_repro.training.launch import run_training
    from synthvlm_repro.training.plots import plot_loss_curves
    from synthvlm_repro.training.train import train_phase

    ctx = context_from_args(args)
    phases = (1, 2) if args.phase == "all" else (int(args.phase),)
    if args.in_process:  # one rank of a launched job, or a deliberate single-process run
        for phase in phases:
            print(f"training phase {phase}: {train_phase(ctx.cfg.training, ctx.paths, phase, ctx.cfg.seed, ctx.device)}")
        return 0
    finals = run_training(ctx, phases if args.phase != "all" else None)
    for phase, final in finals.items():
        print(f"training phase {phase}: {final}")
    plot_loss_curves(ctx.paths, smoke=ctx.smoke)
    return 0


def _add_parser(subparsers, name: str, help: str, description: str, phase: str | None):
    from synthvlm_repro.cli_common import add_run_args

    p = subparsers.add_parser(name, help=help, description=description)
    add_run_args(p)
    if phase is None:
        p.add_argument("--phase", choices=("1", "2", "all"), default="all",
                       help="which training phase to run (default: all = 1 then 2, unless training.run_phase2 is false)")
    else:
        p.set_defaults(phase=phase)
    p.add_argument("--in-process", action="store_true",
                   help="train in this process instead of launching a job (what each torchrun/accelerate rank runs)")
    p.set_defaults(func=_cmd_train)


COMMON = ("Writes training/phase{N}/final/ (llava-hf model + processor), log_history.json, label_check.json and "
          "figures/training_loss.{png,pdf}; resumes from the latest checkpoint. On GPUs it launches torchrun or "
          "accelerate (training.launcher) over training.num_gpus GPUs and streams training/phase{N}/train.log.")


def register(subparsers) -> None:
    """Add ``training run`` (the whole pipeline stage), ``train`` (both phases), ``pretrain`` (phase 1) and
    ``finetune`` (phase 2)."""
    from synthvlm_repro.cli_common import add_stage_run

    training = subparsers.add_parser("training", help="stage 04: LLaVA-1.5 training (training run: all of it)",
                                     description="Stage 04: LLaVA-1.5 training phase 1 then phase 2.")
    run = add_stage_run(training.add_subparsers(dest="training_command", required=True, metavar="STEP"), "training",
                        "train phase 1 then phase 2, plot the loss curves, caption a few images (what notebook 04 runs)",
                        "Run stage 04 as notebook 04 does: " + COMMON,
                        options=lambda args: {"captions": args.captions})
    run.add_argument("--captions", type=int, default=2,
                     help="caption this many stage-1 images with the final checkpoint (default 2; 0 = skip)")
    _add_parser(subparsers, "train", "stage 04: LLaVA-1.5 training phase 1 then phase 2",
                "Train LLaVA-1.5: phase 1 (projector only, plain template) on the run dir's "
                "selection/llava_pretrain.json, then phase 2 (projector + LM, v1 template) on training.phase2_data. "
                + COMMON, None)
    _add_parser(subparsers, "pretrain", "stage 04, phase 1: projector alignment on selection/llava_pretrain.json",
                "LLaVA-1.5 training phase 1 (LLaVA's stage 1): build the model from training.vision_tower + "
                "training.language_model and train the projector on selection/llava_pretrain.json. " + COMMON, "1")
    _add_parser(subparsers, "finetune", "stage 04, phase 2: instruction tuning from the phase-1 checkpoint",
                "LLaVA-1.5 training phase 2 (LLaVA's stage 2): train projector + LM from training/phase1/final on "
                "training.phase2_data "
                "(LLaVA-665K format; 'sample-mix' = the kit's tiny mix). " + COMMON, "2")
