"""Stage-01 figures: the caption funnel and one histogram per filter statistic (threshold lines drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from synthvlm_repro.plotting import save_figure

# stat column -> (config key of the lower bound, config key of the upper bound)
STAT_BOUNDS = {
    "alnum_ratio": ("alnum_min", None),
    "char_rep_ratio": (None, "char_rep_max"),
    "flagged_words_ratio": (None, "flagged_words_max"),
    "special_char_ratio": ("special_min", "special_max"),
    "word_rep_ratio": (None, "word_rep_max"),
    "perplexity": (None, "perplexity_max"),
    "clip_similarity": ("clip_min", None),
    "itm_score": ("itm_min", None),
}


def funnel_figure(funnel: list[dict]):
    """Horizontal bars (seaborn): captions left after each step, with the number each step dropped."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(funnel) + 1.2))
    names = [s["step"] for s in funnel]
    kept = [s["kept"] for s in funnel]
    sns.barplot(x=kept, y=names, orient="h", color=sns.color_palette()[0], ax=ax)
    for y, s in enumerate(funnel):
        ax.text(s["kept"], y, f" {s['kept']:,}  (−{s['dropped']:,})", va="center", fontsize=8)
    ax.set_xlabel("captions left after the step")
    ax.set_xlim(0, max(kept + [1]) * 1.3)
    ax.set_title("Caption curation funnel")
    fig.tight_layout()
    return fig


def stat_values(curated: pa.Table, rejected: pa.Table, stat: str) -> np.ndarray:
    """Every finite value of ``stat`` in both tables (rows dropped before the stat was computed have none)."""
    parts = [t.column(stat).to_numpy(zero_copy_only=False) for t in (curated, rejected) if stat in t.column_names]
    values = np.concatenate(parts).astype(float) if parts else np.array([])
    return values[np.isfinite(values)]


def stat_histograms(curated: pa.Table, rejected: pa.Table, cfg):
    """One seaborn histogram per statistic present, with the configured thresholds as dashed lines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    stats = [s for s in STAT_BOUNDS if len(stat_values(curated, rejected, s))]
    cols = 3
    rows = max(1, -(-len(stats) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, stat in zip(axes.flat, stats):
        values = stat_values(curated, rejected, stat)
        sns.histplot(values, bins=40, color=sns.color_palette()[2], ax=ax)
        span = max(float(values.max() - values.min()), 1e-3)
        off_scale = []
        for key in STAT_BOUNDS[stat]:
            bound = getattr(cfg, key) if key else None
            if bound is None:
                continue
            if values.min() - span <= bound <= values.max() + span:
                ax.axvline(bound, color=sns.color_palette()[3], linestyle="--", linewidth=1)
            else:  # a permissive bound far away would squash the histogram
                off_scale.append(f"{key}={bound:g}")
        ax.set_title(stat + (f"  ({', '.join(off_scale)} off-scale)" if off_scale else ""), fontsize=9)
        ax.set_ylabel("captions", fontsize=8)
    for ax in list(axes.flat)[len(stats):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def save_curation_figures(result, cfg, figures_dir: Path, smoke: bool) -> list[Path]:
    """``curation_funnel`` and ``curation_stat_histograms`` (PNG + PDF) in ``figures_dir``."""
    import matplotlib.pyplot as plt

    written = []
    for name, fig in (("curation_funnel", funnel_figure(result.funnel)),
                      ("curation_stat_histograms", stat_histograms(result.curated, result.rejected, cfg))):
        written += save_figure(fig, Path(figures_dir) / name, smoke=smoke)
        plt.close(fig)
    return written
