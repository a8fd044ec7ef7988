"""Run ``synthvlm-repro ARGS`` and SIGKILL it right before its K-th file commit under ``--root``.

A test helper for kill-and-resume tests: a commit is an ``os.replace`` (every atomic write), ``os.link``,
``os.symlink`` or ``os.unlink`` whose target lies under the root. Each one is appended to ``--log``
(``op<TAB>path``) before it happens, so an uninterrupted run lists the points a test can choose from.
Commits whose path contains ``--not-matching`` are logged but not counted. The kill is a real
``SIGKILL`` of this process: nothing is flushed, no ``finally`` or ``atexit`` runs.

usage: python tests/kill_at_op.py --root RUN --log ops.log [--kill-at K] [--not-matching TEXT] -- ARGS...
"""

import argparse
import os
import signal
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--not-matching", default=None)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    root = os.path.realpath(opts.root) + os.sep
    count = 0

    def hook(name, real, target_arg):
        def wrapped(*args, **kwargs):
            nonlocal count
            target = os.path.realpath(os.fspath(args[target_arg]))
            if target.startswith(root):
                rel = target[len(root):]
                with open(opts.log, "a", encoding="utf-8") as fh:
                    fh.write(f"{name}\t{rel}\n")
                if opts.not_matching is None or opts.not_matching not in rel:
                    count += 1
                    if count == opts.kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapped

    os.replace = hook("replace", os.replace, 1)
    os.link = hook("link", os.link, 1)
    os.symlink = hook("symlink", os.symlink, 1)
    os.unlink = hook("unlink", os.unlink, 0)

    from synthvlm_repro.cli import main as cli_main

    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
