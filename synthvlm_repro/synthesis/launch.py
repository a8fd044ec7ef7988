"""Start a multi-GPU synthesis run as a detached ``torchrun`` job and stream its log.

The job runs in its own session and writes to ``synthesis/launch.log``, so a dead notebook kernel
does not stop it; finished images are journaled either way, and rerunning resumes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

from synthvlm_repro.paths import RunPaths


def torchrun_command(profile: str, run_dir: str | Path, overrides: Iterable[str], nproc: int) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "synthvlm_repro.synthesis", "run", "--profile", str(profile), "--run-dir", str(run_dir)]
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def launch_torchrun(profile: str, run_dir: str | Path, overrides: Iterable[str], nproc: int,
                    echo=print, poll_s: float = 1.0) -> int:
    """Run synthesis on ``nproc`` local GPUs in a subprocess, echoing its log until it ends; returns its exit code."""
    run_dir = Path(run_dir)
    log_path = RunPaths(run_dir).synthesis_launch_log
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = torchrun_command(profile, run_dir, list(overrides), nproc)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    echo(f"started pid {proc.pid}: {' '.join(cmd)}\nlog: {log_path}")
    with open(log_path, "r", encoding="utf-8", errors="replace") as tail:
        tail.seek(0, 2)
        while True:
            finished = proc.poll() is not None
            chunk = tail.read()
            if chunk:
                echo(chunk.rstrip("\n"))
            if finished:
                return proc.returncode
            time.sleep(poll_s)
