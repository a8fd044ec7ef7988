"""Stage 06's toy-arms figure: accuracy per benchmark and selection precision, arms side by side, each a
mean over seeds with its 95% t-interval (seaborn point estimates). Made when the run dir holds a toy
experiment (``toy_experiment/runs.csv``), skipped with a reason otherwise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

METRICS = {"gqa": "GQA-style accuracy", "pope": "POPE-style accuracy", "mmbench": "MMBench-style accuracy",
           "precision": "selection precision (judge)"}


def runs_table(paths) -> pd.DataFrame:
    """The experiment's per-(arm, seed) table of a run (``RunPaths``), or :class:`MissingInput` with the reason."""
    from synthvlm_repro.figures.artifacts import MissingInput

    path = paths.toy_runs_csv
    if not path.exists():
        raise MissingInput(f"no toy experiment in this run ({path} not found; the toy profile's notebook 07 "
                           "or `python -m synthvlm_repro.toy` writes it)")
    table = pd.read_csv(path)
    missing = [c for c in ("arm", "seed", *METRICS) if c not in table.columns]
    if missing:
        raise MissingInput(f"{path}: missing column(s) {', '.join(missing)}")
    return table


def t_interval(values: pd.Series) -> tuple[float, float]:
    """Seaborn ``errorbar`` callable: the 95% t-interval of the mean over seeds."""
    from synthvlm_repro.toy.experiment import interval

    mean, half = interval(values)
    half = 0.0 if half != half else half  # one seed: no interval
    return mean - half, mean + half


def plot_arms(table: pd.DataFrame, out: Path, smoke: bool = False, dpi: int = 100,
              formats=("png",)) -> list[Path]:
    """One panel per benchmark (and precision): each arm's mean over seeds with its 95% t-interval, and
    the seeds as dots."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from synthvlm_repro.plotting import save_figure

    arms = list(dict.fromkeys(table["arm"]))
    long = table.melt(id_vars=["arm", "seed"], value_vars=list(METRICS), var_name="metric", value_name="percent")
    long["metric"] = long["metric"].map(METRICS)
    grid = sns.catplot(long, x="arm", y="percent", col="metric", col_order=list(METRICS.values()), order=arms,
                       hue="arm", hue_order=arms, kind="point", errorbar=t_interval, capsize=0.2, linestyle="none",
                       height=3.0, aspect=0.9, legend=False, sharey=True)
    grid.map_dataframe(sns.stripplot, x="arm", y="percent", order=arms, color="0.3", size=3, alpha=0.6)
    grid.set_titles("{col_name}", size=9)
    grid.set(ylim=(0, 100), xlabel="")
    grid.tick_params(axis="x", rotation=30)
    seeds = int(table.groupby("arm")["seed"].nunique().min())
    grid.figure.suptitle(f"toy world: stage-1 data by arm (mean of {seeds} seeds, 95% t-interval; dots: seeds)",
                         fontsize=10, y=1.04)
    try:
        return save_figure(grid.figure, out, smoke=smoke, formats=tuple(formats), dpi=dpi)
    finally:
        plt.close(grid.figure)


def toy_arms(builder) -> tuple[list[Path], pd.DataFrame]:
    """Stage 06 figure ``toy_arms`` (``toy_arms.png``/``.pdf`` + the per-arm table)."""
    from synthvlm_repro.figures import tables
    from synthvlm_repro.toy.experiment import summary

    table = runs_table(builder.paths)
    per_arm = summary(table, metrics=tuple(METRICS)).round(1)
    files = tables.write_table(per_arm, builder.out / "toy_arms_table",
                               "Toy experiment: mean over seeds and 95% half-width per arm")
    return files + plot_arms(table, builder.out / "toy_arms", **builder._save_kwargs()), per_arm
