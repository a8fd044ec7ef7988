"""SSIM between an image and its low-resolution round trip, as the author's ``calc_ssim.py`` computes it.

The author's code (Better_Synth_VLM, paper.md §1.4): resize to 768×768 bilinear (A); resize A to
336×336 and back to 768×768 bilinear (B); both to grayscale (PIL 'L'); skimage's
``structural_similarity`` with its defaults (7×7 uniform window, sample covariance, data range 255).
High SSIM means little detail is lost at the 336-px input of LLaVA-1.5's vision tower.

:func:`ssim_batch` is the same formula for a batch of image pairs in torch (skimage has no batched or
GPU version; torchmetrics' SSIM defaults to a Gaussian window and differs from skimage's). The uniform
window uses ``avg_pool2d`` without padding: skimage filters the whole image but then averages only the
interior (a 3-px border is cropped), which is exactly the windows that fit inside the image.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import numpy as np
from PIL import Image

WIN_SIZE = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


def round_trip_pair(image: Image.Image, size: int = 768, low_size: int = 336) -> tuple[np.ndarray, np.ndarray]:
    """The author's (A, B) uint8 grayscale arrays: A = image at ``size``; B = A via ``low_size`` and back."""
    a = image.resize((size, size), Image.BILINEAR)
    b = a.resize((low_size, low_size), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    return np.asarray(a.convert("L")), np.asarray(b.convert("L"))


def ssim_skimage(image: Image.Image, size: int = 768, low_size: int = 336) -> float:
    """The reference: skimage's SSIM of the round-trip pair, one image at a time (as calc_ssim.py)."""
    from skimage.metrics import structural_similarity

    a, b = round_trip_pair(image, size, low_size)
    return float(structural_similarity(a, b))


def ssim_batch(a, b, dtype=None):
    """Mean SSIM of each pair in uint8 (or float, range 0–255) tensors of shape ``(N, H, W)``.

    Computed in float64 by default (like skimage), which keeps the result within 1e-10 of skimage;
    float32 is faster on GPUs without fast fp64 and stays within ~1e-4.
    """
    import torch
    import torch.nn.functional as F

    dtype = dtype or torch.float64
    x = a.to(dtype).unsqueeze(1)
    y = b.to(dtype).unsqueeze(1)
    n_pixels = WIN_SIZE * WIN_SIZE
    cov_norm = n_pixels / (n_pixels - 1)

    def window_mean(t):
        return F.avg_pool2d(t, WIN_SIZE, stride=1)

    ux, uy = window_mean(x), window_mean(y)
    vx = cov_norm * (window_mean(x * x) - ux * ux)
    vy = cov_norm * (window_mean(y * y) - uy * uy)
    vxy = cov_norm * (window_mean(x * y) - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1, dtype=torch.float64)


def _ssim_input(image: Image.Image, size: int, low_size: int, in_worker: bool):
    """In a DataLoader worker: the SSIM itself (skimage backend) or the stacked round-trip pair ``(2, H, W)``."""
    if in_worker:
        return ssim_skimage(image, size, low_size)
    return np.stack(round_trip_pair(image, size, low_size))


class SsimScore:
    """SSIM of the 768→336→768 round trip behind the :class:`~synthvlm_repro.selection.scorer.Scorer`
    seam: column ``ssim``.

    Backend ``skimage`` computes it per image in the workers; ``torch`` has the workers make the round-trip
    pair and computes it batched on the device (``auto``: torch on CUDA, skimage elsewhere).
    """

    name = "ssim"
    columns = ("ssim",)

    def __init__(self, cfg, device: str = "cpu"):
        backend = cfg.ssim_backend
        if backend == "auto":
            backend = "torch" if str(device).startswith("cuda") else "skimage"
        self.size, self.low_size = cfg.ssim_size, cfg.ssim_low_size
        self.prepare = partial(_ssim_input, size=cfg.ssim_size, low_size=cfg.ssim_low_size,
                               in_worker=backend == "skimage")

    @classmethod
    def settings(cls, cfg) -> dict:
        return {"ssim": [cfg.ssim_size, cfg.ssim_low_size]}

    def prepare_batch(self, images):
        import torch

        from synthvlm_repro.selection.gpu_decode import round_trip_pair as tensor_round_trip_pair

        return torch.stack(tensor_round_trip_pair(images, self.size, self.low_size), dim=1)

    def begin(self, captions: Sequence[str]) -> None:
        pass

    def score(self, inputs, rows: Sequence[int]) -> dict:
        """``inputs``: SSIM values ``(N,)`` computed in the workers, or round-trip pairs ``(N, 2, H, W)``."""
        values = inputs if inputs.ndim == 1 else ssim_batch(inputs[:, 0], inputs[:, 1])
        return {"ssim": values.cpu().numpy()}
