"""Pictures for notebook 07: the world, the generator's candidates, selected vs rejected ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from synthvlm_repro.toy.world import caption, render, sample_scene, scene_ids


def world_grid(n: int = 12, augment: bool = False):
    """Renders of the world with their captions (``augment``: as the CLIP and the judge are trained)."""
    import matplotlib.pyplot as plt

    ids = scene_ids("show", n)
    fig, axes = plt.subplots(2, (n + 1) // 2, figsize=(1.6 * ((n + 1) // 2), 4.2))
    for ax, item_id in zip(axes.flat, ids):
        scene = sample_scene(item_id)
        ax.imshow(render(scene, item_id, augment=augment))
        ax.set_title("\n".join(textwrap.wrap(caption(scene, item_id), 18)), fontsize=6)
        ax.axis("off")
    fig.tight_layout()
    return fig


def candidates_grid(run_root: Path, scores: pd.DataFrame, n_captions: int = 6, ssim_weight: float = 0.5,
                    judged: pd.DataFrame | None = None):
    """Each row: one caption's candidates ordered by CLIPScore + lambda*SSIM (the first is the one selected)."""
    import matplotlib.pyplot as plt

    from synthvlm_repro.selection.scorer import combined_score

    ok = scores[scores["status"] == "ok"].copy()
    ok["score"] = combined_score(ok, ssim_weight)
    captions = sorted(ok["caption_id"].unique())[:n_captions]
    k = int(ok.groupby("caption_id").size().max())
    fig, axes = plt.subplots(len(captions), k, figsize=(1.5 * k, 1.6 * len(captions)), squeeze=False)
    for row, cid in zip(axes, captions):
        group = ok[ok["caption_id"] == cid].sort_values("score", ascending=False)
        for j, ax in enumerate(row):
            ax.axis("off")
            if j >= len(group):
                continue
            g = group.iloc[j]
            ax.imshow(np.asarray(Image.open(run_root / g["path"]).convert("RGB")))
            ax.set_title(("SELECTED " if j == 0 else "") + f"{g['score']:.2f}", fontsize=6,
                         color="green" if j == 0 else "black")
        row[0].text(-0.1, 0.5, "\n".join(textwrap.wrap(group.iloc[0]["caption"], 22)), fontsize=6,
                    transform=row[0].transAxes, ha="right", va="center")
    fig.tight_layout()
    return fig
