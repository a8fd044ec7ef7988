"""Run every check for a profile and render the result as one screen (or a DataFrame in a notebook)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from synthvlm_repro.config import ProjectConfig, load_config
from synthvlm_repro.doctor import figures as fig
from synthvlm_repro.doctor.checks import (STAGES, Estimate, Row, _worst, check_data, check_disk, check_gpus,
                                          check_models, estimates)
from synthvlm_repro.doctor.probes import Gpu, free_disk_bytes, probe_gpus
from synthvlm_repro.paths import RunPaths, default_run_dir, find_project_root

ASPECTS = ("models", "data", "gpu", "disk")
MARK = {"ok": "ok", "warn": "warn", "block": "BLOCK"}


@dataclass
class DoctorReport:
    profile: str
    run_dir: Path
    rows: list[Row]
    estimates: list[Estimate]
    captions_basis: str
    gpus: list[Gpu]

    @property
    def blocking(self) -> list[Row]:
        return [r for r in self.rows if r.status == "block"]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def status(self, stage: str, aspect: str) -> str:
        return _worst([r for r in self.rows if r.stage == stage and r.aspect == aspect])

    def table(self):
        """One row per stage: the worst status per aspect, then the GPU-hour and disk estimates (pandas)."""
        import pandas as pd

        by_stage = {e.stage: e for e in self.estimates}
        records = []
        for stage, name in STAGES.items():
            rec: dict[str, Any] = {"stage": f"{stage} {name}"}
            rec |= {a: MARK[self.status(stage, a)] for a in ASPECTS}
            rec["GPU-hours"] = by_stage[stage].gpu_hours
            rec["disk"] = f"{by_stage[stage].disk_bytes / 1e9:,.1f} GB"
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def problems(self) -> list[str]:
        """Blocking rows first, then warnings, one line each; the same problem in several stages once."""
        out = []
        for status, label in (("block", "BLOCK"), ("warn", "warn ")):
            grouped: dict[tuple[str, str], list[str]] = {}
            for r in self.rows:
                if r.status == status:
                    grouped.setdefault((r.aspect, r.detail), []).append(r.stage)
            out += [f"{label} {','.join(stages)} {aspect:6s} {detail}" for (aspect, detail), stages in grouped.items()]
        return out

    def render(self, verbose: bool = False) -> str:
        """The one-screen text: table, problems, the figures behind the estimates."""
        table = self.table()
        lines = [f"doctor: profile {self.profile}, run dir {self.run_dir}, "
                 f"GPUs: {', '.join(f'{g.name} ({g.total_gib:.0f} GiB)' for g in self.gpus) or 'none'}",
                 table.to_string(index=False), ""]
        lines += self.problems() or ["no problems found"]
        if verbose:
            lines += ["", "all checks:"] + [f"  {r.status:5s} {r.stage} {r.aspect:6s} {r.detail}" for r in self.rows]
        lines += ["", f"estimates for {self.captions_basis}, from these per-unit figures:"]
        lines += [f"  {f.value:,.4g} {f.unit} [{f.source}]" for f in fig.FIGURES.values()]
        lines.append(f"verdict: {'ready' if self.ok else f'{len(self.blocking)} blocking problem(s)'}")
        return "\n".join(lines)


def run_doctor(profile: str | os.PathLike = "paper", overrides: Iterable[str] | Mapping[str, Any] | None = None,
               run_dir: str | os.PathLike | None = None, captions: int | None = None,
               gpus: list[Gpu] | None = None, cache_dir: str | os.PathLike | None = None) -> DoctorReport:
    """Check every stage of ``profile``. ``gpus`` defaults to what torch.cuda sees; nothing is created."""
    cfg: ProjectConfig = load_config(profile, overrides)
    root = Path(run_dir) if run_dir else default_run_dir(cfg.profile)
    if not root.is_absolute():
        root = find_project_root() / root
    return doctor_report(cfg, root, captions, gpus, cache_dir)


def doctor_report(cfg: ProjectConfig, root: Path, captions: int | None = None, gpus: list[Gpu] | None = None,
                  cache_dir: str | os.PathLike | None = None) -> DoctorReport:
    """:func:`run_doctor` for an already loaded config and run dir (what stage 01's preflight calls)."""
    paths = RunPaths(root)  # not RunPaths.for_run: the doctor creates no folders
    gpus = probe_gpus() if gpus is None else gpus
    ests, basis = estimates(cfg, paths, captions)
    rows = check_models(cfg, cache_dir) + check_data(cfg, paths) + check_gpus(cfg, gpus)
    rows += check_disk(cfg, paths, ests, free_disk_bytes(root))
    return DoctorReport(cfg.profile, root, rows, ests, basis, gpus)
