"""Run the training stages: in-process (CPU, smoke) or as a ``torchrun`` / ``accelerate launch`` job.

On GPUs the job is a separate process group writing ``training/stage{N}/train.log``; the caller only
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
from synthvlm_repro.training.train import stage_dir


def resolve_launcher(launcher: str, device: str) -> str:
    """``inprocess`` on CPU (or when asked); ``auto`` means torchrun on GPUs."""
    if launcher == "auto":
        return "torchrun" if device.startswith("cuda") else "inprocess"
    return launcher


def gpu_count(requested: int | None) -> int:
    import torch

    return requested or max(torch.cuda.device_count(), 1)


def launch_command(mode: str, nproc: int, profile_yaml: Path, run_dir: Path, stage: int) -> list[str]:
    """The worker command line: this kit's ``train --in-process`` under torchrun / accelerate."""
    worker = ["-m", "synthvlm_repro.cli", "train", "--in-process", "--stage", str(stage),
              "--profile", str(profile_yaml), "--run-dir", str(run_dir)]
    return launcher_command(mode, nproc, worker)


def launch_stage(ctx: RunContext, stage: int, mode: str, nproc: int) -> Path:
    """Start (or re-attach to) the stage's job, stream its log, and return its ``final/`` folder."""
    out = stage_dir(ctx.paths, stage)
    record_path, log_path = out / "launch.json", out / "train.log"
    if running_job(record_path) is None:  # a live job keeps the config it started with
        write_text(out / "launch_config.yaml", dump_config(ctx.cfg))
    cmd = launch_command(mode, nproc, out / "launch_config.yaml", ctx.paths.root, stage)
    code = run_detached(cmd, log_path, record_path, cwd=ctx.paths.root)
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise RuntimeError(f"stage {stage} training failed (exit {code}); log {log_path}:\n{tail}")
    return _finished(out, stage, log_path)


def _finished(out: Path, stage: int, log_path: Path) -> Path:
    final = out / "final"
    if not (final / "config.json").exists():
        raise RuntimeError(f"stage {stage}: job ended without {final}; see {log_path}")
    return final


def run_training(ctx: RunContext, stages: tuple[int, ...] | None = None) -> dict[int, Path]:
    """Train the stages the config asks for (1, then 2 unless ``run_stage2`` is off); returns their final dirs."""
    cfg = ctx.cfg.training
    stages = stages or ((1, 2) if cfg.run_stage2 else (1,))
    mode = resolve_launcher(cfg.launcher, ctx.device)
    finals = {}
    for stage in stages:
        if mode == "inprocess":
            from synthvlm_repro.training.train import train_stage

            finals[stage] = train_stage(cfg, ctx.paths, stage, ctx.cfg.seed, ctx.device)
        else:
            finals[stage] = launch_stage(ctx, stage, mode, gpu_count(cfg.num_gpus))
    return finals
