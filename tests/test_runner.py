"""The papermill runner: order, selection, run.json, and a clear report for a failing cell."""

import json

import nbformat
import pytest

from synthvlm_repro.runner import PipelineError, discover_notebooks, run_pipeline, select_notebooks


def _notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\nrun_dir = None\noverrides = []')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_first.ipynb", "from pathlib import Path\n"
              "Path(run_dir, 'first.txt').write_text(f'{profile} {overrides}')")
    _notebook(folder / "02_second.ipynb", "from pathlib import Path\n"
              "assert Path(run_dir, 'first.txt').exists()\nPath(run_dir, 'second.txt').write_text('ok')")
    (folder / "notes.ipynb").write_text("{}")  # not numbered: ignored
    return folder


def test_discovery_and_selection(notebooks):
    found = discover_notebooks(notebooks)
    assert [p.name for p in found] == ["01_first.ipynb", "02_second.ipynb"]
    assert [p.name for p in select_notebooks(found, only=["02"])] == ["02_second.ipynb"]
    assert [p.name for p in select_notebooks(found, start="2")] == ["02_second.ipynb"]
    with pytest.raises(ValueError, match="no notebook numbered 07"):
        select_notebooks(found, only=["07"])


def test_runs_in_order_and_records(notebooks, tmp_path):
    run_dir = tmp_path / "run"
    record = run_pipeline("smoke", run_dir, overrides=["synthesis.steps=2"], notebooks_dir=notebooks,
                          output_root=tmp_path / "out")
    assert (run_dir / "first.txt").read_text() == "smoke ['synthesis.steps=2']"
    assert (run_dir / "second.txt").read_text() == "ok"
    saved = json.loads((tmp_path / "out" / "run" / "run.json").read_text())
    assert saved["status"] == "ok" and [n["status"] for n in saved["notebooks"]] == ["ok", "ok"]
    assert all((tmp_path / "out" / "run" / n["notebook"]).exists() for n in saved["notebooks"])
    assert record.notebooks[0].seconds > 0


def test_failing_cell_stops_the_run_and_is_reported(notebooks, tmp_path, capsys):
    _notebook(notebooks / "01_first.ipynb", "x = 1\nraise ValueError('caption 17 is broken')")
    with pytest.raises(PipelineError) as e:
        run_pipeline("smoke", tmp_path / "run", notebooks_dir=notebooks, output_root=tmp_path / "out")
    report = str(e.value)
    assert report.startswith("FAILED 01_first.ipynb at cell [")
    assert "ValueError: caption 17 is broken" in report and "raise ValueError" in report
    saved = json.loads((tmp_path / "out" / "run" / "run.json").read_text())
    assert saved["status"] == "failed"
    assert [n["notebook"] for n in saved["notebooks"]] == ["01_first.ipynb"]  # 02 never ran
    assert saved["notebooks"][0]["error"] == "ValueError: caption 17 is broken"


def test_cli_exit_code_and_message(notebooks, tmp_path, capsys):
    from synthvlm_repro.cli import main

    _notebook(notebooks / "02_second.ipynb", "1/0")
    code = main(["run", "--run-dir", str(tmp_path / "r"), "--notebooks", str(notebooks),
                 "--output-root", str(tmp_path / "out"), "--only", "02"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED 02_second.ipynb" in err and "ZeroDivisionError" in err
