"""One headline number per benchmark (the columns of LLaVA-1.5's results table) and its bar chart."""

from __future__ import annotations

# (benchmark, split or None for "mean over splits", metric, label) in LLaVA-1.5's table order.
HEADLINES = (
    ("vqav2", "val", "vqa_accuracy", "VQAv2 (val)"),
    ("gqa", "testdev_balanced", "accuracy", "GQA"),
    ("scienceqa_img", "test", "accuracy", "SQA-IMG"),
    ("textvqa", "val", "vqa_accuracy", "TextVQA"),
    ("pope", None, "f1", "POPE (F1, mean of 3)"),
    ("mme", "test", "perception", "MME perception"),
    ("mmbench", "dev", "accuracy_circular", "MMBench (dev, circular)"),
    ("mmlu", None, "accuracy", "MMLU"),
)


def headline_table(df):
    """``label, value, n`` rows for the benchmarks present in a results table."""
    import pandas as pd

    rows = []
    for bench, split, metric, label in HEADLINES:
        sel = df[(df.benchmark == bench) & (df.metric == metric)]
        if bench == "mmlu":
            sel = sel[~sel.split.str.contains("/")]
        elif split is not None:
            sel = sel[sel.split == split]
        if len(sel):
            rows.append({"benchmark": label, "value": float(sel.value.mean()), "n": int(sel.n.sum())})
    return pd.DataFrame(rows, columns=["benchmark", "value", "n"])


def plot_headlines(table, title: str = ""):
    """Horizontal bars of :func:`headline_table` (MME perception on its own 0-2000 scale)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(table), 2) + 1))
    scaled = [v / 20 if "MME" in b else v for b, v in zip(table.benchmark, table.value)]
    ax.barh(table.benchmark[::-1], scaled[::-1], color="#4c72b0")
    for y, (b, v, x) in enumerate(zip(table.benchmark[::-1], table.value[::-1], scaled[::-1])):
        ax.text(x + 1, y, f"{v:.1f}" + (" / 2000" if "MME" in b else ""), va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("score (%; MME perception / 20)")
    ax.set_title(title)
    fig.tight_layout()
    return fig
