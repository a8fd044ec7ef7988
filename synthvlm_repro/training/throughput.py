"""Training throughput switches: LLaVA's modality-length-grouped batches, attention kernel, fused kernels.

Every switch here either leaves the losses unchanged (attention kernel, gradient checkpointing,
``torch.compile``, liger-kernel up to float rounding) or only reorders the samples of an epoch
(``group_by_modality_length``); tests/test_training_throughput.py checks both on the tiny model.
"""

from __future__ import annotations

import importlib.util
from typing import Sequence

import torch


def modality_length_grouped_indices(lengths: Sequence[int], has_image: Sequence[bool], batch_size: int,
                                    world_size: int, generator: torch.Generator) -> list[int]:
    """One epoch's sample order with LLaVA's ``group_by_modality_length`` semantics.

    Written here because transformers' ``LengthGroupedSampler`` mixes image and text-only rows.
    Image rows and text-only rows are shuffled separately and cut into megabatches of
    ``batch_size × world_size``; each megabatch is sorted longest first and dealt to the ranks so their
    token totals stay close (so every step's batches hold similar lengths and one modality). Full
    megabatches are then shuffled together; the two incomplete ones (if any) end the epoch.
    """
    megabatch = batch_size * world_size
    full, rest = [], []
    for modality in (True, False):
        members = [i for i, m in enumerate(has_image) if bool(m) == modality]
        if not members:
            continue
        shuffled = [members[k] for k in torch.randperm(len(members), generator=generator).tolist()]
        for start in range(0, len(shuffled), megabatch):
            chunk = sorted(shuffled[start:start + megabatch], key=lambda i: -lengths[i])
            (full if len(chunk) == megabatch else rest).append(_deal_to_ranks(chunk, lengths, world_size, batch_size))
    order = torch.randperm(len(full), generator=generator).tolist()
    return [i for k in order for i in full[k]] + [i for chunk in rest for i in chunk]


def _deal_to_ranks(chunk: list[int], lengths: Sequence[int], world_size: int, batch_size: int) -> list[int]:
    """Longest-first greedy deal of a sorted megabatch into ``world_size`` batches (rank r's batch is the
    r-th consecutive slice, as accelerate hands batches to ranks), balancing total lengths."""
    if world_size == 1:
        return chunk
    slots = [[] for _ in range(world_size)]
    totals = [0] * world_size
    for i in chunk:
        r = min((r for r in range(world_size) if len(slots[r]) < batch_size), key=totals.__getitem__)
        slots[r].append(i)
        totals[r] += lengths[i]
    return [i for s in slots for i in s]


class ModalityLengthGroupedSampler(torch.utils.data.Sampler):
    """Sampler over a whole dataset (before accelerate shards its batches), reseeded every epoch."""

    def __init__(self, lengths: Sequence[int], has_image: Sequence[bool], batch_size: int, world_size: int,
                 seed: int):
        if len(lengths) != len(has_image):
            raise ValueError("lengths and has_image must have one entry per sample")
        self.lengths, self.has_image = list(lengths), list(has_image)
        self.batch_size, self.world_size, self.seed, self.epoch = batch_size, world_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(modality_length_grouped_indices(self.lengths, self.has_image, self.batch_size,
                                                    self.world_size, generator))


def sampler_for(dataset, per_device_batch: int, world_size: int, seed: int) -> ModalityLengthGroupedSampler:
    """The grouped sampler of a ``LlavaDataset`` (lengths: words + image tokens, without tokenising)."""
    return ModalityLengthGroupedSampler(dataset.lengths(), ["image" in r for r in dataset.rows], per_device_batch,
                                        world_size, seed)


def check_fused_kernels(fused_kernels: str, on_gpu: bool) -> bool:
    """True when liger-kernel should be applied; a clear one-line error when it cannot be."""
    if fused_kernels == "none":
        return False
    if importlib.util.find_spec("liger_kernel") is None:
        raise ValueError("training.fused_kernels=liger needs liger-kernel (pip install liger-kernel), "
                         "or set training.fused_kernels=none")
    if not on_gpu:
        raise ValueError("training.fused_kernels=liger runs Triton kernels on CUDA only; set it to none on CPU")
    return True


def set_attention(model, attn_implementation: str | None) -> None:
    """Switch every sub-model (vision tower, LM) to ``attn_implementation`` (None keeps the loaded one)."""
    if attn_implementation is None:
        return
    if attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ValueError("training.attn_implementation=flash_attention_2 needs flash-attn; use sdpa instead")
    model.set_attn_implementation(attn_implementation)
