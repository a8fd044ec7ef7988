"""Committed notebooks are thin and clean: stripped outputs, a `parameters` cell, the kernel set."""

import json

import pytest

from synthvlm_repro.runner import NOTEBOOK_RE

from .conftest import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_numbered_and_parameterised(path):
    assert NOTEBOOK_RE.match(path.name), f"{path.name}: notebooks are named NN_name.ipynb"
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "outputs must be stripped"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    source = "".join(params[0]["source"])
    for name in ("profile", "run_dir", "overrides"):
        assert f"{name} =" in source
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
