"""``synthvlm-repro lab`` without a browser: which run it opens, how the run dir and the venv kernel reach
the notebooks, and the rater's undo after a resume (the browser tests drive the same through the page)."""

import json
import os
import subprocess
import sys

import pandas as pd

from synthvlm_repro.cli import build_parser
from synthvlm_repro.figures.preference import read_jsonl
from synthvlm_repro.figures.rater import PreferenceRater
from synthvlm_repro.lab import lab_argv, lab_environment, last_run_dir, write_kernel_spec
from synthvlm_repro.paths import RunPaths, default_run_dir, run_dir_env_var


def _record(root, name, profile, run_dir, mtime):
    path = root / name / "run.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"profile": profile, "run_dir": str(run_dir), "status": "ok"}))
    os.utime(path, (mtime, mtime))


def test_last_run_dir_is_the_newest_run_of_the_profile(tmp_path):
    _record(tmp_path, "a", "smoke", "/runs/a", 1000)
    _record(tmp_path, "b", "configs/smoke.yaml", "/runs/b", 3000)
    _record(tmp_path, "c", "paper", "/runs/c", 5000)
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "run.json").write_text("{")
    assert str(last_run_dir("smoke", tmp_path)) == "/runs/b"
    assert str(last_run_dir("paper", tmp_path)) == "/runs/c"
    assert last_run_dir("mine", tmp_path) is None


def test_the_lab_environment_moves_the_profiles_default_run_dir(tmp_path, monkeypatch):
    assert run_dir_env_var("configs/my-profile.yaml") == "SYNTHVLM_RUN_DIR_MY_PROFILE"
    env = lab_environment(tmp_path / "run", "smoke", tmp_path / "jupyter", base={"JUPYTER_PATH": "/x"})
    assert env["SYNTHVLM_RUN_DIR_SMOKE"] == str((tmp_path / "run").resolve())
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(tmp_path / "jupyter"), "/x"]
    monkeypatch.setenv("SYNTHVLM_RUN_DIR_SMOKE", env["SYNTHVLM_RUN_DIR_SMOKE"])
    assert default_run_dir("smoke") == (tmp_path / "run").resolve()
    assert RunPaths.for_run(None, "smoke").root == (tmp_path / "run").resolve()
    assert default_run_dir("paper").name == "paper"  # other profiles keep runs/<profile>


def test_kernel_spec_starts_this_python_and_jupyter_finds_it_first(tmp_path):
    spec_dir = write_kernel_spec(tmp_path)
    assert json.loads((spec_dir / "kernel.json").read_text())["argv"][0] == sys.executable
    env = lab_environment(tmp_path / "run", "smoke", tmp_path)
    out = subprocess.run([sys.executable, "-m", "jupyter_client.kernelspecapp", "list", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["kernelspecs"]["python3"]["resource_dir"] == str(spec_dir)


def test_lab_command_line(tmp_path):
    argv = lab_argv(tmp_path, port=8123, token="t", open_browser=False)
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in argv and "--no-browser" in argv and "--ServerApp.port=8123" in argv
    args = build_parser().parse_args(["lab", "--run-dir", "r", "--", "--ServerApp.ip=0.0.0.0"])
    assert args.run_dir == "r" and args.jupyter_args == ["--ServerApp.ip=0.0.0.0"]


def test_rater_undo_deletes_the_last_answer_also_after_a_resume(tmp_path):
    pairs = pd.DataFrame({"pair_id": list("abcd"), "caption": list("ABCD"), "synthetic": ["s"] * 4,
                          "original": ["o"] * 4})
    out = tmp_path / "human-x.jsonl"
    out.write_text(json.dumps({"pair_id": "a", "judge": "other", "winner": "tie"}) + "\n")
    first = PreferenceRater(pairs, out, rater="x")
    for choice in ("left", "right", "tie"):
        first.answer(choice)
    answered = [r["pair_id"] for r in read_jsonl(out) if r["judge"] == "x"]
    resumed = PreferenceRater(pairs, out, rater="x")  # a new kernel
    assert resumed.progress == (3, 4)
    resumed.answer("undo")
    assert [r["pair_id"] for r in read_jsonl(out) if r["judge"] == "x"] == answered[:2]
    assert read_jsonl(out)[0]["judge"] == "other"  # other raters' lines stay
    assert resumed.current["pair_id"] == answered[2] and resumed.progress == (2, 4)
    resumed.answer("undo")
    resumed.answer("undo")
    resumed.answer("undo")  # nothing left to undo: no error, nothing else removed
    assert [r["judge"] for r in read_jsonl(out)] == ["other"] and resumed.progress == (0, 4)
