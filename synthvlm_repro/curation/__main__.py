"""``python -m synthvlm_repro.curation [curation run options]``: the per-rank entry point torchrun starts
(each rank takes shard RANK of WORLD_SIZE of the model steps; the last to finish merges)."""

import sys


def main(argv: list[str] | None = None) -> int:
    from synthvlm_repro.cli import main as cli_main

    return cli_main(["curation", "run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
