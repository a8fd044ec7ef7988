"""Settings of stage 03 (CLIPScore + SSIM selection)."""

from typing import Literal

from pydantic import Field, model_validator

from synthvlm_repro.stage_config import FiniteFloat, StageConfig


class SelectionConfig(StageConfig):
    """Scoring model, SSIM geometry, selection rule and outputs (defaults: the paper's)."""

    # CLIPScore (Hessel et al., as in the official clipscore.py): open_clip name + pretrained tag, or a
    # local hub-style dir / tiny:<name> with clip_pretrained null.
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "openai"
    caption_prefix: str = "A photo depicts "
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: fp16 on CUDA, fp32 on CPU
    # SSIM as the author's calc_ssim.py: resize to ssim_size (A), down to ssim_low_size and back up (B).
    ssim_size: int = Field(768, ge=7)
    ssim_low_size: int = Field(336, ge=1)
    # torch: batched on the device (main process); skimage: per image in the DataLoader workers;
    # auto: torch on CUDA, skimage on CPU
    ssim_backend: Literal["auto", "torch", "skimage"] = "auto"
    # Candidates whose per-channel pixel std (0-255) is at most this are status 'blank' and never selected:
    # a flat image has a perfect round trip (SSIM 1.0) and would otherwise rank first.
    blank_max_std: float = Field(2.0, ge=0)
    # cpu: PIL decode in DataLoader workers; gpu: batched nvJPEG + tensor resizes on the CUDA scoring device
    # (selection/gpu_decode.py; scores within ~1e-3 of cpu, see bench/RESULTS.md; SSIM then runs in torch)
    decode: Literal["cpu", "gpu"] = "cpu"
    # Selection: score = clip_score + ssim_weight * ssim (0 reproduces the official CLIP-only rule).
    ssim_weight: float = 0.5  # the paper's lambda
    # Further scores by name (selection/scorer.py SCORERS) → weight added to the score: e.g. {sharpness: 0.01}.
    # Empty: the paper's rule. Each one adds its column to scores.parquet and enters the settings hash.
    extra_scores: dict[str, FiniteFloat] = Field(default_factory=dict)
    strategy: Literal["score", "random"] = "score"  # random: the ablation baseline, seeded
    best_per_caption: bool = True  # keep the best of the N candidates of each caption
    top_k: int | None = Field(100_000, ge=1)
    top_fraction: float | None = Field(None, gt=0, le=1)  # used when top_k is null
    # Throughput.
    batch_size: int = Field(64, ge=1)
    num_workers: int | None = Field(None, ge=0)  # DataLoader workers; None: the node's cores / local ranks
    chunk_size: int = Field(4096, ge=1)  # rows per resumable part file
    # Outputs.
    image_link: Literal["hardlink", "copy", "symlink"] = "hardlink"  # how selection/images/ is filled
    # Quality report: an optional real image-caption set scored the same way (LLaVA JSON or COCO captions).
    quality_dataset: str | None = None
    quality_image_dir: str | None = None
    quality_limit: int | None = Field(1000, ge=1)  # a seeded sample of that many pairs

    @model_validator(mode="after")
    def _check(self):
        if self.ssim_low_size >= self.ssim_size:
            raise ValueError("ssim_low_size must be smaller than ssim_size")
        from synthvlm_repro.selection.scorer import PAPER_SCORERS, SCORERS

        for name in self.extra_scores:
            if name in PAPER_SCORERS:
                raise ValueError(f"extra_scores: {name!r} is always scored (its weight is 1 for clip_score, "
                                 "ssim_weight for ssim)")
            if name not in SCORERS:
                raise ValueError(f"extra_scores: unknown score {name!r}; registered: {', '.join(SCORERS)}")
        return self
