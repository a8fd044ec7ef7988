"""Settings of stage 02 (image synthesis)."""

from typing import Annotated, Literal

from pydantic import Field

from synthvlm_repro.stage_config import Limit, StageConfig


class SynthesisConfig(StageConfig):
    """Diffusion pipeline and generation settings (defaults: the official SDXL config).

    The official ``configs/stable_diffusion_xl.json`` fixes model, refiner, 60 steps, guidance 20,
    high-noise fraction 0.8, 1024², empty negative prompt and fp16 (``../shared/reference/paper.md`` §1.3).
    """

    # pipelines
    model: str = "stabilityai/stable-diffusion-xl-base-1.0"  # any diffusers text-to-image pipeline (id or dir)
    refiner: str | None = "stabilityai/stable-diffusion-xl-refiner-1.0"  # None: base only
    high_noise_frac: float = Field(0.8, gt=0.0, lt=1.0)  # base denoising_end = refiner denoising_start
    vae: str | None = None  # separate VAE (e.g. madebyollin/sdxl-vae-fp16-fix); None: the pipeline's own
    vae_upcast: bool | None = None  # decode in fp32; None: as the VAE's config says (force_upcast)
    scheduler: str | None = None  # diffusers scheduler class name, e.g. DPMSolverMultistepScheduler
    dtype: Literal["fp16", "bf16", "fp32"] = "fp16"
    variant: str | None = None  # weight-file variant to download, e.g. "fp16" (official code)
    attention: Literal["sdpa", "classic"] = "sdpa"  # sdpa: torch's fused attention; classic: bmm (slower)
    compile: bool = False  # torch.compile the UNet/transformer (pays off after the first batches)
    max_sequence_length: int | None = None  # T5 tokens for SD3 (official: 512); None: pipeline default
    drop_components: list[str] = []  # load these as None, e.g. [text_encoder_3, tokenizer_3]: SD3 without T5

    # generation
    steps: int = Field(60, ge=1)
    guidance_scale: float = Field(20.0, ge=0)
    width: int = Field(1024, ge=8)
    height: int = Field(1024, ge=8)
    negative_prompt: str = ""
    batch_size: int = Field(4, ge=1)  # images per pipeline call; part of the byte-level determinism contract
    # CPU only: run linear/conv/group-norm one image at a time, so an image's bytes do not depend on its batch
    # (x2.6 slower at 64 px, x1.1-1.25 at 256 px on a mid-size SDXL; no effect on CUDA: synthesis/batch_invariance.py)
    batch_invariant: bool = True
    repeat: int = Field(1, ge=1)  # candidates per caption (best-of-N, official run.sh: 5)
    limit: Limit | None = None  # only the first N captions (None: all)

    # output
    image_format: Literal["jpg", "png", "webp"] = "jpg"
    jpeg_quality: int = Field(95, ge=1, le=100)
    webdataset: bool = False  # also write WebDataset tar shards (synthesis/wds/) after the merge
    webdataset_shard_size: int = Field(10_000, ge=1)

    # broken outputs (NaN / black / near-constant images)
    broken_min_std: float = Field(2.0, ge=0)  # uint8 pixel std below which an image counts as near-constant
    retry_broken_with_upcast: bool = True  # regenerate broken images once with the VAE in fp32

    # grid search (paper appendix §2.1: settings chosen on 1k captions by CLIPScore)
    run_grid: bool = True  # the stage's run also sweeps the grid below (synthesis/grid.parquet + heatmap)
    grid_captions: int = Field(1000, ge=1)
    grid_steps: list[Annotated[int, Field(ge=1)]] = [30, 45, 60]
    grid_guidance: list[Annotated[float, Field(ge=0)]] = [5.0, 7.5, 10.0, 20.0]
    grid_refiner: list[bool] = [False, True]
