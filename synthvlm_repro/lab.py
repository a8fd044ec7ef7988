"""``synthvlm-repro lab``: JupyterLab on the kit's notebooks, on the last run of a profile, with a kernel
that is this Python (the project's venv).

The notebooks take ``run_dir = None`` from their parameters cell; the server passes the run dir on as
``$SYNTHVLM_RUN_DIR_<PROFILE>`` (see :func:`synthvlm_repro.paths.default_run_dir`), so the committed
notebooks open unchanged (outputs stripped) and "Run All" works on that run. A ``python3`` kernel spec
pointing at ``sys.executable`` is put first on ``JUPYTER_PATH``, so a user-wide ``python3`` kernel of
another Python cannot shadow the venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Mapping

from synthvlm_repro.paths import default_run_dir, find_project_root, run_dir_env_var

KERNEL_NAME = "python3"  # the name the committed notebooks' kernelspec metadata uses


def last_run_dir(profile: str = "smoke", output_root: str | os.PathLike | None = None) -> Path | None:
    """The run dir of the newest ``papermill_runs/*/run.json`` made with ``profile``, or None."""
    root = Path(output_root) if output_root else find_project_root() / "papermill_runs"
    runs = []
    for record_path in root.glob("*/run.json"):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if Path(str(record.get("profile", ""))).stem == Path(profile).stem and record.get("run_dir"):
            runs.append((record_path.stat().st_mtime, Path(record["run_dir"])))
    return max(runs)[1] if runs else None


def write_kernel_spec(jupyter_dir: Path, python: str = sys.executable) -> Path:
    """Write ``<jupyter_dir>/kernels/python3/kernel.json`` starting ipykernel in ``python``."""
    spec_dir = Path(jupyter_dir) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (synthvlm-repro)", "language": "python", "metadata": {"debugger": True}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return spec_dir


def lab_environment(run_dir: Path, profile: str, jupyter_dir: Path,
                    base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's (and so every kernel's) environment: the run dir and the venv kernel spec."""
    env = dict(os.environ if base is None else base)
    env[run_dir_env_var(profile)] = str(Path(run_dir).resolve())
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(jupyter_dir), env.get("JUPYTER_PATH", "")) if p)
    return env


def lab_argv(root_dir: Path, *, port: int | None = None, token: str | None = None, open_browser: bool = True,
             default_url: str = "/lab/tree/notebooks", extra: Iterable[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line (run with this Python, so the server is the venv's too)."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}",
            f"--LabApp.default_url={default_url}"]
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses without it
        argv.append("--allow-root")
    return argv + list(extra)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server in the background on 127.0.0.1, a free port and a random token (for tests and
    the README screenshots); use as a context manager. ``settings`` are JupyterLab user settings
    ``{"@jupyterlab/notebook-extension:tracker": {...}}`` written to a private settings dir."""

    def __init__(self, root_dir: Path, run_dir: Path, profile: str = "smoke", settings: Mapping | None = None,
                 log_path: Path | None = None, startup_timeout: float = 90.0):
        self.root_dir, self.run_dir, self.profile = Path(root_dir), Path(run_dir), profile
        self.settings = dict(settings or {})
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None

    def url(self, path: str = "/lab") -> str:
        """``http://127.0.0.1:PORT/<path>?token=…``."""
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def __enter__(self) -> "LabServer":
        self._tmp = tempfile.TemporaryDirectory(prefix="synthvlm-lab-")
        state = Path(self._tmp.name)
        write_kernel_spec(state / "jupyter")
        settings_dir = state / "settings"
        for plugin_id, values in self.settings.items():
            package, plugin = plugin_id.split(":")
            target = settings_dir / package / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values), encoding="utf-8")
        env = lab_environment(self.run_dir, self.profile, state / "jupyter")
        env.update(JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "runtime"))
        argv = lab_argv(self.root_dir, port=self.port, token=self.token, open_browser=False,
                        extra=["--ServerApp.ip=127.0.0.1", f"--LabApp.user_settings_dir={settings_dir}",
                               f"--LabApp.workspaces_dir={state / 'workspaces'}"])
        self._log = open(self.log_path or state / "server.log", "ab")
        self._proc = subprocess.Popen(argv, env=env, cwd=self.root_dir, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self._proc.returncode}; log: {self._log.name}")
            try:
                with urllib.request.urlopen(self.url("/api/status"), timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"jupyter lab not answering on port {self.port} after {self.startup_timeout:.0f} s; "
                           f"log: {self._log.name}")

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def run_lab(profile: str = "smoke", run_dir: str | os.PathLike | None = None, port: int | None = None,
            open_browser: bool = True, extra: Iterable[str] = ()) -> int:
    """Start JupyterLab in the foreground (Ctrl-C stops it); returns its exit code."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise FileNotFoundError(f"JupyterLab is not installed in {sys.prefix}: run `{sys.executable} -m pip install "
                                f"jupyterlab` (README command 1 installs it)")
    root = find_project_root()
    if run_dir is None:
        run_dir = last_run_dir(profile)
        if run_dir is None:
            run_dir = default_run_dir(profile)
            print(f"no {Path(profile).stem} run in {root / 'papermill_runs'} yet: the notebooks will use {run_dir} "
                  f"(run `synthvlm-repro run --profile {profile}` first, or run the notebooks in order)")
    run_dir = Path(run_dir).resolve()
    print(f"JupyterLab on {root / 'notebooks'}; notebooks with run_dir = None use {run_dir} "
          f"(profile {profile}); kernel: {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="synthvlm-lab-") as tmp:
        write_kernel_spec(Path(tmp))
        env = lab_environment(run_dir, profile, Path(tmp))
        argv = lab_argv(root, port=port, open_browser=open_browser, extra=extra)
        try:
            return subprocess.call(argv, env=env, cwd=root)
        except KeyboardInterrupt:
            return 0


def register(sub) -> None:
    """Add ``synthvlm-repro lab`` to the CLI's subparsers."""
    parser = sub.add_parser("lab", help="start JupyterLab on the notebooks, on the last smoke run, with this venv's kernel",
                            description="Start JupyterLab on notebooks/ with this venv's Python as the python3 kernel; "
                                        "notebooks whose run_dir parameter is None use the run dir of the newest "
                                        "papermill_runs/*/run.json of --profile (or --run-dir). Arguments after -- go "
                                        "to jupyter lab.")
    parser.add_argument("--profile", default="smoke", help="whose last run the notebooks open on (default: smoke)")
    parser.add_argument("--run-dir", default=None, help="use this run dir instead of the last run's")
    parser.add_argument("--port", type=int, default=None, help="server port (default: Jupyter's, 8888 or the next free)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL")
    parser.add_argument("jupyter_args", nargs="*", metavar="JUPYTER_ARG", help="after --: passed on to jupyter lab")
    parser.set_defaults(func=lambda args: run_lab(args.profile, args.run_dir, port=args.port,
                                                  open_browser=not args.no_browser, extra=args.jupyter_args))
