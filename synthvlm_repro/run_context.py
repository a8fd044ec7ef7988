"""What every notebook does first: load the profile, resolve the run dir, record the config."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from synthvlm_repro.atomic import write_text
from synthvlm_repro.config import ProjectConfig, dump_config, load_config
from synthvlm_repro.paths import RunPaths


@dataclass
class RunContext:
    """A loaded profile and its run directory."""

    cfg: ProjectConfig
    paths: RunPaths

    @property
    def smoke(self) -> bool:
        """True when the profile runs the tiny random models (figures get marked)."""
        return self.cfg.tiny_models

    @property
    def device(self) -> str:
        return self.cfg.resolved_device()


def prepare_run(profile: str = "smoke", run_dir: str | os.PathLike | None = None,
                overrides: Iterable[str] | Mapping[str, Any] | None = None) -> RunContext:
    """Load ``profile`` with ``overrides``, create the run dir and write its effective ``config.yaml``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("synthvlm_repro").setLevel(logging.INFO)  # our progress, not every library's INFO
    cfg = load_config(profile, overrides)
    paths = RunPaths.for_run(run_dir, cfg.profile)
    write_text(paths.config_yaml, dump_config(cfg))
    return RunContext(cfg, paths)
