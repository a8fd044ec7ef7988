"""The one detached launcher (runtime.launcher): log streamed, exit code returned, and a second call
re-attaches to a job that outlived its first watcher instead of starting another."""

import io
import json
import signal
import subprocess
import sys
import time

import pytest

from synthvlm_repro.runtime.launcher import alive, launcher_command, read_record, run_detached, running_job

JOB = "import sys, time\nfor i in range(8):\n    print('tick', i, flush=True)\n    time.sleep(0.4)\nsys.exit(3)"


def test_launcher_commands():
    cmd = launcher_command("torchrun", 4, ["-m", "x", "run"])
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--standalone"] and cmd[4:] == ["--nproc_per_node=4", "-m", "x",
                                                                                       "run"]
    assert launcher_command("accelerate", 2, ["-m", "x"])[1:3] == ["launch", "--num_processes=2"]
    with pytest.raises(ValueError, match="unknown launcher 'mpirun'"):
        launcher_command("mpirun", 2, [])


def test_detached_job_streams_its_log_and_returns_its_exit_code(tmp_path):
    out = io.StringIO()
    code = run_detached([sys.executable, "-c", "print('hello'); raise SystemExit(5)"], tmp_path / "job.log",
                        tmp_path / "launch.json", poll_s=0.05, out=out)
    assert code == 5 and "hello\n" in out.getvalue()
    record = read_record(tmp_path / "launch.json")
    assert record["status"] == "exit 5" and record["returncode"] == 5 and running_job(tmp_path / "launch.json") is None


def test_reattach_to_a_job_that_outlived_its_watcher(tmp_path):
    log, record = tmp_path / "job.log", tmp_path / "launch.json"
    watcher = subprocess.Popen([sys.executable, "-c", "import sys\nfrom synthvlm_repro.runtime.launcher import "
                                f"run_detached\nsys.exit(run_detached([sys.executable, '-c', {JOB!r}], {str(log)!r}, "
                                f"{str(record)!r}, poll_s=0.05))"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and "tick 1" in log.read_text()):
        time.sleep(0.05)
    watcher.send_signal(signal.SIGKILL)  # the kernel dies; the job must not
    watcher.wait()
    pid = running_job(record)
    assert pid is not None and alive(pid)
    out = io.StringIO()
    code = run_detached([sys.executable, "-c", "raise SystemExit('a second job must not start')"], log, record,
                        poll_s=0.05, out=out)
    assert code == 3, out.getvalue()
    assert f"re-attaching to running job pid {pid}" in out.getvalue() and "tick 7" in out.getvalue()
    assert log.read_text().count("\n$ ") == 1  # started once
    assert json.loads(record.read_text())["status"] == "exit 3"
