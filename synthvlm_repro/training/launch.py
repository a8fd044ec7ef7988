"""Run the training phases: in-process (CPU, smoke) or as a ``torchrun`` / ``accelerate launch`` job.

On GPUs the job is a separate process group writing ``training/phase{N}/train.log``; the caller only
streams that file. A notebook kernel that dies (OOM, closed browser) therefore never takes the run
with it: rerunning the cell re-attaches to a job that is still alive (``launch.json`` holds its pid),
or starts a new one that resumes from the latest checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from synthvlm_repro.atomic import write_text
from synthvlm_repro.config import dump_config
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.runtime.launcher import launcher_command, run_detached, running_job


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
    return launcher_command(mode, nproc, worker)


def launch_phase(ctx: RunContext, phase: int, mode: str, nproc: int) -> Path:
    """Start (or re-attach to) the training phase's job, stream its log, and return its ``final/`` folder."""
    paths = ctx.paths
    record_path, log_path = paths.training_launch_record(phase), paths.training_launch_log(phase)
    config_path = paths.training_launch_config(phase)
    if running_job(record_path) is None:  # a live job keeps the config it started with
        write_text(config_path, dump_config(ctx.cfg))
    cmd = launch_command(mode, nproc, config_path, paths.root, phase)
    code = run_detached(cmd, log_path, record_path, cwd=paths.root)
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise RuntimeError(f"training phase {phase} failed (exit {code}); log {log_path}:\n{tail}")
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
