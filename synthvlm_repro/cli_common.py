"""Options every stage subcommand shares: ``--profile``, ``--run-dir``, ``--set``, and ``--shard I/N``."""

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


def add_shard_arg(parser: argparse.ArgumentParser, what: str = "take part I of N of the work") -> None:
    """``--shard I/N``, the one sharding option of every stage (SLURM arrays; torchrun ranks nest inside it)."""
    parser.add_argument("--shard", metavar="I/N", default=None,
                        help=f"{what}, e.g. 3/8 (SLURM: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); "
                             "torchrun's RANK/WORLD_SIZE split it further (default 0/1)")


def shard_from_args(args: argparse.Namespace):
    """This process's :class:`~synthvlm_repro.runtime.distributed.Shard`: ``--shard`` with the launcher's ranks."""
    from synthvlm_repro.runtime.distributed import current_shard, parse_shard

    return current_shard(parse_shard(args.shard) if args.shard else None)


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


def print_stage_result(result) -> None:
    """A :class:`~synthvlm_repro.stage.StageResult` for the terminal: its summary, then every artifact."""
    for line in result.summary_lines():
        print(line)
    for name, path in result.artifacts.items():
        print(f"  {name}: {path}")


def _cmd_stage_run(args: argparse.Namespace) -> int:
    from synthvlm_repro.stage import run_stage

    print_stage_result(run_stage(args.stage_name, context_from_args(args), **args.stage_options(args)))
    return 0


def add_stage_run(subparsers, stage: str, help: str, description: str = "", options=None,
                  **parser_kwargs) -> argparse.ArgumentParser:
    """Add ``run`` to a stage's subcommands: ``<stage> run`` calls ``synthvlm_repro.<stage>.stage.run(ctx,
    **options(args))`` (what the notebook and the runner call) and prints its summary and artifacts.
    Returns the parser so a stage can add its own options (``options`` maps them to keyword arguments)."""
    parser = subparsers.add_parser("run", help=help, description=description or help, **parser_kwargs)
    add_run_args(parser)
    parser.set_defaults(func=_cmd_stage_run, stage_name=stage, stage_options=options or (lambda args: {}))
    return parser
