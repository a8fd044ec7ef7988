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
    """The documented artifact layout of one run directory: every file or folder a stage reads or
    writes under the run dir has a name here, and nothing else builds run-dir paths by hand
    (``tests/test_run_paths_contract.py`` checks the package source for that).

    Reading a path never touches the disk: writers create their parent folders (the writers of
    ``synthvlm_repro/atomic.py`` do), so a look at ``paths.figures`` leaves no empty folder behind.
    """

    root: Path

    @classmethod
    def for_run(cls, run_dir: str | os.PathLike | None, profile: str = "smoke") -> "RunPaths":
        """Paths of ``run_dir`` (created), or of the profile's default run dir."""
        root = Path(run_dir) if run_dir else default_run_dir(profile)
        if not root.is_absolute():
            root = find_project_root() / root
        root.mkdir(parents=True, exist_ok=True)
        return cls(root.resolve())

    # 01 caption curation
    @property
    def captions(self) -> Path:
        return self.root / "captions"

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

    @property
    def curation_cache(self) -> Path:
        """Per-step score caches of the model filters (resumable)."""
        return self.captions / "cache"

    def curation_shard_json(self, shard_name: str) -> Path:
        """One curation shard's surviving rows (merged into the outputs above)."""
        return self.captions / "shards" / f"{shard_name}.json"

    # 02 synthesis
    @property
    def synthesis(self) -> Path:
        return self.root / "synthesis"

    @property
    def synthesis_images(self) -> Path:
        return self.synthesis / "images"

    @property
    def synthesis_manifest(self) -> Path:
        return self.synthesis / "manifest.parquet"

    @property
    def synthesis_parts(self) -> Path:
        """Per-shard journals and done markers, merged into the manifest."""
        return self.synthesis / "parts"

    def synthesis_journal(self, shard_name: str) -> Path:
        """The append-only journal of one synthesis shard (``parts/<shard>.jsonl``)."""
        return self.synthesis_parts / f"{shard_name}.jsonl"

    @property
    def synthesis_webdataset(self) -> Path:
        return self.synthesis / "wds"

    @property
    def synthesis_grid_parquet(self) -> Path:
        """The generation-settings grid search (``synthvlm-repro synthesize grid``)."""
        return self.synthesis / "grid.parquet"

    @property
    def synthesis_launch_log(self) -> Path:
        """Log of a detached multi-GPU synthesis job."""
        return self.synthesis / "launch.log"

    @property
    def synthesis_launch_record(self) -> Path:
        """``launch.json`` of a detached synthesis job (its pid; what a re-attach reads)."""
        return self.synthesis / "launch.json"

    @property
    def synthesis_launch_config(self) -> Path:
        """The effective config a detached synthesis job started with."""
        return self.synthesis / "launch_config.yaml"

    # 03 selection
    @property
    def selection(self) -> Path:
        return self.root / "selection"

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
        return self.selection / "images"

    def score_parts_dir(self, fingerprint: str) -> Path:
        """Resumable score part files of one scoring-settings hash."""
        return self.selection / "score_parts" / fingerprint

    @property
    def quality_dir(self) -> Path:
        """Scores of real image-caption sets (the data-quality table's rows)."""
        return self.selection / "quality"

    def quality_scores_parquet(self, name: str) -> Path:
        return self.quality_dir / f"{name}.parquet"

    def quality_parts_dir(self, name: str, fingerprint: str) -> Path:
        return self.quality_dir / f"{name}-{fingerprint}"

    @property
    def quality_table_csv(self) -> Path:
        return self.selection / "quality_table.csv"

    # 04 training (LLaVA's two training phases)
    @property
    def training(self) -> Path:
        return self.root / "training"

    def training_phase_dir(self, phase: int) -> Path:
        """Output folder of LLaVA training phase ``phase`` (1: projector alignment, 2: instruction tuning)."""
        if phase not in (1, 2):
            raise ValueError(f"training phase must be 1 or 2, got {phase!r}")
        return self.training / f"phase{phase}"

    def training_final_dir(self, phase: int) -> Path:
        """The saved llava-hf model + processor of a finished phase."""
        return self.training_phase_dir(phase) / "final"

    def training_checkpoints(self, phase: int) -> Path:
        """Trainer's resumable ``checkpoint-<step>`` folders."""
        return self.training_phase_dir(phase) / "checkpoints"

    def training_log_history(self, phase: int) -> Path:
        return self.training_phase_dir(phase) / "log_history.json"

    def training_label_check(self, phase: int) -> Path:
        return self.training_phase_dir(phase) / "label_check.json"

    def training_launch_record(self, phase: int) -> Path:
        """pid and command of a detached torchrun/accelerate job (for re-attaching)."""
        return self.training_phase_dir(phase) / "launch.json"

    def training_launch_log(self, phase: int) -> Path:
        return self.training_phase_dir(phase) / "train.log"

    def training_launch_config(self, phase: int) -> Path:
        """The effective profile a detached job's workers load."""
        return self.training_phase_dir(phase) / "launch_config.yaml"

    @property
    def phase2_sample_mix(self) -> Path:
        """The tiny instruction mix built from the sample data (``training.phase2_data: sample-mix``)."""
        return self.training / "phase2_data"

    # 05 evaluation
    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def results_csv(self) -> Path:
        return self.evaluation / "results.csv"

    @property
    def results_json(self) -> Path:
        return self.evaluation / "results.json"

    @property
    def evaluation_fixtures(self) -> Path:
        """The kit's tiny benchmark sets (``evaluation.fixtures: true``)."""
        return self.evaluation / "fixtures"

    @property
    def evaluation_answers(self) -> Path:
        """Answer JSONL files per benchmark and split (shards, then merged)."""
        return self.evaluation / "answers"

    @property
    def evaluation_answer_settings(self) -> Path:
        """The model and decoding settings the answers were made with (a resume must match)."""
        return self.evaluation_answers / "settings.json"

    @property
    def evaluation_submissions(self) -> Path:
        """Upload files for the benchmarks scored by an evaluation server."""
        return self.evaluation / "submissions"

    @property
    def evaluation_mmlu(self) -> Path:
        """lm-eval's MMLU work folder (converted data, task YAMLs, results)."""
        return self.evaluation / "mmlu"

    @property
    def evaluation_mmlu_language_model(self) -> Path:
        """The checkpoint's language model alone, as a causal LM lm-eval can load."""
        return self.evaluation_mmlu / "language_model"

    @property
    def evaluation_lmms_eval(self) -> Path:
        return self.evaluation / "lmms_eval"

    # 06 figures and report
    @property
    def figures(self) -> Path:
        """The run's own figures (each stage's plots); the paper figures go to ``figures.output_dir``."""
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        """A run figure without suffix (``save_figure`` adds ``.png`` / ``.pdf``)."""
        return self.figures / name

    @property
    def preference(self) -> Path:
        """Judgments of synthetic vs original pairs, one JSONL file per judge."""
        return self.root / "preference"

    def judgments_jsonl(self, judge: str) -> Path:
        """``preference/<judge as a file name>.jsonl``."""
        return self.preference / (re.sub(r"[^A-Za-z0-9._-]+", "_", judge).strip("_") + ".jsonl")

    @property
    def report_md(self) -> Path:
        return self.root / "reproduce.md"

    @property
    def config_yaml(self) -> Path:
        """The effective config each stage ran with, one section per stage (``RunContext.record_stage_config``)."""
        return self.root / "config.yaml"

    # the toy experiment (configs/toy.yaml, notebook 07)
    @property
    def toy_experiment(self) -> Path:
        """Root of the toy experiment: one run dir per arm and seed, plus its tables and report."""
        return self.root / "toy_experiment"

    def toy_arm_run(self, arm: str, seed: int) -> "RunPaths":
        """The run dir of one toy arm (a full pipeline run of its own)."""
        return RunPaths(self.toy_experiment / f"{arm}-s{seed}")

    @property
    def toy_judged_csv(self) -> Path:
        """In a toy arm's run dir: the attribute judge's verdict on each training pair."""
        return self.root / "judged.csv"

    @property
    def toy_timing_json(self) -> Path:
        return self.toy_experiment / "timing.json"

    @property
    def toy_runs_csv(self) -> Path:
        """One row per arm and seed: headline scores and judged precision."""
        return self.toy_experiment / "runs.csv"

    @property
    def toy_arms_png(self) -> Path:
        return self.toy_experiment / "arms.png"

    @property
    def toy_report_md(self) -> Path:
        return self.toy_experiment / "report.md"
