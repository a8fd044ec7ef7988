"""One headline number per benchmark (the columns of LLaVA-1.5's results table), its bar chart, and a
few answers next to their images."""

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
    import seaborn as sns

    import synthvlm_repro.plotting  # noqa: F401  (the kit's seaborn theme)

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(table), 2) + 1))
    scaled = table.assign(scaled=[v / 20 if "MME" in b else v for b, v in zip(table.benchmark, table.value)])
    sns.barplot(data=scaled, x="scaled", y="benchmark", order=list(table.benchmark), color="#4c72b0",
                errorbar=None, ax=ax)
    for y, (b, v, x) in enumerate(zip(scaled.benchmark, scaled.value, scaled.scaled)):
        ax.text(x + 1, y, f"{v:.1f}" + (" / 2000" if "MME" in b else ""), va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set(xlabel="score (%; MME perception / 20)", ylabel="", title=title)
    fig.tight_layout()
    return fig


def plot_answer_examples(examples):
    """One image per example with its benchmark, question and the model's answer as the title.

    ``examples`` holds ``(benchmark, question, answer text)`` with ``question`` an evaluation
    :class:`~synthvlm_repro.evaluation.benchmarks.Question` (an image grid: plain matplotlib).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(examples), figsize=(2.6 * len(examples), 3.2), squeeze=False)
    for ax, (benchmark, question, answer) in zip(axes[0], examples):
        ax.imshow(question.load_image())
        ax.set_axis_off()
        asked = question.text.replace("<image>", "").strip().splitlines()[0]
        title = f"{benchmark}\n{asked[:28]}\n→ {answer[:24]!r}"
        ax.set_title(title.replace("$", r"\$"), fontsize=7)  # model output is text, not mathtext
    fig.tight_layout()
    return fig
