"""Load diffusers pipelines from the config and render batches of seeded images.

Any text-to-image pipeline loads through ``AutoPipelineForText2Image`` (SDXL, SD3, ...); the SDXL
refiner follows diffusers' ensemble-of-experts recipe: the base stops at ``denoising_end=f`` and hands
its latents to the refiner, which starts at ``denoising_start=f``. (The official code passes
``denoising_end`` to the refiner, which leaves its schedule to the img2img ``strength`` instead.)
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from synthvlm_repro.models import model_revision, resolve_model
from synthvlm_repro.runtime.dtypes import torch_dtype
from synthvlm_repro.synthesis.batch_invariance import batch_invariant
from synthvlm_repro.synthesis.config import SynthesisConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderSettings:
    """Per-call settings (what a grid search varies and a manifest row records)."""

    steps: int
    guidance_scale: float
    width: int
    height: int
    negative_prompt: str
    high_noise_frac: float
    max_sequence_length: int | None = None

    @classmethod
    def from_config(cls, cfg: SynthesisConfig) -> "RenderSettings":
        return cls(cfg.steps, cfg.guidance_scale, cfg.width, cfg.height, cfg.negative_prompt, cfg.high_noise_frac,
                   cfg.max_sequence_length)


def _accepted(pipe, kwargs: dict) -> dict:
    """Keep only the call arguments this pipeline class takes (SDXL, SD3, ... differ)."""
    params = inspect.signature(type(pipe).__call__).parameters
    return {k: v for k, v in kwargs.items() if k in params and v is not None}


def _generators(seeds: list[int]) -> list[torch.Generator]:
    # CPU generators: the initial noise is then the same on CPU and on any GPU (diffusers' advice).
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


class ImageGenerator:
    """A base pipeline, an optional refiner, and the code that renders one batch with one generator per image."""

    def __init__(self, pipe, refiner=None, settings: RenderSettings | None = None, vae_upcast: bool | None = None,
                 batch_invariant: bool = True):
        from diffusers.utils import logging as diffusers_logging

        # The CLIP encoders cut captions at 77 tokens (as in the paper); one warning per batch is noise.
        diffusers_logging.set_verbosity_error()
        self.pipe, self.refiner = pipe, refiner
        self.settings = settings
        self.vae_upcast = vae_upcast
        self.batch_invariant = batch_invariant  # on CPU: same bytes whatever the batch (batch_invariance.py)
        for p in (pipe, refiner):
            if p is not None:
                p.set_progress_bar_config(disable=True)

    @classmethod
    def from_config(cls, cfg: SynthesisConfig, device: str = "cpu", use_refiner: bool = True) -> "ImageGenerator":
        """Load the configured pipelines onto ``device`` with the configured dtype, VAE, scheduler, attention."""
        from diffusers import AutoencoderKL, AutoPipelineForText2Image, DiffusionPipeline

        dtype = torch_dtype(cfg.dtype)
        extra = {name: None for name in cfg.drop_components}
        if cfg.vae:
            extra["vae"] = AutoencoderKL.from_pretrained(resolve_model(cfg.vae), dtype=dtype)
        pipe = AutoPipelineForText2Image.from_pretrained(resolve_model(cfg.model), dtype=dtype, variant=cfg.variant,
                                                         **extra)
        refiner = None
        if use_refiner and cfg.refiner:
            refiner = DiffusionPipeline.from_pretrained(resolve_model(cfg.refiner), dtype=dtype, variant=cfg.variant,
                                                        **({"vae": extra["vae"]} if cfg.vae else {}))
        for p in (pipe, refiner):
            if p is not None:
                _configure(p, cfg, device)
        return cls(pipe, refiner, RenderSettings.from_config(cfg), cfg.vae_upcast, cfg.batch_invariant)

    def render(self, prompts: list[str], seeds: list[int], settings: RenderSettings | None = None,
               vae_upcast: bool | None = None) -> np.ndarray:
        """Float images ``[B, H, W, 3]`` in [0, 1] (NaN kept, so broken decodes can be detected)."""
        s = settings or self.settings
        upcast = self.vae_upcast if vae_upcast is None else vae_upcast
        n = len(prompts)
        call = dict(prompt=list(prompts), negative_prompt=[s.negative_prompt] * n, num_inference_steps=s.steps,
                    guidance_scale=s.guidance_scale, width=s.width, height=s.height,
                    max_sequence_length=s.max_sequence_length)
        with torch.inference_mode(), batch_invariant(self.pipe.device, self.batch_invariant):
            if self.refiner is None:
                with _vae_upcast(self.pipe, upcast):
                    out = self.pipe(**_accepted(self.pipe, {**call, "generator": _generators(seeds),
                                                            "output_type": "np"}))
                return np.asarray(out.images, dtype=np.float32)
            latents = self.pipe(**_accepted(self.pipe, {**call, "generator": _generators(seeds),
                                                        "denoising_end": s.high_noise_frac,
                                                        "output_type": "latent"})).images
            refine = {k: v for k, v in call.items() if k not in ("width", "height")}
            with _vae_upcast(self.refiner, upcast):
                out = self.refiner(**_accepted(self.refiner, {**refine, "image": latents,
                                                              "denoising_start": s.high_noise_frac,
                                                              "generator": _generators(seeds), "output_type": "np"}))
            return np.asarray(out.images, dtype=np.float32)

    def with_settings(self, **changes) -> RenderSettings:
        return replace(self.settings, **changes)


def _configure(pipe, cfg: SynthesisConfig, device: str) -> None:
    import diffusers

    if cfg.scheduler:
        scheduler_cls = getattr(diffusers, cfg.scheduler, None)
        if scheduler_cls is None or not hasattr(scheduler_cls, "from_config"):
            raise ValueError(f"synthesis.scheduler: {cfg.scheduler!r} is not a diffusers scheduler class")
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if cfg.attention == "classic" and hasattr(denoiser, "set_default_attn_processor"):
        from diffusers.models.attention_processor import AttnProcessor

        denoiser.set_attn_processor(AttnProcessor())
    pipe.to(device)
    if cfg.compile:
        compile_denoiser(pipe)


def compile_denoiser(pipe, mode: str = "max-autotune-no-cudagraphs") -> None:
    """``torch.compile`` the UNet (or DiT) in channels-last layout; compiling takes minutes, once per process."""
    name = "unet" if getattr(pipe, "unet", None) is not None else "transformer"
    denoiser = getattr(pipe, name, None)
    if denoiser is None:
        return
    denoiser.to(memory_format=torch.channels_last)
    setattr(pipe, name, torch.compile(denoiser, mode=mode))


class _vae_upcast:
    """Temporarily set the VAE's ``force_upcast`` (SDXL pipelines decode in fp32 when it is set)."""

    def __init__(self, pipe, upcast: bool | None):
        self.vae = getattr(pipe, "vae", None)
        self.upcast = upcast

    def __enter__(self):
        if self.vae is None or self.upcast is None or not hasattr(self.vae.config, "force_upcast"):
            self.vae = None
            return
        self.saved = self.vae.config.force_upcast
        self.vae.register_to_config(force_upcast=self.upcast)

    def __exit__(self, *exc):
        if self.vae is not None:
            self.vae.register_to_config(force_upcast=self.saved)


def model_identity(cfg: SynthesisConfig) -> dict:
    """Model ids and weight revisions for the manifest."""
    return {"model": cfg.model, "model_revision": model_revision(cfg.model),
            "refiner": cfg.refiner or "", "refiner_revision": model_revision(cfg.refiner),
            "vae": cfg.vae or "", "vae_revision": model_revision(cfg.vae)}
