"""Turn rendered arrays into image files, and spot broken renders (NaN, black, near-constant)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` floats in [0, 1] -> uint8 the way diffusers rounds (NaN -> 0)."""
    return (np.nan_to_num(image, nan=0.0).clip(0, 1) * 255).round().astype(np.uint8)


def broken_reason(image: np.ndarray, min_std: float = 2.0) -> str | None:
    """Why a rendered image is unusable, or None: ``nan`` (an fp16 VAE overflow), ``black``, ``constant``.

    ``min_std`` is the uint8 pixel standard deviation under which an image is near-constant.
    """
    if not np.isfinite(image).all():
        return "nan"
    pixels = to_uint8(image) if image.dtype != np.uint8 else image
    if float(pixels.std()) < min_std:
        return "black" if float(pixels.mean()) < 16 else "constant"
    return None


def encode(image: np.ndarray, fmt: str = "jpg", quality: int = 95) -> bytes:
    """Encoded file bytes; no metadata, so equal pixels give equal bytes."""
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("jpg", "webp") else {}
    Image.fromarray(to_uint8(image) if image.dtype != np.uint8 else image).save(buf, format=PIL_FORMATS[fmt],
                                                                                **kwargs)
    return buf.getvalue()
