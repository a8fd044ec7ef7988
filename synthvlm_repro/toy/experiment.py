"""The paper's claim on the toy world: does *selecting* synthetic pretraining pairs beat taking them at random?

Arms (equal size: one image per caption that stage 02 rendered, the same captions in every arm):
``renders`` (each caption's original render: the "real" data), ``clip+ssim`` (the best of the caption's
candidates by CLIPScore + lambda*SSIM: the paper), ``clip`` (lambda = 0) and ``random`` (a seeded random
candidate). Arms are chosen from stage 03's ``scores.parquet`` with stage 03's own ``select_pairs`` and
written with its ``export_llava``; each (arm, seed) is a run dir trained by stage 04 (``run_training``) and
scored by stage 05 (``evaluation.stage.run``), unchanged. The attribute judge decides, per chosen image, whether
it shows what its caption says (selection precision).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from synthvlm_repro.atomic import write_json, write_text
from synthvlm_repro.models import resolve_model
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.run_context import RunContext, prepare_run
from synthvlm_repro.selection.select import export_llava, select_pairs
from synthvlm_repro.toy.world import ATTRIBUTES, parse_caption

# benchmark -> (split filter, metric) averaged into one number per benchmark
HEADLINE = {"gqa": ("testdev_balanced", "accuracy"), "pope": (None, "accuracy"), "mmbench": ("dev", "accuracy_single")}
# Attributes the judge reads reliably (100% on held-out renders; its shape head is ~70%): "precision" is the
# share of chosen images whose colour, size and position all match the caption; shape is reported apart.
RELIABLE = ("colour", "size", "position")
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def experiment_dir(ctx: RunContext) -> Path:
    return ctx.paths.toy_experiment


def arm_pairs(ctx: RunContext, arm: str, seed: int) -> pd.DataFrame:
    """The arm's ``caption_id, caption, path`` rows (``path`` relative to the run dir, or to the world's
    folder for renders)."""
    scores = pd.read_parquet(ctx.paths.scores_parquet)
    captions = sorted(set(scores.loc[scores["status"] == "ok", "caption_id"]))
    size = ctx.cfg.toy.arm_size or len(captions)
    keep = set(captions[:size])
    scores = scores[scores["caption_id"].isin(keep)]
    lam = ctx.cfg.selection.ssim_weight
    if arm == "renders":  # paths relative to the world's folder (export_llava refuses absolute ones)
        curated = pd.read_parquet(ctx.paths.curated_parquet).set_index("id")
        world_root = Path(resolve_model(ctx.cfg.curation.source)).parent.resolve()
        rows = scores.drop_duplicates("caption_id")[["caption_id", "caption"]].copy()
        rows["candidate"] = 0
        rows["path"] = [str(Path(curated.loc[c, "image"]).resolve().relative_to(world_root))
                        for c in rows["caption_id"]]
        return rows.sort_values("caption_id").reset_index(drop=True)
    rule = {"clip+ssim": (lam, "score"), "clip": (0.0, "score"), "random": (lam, "random")}
    if arm not in rule:
        raise ValueError(f"toy.arms: unknown arm {arm!r}")
    weight, strategy = rule[arm]
    return select_pairs(scores, weight, strategy, True, None, None, seed)


def judge_pairs(pairs: pd.DataFrame, root: Path, judge_ref: str) -> pd.DataFrame:
    """Per chosen image: the judge's attributes vs the caption's, and whether all four match."""
    from PIL import Image

    from synthvlm_repro.toy.judge import judge_images, load_judge

    judge = load_judge(resolve_model(judge_ref))
    images = np.stack([np.asarray(Image.open(p if Path(p).is_absolute() else root / p).convert("RGB"))
                       for p in pairs["path"]])
    seen = judge_images(judge, images)
    out = pairs[["caption_id", "caption", "path"]].copy()
    for key in ATTRIBUTES:
        wanted = [parse_caption(c).get(key) for c in pairs["caption"]]
        out[f"{key}_ok"] = [w == s[key] for w, s in zip(wanted, seen)]
    out["all_ok"] = out[[f"{k}_ok" for k in ATTRIBUTES]].all(axis=1)
    return out


@dataclass
class ArmRun:
    arm: str
    seed: int
    run_dir: Path
    wall_s: float
    cpu_s: float
    skipped: bool = False  # already done: nothing trained or evaluated this time


def run_arm(ctx: RunContext, profile: str, overrides: list[str], arm: str, seed: int) -> ArmRun:
    """Stage-1 data of the arm into its own run dir, then stage 04 and stage 05 there (skipped when done)."""
    from synthvlm_repro.evaluation.stage import run as evaluate
    from synthvlm_repro.training.launch import run_training

    run_dir = ctx.paths.toy_arm_run(arm, seed).root
    wall, cpu = time.perf_counter(), time.process_time()
    skipped = RunPaths(run_dir).results_csv.exists()
    if not skipped:
        arm_ctx = prepare_run(profile, run_dir, list(overrides) + [f"seed={seed}"])
        pairs = arm_pairs(ctx, arm, seed)
        source_root = ctx.paths.root if arm != "renders" else Path(resolve_model(ctx.cfg.curation.source)).parent
        export_llava(pairs, source_root, arm_ctx.paths.llava_image_folder, arm_ctx.paths.llava_pretrain_json, seed,
                     True, "copy")
        judge_pairs(pairs, source_root, ctx.cfg.toy.judge).to_csv(arm_ctx.paths.toy_judged_csv, index=False)
        run_training(arm_ctx)
        evaluate(arm_ctx, figures=False)
    return ArmRun(arm, seed, run_dir, time.perf_counter() - wall, time.process_time() - cpu, skipped)


def run_experiment(ctx: RunContext, profile: str, overrides: list[str] = (), progress: bool = True) -> pd.DataFrame:
    """Every (arm, seed); returns the tidy per-run table (also written to ``toy_experiment/runs.csv``)."""
    from tqdm.auto import tqdm

    cfg = ctx.cfg.toy
    if cfg is None:
        raise ValueError(f"profile {ctx.cfg.profile!r} has no toy section (use --profile toy)")
    jobs = [(a, s) for s in cfg.seeds for a in cfg.arms]
    rows = []
    if cfg.workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_arm_in_worker, str(ctx.paths.root), profile, list(overrides), a, s)
                       for a, s in jobs]
            done = [f.result() for f in tqdm(as_completed(futures), total=len(jobs), desc="toy arms x seeds",
                                             disable=not progress)]
    else:
        done = [run_arm(ctx, profile, list(overrides), a, s)
                for a, s in tqdm(jobs, desc="toy arms x seeds", disable=not progress)]
    timing = ctx.paths.toy_timing_json
    for r in sorted(done, key=lambda r: (r.seed, cfg.arms.index(r.arm))):
        rows.append(_run_row(r))
        if r.skipped:  # keep the timing of the run that did the work
            continue
        write_json(timing, {**(json.loads(timing.read_text()) if timing.exists() else {}),
                            f"{r.arm}-s{r.seed}": {"wall_s": round(r.wall_s, 1), "cpu_s": round(r.cpu_s, 1)}})
    table = pd.DataFrame(rows)
    write_text(ctx.paths.toy_runs_csv, table.to_csv(index=False))
    return table


def _run_arm_in_worker(run_root: str, profile: str, overrides: list[str], arm: str, seed: int) -> ArmRun:
    """``run_arm`` in a worker process (the main run's context is re-read from its dir)."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ctx = prepare_run(profile, run_root, overrides)
    return run_arm(ctx, profile, overrides, arm, seed)


def _run_row(r: ArmRun) -> dict:
    results = pd.read_csv(RunPaths(r.run_dir).results_csv)
    row = {"arm": r.arm, "seed": r.seed}
    for bench, (split, metric) in HEADLINE.items():
        sel = results[(results["benchmark"] == bench) & (results["metric"] == metric)]
        if split is not None:
            sel = sel[sel["split"] == split]
        row[bench] = float(sel["value"].mean()) if len(sel) else float("nan")
    judged = pd.read_csv(RunPaths(r.run_dir).toy_judged_csv)
    row["precision"] = 100 * judged[[f"{k}_ok" for k in RELIABLE]].all(axis=1).mean()
    row["precision_all"] = 100 * judged["all_ok"].mean()
    for key in ATTRIBUTES:
        row[f"precision_{key}"] = 100 * judged[f"{key}_ok"].mean()
    return row


def interval(values) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval over seeds (NaN half-width for one seed)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), T975.get(len(v) - 1, 1.96) * float(v.std(ddof=1)) / math.sqrt(len(v))


