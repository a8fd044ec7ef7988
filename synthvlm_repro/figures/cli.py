"""``synthvlm-repro figures {build,judge}``: the paper's figures, tables and reproduce.md of a run, and
the automatic synthetic-vs-original preference judge."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, context_from_args

EPILOG = """examples:
  synthvlm-repro figures build --profile paper --run-dir /scratch/synthvlm
  synthvlm-repro figures build --only benchmarks,mmlu --no-judge
  synthvlm-repro figures judge --profile paper --run-dir /scratch/synthvlm --model llava-hf/llava-1.5-13b-hf
Figures go to figures.output_dir (default <project>/figures); reproduce.md to the run dir.
The judge appends one line per pair to <run>/preference/judge-<model>.jsonl: rerun to resume."""


def _cmd_build(args: argparse.Namespace) -> int:
    from synthvlm_repro.figures.build import figures_dir
    from synthvlm_repro.figures.run import run_stage

    ctx = context_from_args(args)
    only = [x for part in (args.only or []) for x in part.split(",") if x]
    results = run_stage(ctx, only or None, judge=False if args.no_judge else None)
    for r in results:
        print(f"{r.status:8s} {r.name}: " + (", ".join(p.name for p in r.files) if r.files else r.reason))
    report = "not rewritten (partial build)" if only else str(ctx.paths.report_md)
    print(f"figures in {figures_dir(ctx)}; report {report}")
    return 0


def _cmd_judge(args: argparse.Namespace) -> int:
    from synthvlm_repro.figures.judge import position_bias
    from synthvlm_repro.figures.preference import win_rates
    from synthvlm_repro.figures.run import run_judge_stage

    ctx = context_from_args(args)
    out, records = run_judge_stage(ctx, args.model, args.device, args.limit)
    print(win_rates(records).to_string(index=False))
    print(f"left-pick rate {position_bias(records):.2f} (0.50 = no position bias); judgments in {out}")
    return 0


def register(subparsers) -> None:
    """Add ``figures build`` and ``figures judge``."""
    parser = subparsers.add_parser("figures", help="stage 06: paper figures, tables, preference judge, reproduce.md",
                                   description="Stage 06: the paper's figures and tables of a run beside the "
                                               "published numbers, reproduce.md, and the automatic "
                                               "synthetic-vs-original preference judge.", epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figures_command", required=True, metavar="STEP")

    build = sub.add_parser("build", help="build every figure/table whose inputs exist, then reproduce.md",
                           description="Build the figures (PNG+PDF) and tables (CSV/Markdown/LaTeX) into "
                                       "figures.output_dir and write <run>/reproduce.md. A figure whose inputs "
                                       "are missing is skipped with a one-line reason.")
    add_run_args(build)
    build.add_argument("--only", action="append", metavar="NAME[,NAME]",
                       help="build only these figures (repeatable): data_quality, score_distributions, "
                            "example_grid, curation_funnel, benchmarks, mmlu, tsne, preference, grid_search, "
                            "throughput; reproduce.md is then left as it is")
    build.add_argument("--no-judge", action="store_true",
                       help="do not run the automatic judge first, even with figures.judge_enabled")
    build.set_defaults(func=_cmd_build)

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
