"""CLIP embeddings, CLIPScore and the SSIM resize score for images that stage 03 did not score.

Stage 03 scores the synthetic candidates; the figures also need the same two numbers for the
*original* images and the embeddings of both for the t-SNE, computed with the same open_clip model
as stage 03 (``selection.clip_model``). The definitions follow paper.md §1.4: CLIPScore is the raw
clipped cosine with the text prefix "A photo depicts "; SSIM compares an image at 768 px with the
same image shrunk to 336 px and enlarged back (the official BSV recipe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

CLIP_PREFIX = "A photo depicts "


@dataclass
class ClipEncoder:
    """An open_clip model with its preprocessing and tokenizer."""

    model: object
    preprocess: object
    tokenizer: object
    device: str = "cpu"

    @classmethod
    def load(cls, model: str, pretrained: str | None, device: str = "cpu") -> "ClipEncoder":
        from synthvlm_repro.models import load_open_clip

        clip_model, preprocess, tokenizer = load_open_clip(model, pretrained, device=device)
        return cls(clip_model, preprocess, tokenizer, device)

    def encode_images(self, paths: Sequence[str], batch_size: int = 32, desc: str = "CLIP images") -> np.ndarray:
        """L2-normalised image embeddings, one row per path."""
        import torch

        out = []
        for i in tqdm(range(0, len(paths), batch_size), desc=desc, leave=False):
            batch = torch.stack([self.preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
            with torch.no_grad():
                emb = self.model.encode_image(batch.to(self.device))
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 128, prefix: str = "") -> np.ndarray:
        """L2-normalised text embeddings (open_clip truncates at its context length, as CLIP does)."""
        import torch

        out = []
        for i in range(0, len(texts), batch_size):
            tokens = self.tokenizer([prefix + t for t in texts[i:i + batch_size]]).to(self.device)
            with torch.no_grad():
                emb = self.model.encode_text(tokens)
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def clip_scores(self, paths: Sequence[str], captions: Sequence[str]) -> np.ndarray:
        """CLIPScore per (image, caption) pair as stage 03 stores it: ``max(cos, 0)``."""
        img = self.encode_images(paths)
        txt = self.encode_texts(captions, prefix=CLIP_PREFIX)
        return np.clip((img * txt).sum(axis=1), 0.0, None)


def resize_ssim(path: str, size: int = 768, low: int = 336) -> float:
    """SSIM between an image at ``size`` px and its ``low``-px round trip (grayscale, skimage defaults)."""
    from skimage.metrics import structural_similarity

    a = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    b = a.resize((low, low), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    return float(structural_similarity(np.asarray(a.convert("L")), np.asarray(b.convert("L"))))
