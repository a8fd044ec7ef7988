"""Checks on image content shared by the stages (curation's image filters, selection's candidates).

A near-constant image (all white, all black, one flat colour, or one with only faint compression
noise) carries no content: its CLIP similarity is meaningless and its SDXL→VAE round trip is perfect
(SSIM 1.0), so without this check it would *win* selection. Both stages call :func:`is_near_constant`
and give such images the status/reason ``blank``.
"""

from __future__ import annotations

#: Largest per-channel standard deviation (0–255 scale) for which an image counts as near-constant.
#: JPEG noise on a flat colour stays below ~1; a real photo is far above 10; a single black line on
#: white (1 % of the pixels) already has ~25.
BLANK_MAX_STD = 2.0


def is_near_constant(image, max_std: float = BLANK_MAX_STD) -> bool:
    """True when every channel of ``image`` has a standard deviation ``<= max_std`` (0–255 scale).

    ``image`` is a PIL image or an array (numpy, or a CPU torch tensor) of shape ``(H, W)``,
    ``(H, W, C)`` or channels-first ``(C, H, W)`` with C in 1/3/4: ``uint8`` arrays are on
    0–255, other integer arrays are scaled by their dtype's maximum, float arrays are taken to be in
    [0, 1] (the torch/torchvision convention). Each channel is checked on its own, so a flat red
    image counts as constant although its R, G and B values differ. An empty image counts as constant.
    """
    import numpy as np

    if hasattr(image, "getbands"):  # PIL: ImageStat computes per-band statistics in C
        from PIL import ImageStat

        if image.mode not in ("L", "RGB", "RGBA", "LA"):
            image = image.convert("RGB")
        if image.width == 0 or image.height == 0:
            return True
        return max(ImageStat.Stat(image).stddev) <= max_std
    array = np.asarray(image)
    if array.size == 0:
        return True
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels first (torch) -> channels last
    if array.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        scale = 255.0
    elif array.dtype == np.uint8:
        scale = 1.0
    elif np.issubdtype(array.dtype, np.integer):
        scale = 255.0 / np.iinfo(array.dtype).max
    elif array.dtype == np.bool_:
        scale = 255.0
    else:
        raise ValueError(f"expected a numeric image array, got dtype {array.dtype}")
    std = array.reshape(-1, array.shape[-1]).astype(np.float64).std(axis=0) * scale
    return bool(np.nanmax(std) <= max_std) if np.isfinite(std).any() else True
