"""One detached launcher for multi-process jobs (``torchrun`` / ``accelerate launch``), with re-attach.

The job runs in its own session, writes its output to a log file and its pid to a record
(``launch.json``); the caller only streams the log. A notebook kernel that dies (OOM, closed browser)
therefore never takes the job with it: calling :func:`run_detached` again with the same record
re-attaches to a job that is still alive instead of starting a second one.

The job is started through this module's ``python -m synthvlm_repro.runtime.launcher RECORD -- CMD``
wrapper, which waits for the command and writes its exit code into the record: so a re-attached caller
(not the job's parent, so it cannot ``wait`` for it) still learns how the job ended.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from synthvlm_repro.atomic import write_json

#: Exit code returned when a re-attached job ended without recording one (killed with its wrapper).
UNKNOWN_EXIT = -1


def launcher_command(mode: str, nproc: int, worker: Sequence[str]) -> list[str]:
    """``worker`` (the arguments after ``python``, e.g. ``["-m", "synthvlm_repro.synthesis", "run", ...]``)
    under ``torchrun`` (standalone, one node) or ``accelerate launch`` with ``nproc`` processes."""
    if mode == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *worker]
    if mode == "accelerate":
        return [shutil.which("accelerate") or "accelerate", "launch", f"--num_processes={nproc}", *worker]
    raise ValueError(f"unknown launcher {mode!r} (inprocess, torchrun, accelerate)")


def alive(pid: int) -> bool:
    """True while process ``pid`` runs. A zombie (ended, not reaped: an orphan under a container's PID 1
    that never reaps) counts as ended."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no procfs (macOS): kill(0) succeeded
    return state not in ("Z", "X")


def stream_log(log_path: str | os.PathLike, pid: int, proc: subprocess.Popen | None = None,
               poll_s: float = 1.0, out: TextIO | None = None) -> None:
    """Write ``log_path`` to ``out`` (stdout) as it grows until the job ends: ``proc`` exits when we
    started it, else process ``pid`` disappears."""
    out = out or sys.stdout
    with open(log_path, "r", encoding="utf-8", errors="replace") as fh:
        while True:
            chunk = fh.read()
            if chunk:
                out.write(chunk)
                out.flush()
            done = proc.poll() is not None if proc is not None else not alive(pid)
            if done:
                out.write(fh.read())
                out.flush()
                return
            time.sleep(poll_s)


def read_record(record_path: str | os.PathLike) -> dict:
    """The launch record (``{}`` when there is none or it is unreadable)."""
    try:
        return json.loads(Path(record_path).read_text())
    except (OSError, ValueError):
        return {}


def running_job(record_path: str | os.PathLike) -> int | None:
    """The pid of the job ``record_path`` describes while it still runs, else None."""
    record = read_record(record_path)
    pid = record.get("pid")
    return pid if record.get("status") == "running" and isinstance(pid, int) and alive(pid) else None


def run_detached(cmd: Sequence[str], log_path: str | os.PathLike, record_path: str | os.PathLike,
                 cwd: str | os.PathLike | None = None, poll_s: float = 1.0, out: TextIO | None = None) -> int:
    """Run ``cmd`` detached (own session, output appended to ``log_path``), stream the log until it
    ends and return its exit code; if ``record_path`` names a live job, re-attach to it instead.

    Interrupting the caller (Ctrl-C, a notebook's stop button) stops the watching, not the job.
    """
    out = out or sys.stdout
    log_path, record_path = Path(log_path), Path(record_path)
    pid = running_job(record_path)
    if pid is not None:
        out.write(f"re-attaching to running job pid {pid} (log {log_path})\n")
        out.flush()
        return _watch(log_path, record_path, pid, None, poll_s, out)
    cmd = [str(c) for c in cmd]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        wrapper = [sys.executable, "-m", "synthvlm_repro.runtime.launcher", str(record_path), "--", *cmd]
        proc = subprocess.Popen(wrapper, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(cwd) if cwd else None)
    write_json(record_path, {"pid": proc.pid, "cmd": cmd, "log": str(log_path), "status": "running",
                             "started": time.time()})
    out.write(f"started pid {proc.pid}: {' '.join(cmd)}\nlog: {log_path}\n")
    out.flush()
    return _watch(log_path, record_path, proc.pid, proc, poll_s, out)


def _watch(log_path: Path, record_path: Path, pid: int, proc: subprocess.Popen | None, poll_s: float,
           out: TextIO) -> int:
    try:
        stream_log(log_path, pid, proc, poll_s, out)
    except KeyboardInterrupt:
        out.write(f"\nstopped watching; the job goes on (pid {pid}, log {log_path}). "
                  f"Run again to re-attach; stop it with: kill -- -{pid}\n")
        out.flush()
        raise
    if proc is not None:
        code = proc.returncode
    else:  # not our child: the wrapper recorded the exit code (unless it was killed too)
        code = read_record(record_path).get("returncode", UNKNOWN_EXIT)
    record = read_record(record_path)
    if record.get("pid") == pid and record.get("status") == "running":
        write_json(record_path, {**record, "status": f"exit {code}", "returncode": code, "ended": time.time()})
    return int(code)


def _wrapper_main(argv: list[str]) -> int:
    """``RECORD -- CMD...``: run CMD, then write its exit code into RECORD (what a re-attach reads)."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m synthvlm_repro.runtime.launcher RECORD -- CMD...", file=sys.stderr)
        return 2
    record_path, cmd = Path(argv[0]), argv[2:]
    code = subprocess.call(cmd)
    record = read_record(record_path)
    write_json(record_path, {**record, "pid": os.getpid(), "status": f"exit {code}", "returncode": code,
                             "ended": time.time()})
    return code


if __name__ == "__main__":
    sys.exit(_wrapper_main(sys.argv[1:]))
