"""Saving figures the same way everywhere: PNG + PDF, atomic, and a visible smoke-run mark."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None

SMOKE_MARK = "smoke run — tiny random models"


def mark_smoke(fig) -> None:
    """Stamp a figure so nobody mistakes a tiny-model run for real results."""
    fig.text(0.5, 0.5, SMOKE_MARK, fontsize=16, color="red", alpha=0.35, ha="center", va="center",
             rotation=20, transform=fig.transFigure, zorder=1000)
    fig.text(0.99, 0.01, SMOKE_MARK, fontsize=8, color="red", ha="right", va="bottom", transform=fig.transFigure)


def save_figure(fig, path: str | Path, smoke: bool, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 150):
    """Save ``fig`` as ``path`` with each suffix in ``formats``; returns the written paths."""
    from synthvlm_repro.atomic import atomic_path

    if smoke:
        mark_smoke(fig)
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written
