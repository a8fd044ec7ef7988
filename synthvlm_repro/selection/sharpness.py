"""Image sharpness, an optional third selection score: the variance of the Laplacian (Pech-Pacheco et
al., ICPR 2000), the classic cheap focus measure. Blurry or flat renders score low.

Switched on by ``selection.extra_scores: {sharpness: <weight>}``: column ``sharpness``, and
``score += weight · sharpness``. The image is taken to grayscale (PIL ``L``, values / 255), downscaled
to :data:`SIZE`² when larger (so 1024² renders are measured at about the vision tower's scale; smaller
ones at their own size, never upsampled, which would blur them); scipy's 5-point Laplacian with edge
replication, then the population variance. Textured images score about 0.005–0.05 and blurred or flat
ones near 0, so weights of order 1–10 move a CLIP + λ·SSIM score (~1) noticeably.

This module and its line in :data:`synthvlm_repro.selection.scorer.SCORERS` are all it takes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

SIZE = 384  # about the vision tower's input (336), where detail matters for LLaVA


def measured_size(width: int, height: int, size: int = SIZE) -> tuple[int, int]:
    """``(width, height)`` at which an image is measured: ``size``² if either side is larger, else its own."""
    return (size, size) if max(width, height) > size else (width, height)


def laplacian_variance(image: Image.Image, size: int = SIZE) -> float:
    """Variance of the Laplacian of ``image`` in grayscale (values in [0, 1]) at :func:`measured_size`."""
    from scipy.ndimage import laplace

    gray = image.convert("L")
    target = measured_size(*gray.size, size)
    if target != gray.size:
        gray = gray.resize(target, Image.BILINEAR)
    return float(laplace(np.asarray(gray, dtype=np.float64) / 255.0, mode="nearest").var())


class SharpnessScore:
    """Variance of the Laplacian behind the :class:`~synthvlm_repro.selection.scorer.Scorer` seam."""

    name = "sharpness"
    columns = ("sharpness",)

    def __init__(self, cfg=None, device: str = "cpu"):
        self.prepare = laplacian_variance  # computed in the DataLoader workers

    @classmethod
    def settings(cls, cfg) -> dict:
        return {"measure": "laplacian variance, L/255, scipy 5-point, nearest", "max_size": SIZE}

    def prepare_batch(self, images):
        """GPU decode: the same measure on uint8 ``(N, 3, H, W)`` device tensors (torchvision resize)."""
        import torch
        import torch.nn.functional as F
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        from synthvlm_repro.selection.gpu_decode import luma

        width, height = measured_size(images.shape[-1], images.shape[-2])
        if (width, height) != (images.shape[-1], images.shape[-2]):
            images = TF.resize(images, [height, width], InterpolationMode.BILINEAR, antialias=True)
        gray = luma(images).to(torch.float64).unsqueeze(1) / 255.0
        kernel = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64, device=gray.device)
        lap = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernel[None, None])
        return lap.flatten(1).var(dim=1, correction=0)

    def begin(self, captions: Sequence[str]) -> None:
        pass

    def score(self, inputs, rows: Sequence[int]) -> dict:
        return {"sharpness": inputs.cpu().numpy()}
