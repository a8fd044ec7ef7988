"""Settings of stage 04 (LLaVA-1.5 training)."""

from synthvlm_repro.stage_config import StageConfig


class TrainingConfig(StageConfig):
    """Model parts and the two-stage recipe (defaults: LLaVA-1.5 7B)."""

    vision_tower: str = "openai/clip-vit-large-patch14-336"
    language_model: str = "lmsys/vicuna-7b-v1.5"
