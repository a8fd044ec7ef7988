"""Stage 02 across processes: SIGKILL mid-run then resume, and torchrun with 2 CPU ranks, both compared
byte for byte with one uninterrupted run. All runs are subprocesses with one thread each (CPU kernels
round differently with other thread counts)."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from synthvlm_repro.atomic import write_json
from synthvlm_repro.sample_data import load_sample_captions

N_CAPTIONS = 12
ARGS = ["--profile", "smoke", "--set", "synthesis.steps=2", "--set", "synthesis.batch_size=2", "--set",
        "synthesis.repeat=1", "--set", "synthesis.limit=null", "--no-progress", "--no-grid"]


def seed_run_dir(path):
    path.mkdir(parents=True)
    write_json(path / "captions" / "captions.json",
               [{"id": r["id"], "caption": r["caption"]} for r in load_sample_captions()[:N_CAPTIONS]])
    return path


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_module(run_dir, *launcher):
    cmd = [*launcher, "-m", "synthvlm_repro.synthesis", "run", "--run-dir", str(run_dir), *ARGS]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)


def image_hashes(run_dir):
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((run_dir / "synthesis" / "images").rglob("*.jpg"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = seed_run_dir(tmp_path_factory.mktemp("procs") / "reference")
    proc = run_module(run_dir, sys.executable)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run_dir


def test_sigkill_mid_run_then_resume_is_complete_and_identical(tmp_path, reference):
    run_dir = seed_run_dir(tmp_path / "killed")
    journal = run_dir / "synthesis" / "parts" / "00000-of-00001.jsonl"
    cmd = [sys.executable, "-m", "synthvlm_repro.synthesis", "run", "--run-dir", str(run_dir), *ARGS]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = journal.read_text().count("\n")
    assert 2 <= done_at_kill < N_CAPTIONS, "the run must be killed mid-way"
    assert not (run_dir / "synthesis" / "manifest.parquet").exists()

    resumed = run_module(run_dir, sys.executable)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"already done: {done_at_kill}\n" in resumed.stdout
    frame = pd.read_parquet(run_dir / "synthesis" / "manifest.parquet")
    assert len(frame) == N_CAPTIONS and not frame.duplicated(["caption_id", "candidate"]).any()
    assert image_hashes(run_dir) == image_hashes(reference)
    assert not list((run_dir / "synthesis").rglob("*.tmp"))  # no half-written file left behind


def test_torchrun_two_cpu_ranks_split_without_overlap_and_match(tmp_path, reference, monkeypatch, capsys):
    """Through the stage's launcher: a detached torchrun job whose log is streamed back."""
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.synthesis.stage import run

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = seed_run_dir(tmp_path / "torchrun")
    overrides = [a for a in ARGS[2:] if a.startswith("synthesis.")]
    result = run(prepare_run("smoke", run_dir, overrides), nproc=2, grid=False, progress=False)
    streamed = capsys.readouterr().out
    assert result.summary["processes"] == 2 and "merged: True" in streamed  # the last rank to finish merged
    assert (run_dir / "synthesis" / "launch.json").exists() and "exit 0" in (run_dir / "synthesis" / "launch.json").read_text()
    assert result.existing_artifacts().keys() == result.artifacts.keys()
    frame = pd.read_parquet(run_dir / "synthesis" / "manifest.parquet")
    assert sorted(frame["shard"].unique()) == ["00000-of-00002", "00001-of-00002"]
    assert len(frame) == N_CAPTIONS and not frame.duplicated(["caption_id", "candidate"]).any()
    assert image_hashes(run_dir) == image_hashes(reference)
    ref = pd.read_parquet(reference / "synthesis" / "manifest.parquet")
    assert list(frame["path"]) == list(ref["path"]) and list(frame["seed"]) == list(ref["seed"])
