"""``synthvlm-repro doctor``: is this machine ready to run a profile? Exit 1 when something blocks it."""

from __future__ import annotations

import argparse


def _cmd_doctor(args: argparse.Namespace) -> int:
    from synthvlm_repro.doctor.report import run_doctor

    report = run_doctor(args.profile, args.overrides, args.run_dir, captions=args.captions)
    print(report.render(verbose=args.verbose))
    return 0 if report.ok else 1


def register(subparsers) -> None:
    """Add the ``doctor`` subcommand."""
    from synthvlm_repro.cli_common import add_run_args

    p = subparsers.add_parser(
        "doctor", help="preflight: models, data, GPUs, disk per stage, with GPU-hour/disk estimates",
        description="For every stage of a profile: are its models resolvable (HF cache, local dir or tiny:), its "
                    "data present, the GPUs and their memory enough for the configured batch sizes, the disk "
                    "enough for the images; plus GPU-hour and disk estimates from bench/RESULTS.md's figures. "
                    "Exit 1 when something blocks the run. Creates nothing.")
    add_run_args(p)
    p.add_argument("--captions", type=int, default=None,
                   help="captions to plan for (default: the config's limits, stage 01's output, else the paper's 1M)")
    p.add_argument("--verbose", action="store_true", help="also list every check, not only the problems")
    p.set_defaults(func=_cmd_doctor)
