"""``python -m synthvlm_repro.selection score ...``: the entry point torchrun starts per rank."""

import argparse
import sys

from synthvlm_repro.selection.cli import EPILOG, add_arguments


def main(argv: list[str] | None = None) -> int:
    from synthvlm_repro.config import ConfigError

    parser = argparse.ArgumentParser(prog="python -m synthvlm_repro.selection", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser.add_subparsers(dest="action", required=True, metavar="ACTION"))
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
