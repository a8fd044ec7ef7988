"""Stage 03: ``synthvlm-repro selection run`` and notebook 03 (papermill) write the same artifacts from the
same stage-02 outputs — ``selection/quality_table.csv`` and the figures included — and every artifact the
``StageResult`` names exists."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

from .conftest import PROJECT_ROOT

OVERRIDES = ["selection.top_k=4", "selection.quality_limit=4", "selection.batch_size=4"]


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}


def stage02_outputs(root):
    """A stage-02 output folder: 5 captions × 2 candidates (the kit's drawn sample images as JPEGs) and
    ``synthesis/manifest.parquet`` with the columns stage 03 reads."""
    pairs = [r for r in load_sample_captions() if "image" in r][:6]
    rows = []
    for n, record in enumerate(pairs[:5]):
        for k in range(2):
            source = pairs[n + k]["image"]  # candidate 1 is another caption's picture: a worse match
            rel = f"synthesis/images/{n:02d}/{record['id']}_{k}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.open(sample_data_dir() / source).convert("RGB").save(root / rel, quality=95)
            rows.append(dict(caption_id=record["id"], candidate=k, caption=record["caption"], seed=k, path=rel,
                             status="ok"))
    pd.DataFrame(rows).to_parquet(root / "synthesis" / "manifest.parquet")
    return root


def files(run_dir):
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())


@pytest.mark.slow
def test_cli_run_and_notebook_write_the_same_artifacts(tmp_path, tiny):
    tiny("open-clip")  # built once here, not twice in the subprocesses
    upstream = stage02_outputs(tmp_path / "upstream")
    cli_dir, nb_dir = tmp_path / "cli", tmp_path / "notebook"
    for run_dir in (cli_dir, nb_dir):
        shutil.copytree(upstream / "synthesis", run_dir / "synthesis")
    sets = [x for o in OVERRIDES for x in ("--set", o)]
    cli = subprocess.run([sys.executable, "-m", "synthvlm_repro.cli", "selection", "run", "--run-dir", str(cli_dir),
                          "--no-progress", *sets], env=env(), capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "quality_table.csv" in cli.stdout
    notebook = "03_clip_selection.ipynb"
    nb = subprocess.run([sys.executable, "-m", "papermill", str(PROJECT_ROOT / "notebooks" / notebook),
                         str(tmp_path / notebook), "-p", "profile", "smoke", "-p", "run_dir", str(nb_dir),
                         "-y", f"overrides: {json.dumps(OVERRIDES)}", "-k", "python3", "--cwd", str(PROJECT_ROOT)],
                        env=env(), capture_output=True, text=True, timeout=600)
    assert nb.returncode == 0, nb.stderr[-3000:]
    assert files(cli_dir) == files(nb_dir)
    for run_dir in (cli_dir, nb_dir):
        table = pd.read_csv(run_dir / "selection" / "quality_table.csv")
        assert {"all candidates", "selected", "real: sample", "SynthVLM-100K"} <= set(table.dataset)
        for stem in ("selection_score_distributions", "selection_best_worst"):
            assert (run_dir / "figures" / f"{stem}.png").is_file() and (run_dir / "figures" / f"{stem}.pdf").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(cli_dir / "selection" / "scores.parquet"),
                                  pd.read_parquet(nb_dir / "selection" / "scores.parquet"), check_exact=True)
    assert (cli_dir / "selection" / "llava_pretrain.json").read_bytes() == \
        (nb_dir / "selection" / "llava_pretrain.json").read_bytes()

    # A rerun (everything scored already) returns a StageResult naming only files that exist.
    from synthvlm_repro.stage import run_stage

    result = run_stage("selection", prepare_run("smoke", cli_dir, OVERRIDES), progress=False)
    assert result.stage == "selection" and result.existing_artifacts() == result.artifacts
    assert result.artifacts["quality_table"] == cli_dir / "selection" / "quality_table.csv"
    assert set(result.figures) <= set(result.artifacts.values()) and len(result.figures) == 2
    assert all(p.is_relative_to(cli_dir) for p in result.artifacts.values())
    assert len(result.tables["selected"]) == 4
    recorded = __import__("yaml").safe_load((cli_dir / "config.yaml").read_text())
    assert recorded["stage_runs"]["selection"]["overrides"] == OVERRIDES
    assert recorded["selection"]["top_k"] == 4
