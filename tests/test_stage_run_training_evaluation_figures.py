"""Stages 04, 05, 06: ``synthvlm-repro <stage> run`` and the stage's notebook write the same artifacts.

Two run dirs start from the same stage 01-03 artifacts (copied from the session's smoke run); in one
the CLI runs each stage, in the other papermill runs its notebook (both at once), with the same small
overrides. After each stage both dirs must hold the same files, and every artifact the CLI reported
must exist.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UPSTREAM = ("captions", "synthesis", "selection")  # what stages 01-03 leave in a run dir
STAGES = (("training", "04_llava_pretraining.ipynb"), ("evaluation", "05_evaluation.ipynb"),
          ("figures", "06_paper_figures.ipynb"))


def overrides(run_dir: Path) -> list[str]:
    return ["training.stage1.max_steps=1", "training.stage1.save_steps=1", "training.stage2.max_steps=1",
            "training.stage2.save_steps=1", "evaluation.limit=1", "evaluation.benchmarks=[gqa,pope]",
            "evaluation.mmlu=false", "figures.preference_pairs=3", "figures.tsne_samples=8",
            "figures.example_pairs=2", f"figures.output_dir={run_dir / 'paper_figures'}"]


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def reported_artifacts(stdout: str) -> dict[str, Path]:
    """The ``  name: path`` lines ``print_stage_result`` writes after the summary."""
    found = (re.match(r"^  (\S[^:]*): (/.*)$", line) for line in stdout.splitlines())
    return {m.group(1): Path(m.group(2)) for m in found if m}


@pytest.fixture(scope="module")
def twin_runs(smoke_run, tmp_path_factory):
    paths, record = smoke_run
    assert all(nb.status == "ok" for nb in record.notebooks if nb.notebook[:2] in ("01", "02", "03")), record
    root = tmp_path_factory.mktemp("twins")
    runs = {"cli": root / "cli", "notebook": root / "notebook"}
    for run_dir in runs.values():
        for name in UPSTREAM:
            shutil.copytree(paths.root / name, run_dir / name, symlinks=True)
    return runs


def run_both(stage: str, notebook: str, runs: dict[str, Path], project_root: Path) -> str:
    """The CLI in one run dir and the notebook in the other, at the same time; returns the CLI's stdout."""
    import papermill

    cli = runs["cli"]
    cmd = [sys.executable, "-m", "synthvlm_repro.cli", stage, "run", "--profile", "smoke", "--run-dir", str(cli)]
    for item in overrides(cli):
        cmd += ["--set", item]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(project_root), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=project_root, env=env)
    try:
        nb_dir = runs["notebook"]
        papermill.execute_notebook(str(project_root / "notebooks" / notebook), str(nb_dir.parent / notebook),
                                   parameters={"profile": "smoke", "run_dir": str(nb_dir),
                                               "overrides": overrides(nb_dir)},
                                   cwd=str(project_root), progress_bar=False, kernel_name="python3")
    finally:
        out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{stage} run failed:\n{err[-3000:]}"
    return out


@pytest.mark.slow
def test_cli_and_notebook_write_the_same_artifacts(twin_runs, project_root):
    cli = twin_runs["cli"].resolve()
    reported = {}
    for stage, notebook in STAGES:
        out = run_both(stage, notebook, twin_runs, project_root)
        cli_files, nb_files = files_under(twin_runs["cli"]), files_under(twin_runs["notebook"])
        assert cli_files == nb_files, (f"{stage}: only the CLI wrote {sorted(cli_files - nb_files)[:10]}; "
                                       f"only the notebook wrote {sorted(nb_files - cli_files)[:10]}")
        reported[stage] = reported_artifacts(out)
        assert reported[stage], f"{stage} run reported no artifacts:\n{out}"
        for name, path in reported[stage].items():
            assert path.exists(), f"{stage}: artifact {name} = {path} does not exist"
            assert cli in path.resolve().parents, f"{stage}: artifact {name} = {path} outside the run dir"
        recorded = (cli / "config.yaml").read_text()
        assert f"\n{stage}:" in recorded and f"\n  {stage}:\n    profile: smoke" in recorded  # its section + run
    assert {"phase1_final", "phase2_final", "training_loss.png"} <= set(reported["training"])
    assert {"results_csv", "results_json", "evaluation_headlines.png", "evaluation_examples.png"} <= set(
        reported["evaluation"])
    assert {"reproduce_md", "benchmarks.png", "judgments"} <= set(reported["figures"])
