"""Pictures of the scores: distributions, a best/worst grid, and a pair browser for JupyterLab."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pandas as pd

SCORE_COLUMNS = {"clip_score": "CLIPScore (raw cosine)", "ssim": "SSIM (768→336→768)", "score": "CLIP + λ·SSIM"}


def _with_score(df: pd.DataFrame, ssim_weight: float) -> pd.DataFrame:
    ok = df[df["status"] == "ok"].copy()
    ok["score"] = ok["clip_score"] + ssim_weight * ok["ssim"]
    return ok


def plot_distributions(sets: dict[str, pd.DataFrame], ssim_weight: float):
    """One histogram panel per score, one density-normalised histogram per set."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (col, label) in zip(axes, SCORE_COLUMNS.items()):
        for name, df in sets.items():
            values = _with_score(df, ssim_weight)[col].dropna()
            if len(values):
                ax.hist(values, bins=30, density=True, alpha=0.5, label=f"{name} (n={len(values)})")
        ax.set_xlabel(label)
        ax.set_ylabel("density")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Score distributions (λ = {ssim_weight})")
    fig.tight_layout()
    return fig


def _caption_title(row, width: int = 34) -> str:
    head = f"score {row['score']:.3f}\nCLIP {row['clip_score']:.3f}  SSIM {row['ssim']:.3f}"
    return head + "\n" + "\n".join(textwrap.wrap(str(row["caption"]), width)[:3])


def plot_extremes(scores: pd.DataFrame, root: Path | None, ssim_weight: float, n: int = 6, key: str = "score"):
    """Two rows of thumbnails: the ``n`` best and the ``n`` worst pairs by ``key``, with their scores."""
    import matplotlib.pyplot as plt
    from PIL import Image

    ok = _with_score(scores, ssim_weight).sort_values([key, "caption_id", "candidate"], ascending=[False, True, True])
    n = max(1, min(n, len(ok) // 2 or 1))
    picks = [("best", ok.head(n)), ("worst", ok.tail(n).iloc[::-1])]
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 6.4), squeeze=False)
    for r, (label, rows) in enumerate(picks):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(rows):
                continue
            row = rows.iloc[c]
            path = Path(row["path"]) if root is None else Path(root) / row["path"]
            with Image.open(path) as im:
                ax.imshow(im.convert("RGB"))
            ax.set_title(f"{label}: " + _caption_title(row), fontsize=7, loc="left")
    fig.tight_layout()
    return fig


def running_in_jupyterlab() -> bool:
    """True in a kernel that a Jupyter server started (papermill and nbclient do not set this)."""
    return "JPY_SESSION_NAME" in os.environ


def pair_browser(scores: pd.DataFrame, root: Path | None, ssim_weight: float):
    """An ipywidgets browser: pick a score to sort by, then step through the pairs."""
    import ipywidgets as widgets

    ok = _with_score(scores, ssim_weight)
    sort_by = widgets.Dropdown(options=list(SCORE_COLUMNS), value="score", description="sort by")
    descending = widgets.Checkbox(value=True, description="best first")
    index = widgets.IntSlider(min=0, max=max(len(ok) - 1, 0), description="pair")
    image = widgets.Image(format="jpg", width=384)
    info = widgets.HTML()

    def show(_=None):
        rows = ok.sort_values([sort_by.value, "caption_id", "candidate"], ascending=[not descending.value, True, True])
        if rows.empty:
            info.value = "no readable pairs"
            return
        row = rows.iloc[index.value]
        path = Path(row["path"]) if root is None else Path(root) / row["path"]
        image.format = path.suffix.lstrip(".").replace("jpeg", "jpg") or "jpg"
        image.value = path.read_bytes()
        info.value = (f"<b>{row['caption_id']} #{row['candidate']}</b> — score {row['score']:.4f}, "
                      f"CLIP {row['clip_score']:.4f}, SSIM {row['ssim']:.4f}<br>{row['caption']}")

    for w in (sort_by, descending, index):
        w.observe(show, names="value")
    show()
    # stable CSS classes: what the browser tests (tests/test_browser_lab.py) look for on the page
    for w, name in ((sort_by, "sort"), (descending, "order"), (index, "index"), (image, "image"), (info, "info")):
        w.add_class(f"synthvlm-pair-{name}")
    return widgets.VBox([widgets.HBox([sort_by, descending, index]), image, info]).add_class("synthvlm-pair-browser")
