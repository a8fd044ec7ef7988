"""The one shape of a pipeline stage: ``run(ctx) -> StageResult``.

Every pipeline stage package (01 curation … 06 figures) has a ``stage.py`` whose ``run(ctx)`` writes
every artifact the README documents for that stage, figures included. The CLI (``synthvlm-repro
<stage> run``), the notebook and the runner all call it; notebooks only set parameters, call it and
display what it returns. "Pipeline stage" means one of these six; LLaVA's two training steps are
"training phases" (``training.phase1`` / ``phase2``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The pipeline stages in run order: (number, package name).
PIPELINE_STAGES: tuple[tuple[int, str], ...] = (
    (1, "curation"), (2, "synthesis"), (3, "selection"), (4, "training"), (5, "evaluation"), (6, "figures"))


@dataclass
class StageResult:
    """What one stage run produced.

    ``artifacts`` names every file or folder written (keys are stable names, values absolute paths);
    ``summary`` holds the headline numbers shown by the CLI and the notebook; ``tables`` holds
    DataFrames worth displaying; ``figures`` the PNGs written (also listed in ``artifacts``).
    """

    stage: str
    artifacts: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)

    def existing_artifacts(self) -> dict[str, Path]:
        """The artifacts that exist on disk (a stage may list optional ones it skipped)."""
        return {k: Path(v) for k, v in self.artifacts.items() if Path(v).exists()}

    def summary_lines(self) -> list[str]:
        """``key: value`` lines for the CLI."""
        return [f"{k}: {v}" for k, v in self.summary.items()]


def stage_module(name: str):
    """The ``synthvlm_repro.<name>.stage`` module of a pipeline stage."""
    names = [n for _, n in PIPELINE_STAGES]
    if name not in names:
        raise ValueError(f"unknown pipeline stage {name!r}; expected one of {', '.join(names)}")
    return importlib.import_module(f"synthvlm_repro.{name}.stage")


def run_stage(name: str, ctx, **options) -> StageResult:
    """Run one pipeline stage by name (what the CLI and the runner call)."""
    return stage_module(name).run(ctx, **options)