def summary(table: pd.DataFrame, metrics=("gqa", "pope", "mmbench", "precision", "precision_all", "precision_shape",
                                          "precision_colour", "precision_size", "precision_position")) -> pd.DataFrame:
    """Per arm: mean and 95% half-width of each metric over seeds."""
    rows = []
    for arm, group in table.groupby("arm", sort=False):
        row = {"arm": arm, "seeds": len(group)}
        for m in metrics:
            row[m], row[f"{m}_ci95"] = interval(group[m])
        rows.append(row)
    return pd.DataFrame(rows)


def contrast(table: pd.DataFrame, better: str = "clip+ssim", worse: str = "random",
             metrics=("gqa", "pope", "mmbench")) -> pd.DataFrame:
    """``better - worse`` per metric, paired by seed, with the 95% t-interval of the difference."""
    a = table[table["arm"] == better].set_index("seed")
    b = table[table["arm"] == worse].set_index("seed")
    seeds = sorted(set(a.index) & set(b.index))
    rows = []
    for m in metrics:
        diff = a.loc[seeds, m].to_numpy() - b.loc[seeds, m].to_numpy()
        mean, half = interval(diff)
        rows.append({"metric": m, "difference": mean, "ci95_low": mean - half, "ci95_high": mean + half,
                     "held": bool(mean - half > 0), "seeds": len(seeds)})
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    """The plain-words answer for ``reproduce.md``."""
    c = contrast(table, metrics=("gqa", "pope", "mmbench", "precision"))
    if int(c["seeds"].iloc[0]) == 0:
        return "Selected vs random: not measured (the experiment ran without the clip+ssim or the random arm)."
    lines = ["Selected (CLIPScore + lambda*SSIM) vs random candidates, difference in points, "
             f"paired by seed ({int(c['seeds'].iloc[0])} seeds), 95% t-interval:", ""]
    for row in c.itertuples():
        word = "HELD" if row.held else ("REVERSED" if row.ci95_high < 0 else "NOT SHOWN (interval includes 0)")
        lines.append(f"- {row.metric}: {row.difference:+.1f} [{row.ci95_low:+.1f}, {row.ci95_high:+.1f}]: {word}")
    return "\n".join(lines)


