"""Run the training phases: in-process (CPU, smoke) or as a ``torchrun`` / ``accelerate launch`` job.

On GPUs the job is a separate process group writing ``training/phase{N}/train.log``; the caller only
streams that file. A notebook kernel that dies (OOM, closed browser) therefore never takes the run
with it: rerunning the cell re-attaches to a job that is still alive (``launch.json`` holds its pid),
or starts a new one that resumes from the latest checkpoint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from synthvlm_repro.atomic import write_json, write_text
from synthvlm_repro.config import dump_config
from synthvlm_repro.run_context import RunContext


def resolve_launcher(launcher: str, device: str) -> str:
    """``inprocess`` on CPU (or when asked); ``auto`` means torchrun on GPUs."""
    if launcher == "auto":
        return "torchrun" if device.startswith("cuda") else "inprocess"
    return launcher


def gpu_count(requested: int | None) -> int:
    import torch

    return requested or max(torch.cuda.device_count(), 1)


def launch_command(mode: str, nproc: int, profile_yaml: Path, run_dir: Path, phase: int) -> list[str]:
    """The worker command line: this kit's ``train --in-process`` under torchrun / accelerate."""
    worker = ["-m", "synthvlm_repro.cli", "train", "--in-process", "--phase", str(phase),
              "--profile", str(profile_yaml), "--run-dir", str(run_dir)]
    if mode == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *worker]
    if mode == "accelerate":
        exe = shutil.which("accelerate") or "accelerate"
        return [exe, "launch", f"--num_processes={nproc}", *worker]
    raise ValueError(f"unknown launcher {mode!r} (inprocess, torchrun, accelerate)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stream(log_path: Path, proc: subprocess.Popen | None, pid: int, poll_s: float = 1.0, out=sys.stdout) -> None:
    """Print ``log_path`` as it grows until the job ``pid`` exits."""
    with open(log_path, "r", encoding="utf-8", errors="replace") as fh:
        while True:
            chunk = fh.read()
            if chunk:
                out.write(chunk)
                out.flush()
            done = proc.poll() is not None if proc else not _alive(pid)
            if done:
                out.write(fh.read())
                return
            time.sleep(poll_s)


def launch_phase(ctx: RunContext, phase: int, mode: str, nproc: int) -> Path:
    """Start (or re-attach to) the training phase's job, stream its log, and return its ``final/`` folder."""
    paths = ctx.paths
    record_path, log_path = paths.training_launch_record(phase), paths.training_launch_log(phase)
    if record_path.exists():
        import json

        old = json.loads(record_path.read_text())
        if old.get("status") == "running" and _alive(old["pid"]):
            print(f"training phase {phase}: re-attaching to running job pid {old['pid']} ({log_path})", flush=True)
            stream(log_path, None, old["pid"])
            return _finished(paths.training_final_dir(phase), phase, log_path)
    profile_yaml = write_text(paths.training_launch_config(phase), dump_config(ctx.cfg))
    cmd = launch_command(mode, nproc, profile_yaml, ctx.paths.root, phase)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(ctx.paths.root))
    write_json(record_path, {"pid": proc.pid, "cmd": cmd, "status": "running", "started": time.time()})
    try:
        stream(log_path, proc, proc.pid)
    except KeyboardInterrupt:
        print(f"\ntraining phase {phase}: stopped watching; the job goes on (pid {proc.pid}, log {log_path}). "
              f"Rerun to re-attach; stop it with: kill -- -{proc.pid}", flush=True)
        raise
    write_json(record_path, {"pid": proc.pid, "cmd": cmd, "status": f"exit {proc.returncode}", "started": time.time()})
    if proc.returncode != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise RuntimeError(f"training phase {phase} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    return _finished(paths.training_final_dir(phase), phase, log_path)


def _finished(final: Path, phase: int, log_path: Path) -> Path:
    if not (final / "config.json").exists():
        raise RuntimeError(f"training phase {phase}: job ended without {final}; see {log_path}")
    return final


def run_training(ctx: RunContext, phases: tuple[int, ...] | None = None) -> dict[int, Path]:
    """Train the phases the config asks for (1, then 2 unless ``run_phase2`` is off); returns their final dirs."""
    cfg = ctx.cfg.training
    phases = phases or ((1, 2) if cfg.run_phase2 else (1,))
    mode = resolve_launcher(cfg.launcher, ctx.device)
    finals = {}
    for phase in phases:
        if mode == "inprocess":
            from synthvlm_repro.training.train import train_phase

            finals[phase] = train_phase(cfg, ctx.paths, phase, ctx.cfg.seed, ctx.device)
        else:
            finals[phase] = launch_phase(ctx, phase, mode, gpu_count(cfg.num_gpus))
    return finals
