"""The paper's tables rebuilt from a run, each next to the published numbers, and their writers
(CSV for tools, Markdown for reproduce.md, LaTeX booktabs for papers).

Markdown and LaTeX are written by hand (a dozen lines) so the kit needs neither ``tabulate`` nor
``jinja2``, which pandas' ``to_markdown`` / ``to_latex`` require.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from synthvlm_repro.atomic import write_text
from synthvlm_repro.figures.artifacts import MissingInput, load_results, load_scores, load_selected
from synthvlm_repro.figures.reference import paper_numbers, reference_value
from synthvlm_repro.paths import RunPaths

RUN = "this run"
# The number LLaVA-1.5's table reports per benchmark, in order of preference among results.csv metrics
# (stage 05's names: POPE f1 per split, MME perception total, MMBench circular accuracy).
HEADLINE_METRICS = {"pope": ("f1", "accuracy"), "mme": ("perception", "score", "total"),
                    "mmbench": ("accuracy_circular", "accuracy_single", "accuracy")}
DEFAULT_METRICS = ("accuracy", "acc", "vqa_accuracy", "exact_match", "score")
NOT_SCORES = ("submission_rows", "yes_ratio")  # counts and ratios, not percent
AGGREGATE_SPLITS = ("all", "overall", "total", "average", "avg", "")
MMLU_CATEGORIES = ("stem", "humanities", "social_sciences", "other")


# --------------------------------------------------------------------------- writers


def _fmt(value) -> str:
    """Numbers for humans: NaN as –, whole numbers without decimals, small ones to 3 places."""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if float(value).is_integer():
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (NaN shown as –)."""
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text


