"""Settings of stage 03 (CLIPScore + SSIM selection)."""

from synthvlm_repro.stage_config import StageConfig


class SelectionConfig(StageConfig):
    """Scoring model and selection rule (defaults: the paper's)."""

    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "openai"
    ssim_weight: float = 0.5  # the paper's lambda
    top_k: int | None = 100_000
    batch_size: int = 64
