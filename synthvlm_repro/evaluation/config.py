"""Settings of stage 05 (benchmarks and MMLU)."""

from synthvlm_repro.stage_config import StageConfig


class EvaluationConfig(StageConfig):
    """Which benchmarks to run and from where."""

    benchmarks: list[str] = ["gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2"]
