"""One look and one way to save figures: the seaborn theme every plot uses, PNG + PDF written
atomically, and a visible smoke-run mark.

Plots of distributions, histograms, heatmaps and estimates with intervals go through seaborn
(``import seaborn as sns`` after importing this module, so the theme is set); image grids and
annotated pictures stay plain matplotlib.
"""

from __future__ import annotations

from pathlib import Path

SMOKE_MARK = "smoke run — tiny random models"


def use_theme() -> None:
    """The kit's seaborn theme (set once on import of this module)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


use_theme()


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
