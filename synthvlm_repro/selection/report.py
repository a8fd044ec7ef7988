"""Pictures of the scores: distributions (seaborn), a best/worst grid (matplotlib), and a pair browser
for JupyterLab. ``weights`` is :func:`~synthvlm_repro.selection.scorer.score_weights`'s mapping or the
paper's λ."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pandas as pd

from synthvlm_repro.selection.scorer import as_weights, combined_score, weights_label

LABELS = {"clip_score": "CLIPScore (raw cosine)", "ssim": "SSIM (768→336→768)"}
SHORT = {"clip_score": "CLIP", "ssim": "SSIM"}


def score_labels(weights) -> dict[str, str]:
    """Column → axis label of every score column and of the combined ``score``."""
    return {**{c: LABELS.get(c, c) for c in as_weights(weights)}, "score": weights_label(weights)}


def _with_score(df: pd.DataFrame, weights) -> pd.DataFrame:
    ok = df[df["status"] == "ok"].copy()
    ok["score"] = combined_score(ok, weights)
    return ok


def plot_distributions(sets: dict[str, pd.DataFrame], weights):
    """One panel per score (each score column and the combined score), one density histogram per set."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    import synthvlm_repro.plotting  # noqa: F401  (the kit's seaborn theme)

    labels = score_labels(weights)
    long = []
    for name, df in sets.items():
        ok = _with_score(df, weights)
        for col in labels:
            values = ok[col].dropna()
            long.append(pd.DataFrame({"set": f"{name} (n={len(values)})", "column": col, "value": values}))
    long = pd.concat(long, ignore_index=True)
    fig, axes = plt.subplots(1, len(labels), figsize=(4.4 * len(labels), 3.6), squeeze=False)
    for k, (ax, (col, label)) in enumerate(zip(axes[0], labels.items())):
        data = long[long["column"] == col]
        if len(data):
            sns.histplot(data=data, x="value", hue="set", stat="density", common_norm=False, bins=30, alpha=0.5,
                         element="step", ax=ax, legend=k == 0)
        ax.set_xlabel(label)
        ax.set_ylabel("density")
    legend = axes[0][0].get_legend()
    if legend is not None:
        legend.set_title(None)
        for text in legend.get_texts():
            text.set_fontsize(8)
    fig.suptitle(f"Score distributions (score = {weights_label(weights)})")
    fig.tight_layout()
    return fig


def _caption_title(row, columns, width: int = 34) -> str:
    head = f"score {row['score']:.3f}\n" + "  ".join(f"{SHORT.get(c, c)} {row[c]:.3f}" for c in columns)
    return head + "\n" + "\n".join(textwrap.wrap(str(row["caption"]), width)[:3])


def plot_extremes(scores: pd.DataFrame, root: Path | None, weights, n: int = 6, key: str = "score"):
    """Two rows of thumbnails: the ``n`` best and the ``n`` worst pairs by ``key``, with their scores."""
    import matplotlib.pyplot as plt
    from PIL import Image

    columns = list(as_weights(weights))
    ok = _with_score(scores, weights).sort_values([key, "caption_id", "candidate"], ascending=[False, True, True])
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
            ax.set_title(f"{label}: " + _caption_title(row, columns), fontsize=7, loc="left")
    fig.tight_layout()
    return fig


def running_in_jupyterlab() -> bool:
    """True in a kernel that a Jupyter server started (papermill and nbclient do not set this)."""
    return "JPY_SESSION_NAME" in os.environ


def pair_browser(scores: pd.DataFrame, root: Path | None, weights):
    """An ipywidgets browser: pick a score to sort by, then step through the pairs."""
    import ipywidgets as widgets

    ok = _with_score(scores, weights)
    columns = list(as_weights(weights))
    sort_by = widgets.Dropdown(options=[*columns, "score"], value="score", description="sort by")
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
        values = ", ".join(f"{SHORT.get(c, c)} {row[c]:.4f}" for c in columns)
        info.value = f"<b>{row['caption_id']} #{row['candidate']}</b> — score {row['score']:.4f}, {values}<br>{row['caption']}"

    for w in (sort_by, descending, index):
        w.observe(show, names="value")
    show()
    # stable CSS classes: what the browser tests (tests/test_browser_lab.py) look for on the page
    for w, name in ((sort_by, "sort"), (descending, "order"), (index, "index"), (image, "image"), (info, "info")):
        w.add_class(f"synthvlm-pair-{name}")
    return widgets.VBox([widgets.HBox([sort_by, descending, index]), image, info]).add_class("synthvlm-pair-browser")
