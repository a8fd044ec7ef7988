"""One function per paper figure. Each takes tidy tables (see :mod:`.tables`, :mod:`.tsne`,
:mod:`.preference`), draws with seaborn (bars, histograms, heatmaps, scatter; the image grid with plain
matplotlib) and saves through ``plotting.save_figure`` (PNG + PDF, smoke mark); it returns the written paths."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from synthvlm_repro.figures.reference import paper_numbers, reference_value
from synthvlm_repro.plotting import save_figure  # sets the kit's seaborn theme

RUN_COLOR, PAPER_COLOR, BASE_COLOR = "#1f77b4", "#d62728", "#7f7f7f"


def _save(fig, out: Path, smoke: bool, dpi: int, formats) -> list[Path]:
    try:
        return save_figure(fig, out, smoke=smoke, formats=tuple(formats), dpi=dpi)
    finally:
        plt.close(fig)


def plot_data_quality(table: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Bars of CLIPScore, SSIM and the weighted score: this run's rows beside the paper's."""
    metrics = ["clip_score", "ssim", "weighted"]
    data = table.assign(side=["this run" if s == "this run" else "paper" for s in table["source"]])
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.5 * len(table) + 1.5), sharey=True)
    for ax, metric in zip(axes, metrics):
        values = data[metric].to_numpy(dtype=float)
        sns.barplot(data=data, x=metric, y="dataset", hue="side", order=list(data["dataset"]), dodge=False,
                    palette={"this run": RUN_COLOR, "paper": PAPER_COLOR}, errorbar=None, legend=False, ax=ax)
        for y, v in enumerate(values):
            ax.text(0 if np.isnan(v) else v, y, " not reported" if np.isnan(v) else f" {v:.2f}", va="center",
                    fontsize=8)
        ax.set(title=metric.replace("_", " "), xlabel="", ylabel="")
        ax.set_xlim(0, max(1.0, np.nanmax(values) * 1.25) if np.isfinite(values).any() else 1.0)
    fig.suptitle("Data quality: this run (blue) vs paper (red)")
    return _save(fig, out, smoke, dpi, formats)


