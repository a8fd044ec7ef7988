"""Loss curves of the two training phases from their ``log_history.json``."""

from __future__ import annotations

import json
from pathlib import Path

from synthvlm_repro.paths import RunPaths

PHASE_TITLES = {1: "phase 1: projector alignment", 2: "phase 2: instruction tuning"}


def read_losses(log_history: str | Path) -> tuple[list[int], list[float]]:
    """``(steps, losses)`` of the training-loss entries of a Trainer ``log_history.json``."""
    rows = json.loads(Path(log_history).read_text())
    pairs = [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r]
    return [s for s, _ in pairs], [v for _, v in pairs]


def plot_loss_curves(paths: RunPaths, smoke: bool = False) -> list[Path]:
    """Plot each phase's loss vs optimizer step to ``figures/training_loss.{png,pdf}``; returns the files."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from synthvlm_repro.plotting import save_figure

    phases = [(n, paths.training_log_history(n)) for n in PHASE_TITLES]
    phases = [(n, p) for n, p in phases if p.exists()]
    if not phases:
        raise FileNotFoundError(f"{paths.training}: no log_history.json yet; train first")
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 3.5), squeeze=False)
    for ax, (n, path) in zip(axes[0], phases):
        steps, losses = read_losses(path)
        sns.lineplot(x=steps, y=losses, marker="o", markersize=4, ax=ax)
        ax.set(title=PHASE_TITLES[n], xlabel="optimizer step", ylabel="training loss")
    fig.tight_layout()
    try:
        return save_figure(fig, paths.figure("training_loss"), smoke=smoke)
    finally:
        plt.close(fig)