def to_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    cols = "l" + "r" * (len(df.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(_fmt(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, stem: Path, caption: str = "") -> list[Path]:
    """``stem.csv``, ``stem.md`` and ``stem.tex``, each written atomically."""
    stem = Path(stem)
    out = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    write_text(out[0], df.to_csv(index=False))
    write_text(out[1], to_markdown(df))
    write_text(out[2], to_latex(df, caption))
    return out


# --------------------------------------------------------------------------- data quality


def _quality_row(name: str, source: str, clip, ssim, weight: float, n: int) -> dict:
    """One table row; the weighted value of the means is the selection rule's score of them (it is linear)."""
    from synthvlm_repro.selection.scorer import combined_score

    means = pd.DataFrame({"clip_score": [float(clip)], "ssim": [float(ssim)]})
    return {"dataset": name, "source": source, "clip_score": means.at[0, "clip_score"], "ssim": means.at[0, "ssim"],
            "weighted": float(combined_score(means, weight).iloc[0]), "n": n}


def data_quality_table(paths: RunPaths, ssim_weight: float, originals: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean CLIPScore / SSIM / weighted score of this run's data beside the paper's table (paper.md §3.1).

    Rows: the run's selected pairs, all scored candidates, (if given, with ``clip_score`` and ``ssim``
    columns) the original images of the same captions, each real dataset stage 03 scored into
    ``selection/quality/<name>.parquet``; then the published rows.
    """
    rows = []
    try:
        sel = load_selected(paths)
        rows.append(_quality_row(f"{RUN}: selected", RUN, sel["clip_score"].mean(), sel["ssim"].mean(), ssim_weight,
                                 len(sel)))
    except MissingInput:
        pass
    scores = load_scores(paths)  # without any scores there is no run-side row worth a table
    rows.append(_quality_row(f"{RUN}: all candidates", RUN, scores["clip_score"].mean(), scores["ssim"].mean(),
                             ssim_weight, len(scores)))
    if originals is not None and len(originals):
        rows.append(_quality_row(f"{RUN}: original images", RUN, originals["clip_score"].mean(),
                                 originals["ssim"].mean(), ssim_weight, len(originals)))
    for path in sorted(paths.quality_dir.glob("*.parquet")):  # stage 03's real-data scores
        real = pd.read_parquet(path)
        real = real[real["status"] == "ok"] if "status" in real.columns else real
        if {"clip_score", "ssim"} <= set(real.columns) and len(real):
            rows.append(_quality_row(f"{RUN}: {path.stem} (real)", RUN, real["clip_score"].mean(),
                                     real["ssim"].mean(), ssim_weight, len(real)))
    for name, ref in paper_numbers("data_quality").iterrows():
        rows.append({"dataset": name, "source": f"paper [{ref['source']}]", "clip_score": ref["clip_score"],
                     "ssim": ref["ssim"], "weighted": ref["weighted"], "n": float("nan")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- benchmarks


def _headline(group: pd.DataFrame, benchmark: str) -> tuple[str, float, float] | None:
    """(metric, value, n) of one benchmark: the aggregate split if there is one, else the n-weighted
    mean over top-level splits (``split/category`` rows are breakdowns and are left out)."""
    group = group[~group["metric"].isin(NOT_SCORES) & ~group["split"].fillna("").astype(str).str.contains("/")]
    metrics = list(group["metric"].unique())
    if not metrics:
        return None
    wanted = HEADLINE_METRICS.get(benchmark, ()) + DEFAULT_METRICS
    metric = next((m for m in wanted if m in metrics), metrics[0])
    rows = group[group["metric"] == metric]
    agg = rows[rows["split"].fillna("").astype(str).str.lower().isin(AGGREGATE_SPLITS)]
    if len(agg):
        return metric, float(agg["value"].iloc[0]), float(agg["n"].iloc[0])
    n = rows["n"].fillna(1).astype(float)
    return metric, float((rows["value"] * n).sum() / n.sum()), float(n.sum())


def benchmark_table(paths: RunPaths) -> pd.DataFrame:
    """One row per benchmark: this run's headline number beside SynthVLM-7B (paper) and LLaVA-1.5-7B/13B.

    Values are percent (MME: perception score), as stage 05 writes them and LLaVA's table prints them.
    """
    results = load_results(paths)
    results = results[results["benchmark"] != "mmlu"]
    if results.empty:
        raise MissingInput(f"{paths.results_csv}: no VQA benchmark rows (only MMLU)")
    rows = []
    for benchmark, group in results.groupby("benchmark", sort=True):
        headline = _headline(group, benchmark)
        if headline is None:  # e.g. only a submission file for an online-scored test split
            continue
        metric, value, n = headline
        rows.append({"benchmark": benchmark, "metric": metric, RUN: value, "n": n,
                     "SynthVLM-7B (paper)": reference_value("benchmarks", "SynthVLM-7B", benchmark) or float("nan"),
                     "LLaVA-1.5-7B": reference_value("benchmarks", "LLaVA-1.5-7B", benchmark) or float("nan"),
                     "LLaVA-1.5-13B": reference_value("benchmarks", "LLaVA-1.5-13B", benchmark) or float("nan")})
    if not rows:
        raise MissingInput(f"{paths.results_csv}: no locally scored benchmark (only submission files)")
    return pd.DataFrame(rows)


def mmlu_table(paths: RunPaths) -> pd.DataFrame:
    """MMLU accuracy (%) per category (results.csv rows with ``benchmark == "mmlu"``, ``split`` =
    ``<setting>`` for all subjects and ``<setting>/<category>``)
    beside the paper's SynthVLM-7B and LLaVA-1.5-7B numbers (overall only; categories were not found)."""
    results = load_results(paths)
    mmlu = results[results["benchmark"] == "mmlu"]
    if mmlu.empty:
        raise MissingInput(f"{paths.results_csv}: no MMLU rows (benchmark == 'mmlu')")
    metrics = list(mmlu["metric"].unique())
    metric = next((m for m in DEFAULT_METRICS if m in metrics), metrics[0])
    mmlu = mmlu[mmlu["metric"] == metric]
    rows = []
    for split, group in mmlu.groupby(mmlu["split"].fillna("overall").astype(str), sort=False):
        # stage 05 writes "test_5shot" (all subjects) and "test_5shot/<category>"
        category = split.split("/", 1)[1] if "/" in split else "overall"
        rows.append({"category": category, RUN: float(group["value"].iloc[0]), "n": float(group["n"].iloc[0]),
                     "SynthVLM-7B (paper)": reference_value("mmlu", "SynthVLM-7B", category) or float("nan"),
                     "LLaVA-1.5-7B (paper)": reference_value("mmlu", "LLaVA-1.5-7B", category) or float("nan")})
    table = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(("overall",) + MMLU_CATEGORIES)}
    return table.sort_values("category", key=lambda s: s.map(lambda c: order.get(c, len(order)))).reset_index(drop=True)


# --------------------------------------------------------------------------- throughput and cost


def _per_100k(row: dict) -> dict:
    row["seconds_per_item"] = row["seconds"] / row["items"] if row["items"] else float("nan")
    row["hours_per_100k"] = row["seconds_per_item"] * 100_000 / 3600
    return row


def throughput_table(paths: RunPaths, device: str) -> pd.DataFrame:
    """Measured time (and image storage) per stage, scaled to 100K items, beside LLaVA-1.5's published
    pretraining time. Rows appear only for stages whose artifacts record time."""
    from synthvlm_repro.figures.artifacts import load_log_history, load_manifest, resolve_image

    rows = []
    try:
        manifest = load_manifest(paths)
        ok = manifest[manifest["status"] == "ok"]
        if "seconds" in ok.columns and len(ok):
            size = sum(resolve_image(paths, p).stat().st_size for p in ok["path"] if resolve_image(paths, p).exists())
            dev = str(ok["device"].iloc[0]) if "device" in ok.columns else device
            rows.append(_per_100k({"stage": "02 synthesis (per image)", "items": len(ok),
                                   "seconds": float(ok["seconds"].sum()), "device": dev,
                                   "storage_gb_per_100k": size / len(ok) * 100_000 / 1e9}))
    except MissingInput:
        pass
    for phase in (1, 2):
        try:
            history = load_log_history(paths, phase)
        except MissingInput:
            continue
        final = next((h for h in reversed(history) if "train_runtime" in h), None)
        if final and final.get("train_samples_per_second"):
            seconds = float(final["train_runtime"])
            items = round(seconds * float(final["train_samples_per_second"]))
            rows.append(_per_100k({"stage": f"04 training phase {phase} (per sample)", "items": items,
                                   "seconds": seconds, "device": device, "storage_gb_per_100k": float("nan")}))
    if not rows:
        raise MissingInput("no timing recorded: synthesis/manifest.parquet 'seconds' and training log_history "
                           "'train_runtime' are both missing")
    llava_hours = reference_value("efficiency", "LLaVA-1.5-7B", "pretrain_hours_8xA100")
    llava_pairs = reference_value("dataset", "LLaVA-558K", "pairs")
    rows.append({"stage": "LLaVA-1.5-7B pretraining (paper [LLAVA])", "items": llava_pairs,
                 "seconds": llava_hours * 3600, "device": "8×A100", "storage_gb_per_100k": float("nan"),
                 "seconds_per_item": llava_hours * 3600 / llava_pairs, "hours_per_100k": llava_hours * 1e5 / llava_pairs})
    return pd.DataFrame(rows)[["stage", "device", "items", "seconds", "seconds_per_item", "hours_per_100k",
                               "storage_gb_per_100k"]]
