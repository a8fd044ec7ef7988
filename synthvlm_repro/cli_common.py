"""Options every stage subcommand shares: ``--profile``, ``--run-dir``, ``--set``."""

from __future__ import annotations

import argparse

from synthvlm_repro.run_context import RunContext, prepare_run


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Add the profile / run-dir / override options to a subcommand."""
    parser.add_argument("--profile", default="smoke",
                        help="profile name in configs/ (smoke, paper, ...) or a path to a YAML file (default: smoke)")
    parser.add_argument("--run-dir", default=None,
                        help="run directory holding every stage's artifacts (default: runs/<profile>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override one config value (repeatable), e.g. --set synthesis.steps=30")


def context_from_args(args: argparse.Namespace) -> RunContext:
    """The :class:`RunContext` the common options describe."""
    return prepare_run(args.profile, args.run_dir, args.overrides)


def dispatch(args: argparse.Namespace) -> int:
    """Run a parsed subcommand; configuration and input errors become one line on stderr and exit 2."""
    import sys

    from synthvlm_repro.config import ConfigError

    try:
        return args.func(args) or 0
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def stage_main(prog: str, epilog: str, add_arguments, argv: list[str] | None = None) -> int:
    """``python -m synthvlm_repro.<stage> ACTION ...``: the per-rank entry point torchrun/accelerate start."""
    parser = argparse.ArgumentParser(prog=prog, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser.add_subparsers(dest="action", required=True, metavar="ACTION"))
    return dispatch(parser.parse_args(argv))
