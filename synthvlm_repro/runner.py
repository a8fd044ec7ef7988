"""Run the numbered notebooks in order with papermill and record what happened in ``run.json``.

Executed copies land in ``papermill_runs/<run-name>/NN_name.ipynb``; every notebook gets the same
``profile``, ``run_dir`` and ``overrides`` parameters, so the artifacts of one stage feed the next.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_json
from synthvlm_repro.paths import default_run_dir, find_project_root

NOTEBOOK_RE = re.compile(r"^(\d{2})_.+\.ipynb$")


class PipelineError(RuntimeError):
    """A notebook failed; ``str()`` is the short report (notebook, cell, error)."""


@dataclass
class NotebookRecord:
    notebook: str
    status: str  # "ok" | "failed" | "skipped"
    seconds: float
    output: str
    error: str | None = None
    cell: int | None = None


@dataclass
class RunRecord:
    profile: str
    run_dir: str
    output_dir: str
    overrides: list[str]
    started: str
    status: str = "running"
    notebooks: list[NotebookRecord] = field(default_factory=list)


def discover_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The ``NN_name.ipynb`` notebooks of a folder, in number order."""
    found = [p for p in Path(notebooks_dir).glob("*.ipynb") if NOTEBOOK_RE.match(p.name)]
    return sorted(found, key=lambda p: (int(NOTEBOOK_RE.match(p.name).group(1)), p.name))


def _number(spec: str) -> int:
    if not spec.strip().isdigit():
        raise ValueError(f"notebook number expected (like 01 or 3), got {spec!r}")
    return int(spec)


def select_notebooks(notebooks: Sequence[Path], only: Sequence[str] | None = None,
                     start: str | None = None) -> list[Path]:
    """Filter by ``only`` (numbers like ``01``) and ``start`` (first number to run)."""
    number = {p: int(NOTEBOOK_RE.match(p.name).group(1)) for p in notebooks}
    chosen = list(notebooks)
    if only:
        wanted = {_number(x) for x in only}
        missing = wanted - set(number.values())
        if missing:
            raise ValueError(f"--only: no notebook numbered {', '.join(f'{m:02d}' for m in sorted(missing))}")
        chosen = [p for p in chosen if number[p] in wanted]
    if start is not None:
        chosen = [p for p in chosen if number[p] >= _number(start)]
    return chosen


def _failure_report(nb: Path, exc: Exception, output: Path) -> tuple[str, int | None]:
    cell = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    lines = [f"FAILED {nb.name}" + (f" at cell [{cell}]" if cell is not None else "")]
    lines += [f"  | {line}" for line in source[-4:]]
    lines += [f"  {ename}: {evalue}".rstrip(), f"  executed notebook: {output}"]
    return "\n".join(lines), cell


def run_pipeline(profile: str = "smoke", run_dir: str | Path | None = None, only: Sequence[str] | None = None,
                 start: str | None = None, overrides: Sequence[str] = (), notebooks_dir: str | Path | None = None,
                 output_root: str | Path | None = None, kernel_name: str = "python3",
                 log_output: bool = False) -> RunRecord:
    """Execute the selected notebooks in order; stop at the first failure (raises :class:`PipelineError`)."""
    import papermill

    from synthvlm_repro.config import load_config

    load_config(profile, list(overrides))  # fail fast on a bad profile or override
    root = find_project_root()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else root / "notebooks"
    run_dir = Path(run_dir).resolve() if run_dir else default_run_dir(profile)
    output_dir = Path(output_root or root / "papermill_runs") / run_dir.name
    output_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    notebooks = select_notebooks(discover_notebooks(notebooks_dir), only, start)
    if not notebooks:
        raise ValueError(f"no notebooks selected in {notebooks_dir}")
    record = RunRecord(profile=str(profile), run_dir=str(run_dir), output_dir=str(output_dir),
                       overrides=list(overrides), started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    record_path = output_dir / "run.json"
    params = {"profile": str(profile), "run_dir": str(run_dir), "overrides": list(overrides)}
    bar = tqdm(notebooks, desc="notebooks", unit="nb")
    for nb in bar:
        bar.set_postfix_str(nb.name)
        output = output_dir / nb.name
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(output), parameters=params, kernel_name=kernel_name,
                                       cwd=str(root), progress_bar=False, log_output=log_output)
        except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
            report, cell = _failure_report(nb, exc, output)
            record.notebooks.append(NotebookRecord(nb.name, "failed", round(time.perf_counter() - t0, 2),
                                                   str(output), f"{getattr(exc, 'ename', type(exc).__name__)}: "
                                                   f"{getattr(exc, 'evalue', exc)}", cell))
            record.status = "failed"
            write_json(record_path, asdict(record))
            raise PipelineError(report) from None
        record.notebooks.append(NotebookRecord(nb.name, "ok", round(time.perf_counter() - t0, 2), str(output)))
        write_json(record_path, asdict(record))
    record.status = "ok"
    write_json(record_path, asdict(record))
    return record
