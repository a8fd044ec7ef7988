"""Settings of stage 06 (figures and report)."""

from synthvlm_repro.stage_config import StageConfig


class FiguresConfig(StageConfig):
    """Where figures go and how they look."""

    output_dir: str = "figures"
    dpi: int = 150
