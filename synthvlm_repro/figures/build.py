"""Build every figure and table of a run into the figures folder; a figure whose inputs are missing
is skipped with a one-line reason, and one that fails is reported without stopping the others.

Fixed names (each figure as PNG + PDF, each table as CSV + Markdown + LaTeX):
``data_quality``, ``data_quality_table``, ``score_distributions``, ``example_grid``,
``curation_funnel``, ``benchmarks``, ``benchmarks_table``, ``mmlu_by_category``, ``mmlu_table``,
``tsne_clip_embeddings``, ``preference_win_rates``, ``preference_table``, ``grid_search_heatmap``,
``throughput``, ``throughput_table``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import pandas as pd
from tqdm.auto import tqdm

from synthvlm_repro.figures import plots, tables
from synthvlm_repro.figures.artifacts import (MissingInput, load_funnel, load_grid_search, load_scores, load_selected,
                                              resolve_image)
from synthvlm_repro.figures.pairs import item_seed, preference_pairs
from synthvlm_repro.figures.preference import load_judgments, preference_table
from synthvlm_repro.paths import RunPaths, find_project_root
from synthvlm_repro.run_context import RunContext

log = logging.getLogger(__name__)


@dataclass
class FigureResult:
    """What happened to one figure: ``made`` with its files, ``skipped`` (inputs missing) or ``failed``
    (an error while drawing, logged with its traceback) with a one-line reason."""

    name: str
    status: str
    files: list[Path] = field(default_factory=list)
    reason: str = ""
    table: pd.DataFrame | None = None


def figures_dir(ctx: RunContext) -> Path:
    """``figures.output_dir``, relative paths taken against the project root (the writers create it)."""
    out = Path(ctx.cfg.figures.output_dir).expanduser()
    return out if out.is_absolute() else find_project_root() / out


def judgment_file(paths: RunPaths, judge: str) -> Path:
    """``<run>/preference/<judge as a file name>.jsonl``."""
    return paths.judgments_jsonl(judge)


class FigureBuilder:
    """Holds what several figures share (the CLIP encoder, the scored pairs) and builds them."""

    def __init__(self, ctx: RunContext, encoder=None):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.paths = ctx.paths
        self.out = figures_dir(ctx)
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            from synthvlm_repro.figures.embeddings import ClipEncoder

            self._encoder = ClipEncoder.from_config(self.cfg.selection, device=self.ctx.device)
        return self._encoder

    def _save_kwargs(self) -> dict:
        return {"smoke": self.ctx.smoke, "dpi": self.cfg.figures.dpi, "formats": self.cfg.figures.formats}

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """Preference pairs with the original images scored like stage 03 scores synthetic ones."""
        from synthvlm_repro.figures.embeddings import resize_ssim

        pairs = preference_pairs(self.cfg, self.paths, limit=self.cfg.figures.preference_pairs)
        pairs["clip_original"] = self.encoder.clip_scores(list(pairs["original"]), list(pairs["caption"]))
        pairs["clip_synthetic"] = self.encoder.clip_scores(list(pairs["synthetic"]), list(pairs["caption"]))
        sel = self.cfg.selection
        pairs["ssim_original"] = [resize_ssim(p, sel.ssim_size, sel.ssim_low_size)
                                  for p in tqdm(pairs["original"], desc="SSIM originals", leave=False)]
        return pairs

    # ---- one method per figure; each returns written files and optionally a table

    def data_quality(self):
        try:
            originals = pd.DataFrame({"clip_score": self.pairs["clip_original"], "ssim": self.pairs["ssim_original"]})
        except MissingInput as e:
            log.info("data quality: no original-image row (%s)", e)
            originals = None
        table = tables.data_quality_table(self.paths, self.cfg.selection.ssim_weight, originals)
        files = tables.write_table(table, self.out / "data_quality_table", "Data quality: this run vs the paper")
        return files + plots.plot_data_quality(table, self.out / "data_quality", **self._save_kwargs()), table

    def score_distributions(self):
        scores = load_scores(self.paths)
        try:
            selected = load_selected(self.paths)
        except MissingInput:
            selected = None
        return plots.plot_score_distributions(scores, selected, self.out / "score_distributions",
                                              **self._save_kwargs()), None

    def example_grid(self):
        pairs = self.pairs
        chosen = sorted(pairs["pair_id"], key=lambda i: item_seed(self.cfg.seed, f"grid:{i}"))
        grid = pairs.set_index("pair_id").loc[chosen[: self.cfg.figures.example_pairs]].reset_index()
        return plots.plot_example_grid(grid, self.out / "example_grid", **self._save_kwargs()), \
            grid[["pair_id", "caption", "clip_original", "clip_synthetic"]]

    def curation_funnel(self):
        funnel = load_funnel(self.paths)
        return plots.plot_funnel(funnel, self.out / "curation_funnel", **self._save_kwargs()), funnel

    def benchmarks(self):
        table = tables.benchmark_table(self.paths)
        files = tables.write_table(table, self.out / "benchmarks_table", "Benchmarks: this run vs paper vs LLaVA-1.5")
        return files + plots.plot_benchmarks(table, self.out / "benchmarks", **self._save_kwargs()), table

    def mmlu(self):
        table = tables.mmlu_table(self.paths)
        files = tables.write_table(table, self.out / "mmlu_table", "MMLU accuracy (%) by category")
        return files + plots.plot_mmlu(table, self.out / "mmlu_by_category", **self._save_kwargs()), table

    def tsne(self):
        from synthvlm_repro.figures.tsne import embed_datasets, llava_json_pairs, tsne_coordinates

        datasets = {}
        try:
            sel = load_selected(self.paths)
            datasets["this run (selected synthetic)"] = pd.DataFrame(
                {"id": sel["caption_id"].astype(str), "caption": sel["caption"],
                 "image": [str(resolve_image(self.paths, p)) for p in sel["path"]]})
        except MissingInput:
            pass
        try:
            pairs = self.pairs
            datasets["original images"] = pd.DataFrame({"id": pairs["pair_id"], "caption": pairs["caption"],
                                                        "image": pairs["original"]})
        except MissingInput:
            pass
        for path in sorted(self.paths.quality_dir.glob("*.parquet")):  # real sets of stage 03
            real = pd.read_parquet(path)
            if {"caption_id", "caption", "path"} <= set(real.columns):
                datasets[f"{path.stem} (real)"] = pd.DataFrame(
                    {"id": real["caption_id"].astype(str), "caption": real["caption"],
                     "image": [str(resolve_image(self.paths, p)) for p in real["path"]]})
        for name, path in self.cfg.figures.tsne_datasets.items():
            datasets[name] = llava_json_pairs(path)
        if not datasets:
            raise MissingInput("no dataset to embed (selection/selected.parquet and original images both missing)")
        fig = self.cfg.figures
        embedded = embed_datasets(self.encoder, datasets, fig.tsne_samples, self.cfg.seed)
        coords = tsne_coordinates(embedded, self.cfg.seed, fig.tsne_perplexity)
        counts = coords.pivot_table(index="dataset", columns="modality", values="x", aggfunc="size").reset_index()
        return plots.plot_tsne(coords, self.out / "tsne_clip_embeddings", **self._save_kwargs()), counts

    def preference(self):
        files = sorted(self.paths.preference.glob("*.jsonl"))
        judgments = load_judgments(files)
        if judgments.empty:
            raise MissingInput(f"no judgments in {self.paths.preference} (run the judge or the rater first)")
        table = preference_table(judgments)
        written = tables.write_table(table, self.out / "preference_table", "Synthetic-vs-original win rates (%)")
        return written + plots.plot_preference(table, self.out / "preference_win_rates", **self._save_kwargs()), table

    def grid_search(self):
        grid = load_grid_search(self.paths)
        return plots.plot_grid_search(grid, self.out / "grid_search_heatmap", **self._save_kwargs()), None

    def throughput(self):
        table = tables.throughput_table(self.paths, self.ctx.device)
        files = tables.write_table(table, self.out / "throughput_table", "Throughput and cost per 100K items")
        return files + plots.plot_throughput(table, self.out / "throughput", **self._save_kwargs()), table

    def build(self, only: list[str] | None = None) -> list[FigureResult]:
        """Make each figure of :data:`FIGURES` (or those in ``only``); missing inputs give ``skipped``, any
        other error ``failed`` (with the traceback in the log); neither stops the other figures."""
        unknown = set(only or ()) - set(FIGURES)
        if unknown:
            raise ValueError(f"unknown figure(s) {', '.join(sorted(unknown))}; known: {', '.join(FIGURES)}")
        results = []
        for name, make in FIGURES.items():
            if only and name not in only:
                continue
            try:
                files, table = make(self)
                results.append(FigureResult(name, "made", files, table=table))
            except MissingInput as e:
                results.append(FigureResult(name, "skipped", reason=str(e)))
                log.warning("figure %s skipped: %s", name, e)
            except Exception as e:  # one broken figure must not cost the others after a long run
                reason = f"{type(e).__name__}: {e}".splitlines()[0]
                results.append(FigureResult(name, "failed", reason=reason))
                log.exception("figure %s failed: %s", name, reason)
        return results


def figure_from(module: str, function: str) -> Callable[[FigureBuilder], tuple[list[Path], pd.DataFrame | None]]:
    """A figure drawn by ``module.function(builder)``, imported when the figure is built (so a figure of
    another package adds one line to :data:`FIGURES` and no import here)."""
    def make(builder: FigureBuilder):
        return getattr(importlib.import_module(module), function)(builder)

    return make


#: Every figure stage 06 builds, in build order: name -> ``make(builder) -> (written files, table or None)``.
#: A figure raises :class:`MissingInput` when its inputs are absent. Add a figure with one line here.
FIGURES: dict[str, Callable[[FigureBuilder], tuple[list[Path], pd.DataFrame | None]]] = {
    "data_quality": FigureBuilder.data_quality,
    "score_distributions": FigureBuilder.score_distributions,
    "example_grid": FigureBuilder.example_grid,
    "curation_funnel": FigureBuilder.curation_funnel,
    "benchmarks": FigureBuilder.benchmarks,
    "mmlu": FigureBuilder.mmlu,
    "tsne": FigureBuilder.tsne,
    "preference": FigureBuilder.preference,
    "grid_search": FigureBuilder.grid_search,
    "throughput": FigureBuilder.throughput,
    "toy_arms": figure_from("synthvlm_repro.toy.figure", "toy_arms"),
}


def build_figures(ctx: RunContext, only: list[str] | None = None, encoder=None) -> list[FigureResult]:
    """Every figure and table of the run in ``ctx`` (see :class:`FigureBuilder`)."""
    return FigureBuilder(ctx, encoder).build(only)


def summary(results: list[FigureResult]) -> pd.DataFrame:
    """``figure, status, files / reason`` — the table the notebook shows."""
    return pd.DataFrame([{"figure": r.name, "status": r.status,
                          "detail": ", ".join(p.name for p in r.files) if r.files else r.reason} for r in results])
