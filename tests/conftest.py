"""Shared test setup: offline hub, a per-session tiny-model cache, small fixtures."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Callable name -> path of a tiny model (built once, cached for the session and later runs)."""
    from synthvlm_repro.tiny_models import tiny_model_path

    return tiny_model_path


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke pipeline run once through the runner (every notebook in notebooks/), for stage tests
    that check a notebook's artifacts. Returns ``(RunPaths, RunRecord)``."""
    from synthvlm_repro.paths import RunPaths
    from synthvlm_repro.runner import run_pipeline

    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    record = run_pipeline("smoke", run_dir, output_root=run_dir.parent / "papermill_runs")
    return RunPaths.for_run(run_dir), record
