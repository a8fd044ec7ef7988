"""CLIP embeddings, CLIPScore and SSIM for images stage 03 did not score (the *original* images),
and the embeddings of both kinds for the t-SNE.

Everything goes through stage 03's own :class:`~synthvlm_repro.selection.clipscore.ClipScorer` and
:func:`~synthvlm_repro.selection.ssim.ssim_skimage` with the run's ``selection`` settings, so an
original image gets exactly the numbers a synthetic one would.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image
from tqdm.auto import tqdm


class ClipEncoder:
    """Path- and caption-level helpers around stage 03's scorer."""

    def __init__(self, scorer):
        self.scorer = scorer

    @classmethod
    def from_config(cls, selection_cfg, device: str = "cpu") -> "ClipEncoder":
        from synthvlm_repro.selection.clipscore import ClipScorer

        return cls(ClipScorer(selection_cfg.clip_model, selection_cfg.clip_pretrained, device=device,
                              precision=selection_cfg.precision, caption_prefix=selection_cfg.caption_prefix))

    def encode_images(self, paths: Sequence[str], batch_size: int = 32, desc: str = "CLIP images") -> np.ndarray:
        """L2-normalised image embeddings, one row per path."""
        import torch

        out = []
        for i in tqdm(range(0, len(paths), batch_size), desc=desc, leave=False):
            pixels = torch.stack([self.scorer.preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
            out.append(self.scorer.encode_images(pixels).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """L2-normalised embeddings of the captions (with stage 03's caption prefix)."""
        out = [self.scorer.encode_texts(list(texts[i:i + batch_size])).cpu().numpy()
               for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def clip_scores(self, paths: Sequence[str], captions: Sequence[str]) -> np.ndarray:
        """CLIPScore per (image, caption) pair as stage 03 stores it: ``max(cos, 0)``."""
        return np.clip((self.encode_images(paths) * self.encode_texts(captions)).sum(axis=1), 0.0, None)


def resize_ssim(path: str, size: int = 768, low: int = 336) -> float:
    """Stage 03's SSIM (the author's calc_ssim.py recipe) of one image file."""
    from synthvlm_repro.selection.ssim import ssim_skimage

    return ssim_skimage(Image.open(path).convert("RGB"), size, low)
