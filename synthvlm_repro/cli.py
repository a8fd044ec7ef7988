"""The ``synthvlm-repro`` command: run the notebook pipeline, build tiny models, show configs, and one
subcommand per stage (each stage package may provide ``cli.register(subparsers)``)."""

from __future__ import annotations

import argparse
import importlib
import sys

from synthvlm_repro import lab
from synthvlm_repro.cli_common import add_run_args, dispatch

STAGE_CLI_MODULES = tuple(f"synthvlm_repro.{s}.cli" for s in
                          ("curation", "synthesis", "selection", "training", "evaluation", "figures")) + (
    "synthvlm_repro.data_sources.cli", "synthvlm_repro.doctor.cli")


def _cmd_run(args: argparse.Namespace) -> int:
    from synthvlm_repro.runner import PipelineError, run_pipeline

    only = [x for part in (args.only or []) for x in part.split(",") if x]
    try:
        record = run_pipeline(args.profile, args.run_dir, only=only or None, start=args.start,
                              overrides=args.overrides, notebooks_dir=args.notebooks, output_root=args.output_root,
                              kernel_name=args.kernel, log_output=args.log_output)
    except PipelineError as e:
        print(str(e), file=sys.stderr)
        return 1
    total = sum(n.seconds for n in record.notebooks)
    print(f"ok: {len(record.notebooks)} notebooks in {total:.0f} s -> {record.output_dir}/run.json")
    return 0


def _cmd_tiny_models(args: argparse.Namespace) -> int:
    from synthvlm_repro import tiny_models

    names = args.names or list(tiny_models.BUILDERS)
    for name in names:
        print(f"tiny:{name}\t{tiny_models.tiny_model_path(name)}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from synthvlm_repro.config import dump_config, load_config

    print(dump_config(load_config(args.profile, args.overrides)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthvlm-repro", description=" ".join(__doc__.split("\n\n")[0].split()))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="execute the numbered notebooks in order with papermill",
                         description="Execute notebooks/NN_*.ipynb in order with papermill into "
                                     "papermill_runs/<run-name>/, passing profile, run_dir and overrides as "
                                     "parameters; writes run.json; stops at the first failure and exits 1.")
    add_run_args(run)
    run.add_argument("--only", action="append", metavar="NN[,NN]",
                     help="run only these notebook numbers, e.g. --only 01,03 (repeatable)")
    run.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN (earlier ones are not run)")
    run.add_argument("--notebooks", default=None, help="notebook folder (default: <project>/notebooks)")
    run.add_argument("--output-root", default=None,
                     help="where executed notebooks go (default: <project>/papermill_runs); run name = run dir name")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    run.add_argument("--log-output", action="store_true", help="stream the notebooks' cell output to the log")
    run.set_defaults(func=_cmd_run)

    tiny = sub.add_parser("tiny-models", help="build (or find cached) the offline tiny models and print their dirs")
    tiny.add_argument("names", nargs="*", help="which ones (default: all)")
    tiny.set_defaults(func=_cmd_tiny_models)

    cfg = sub.add_parser("config", help="print the effective config of a profile with overrides")
    add_run_args(cfg)
    cfg.set_defaults(func=_cmd_config)

    lab.register(sub)  # synthvlm-repro lab

    for module_name in STAGE_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
