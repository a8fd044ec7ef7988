"""Batch-size-invariant CPU inference: an image's bytes do not depend on which batch it was rendered in.

Measured on the tiny SDXL base + refiner (fp32, torch 2.14, MKL + oneDNN 3.12, 1 and 2 threads):
rendering an item alone or inside a batch of 3 or 8 changes its float pixels by up to ~5e-6, enough to
flip JPEG bytes. Three kinds of op are to blame, found by comparing every module's output row by row:

* ``F.linear`` on 2-D inputs with few rows (CLIP's ``text_projection`` on pooled embeddings, the UNet's
  time/add embeddings: M = 2 x batch with guidance): MKL's sgemm rounds differently for M=2 and M=6
  (first difference ~2e-7, even with oneDNN disabled).
* Convolutions through oneDNN: batch 1 and batch >1 take different kernels (~3e-5 on a random 3x3 conv).
  Disabling oneDNN (``torch.backends.mkldnn.flags(enabled=False)``) is not enough: the slow_conv2d path
  still differs at batch 8 (~2e-5 on the pipeline's pixels).
* ``F.group_norm`` on channels-last tensors: the kernel picks its memory-format path from the strides,
  and a batch-1 tensor's size-1 batch stride depends on how it was made (the VAE's mid-block attention
  output), so the same values are normalised by two different kernels (~5e-7).

Attention (SDPA, and bmm/baddbmm for the classic processor), layer norm, softmax, elementwise ops and the
scheduler compute each batch row on its own and were bit-identical across batch sizes;
``torch.use_deterministic_algorithms`` changes none of the above.

:class:`BatchInvariantCPU` therefore runs exactly these three ops one sample at a time (2-D linear: one row
at a time) on contiguous slices, so every image meets the same kernels with the same shapes whatever its
batch or its position in it. With it the tiny pipeline (text encoders, UNet, scheduler, refiner, VAE) gives
bit-identical images for batch 1, 3 and 8 and for shuffled batches, with SDPA or classic attention, at 1
and 2 threads. Cost per batch of 8 (2 threads, fp32, 4 steps; ``bench/synthesis_bench.py``'s mid-size
SDXL-shaped model): 64 px 0.67 -> 1.75 s (x2.6), 128 px 1.5 -> 2.5 s (x1.65), 256 px (batch 4) 2.5-3.0 ->
3.1 s (x1.05-1.25): a fixed per-op overhead that real-size images amortise. The tiny smoke pipeline: ~x2,
a second or two per smoke run. Running only 2-D linears row by row (3-D ones batched) happened to be
invariant too and ~20% cheaper, but nothing promises that MKL treats every row block of a tall matrix alike
on every core count, so all linears go one sample at a time. The thread count still matters (1 vs 2 threads
differ by ~4e-7), so byte identity holds for a fixed thread count and CPU kind, as before.

On CUDA nothing is changed: cuBLAS and cuDNN pick algorithms (and split-K reductions) per shape,
batch included, and ``torch.backends.cudnn.deterministic`` / ``use_deterministic_algorithms`` only promise
the same result for the same shapes, not across batch sizes. So on a GPU an image is byte-identical for a
given ``batch_size`` whatever the shard count, rank or resume point, and changes only by float rounding
across batch sizes (``batch_size`` is part of the settings hash for that reason).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_ROWWISE = {F.linear, torch._C._nn.linear}  # 2-D input: one row at a time; N-D: one sample at a time
_PER_SAMPLE_4D = {F.conv2d, torch.conv2d, F.conv_transpose2d, torch.conv_transpose2d}
_PER_SAMPLE = {F.group_norm, torch.group_norm}


class BatchInvariantCPU(TorchFunctionMode):
    """Run the batch-size-sensitive CPU ops (linear, conv2d, group norm) one sample at a time."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if args and isinstance(args[0], torch.Tensor) and self._split(func, args[0]) and args[0].shape[0] > 1:
            x = args[0]
            return torch.cat([func(x[i:i + 1].contiguous(), *args[1:], **kwargs) for i in range(x.shape[0])])
        return func(*args, **kwargs)

    @staticmethod
    def _split(func, x: torch.Tensor) -> bool:
        if func in _ROWWISE:
            return x.dim() >= 2
        if func in _PER_SAMPLE_4D:
            return x.dim() == 4
        return func in _PER_SAMPLE and x.dim() >= 2


def batch_invariant(device: torch.device | str, enabled: bool = True):
    """:class:`BatchInvariantCPU` on CPU when ``enabled``; a no-op elsewhere (see the module docstring)."""
    if enabled and torch.device(device).type == "cpu":
        return BatchInvariantCPU()
    return contextlib.nullcontext()