def write_report(ctx: RunContext, table: pd.DataFrame, timings: dict | None = None) -> Path:
    """``toy_experiment/report.md``: per-arm table, the contrast, precision and timings."""
    s = summary(table)
    lines = ["# Toy experiment: does selection beat random candidates?", "", verdict(table), "",
             "## Per arm (mean over seeds ± 95% half-width)", "",
             "Accuracy in %, stage 05's scores (GQA-style testdev accuracy, POPE-style accuracy averaged over the three "
             "splits, MMBench-style accuracy per row). Precision: % of the arm's chosen images whose colour, size "
             "and position all match the caption by the attribute judge; per attribute after it.", "",
             "| arm | seeds | GQA | POPE | MMBench | precision (c+s+p) | all 4 | shape | colour | size | position |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s.itertuples():
        lines.append(f"| {r.arm} | {r.seeds} | {r.gqa:.1f} ± {r.gqa_ci95:.1f} | {r.pope:.1f} ± {r.pope_ci95:.1f} | "
                     f"{r.mmbench:.1f} ± {r.mmbench_ci95:.1f} | {r.precision:.1f} | {r.precision_all:.1f} | "
                     f"{r.precision_shape:.1f} | {r.precision_colour:.1f} | {r.precision_size:.1f} | "
                     f"{r.precision_position:.1f} |")
    if timings:
        lines += ["", "## Time per step (wall / CPU user+sys seconds)", "", "| step | wall s | cpu s |", "|---|---|---|"]
        lines += [f"| {k} | {v.get('wall_s', float('nan')):.0f} | {v.get('cpu_s', float('nan')):.0f} |"
                  for k, v in timings.items()]
    text = "\n".join(lines) + "\n"
    _append_to_reproduce(ctx.paths.report_md, text)
    return write_text(ctx.paths.toy_report_md, text)


BEGIN, END = "<!-- toy experiment -->", "<!-- /toy experiment -->"


def _append_to_reproduce(path: Path, text: str) -> None:
    """Put the experiment's section into stage 06's ``reproduce.md`` (replacing an earlier one)."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        old = old[:old.index(BEGIN)] + old[old.index(END) + len(END):]
    write_text(path, old.rstrip() + f"\n\n{BEGIN}\n{text.replace('# Toy', '## Toy', 1)}{END}\n")