def plot_score_distributions(scores: pd.DataFrame, selected: pd.DataFrame | None, out: Path, smoke: bool,
                             dpi: int = 150, formats=("png", "pdf")):
    """Histograms of CLIPScore and SSIM over all candidates and the selected subset, with the paper's
    SynthVLM-100K means as dashed lines."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric in zip(axes, ("clip_score", "ssim")):
        bins = np.histogram_bin_edges(scores[metric].astype(float), bins=30)
        sns.histplot(x=scores[metric].astype(float), bins=bins, alpha=0.5, color=BASE_COLOR, ax=ax,
                     label=f"all candidates (n={len(scores)})")
        if selected is not None:
            sns.histplot(x=selected[metric].astype(float), bins=bins, alpha=0.7, color=RUN_COLOR, ax=ax,
                         label=f"selected (n={len(selected)})")
        paper = reference_value("data_quality", "SynthVLM-100K", metric)
        if paper is not None:
            ax.axvline(paper, color=PAPER_COLOR, ls="--", label=f"paper SynthVLM-100K mean {paper:.2f}")
        ax.set_xlabel("CLIPScore (raw cosine)" if metric == "clip_score" else "SSIM (768 vs 336 round trip)")
        ax.set_ylabel("images")
        ax.legend(fontsize=7)
    return _save(fig, out, smoke, dpi, formats)


def plot_example_grid(pairs: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Original vs synthetic image per caption with CLIPScores and sizes, like the official repo's
    ``demo/imagecmp.jpg``. ``pairs`` needs ``caption, original, synthetic, clip_original, clip_synthetic``."""
    n = len(pairs)
    fig, axes = plt.subplots(n, 2, figsize=(6, 2.7 * n), squeeze=False)
    for row, pair in enumerate(pairs.itertuples(index=False)):
        for col, (kind, path, score) in enumerate((("original", pair.original, pair.clip_original),
                                                   ("synthetic", pair.synthetic, pair.clip_synthetic))):
            img = Image.open(path).convert("RGB")
            ax = axes[row, col]
            ax.imshow(img)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{kind} {img.width}×{img.height}\nCLIPScore {score:.2f}", fontsize=8)
        caption = pair.caption if len(pair.caption) < 90 else pair.caption[:87] + "..."
        axes[row, 0].set_ylabel(_wrap(caption, 30), fontsize=7, rotation=0, ha="right", va="center")
    paper = "; ".join(f"{r.synthetic:.2f} vs {r.original:.2f}" for r in paper_numbers("demo").itertuples())
    fig.suptitle(f"Original vs synthetic (paper demo figure, synthetic vs real CLIPScore: {paper})", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, smoke, dpi, formats)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot_funnel(funnel: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Captions kept after each curation step (in filter order), drops annotated."""
    funnel = funnel.assign(step=funnel["step"].astype(str))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(funnel) + 1.2))
    sns.barplot(data=funnel, x="kept", y="step", order=list(funnel["step"]), color=RUN_COLOR, errorbar=None, ax=ax)
    for y, (kept, dropped) in enumerate(zip(funnel["kept"], funnel["dropped"])):
        ax.text(kept, y, f" {kept:,} kept (−{dropped:,})", va="center", fontsize=8)
    ax.set(xlabel="captions", ylabel="", title="Caption curation funnel")
    ax.set_xlim(0, funnel["kept"].max() * 1.35 + 1)
    return _save(fig, out, smoke, dpi, formats)


def plot_benchmarks(table: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Grouped bars per benchmark: this run, SynthVLM-7B (paper; not found, shown as missing) and
    LLaVA-1.5-7B/13B. MME (a score out of 2000) gets its own panel."""
    palette = {"this run": RUN_COLOR, "SynthVLM-7B (paper)": PAPER_COLOR, "LLaVA-1.5-7B": BASE_COLOR,
               "LLaVA-1.5-13B": "#bcbd22"}
    panels = [table[table["benchmark"] != "mme"], table[table["benchmark"] == "mme"]]
    panels = [p for p in panels if len(p)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 + 1.2 * len(table), 4), squeeze=False,
                             gridspec_kw={"width_ratios": [max(1, len(p)) for p in panels]})
    for ax, panel in zip(axes[0], panels):
        long = panel.melt(id_vars="benchmark", value_vars=list(palette), var_name="model", value_name="value")
        sns.barplot(data=long, x="benchmark", y="value", hue="model", hue_order=list(palette), palette=palette,
                    errorbar=None, ax=ax, legend=ax is axes[0][0])
        width = 0.8 / len(palette)  # seaborn's dodge: the hue levels share 0.8 of each slot
        for xi, benchmark in enumerate(panel["benchmark"]):
            for k, name in enumerate(palette):
                if np.isnan(float(panel[name].iloc[xi])):
                    ax.text(xi - 0.4 + width * (k + 0.5), 0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.tick_params(axis="x", rotation=30)
        ax.set(xlabel="", ylabel="score" if (panel["benchmark"] == "mme").all() else "%")
    if axes[0][0].get_legend() is not None:
        axes[0][0].legend(fontsize=7)
    fig.suptitle("Benchmarks: this run vs paper vs LLaVA-1.5")
    fig.tight_layout()
    return _save(fig, out, smoke, dpi, formats)


def plot_mmlu(table: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """MMLU accuracy per category for this run; the paper's overall numbers as horizontal lines."""
    fig, ax = plt.subplots(figsize=(2 + 1.0 * len(table), 3.5))
    sns.barplot(data=table, x="category", y="this run", color=RUN_COLOR, errorbar=None, label="this run", ax=ax)
    for name, color in (("SynthVLM-7B", PAPER_COLOR), ("LLaVA-1.5-7B", BASE_COLOR)):
        value = reference_value("mmlu", name, "overall")
        ax.axhline(value, color=color, ls="--", label=f"{name} overall (paper) {value:.1f}")
    ax.set(xlabel="", ylabel="accuracy %", ylim=(0, 100), title="MMLU by category (paper gives overall only)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, smoke, dpi, formats)


def plot_tsne(coords: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Two panels, (a) text and (b) image embeddings, coloured by dataset (paper appendix Fig. 2)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (label, modality) in zip(axes, (("(a) text", "text"), ("(b) image", "image"))):
        part = coords[coords["modality"] == modality]
        counts = part["dataset"].value_counts()
        part = part.assign(dataset=[f"{d} (n={counts[d]})" for d in part["dataset"]])
        sns.scatterplot(data=part, x="x", y="y", hue="dataset", hue_order=sorted(part["dataset"].unique()), s=6,
                        alpha=0.6, linewidth=0, legend=ax is axes[0], ax=ax)
        ax.set(title=f"{label} embeddings", xlabel="", ylabel="", xticks=[], yticks=[])
    if axes[0].get_legend() is not None:
        axes[0].legend(fontsize=7, markerscale=2)
    return _save(fig, out, smoke, dpi, formats)


def plot_preference(table: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Synthetic win rate per judge with 95% Wilson intervals; the paper's judges in red.

    The intervals come with the table (Wilson, computed from counts; the paper gives only rate and n), so
    they are drawn as error bars on seaborn's bars rather than bootstrapped by seaborn."""
    labels = [f"{j} (paper)" if s.startswith("paper") else f"{j} ({s})" for j, s in zip(table["judge"], table["source"])]
    data = table.assign(label=labels, side=["this run" if s == "this run" else "paper" for s in table["source"]])
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.5))
    sns.barplot(data=data, x="win_rate", y="label", hue="side", order=labels, dodge=False, errorbar=None,
                palette={"this run": RUN_COLOR, "paper": PAPER_COLOR}, legend=False, ax=ax)
    values = data["win_rate"].to_numpy(dtype=float)
    err = np.array([values - data["ci_low"].to_numpy(dtype=float), data["ci_high"].to_numpy(dtype=float) - values])
    ax.errorbar(values, np.arange(len(data)), xerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3)
    for y, (v, n) in enumerate(zip(values, data["n"])):
        ax.text(1, y, f"{v:.1f}%  n={int(n)}", va="center", fontsize=8, color="white")
    ax.axvline(50, color="black", lw=0.8, ls=":")
    ax.set_xlim(0, 100)
    ax.set(ylabel="", xlabel="synthetic image preferred, % (ties count half; bars: 95% Wilson CI)")
    return _save(fig, out, smoke, dpi, formats)


def plot_grid_search(grid: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Mean CLIPScore over steps × guidance scale, one heatmap per refiner setting (one colour scale)."""
    grid = grid.assign(refiner=grid["refiner"].astype(str))
    means = grid.groupby(["refiner", "steps", "guidance_scale"], as_index=False)["clip_score"].mean()
    refiners = sorted(means["refiner"].unique())
    fig, axes = plt.subplots(1, len(refiners) + 1, figsize=(4.5 * len(refiners) + 0.6, 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * len(refiners) + [0.06]})
    vmin, vmax = means["clip_score"].min(), means["clip_score"].max()
    for k, (ax, refiner) in enumerate(zip(axes[0], refiners)):
        cell = means[means["refiner"] == refiner].pivot(index="steps", columns="guidance_scale", values="clip_score")
        cell = cell.sort_index(ascending=False)  # most steps on top
        cell.columns = [f"{g:g}" for g in cell.columns]
        sns.heatmap(cell, annot=True, fmt=".3f", annot_kws={"fontsize": 7}, cmap="viridis", vmin=vmin, vmax=vmax,
                    cbar=k == 0, cbar_ax=axes[0][-1] if k == 0 else None,
                    cbar_kws={"label": "mean CLIPScore"}, ax=ax)
        ax.set(xlabel="guidance scale", ylabel="steps", title=f"refiner = {refiner}")
    fig.suptitle("Generation grid search (paper: 60 steps chosen by CLIPScore on 1k captions)", y=1.04)
    return _save(fig, out, smoke, dpi, formats)


def plot_throughput(table: pd.DataFrame, out: Path, smoke: bool, dpi: int = 150, formats=("png", "pdf")):
    """Hours per 100K items for each measured stage (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(table) + 1.5))
    sns.barplot(data=table, x="hours_per_100k", y="stage", order=list(table["stage"]), color=RUN_COLOR,
                errorbar=None, ax=ax)
    ax.set_xscale("log")  # after drawing: bars from 0 are clipped at the axis, as matplotlib's barh does
    for y, (h, dev) in enumerate(zip(table["hours_per_100k"], table["device"])):
        ax.text(h, y, f" {h:.3g} h ({dev})", va="center", fontsize=8)
    ax.set(ylabel="", xlabel="hours per 100K items (this run's hardware)", title="Throughput and cost")
    return _save(fig, out, smoke, dpi, formats)
