"""``synthvlm-repro figures {run,judge}``: the paper's figures, tables and reproduce.md of a run, and
the automatic synthetic-vs-original preference judge."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, add_stage_run, context_from_args

EPILOG = """examples:
  synthvlm-repro figures run --profile paper --run-dir /scratch/synthvlm
  synthvlm-repro figures run --only benchmarks,mmlu --no-judge    (also spelled: figures build)
  synthvlm-repro figures judge --profile paper --run-dir /scratch/synthvlm --model llava-hf/llava-1.5-13b-hf
Figures go to figures.output_dir (default <project>/figures); reproduce.md to the run dir.
The judge appends one line per pair to <run>/preference/judge-<model>.jsonl: rerun to resume."""


def _run_options(args: argparse.Namespace) -> dict:
    only = [x for part in (args.only or []) for x in part.split(",") if x]
    return {"only": only or None, "judge": False if args.no_judge else None}


def _cmd_judge(args: argparse.Namespace) -> int:
    from synthvlm_repro.figures.judge import position_bias
    from synthvlm_repro.figures.preference import win_rates
    from synthvlm_repro.figures.stage import judge_pairs

    ctx = context_from_args(args)
    out, records = judge_pairs(ctx, args.model, args.device, args.limit)
    print(win_rates(records).to_string(index=False))
    print(f"left-pick rate {position_bias(records):.2f} (0.50 = no position bias); judgments in {out}")
    return 0


def register(subparsers) -> None:
    """Add ``figures run`` (alias ``build``) and ``figures judge``."""
    parser = subparsers.add_parser("figures", help="stage 06: paper figures, tables, preference judge, reproduce.md",
                                   description="Stage 06: the paper's figures and tables of a run beside the "
                                               "published numbers, reproduce.md, and the automatic "
                                               "synthetic-vs-original preference judge.", epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figures_command", required=True, metavar="STEP")

    build = add_stage_run(sub, "figures", "judge (if enabled), build every figure/table whose inputs exist, then "
                                          "reproduce.md",
                          "Run stage 06: the automatic preference judge when figures.judge_enabled, the figures "
                          "(PNG+PDF) and tables (CSV/Markdown/LaTeX) into figures.output_dir, and <run>/reproduce.md. "
                          "A figure whose inputs are missing is skipped with a one-line reason.",
                          options=_run_options, aliases=["build"])
    build.add_argument("--only", action="append", metavar="NAME[,NAME]",
                       help="build only these figures (repeatable), names of synthvlm_repro.figures.build.FIGURES: "
                            "data_quality, score_distributions, example_grid, curation_funnel, benchmarks, mmlu, "
                            "tsne, preference, grid_search, throughput, ...; reproduce.md is then left as it is")
    build.add_argument("--no-judge", action="store_true",
                       help="do not run the automatic judge first, even with figures.judge_enabled")

    judge = sub.add_parser("judge", help="judge synthetic vs original images with a llava-hf model (resumable)",
                           description="Ask a llava-hf model which image fits each caption better, with the "
                                       "synthetic image once left and once right; append one JSON line per "
                                       "pair to <run>/preference/judge-<model>.jsonl and print win rates.")
    add_run_args(judge)
    judge.add_argument("--model", default=None, help="llava-hf checkpoint: hub id, dir or tiny:llava "
                                                     "(default: figures.judge_model)")
    judge.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: the profile's device)")
    judge.add_argument("--limit", type=int, default=None,
                       help="judge at most this many pairs, a seeded subset (default: figures.preference_pairs)")
    judge.set_defaults(func=_cmd_judge)
