"""What every stage entry point does first: load the profile, resolve the run dir; and how a stage
records the config it ran with."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from synthvlm_repro.atomic import write_text
from synthvlm_repro.config import ProjectConfig, load_config
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.stage import PIPELINE_STAGES

_STAGE_SECTIONS = {name for _, name in PIPELINE_STAGES} | {"toy"}


def _override_list(overrides: Iterable[str] | Mapping[str, Any] | None) -> list[str]:
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={v}" for k, v in overrides.items()]
    return [str(o) for o in overrides]


@dataclass
class RunContext:
    """A loaded profile and its run directory."""

    cfg: ProjectConfig
    paths: RunPaths
    overrides: list[str] = field(default_factory=list)

    @property
    def smoke(self) -> bool:
        """True when the profile runs the tiny random models (figures get marked)."""
        return self.cfg.tiny_models

    @property
    def device(self) -> str:
        return self.cfg.resolved_device()

    def record_stage_config(self, stage: str) -> Path:
        """Write ``stage``'s section of the effective config into the run's ``config.yaml``, with the
        overrides it ran with, keeping the sections other stages recorded earlier.

        So a run dir shows what produced each stage's artifacts even when stage 01 ran with
        overrides that stage 02's run did not repeat.
        """
        path = self.paths.config_yaml
        recorded = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
        dumped = self.cfg.model_dump(mode="json")
        for key, value in dumped.items():
            if key not in _STAGE_SECTIONS:
                recorded[key] = value
        recorded[stage] = dumped.get(stage)
        runs = recorded.pop("stage_runs", None) or {}
        runs[stage] = {"profile": self.cfg.profile, "overrides": list(self.overrides),
                       "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        recorded["stage_runs"] = runs
        write_text(path, yaml.safe_dump(recorded, sort_keys=False, allow_unicode=True))
        return path


def prepare_run(profile: str = "smoke", run_dir: str | os.PathLike | None = None,
                overrides: Iterable[str] | Mapping[str, Any] | None = None) -> RunContext:
    """Load ``profile`` with ``overrides`` and create the run dir. Nothing is recorded yet: each
    stage's ``run(ctx)`` records its own section (:meth:`RunContext.record_stage_config`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("synthvlm_repro").setLevel(logging.INFO)  # our progress, not every library's INFO
    cfg = load_config(profile, overrides)
    paths = RunPaths.for_run(run_dir, cfg.profile)
    return RunContext(cfg, paths, _override_list(overrides))
