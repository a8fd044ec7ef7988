"""Reading the earlier stages' artifacts of a run, with one-line reasons when something is missing.

Every loader raises :class:`MissingInput` when the file is absent or lacks a column the README schema
promises; the figure builder turns that into "skipped: <reason>" instead of a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from synthvlm_repro import atomic
from synthvlm_repro.paths import RunPaths


class MissingInput(Exception):
    """An input a figure needs is absent or malformed; ``str()`` is the one-line reason."""


def _need_columns(df: pd.DataFrame, columns: Iterable[str], path: Path) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MissingInput(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def read_parquet(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    """A Parquet artifact with the given columns, or :class:`MissingInput`."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path} not found (run the stage that writes it first)")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise MissingInput(f"{path}: unreadable Parquet ({type(e).__name__}: {e})") from None
    return _need_columns(df, columns, path)


def read_json(path: Path):
    return atomic.read_json(path, MissingInput, missing="not found (run the stage that writes it first)")


def load_scores(paths: RunPaths) -> pd.DataFrame:
    """``selection/scores.parquet`` (one row per scored candidate), only ``status == ok`` rows."""
    df = read_parquet(paths.scores_parquet, ["caption_id", "candidate", "caption", "path", "clip_score", "ssim",
                                             "score"])
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    if df.empty:
        raise MissingInput(f"{paths.scores_parquet}: no successfully scored rows")
    return df.reset_index(drop=True)


def load_selected(paths: RunPaths) -> pd.DataFrame:
    """``selection/selected.parquet``: the kept pairs with their rank."""
    df = read_parquet(paths.selected_parquet, ["caption_id", "caption", "path", "clip_score", "ssim", "score"])
    if df.empty:
        raise MissingInput(f"{paths.selected_parquet}: no selected rows")
    return df.reset_index(drop=True)


def load_manifest(paths: RunPaths) -> pd.DataFrame:
    """``synthesis/manifest.parquet`` (all rows; filter ``status`` yourself)."""
    return read_parquet(paths.synthesis_manifest, ["caption_id", "candidate", "caption", "path", "status"])


def load_grid_search(paths: RunPaths) -> pd.DataFrame:
    """The generation grid search: ``steps, guidance_scale, refiner, clip_score`` per caption or per setting
    (stage 02's ``synthesis/grid.parquet``)."""
    if not paths.synthesis_grid_parquet.exists():
        raise MissingInput(f"{paths.synthesis_grid_parquet} not found (run `synthvlm-repro synthesize grid` or "
                           "the grid-search cell of 02_sdxl_synthesis)")
    return read_parquet(paths.synthesis_grid_parquet, ["steps", "guidance_scale", "refiner", "clip_score"])


def load_funnel(paths: RunPaths) -> pd.DataFrame:
    """``captions/funnel.json`` as a DataFrame ``step, kept, dropped`` in filter order."""
    data = read_json(paths.funnel_json)
    if not isinstance(data, list) or not data:
        raise MissingInput(f"{paths.funnel_json}: expected a non-empty list of {{step, kept, dropped}}")
    return _need_columns(pd.DataFrame(data), ["step", "kept", "dropped"], paths.funnel_json)


def load_results(paths: RunPaths) -> pd.DataFrame:
    """``evaluation/results.csv``: tidy ``benchmark, split, metric, value, n, model, checkpoint`` rows."""
    path = paths.results_csv
    if not path.exists():
        raise MissingInput(f"{path} not found (run 05_evaluation first)")
    df = pd.read_csv(path)
    _need_columns(df, ["benchmark", "split", "metric", "value", "n", "model", "checkpoint"], path)
    if df.empty:
        raise MissingInput(f"{path}: no result rows")
    return df


def load_log_history(paths: RunPaths, phase: int) -> list[dict]:
    """``training/phase{1,2}/log_history.json`` (HF Trainer's ``state.log_history``)."""
    path = paths.training_log_history(phase)
    data = read_json(path)
    if not isinstance(data, list):
        raise MissingInput(f"{path}: expected a list of log entries")
    return data


def resolve_image(paths: RunPaths, rel: str) -> Path:
    """An artifact image path (relative to the run dir, or absolute)."""
    p = Path(rel)
    return p if p.is_absolute() else paths.root / p
