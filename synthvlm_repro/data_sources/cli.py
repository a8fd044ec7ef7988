"""``synthvlm-repro data list | fetch NAME | check``: the paper profile's inputs."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from synthvlm_repro.data_sources.registry import DEFAULT_DATA_ROOT, SOURCES, get_source

EPILOG = """\
Typical use (data root default: <project>/data, LLaVA's playground/data layout):
  synthvlm-repro data list
  synthvlm-repro data fetch llava-pretrain-captions llava-instruct-665k mmlu
  synthvlm-repro data fetch llava-pretrain-images      # tens of GB, resumes when interrupted
  (the image sets and the evaluation tree by hand: `data list` prints the steps)
  synthvlm-repro data check                            # writes configs/paper-data.yaml
  synthvlm-repro doctor --profile paper-data
"""


def _data_root(args: argparse.Namespace) -> Path:
    from synthvlm_repro.paths import find_project_root

    root = Path(args.data_root).expanduser() if args.data_root else find_project_root() / DEFAULT_DATA_ROOT
    return root.resolve()


def _cmd_list(args: argparse.Namespace) -> int:
    root = _data_root(args)
    print(f"data root: {root}")
    for s in SOURCES:
        how = "fetch" if s.fetchable else "manual"
        print(f"\n{s.name}  [{how}; stages {', '.join(s.stages)}]")
        rows = [("what", s.what), ("from", s.origin), ("size", s.size), ("licence", s.licence),
                ("goes to", f"{root / s.path}"),
                ("fills", ", ".join(s.fills) or "nothing directly (read through training.phase2_image_folder)")]
        if s.manual and args.steps:
            rows += [("step", step.replace("DATA_ROOT", str(root))) for step in s.manual]
        for label, text in rows:
            print(textwrap.fill(text, width=110, initial_indent=f"  {label:<8} ", subsequent_indent=" " * 11))
    if not args.steps:
        print("\n(manual steps: `synthvlm-repro data list --steps`)")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from synthvlm_repro.data_sources.fetch import FetchError, fetch

    root = _data_root(args)
    names = [s.name for s in SOURCES if s.fetchable] if args.all else args.names
    if not names:
        print("error: name a source (see `synthvlm-repro data list`) or pass --all", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        get_source(name)
        try:
            fetch(name, root)
        except FetchError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_check(args: argparse.Namespace) -> int:
    from synthvlm_repro.data_sources.check import check_sources, format_results, write_profile
    from synthvlm_repro.paths import find_project_root

    root = _data_root(args)
    for name in args.only or []:
        get_source(name)
    results = check_sources(root, args.only or None, checksums=args.checksums)
    print(format_results(results))
    if not args.no_profile:
        out = Path(args.write_profile) if args.write_profile else find_project_root() / "configs" / "paper-data.yaml"
        write_profile(results, root, out, extends=args.extends or None)
        print(f"profile with the paths found: {out}  (use --profile {out} or `extends:` it)")
    return 0 if all(r.present for r in results) else 1


def register(subparsers) -> None:
    """Add ``data list | fetch | check``."""
    p = subparsers.add_parser("data", help="the paper profile's inputs: list them, fetch the hub ones, check them",
                              description="Every input the paper profile reads: where it comes from, its size and "
                                          "licence, the config key it fills; fetch what is on the HF hub; check "
                                          "layouts and counts and write the paths into a profile.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    def common(q):
        q.add_argument("--data-root", default=None, help=f"where inputs live (default: <project>/{DEFAULT_DATA_ROOT})")

    ls = sub.add_parser("list", help="every input: what, where from, size, licence, config key")
    common(ls)
    ls.add_argument("--steps", action="store_true", help="also print the manual download steps")
    ls.set_defaults(func=_cmd_list)

    fe = sub.add_parser("fetch", help="download hub inputs with huggingface_hub (resumable) and place them",
                        description="Download through the HF cache (hf_hub_download: resumes interrupted "
                                    "downloads; HF_HUB_OFFLINE=1 resolves from the cache), then place under the "
                                    "data root: files hard-linked, zips extracted (resumable), MMLU as CSV.")
    common(fe)
    fe.add_argument("names", nargs="*", metavar="NAME", help="sources to fetch (see `data list`)")
    fe.add_argument("--all", action="store_true", help="every source that is on the hub")
    fe.set_defaults(func=_cmd_fetch)

    ch = sub.add_parser("check", help="verify layouts, counts (and checksums); write a profile with the paths",
                        description="Check each input under the data root and write the paths of those present "
                                    "into a profile YAML (default configs/paper-data.yaml, extends: paper). "
                                    "Exit 1 when any checked input is missing or broken.")
    common(ch)
    ch.add_argument("--only", action="append", metavar="NAME", help="check only this source (repeatable)")
    ch.add_argument("--checksums", action="store_true",
                    help="re-hash the files `data fetch` placed against the hub's digests (slow on big files)")
    ch.add_argument("--write-profile", default=None, metavar="PATH",
                    help="where the profile goes (default: <project>/configs/paper-data.yaml)")
    ch.add_argument("--extends", default="paper", help="the profile it extends (default: paper; '' for none)")
    ch.add_argument("--no-profile", action="store_true", help="only check, write nothing")
    ch.set_defaults(func=_cmd_check)
