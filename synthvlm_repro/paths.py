"""Where things live: the project root and the fixed artifact paths of a run directory.

Every stage reads and writes these paths, so one notebook can be rerun alone from the previous
stage's outputs. All paths are relative to the run dir (default ``runs/<profile>``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def find_project_root(start: str | os.PathLike | None = None) -> Path:
    """The project root: ``$SYNTHVLM_HOME``, else the nearest parent holding ``configs/`` and
    ``notebooks/``, else the source checkout this package sits in, else the current directory."""
    env = os.environ.get("SYNTHVLM_HOME")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "configs").is_dir() and (candidate / "notebooks").is_dir():
            return candidate
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "configs").is_dir():
        return checkout
    return here


def run_dir_env_var(profile: str) -> str:
    """The variable that moves a profile's default run dir: ``SYNTHVLM_RUN_DIR_SMOKE`` for ``smoke``
    (``synthvlm-repro lab`` sets it so the notebooks open on the last run of that profile)."""
    return "SYNTHVLM_RUN_DIR_" + re.sub(r"\W", "_", Path(profile).stem).upper()


def default_run_dir(profile: str) -> Path:
    """The run dir a notebook uses when given none: ``$SYNTHVLM_RUN_DIR_<PROFILE>``, else ``runs/<profile>``
    under the project root."""
    env = os.environ.get(run_dir_env_var(profile))
    if env:
        return Path(env).expanduser().resolve()
    return find_project_root() / "runs" / Path(profile).stem


@dataclass(frozen=True)
class RunPaths:
    """The documented artifact layout of one run directory."""

    root: Path

    @classmethod
    def for_run(cls, run_dir: str | os.PathLike | None, profile: str = "smoke") -> "RunPaths":
        """Paths of ``run_dir`` (created), or of the profile's default run dir."""
        root = Path(run_dir) if run_dir else default_run_dir(profile)
        if not root.is_absolute():
            root = find_project_root() / root
        root.mkdir(parents=True, exist_ok=True)
        return cls(root.resolve())

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # 01 caption curation
    @property
    def captions(self) -> Path:
        return self._dir("captions")

    @property
    def curated_parquet(self) -> Path:
        return self.captions / "curated.parquet"

    @property
    def rejected_parquet(self) -> Path:
        return self.captions / "rejected.parquet"

    @property
    def caption_json(self) -> Path:
        """SynthVLM input format ``[{id, caption}]``: what synthesis reads."""
        return self.captions / "captions.json"

    @property
    def funnel_json(self) -> Path:
        return self.captions / "funnel.json"

    # 02 synthesis
    @property
    def synthesis(self) -> Path:
        return self._dir("synthesis")

    @property
    def synthesis_images(self) -> Path:
        return self._dir("synthesis", "images")

    @property
    def synthesis_manifest(self) -> Path:
        return self.synthesis / "manifest.parquet"

    # 03 selection
    @property
    def selection(self) -> Path:
        return self._dir("selection")

    @property
    def scores_parquet(self) -> Path:
        return self.selection / "scores.parquet"

    @property
    def selected_parquet(self) -> Path:
        return self.selection / "selected.parquet"

    @property
    def llava_pretrain_json(self) -> Path:
        return self.selection / "llava_pretrain.json"

    @property
    def llava_image_folder(self) -> Path:
        return self._dir("selection", "images")

    # 04 training
    @property
    def training(self) -> Path:
        return self._dir("training")

    def training_phase_dir(self, phase: int) -> Path:
        """Output folder of LLaVA training phase ``phase`` (1: projector alignment, 2: instruction tuning)."""
        return self._dir("training", f"stage{phase}")

    @property
    def stage1_dir(self) -> Path:
        return self._dir("training", "stage1")

    @property
    def stage2_dir(self) -> Path:
        return self._dir("training", "stage2")

    # 05 evaluation
    @property
    def evaluation(self) -> Path:
        return self._dir("evaluation")

    @property
    def results_csv(self) -> Path:
        return self.evaluation / "results.csv"

    @property
    def results_json(self) -> Path:
        return self.evaluation / "results.json"

    # 06 figures and report
    @property
    def figures(self) -> Path:
        return self._dir("figures")

    @property
    def report_md(self) -> Path:
        return self.root / "reproduce.md"

    @property
    def config_yaml(self) -> Path:
        """The effective config of the last notebook/stage that ran (written by ``prepare_run``)."""
        return self.root / "config.yaml"
