"""A notebook runs alone with plain papermill (no kit runner), as the README promises."""

import json
import subprocess
import sys

import pytest

from .conftest import PROJECT_ROOT


@pytest.mark.slow
def test_plain_papermill_runs_a_notebook_alone(tmp_path):
    out = tmp_path / "01.ipynb"
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "papermill", str(PROJECT_ROOT / "notebooks" / "01_caption_curation.ipynb"),
           str(out), "-p", "profile", "smoke", "-p", "run_dir", str(run_dir), "-k", "python3",
           "--cwd", str(PROJECT_ROOT)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run_dir / "captions" / "captions.json").read_text())  # the stage's artifact
    injected = [c for c in json.loads(out.read_text())["cells"]
                if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "profile = \"smoke\"" in "".join(injected[0]["source"])
