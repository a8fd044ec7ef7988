"""Stages 01 and 02: ``synthvlm-repro <stage> run`` and the stage's notebook (papermill) write the same
artifacts from the same inputs, and every artifact a ``StageResult`` names exists.

Small overrides keep it quick: stage 01 runs the rule filters and dedup only, stage 02 renders two
captions at one step and a one-setting grid."""

import json
import os
import subprocess
import sys

import pytest

from synthvlm_repro.atomic import write_json
from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.sample_data import load_sample_captions

from .conftest import PROJECT_ROOT

STAGES = {
    "curation": ("01_caption_curation.ipynb",
                 ["curation.perplexity_max=null", "curation.clip_min=null", "curation.itm_min=null",
                  "curation.judge_mode=off", "curation.max_captions=6", "curation.num_proc=1"]),
    "synthesis": ("02_sdxl_synthesis.ipynb",
                  ["synthesis.limit=2", "synthesis.steps=1", "synthesis.batch_size=2", "synthesis.repeat=1",
                   "synthesis.grid_captions=1", "synthesis.grid_steps=[1]", "synthesis.grid_guidance=[5.0]",
                   "synthesis.grid_refiner=[false]"]),
}


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}


def seed_upstream(run_dir, stage):
    """Stage 02's input, the same in both run dirs (stage 01 reads the kit's sample pool)."""
    if stage == "synthesis":
        write_json(run_dir / "captions" / "captions.json",
                   [{"id": r["id"], "caption": r["caption"]} for r in load_sample_captions()[:4]])


def files(run_dir):
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_cli_run_and_notebook_write_the_same_artifacts(tmp_path, stage):
    notebook, overrides = STAGES[stage]
    cli_dir, nb_dir = tmp_path / "cli", tmp_path / "notebook"
    for run_dir in (cli_dir, nb_dir):
        seed_upstream(run_dir, stage)
    sets = [x for o in overrides for x in ("--set", o)]
    cli = subprocess.run([sys.executable, "-m", "synthvlm_repro.cli", stage, "run", "--run-dir", str(cli_dir), *sets],
                         env=env(), capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    params = json.dumps(overrides)
    nb = subprocess.run([sys.executable, "-m", "papermill", str(PROJECT_ROOT / "notebooks" / notebook),
                         str(tmp_path / notebook), "-p", "profile", "smoke", "-p", "run_dir", str(nb_dir),
                         "-y", f"overrides: {params}", "-k", "python3", "--cwd", str(PROJECT_ROOT)],
                        env=env(), capture_output=True, text=True, timeout=600)
    assert nb.returncode == 0, nb.stderr[-3000:]
    assert files(cli_dir) == files(nb_dir)

    # The StageResult of a rerun (everything cached or already rendered) names only files that exist.
    from synthvlm_repro.stage import run_stage

    kwargs = {"progress": False} | ({"grid": True} if stage == "synthesis" else {})
    result = run_stage(stage, prepare_run("smoke", cli_dir, overrides), **kwargs)
    assert result.stage == stage and result.artifacts and result.figures
    assert result.existing_artifacts() == result.artifacts
    assert all(p.is_relative_to(cli_dir) for p in result.artifacts.values())
    assert set(result.figures) <= set(result.artifacts.values())
    recorded = __import__("yaml").safe_load((cli_dir / "config.yaml").read_text())
    assert recorded["stage_runs"][stage]["overrides"] == overrides
