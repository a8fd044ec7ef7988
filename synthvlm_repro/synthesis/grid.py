"""Grid search over steps x guidance x refiner, scored by CLIPScore (paper appendix §2.1).

The paper chose its SDXL settings by maximising CLIPScore on 1k random captions. Scores come from
stage 03's scorer (``synthvlm_repro.selection.clipscore``: the official definition, raw clipped
cosine) with the ``selection`` section's model, so the grid optimises what selection will rank by.
"""

from __future__ import annotations

import random
import time

import numpy as np

from synthvlm_repro.run_context import RunContext
from synthvlm_repro.synthesis.images import to_uint8
from synthvlm_repro.synthesis.pipelines import ImageGenerator
from synthvlm_repro.synthesis.plan import item_seed, load_captions

def clip_scores(scorer, images: list[np.ndarray], captions: list[str], batch_size: int = 64) -> np.ndarray:
    """Stage 03's CLIPScore (raw clipped cosine) of rendered arrays, without writing them to disk first."""
    import torch
    from PIL import Image

    out = []
    for start in range(0, len(images), batch_size):
        chunk = slice(start, start + batch_size)
        pixels = torch.stack([scorer.preprocess(Image.fromarray(to_uint8(im))) for im in images[chunk]])
        out.append(scorer.clip_score(scorer.encode_images(pixels), scorer.encode_texts(captions[chunk])).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def grid_search(ctx: RunContext, n_captions: int | None = None, progress: bool = True):
    """Render a seeded caption sample under every setting, score it; writes ``synthesis/grid.parquet`` and
    the figure ``synthesis_grid``; returns the per-setting summary (mean CLIPScore, seconds per image)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from synthvlm_repro.atomic import write_parquet
    from synthvlm_repro.selection.clipscore import ClipScorer

    cfg, sel = ctx.cfg.synthesis, ctx.cfg.selection
    captions = load_captions(ctx.paths.caption_json)
    n = min(n_captions or cfg.grid_captions, len(captions))
    sample = sorted(random.Random(ctx.cfg.seed).sample(range(len(captions)), n))
    rows_in = [captions[i] for i in sample]
    ids, texts = [str(r["id"]) for r in rows_in], [r["caption"] for r in rows_in]
    seeds = [item_seed(ctx.cfg.seed, cid, 0) for cid in ids]
    refiners = [r for r in cfg.grid_refiner if cfg.refiner or not r]
    total = len(refiners) * len(cfg.grid_steps) * len(cfg.grid_guidance) * n
    bar = tqdm(total=total, desc="grid", unit="img", disable=not progress)
    records = []
    scorer = ClipScorer(sel.clip_model, sel.clip_pretrained, ctx.device, sel.precision, sel.caption_prefix)
    full = ImageGenerator.from_config(cfg, ctx.device, use_refiner=any(refiners))
    for use_refiner in refiners:
        generator = full if use_refiner else ImageGenerator(full.pipe, None, full.settings, full.vae_upcast)
        for steps in cfg.grid_steps:
            for guidance in cfg.grid_guidance:
                settings = generator.with_settings(steps=steps, guidance_scale=guidance)
                t0, images = time.perf_counter(), []
                for start in range(0, n, cfg.batch_size):
                    images += list(generator.render(texts[start:start + cfg.batch_size],
                                                    seeds[start:start + cfg.batch_size], settings))
                    bar.update(len(images) - start)
                per_image = (time.perf_counter() - t0) / n
                scores = clip_scores(scorer, images, texts, sel.batch_size)
                records += [{"caption_id": cid, "steps": steps, "guidance_scale": guidance, "refiner": use_refiner,
                             "clip_score": float(s), "seconds_per_image": per_image} for cid, s in zip(ids, scores)]
    bar.close()
    frame = pd.DataFrame(records)
    write_parquet(ctx.paths.synthesis_grid_parquet, frame)
    summary = (frame.groupby(["refiner", "steps", "guidance_scale"], as_index=False)
               .agg(clip_score=("clip_score", "mean"), seconds_per_image=("seconds_per_image", "first"),
                    n=("clip_score", "size")))
    plot_grid(summary, ctx)
    return summary


def plot_grid(summary, ctx: RunContext):
    """Seaborn heatmap of mean CLIPScore (steps x guidance, steps growing upwards), one panel per refiner
    setting on one colour scale; saved under figures/."""
    import matplotlib.pyplot as plt

    from synthvlm_repro.plotting import save_figure

    import seaborn as sns  # after plotting: the kit's theme is set

    panels = sorted(summary["refiner"].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels) + 1, 3.6), squeeze=False)
    vmin, vmax = summary["clip_score"].min(), summary["clip_score"].max()
    for i, (ax, use_refiner) in enumerate(zip(axes[0], panels)):
        table = summary[summary["refiner"] == use_refiner].pivot(index="steps", columns="guidance_scale",
                                                                 values="clip_score")
        table.columns = [f"{g:g}" for g in table.columns]
        last = i == len(panels) - 1
        sns.heatmap(table, ax=ax, cmap="viridis", vmin=vmin, vmax=vmax, annot=True, fmt=".3f",
                    annot_kws={"fontsize": 8}, cbar=last, cbar_kws={"label": "mean CLIPScore"} if last else None)
        ax.invert_yaxis()
        ax.set_xlabel("guidance scale")
        ax.set_ylabel("steps")
        ax.set_title("base + refiner" if use_refiner else "base only")
    fig.tight_layout()
    save_figure(fig, ctx.paths.figure("synthesis_grid"), smoke=ctx.smoke)
    plt.close(fig)
    return fig
