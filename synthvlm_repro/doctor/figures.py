"""Per-unit figures the doctor's estimates are built from, each with its source.

Measured figures come from ``bench/RESULTS.md`` (NVIDIA H200, bench/results/*.json); the rest are marked
``estimate`` with the arithmetic they rest on. The doctor shows every figure it used next to its table, so a
number is never more certain than what it came from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str


LLAVA_7B_PARAMS = 7_063_427_072  # bench/results/train_cuda_7b.json "params"
PAPER_CURATED_CAPTIONS = 1_000_000  # paper.md §1.1: the curated pool is 1M captions

FIGURES: dict[str, Figure] = {
    "rule_filters": Figure(69_364, "captions/s, curation rule filters, 2 CPU processes",
                           "bench/RESULTS.md stage 01"),
    "synthesis": Figure(0.45, "images/s per H200, SDXL base+refiner, 60 steps, 1024², torch.compile",
                        "bench/RESULTS.md stage 02 (cost at the paper's settings)"),
    "scoring": Figure(207.7, "pairs/s per H200, CLIP ViT-B/32 + SSIM on 1024² JPEGs",
                      "bench/RESULTS.md stage 03"),
    "train_phase1": Figure(17.74, "samples/s per H200, LLaVA-1.5-7B projector-only, bf16, grad ckpt",
                           "bench/RESULTS.md stage 04"),
    "train_phase1_peak": Figure(28.3, "GiB peak per GPU at per-device batch 32 (641 tokens)",
                                "bench/RESULTS.md stage 04"),
    "train_phase2": Figure(80.0, "A100-40G hours, LLaVA-1.5-7B phase 2 (its stage 2) on 665K (8 GPUs x ~10 h)",
                           "anchors.md §A1 (LLaVA README)"),
    "jpeg_bytes_per_pixel": Figure(0.375, "bytes/pixel of a quality-95 JPEG photograph (3 bits/pixel)",
                                   "estimate (typical JPEG q90-95 rate; not measured here)"),
    "png_bytes_per_pixel": Figure(1.5, "bytes/pixel of a PNG photograph", "estimate (not measured here)"),
    "webp_bytes_per_pixel": Figure(0.25, "bytes/pixel of a WebP photograph", "estimate (not measured here)"),
}

# GPU memory per stage: (GiB, basis, models the figure is for). Figures for other models are not guessed.
SDXL = ("stabilityai/stable-diffusion-xl-base-1.0",)
VICUNA_7B = ("lmsys/vicuna-7b-v1.5",)
LLAVA_7B = ("llava-hf/llava-1.5-7b-hf",)
JUDGE_70B = ("meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
             "meta-llama/Llama-3.3-70B-Instruct")


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def sdxl_gib(batch_size: int, pixels: int, refiner: bool) -> float:
    """SDXL fp16: base (UNet 2.6B + text encoders 0.8B + VAE) ≈ 6.5 GiB, refiner UNet 2.3B ≈ 4.3 GiB, plus an
    assumed 1.5 GiB of activations per 1024² image in the batch (SDPA attention). An estimate, not measured."""
    return 6.5 + (4.3 if refiner else 0.0) + 1.5 * batch_size * pixels / 1024**2


def phase1_gib(per_device_batch: int) -> float:
    """Measured 28.3 GiB at batch 32: bf16 weights (2 B/param) + activations scaled per sample."""
    weights = gib(2 * LLAVA_7B_PARAMS)
    per_sample = (FIGURES["train_phase1_peak"].value - weights) / 32
    return weights + per_sample * per_device_batch


def phase2_gib(per_device_batch: int, n_gpus: int, max_length: int) -> float:
    """ZeRO-3: 16 B/param (bf16 weights + grads, fp32 Adam states and master weights) sharded over the GPUs,
    plus the stage-1 activation figure scaled to the batch and sequence length. An estimate."""
    weights = gib(2 * LLAVA_7B_PARAMS)
    per_sample = (FIGURES["train_phase1_peak"].value - weights) / 32 * (max_length / 641)
    return gib(16 * LLAVA_7B_PARAMS) / max(n_gpus, 1) + per_sample * per_device_batch


def checkpoint_bytes(full_optimizer: bool) -> float:
    """A 7B llava-hf checkpoint in bf16 (2 B/param), with Adam's fp32 states (12 B/param) when the LM trains."""
    return LLAVA_7B_PARAMS * (2 + (12 if full_optimizer else 0))
