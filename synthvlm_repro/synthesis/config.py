"""Settings of stage 02 (image synthesis)."""

from typing import Literal

from synthvlm_repro.stage_config import StageConfig


class SynthesisConfig(StageConfig):
    """Diffusion pipeline and generation settings (defaults: the official SDXL config)."""

    model: str = "stabilityai/stable-diffusion-xl-base-1.0"
    refiner: str | None = "stabilityai/stable-diffusion-xl-refiner-1.0"
    high_noise_frac: float = 0.8
    steps: int = 60
    guidance_scale: float = 20.0
    width: int = 1024
    height: int = 1024
    negative_prompt: str = ""
    dtype: Literal["fp16", "bf16", "fp32"] = "fp16"
    batch_size: int = 4
    repeat: int = 1  # candidates per caption (best-of-N)
