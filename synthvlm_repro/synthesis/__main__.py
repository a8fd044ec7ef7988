"""``python -m synthvlm_repro.synthesis run ...``: the entry point torchrun / accelerate launch start per rank."""

import sys

from synthvlm_repro.cli_common import stage_main
from synthvlm_repro.synthesis.cli import EPILOG, add_arguments


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m synthvlm_repro.synthesis", EPILOG, add_arguments, argv)


if __name__ == "__main__":
    sys.exit(main())
