"""Image-text filters against a caption's original image: open_clip cosine similarity and BLIP ITM."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from synthvlm_repro.models import load_open_clip, resolve_model


def load_rgb(path: str | Path):
    """The image at ``path`` as RGB; a clear error naming the file when it is missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: unreadable image ({e})") from None


class ClipSimilarity:
    """Raw cosine similarity of open_clip image and text embeddings (the paper's 0.28 threshold scale)."""

    def __init__(self, model: str, pretrained: str | None, device: str = "cpu"):
        self.device = device
        self.model, self.preprocess, self.tokenizer = load_open_clip(model, pretrained, device=device)

    def __call__(self, images: Sequence, texts: Sequence[str]) -> list[float]:
        import torch

        pixels = torch.stack([self.preprocess(img) for img in images]).to(self.device)
        tokens = self.tokenizer(list(texts)).to(self.device)
        with torch.no_grad():
            img = torch.nn.functional.normalize(self.model.encode_image(pixels).float(), dim=-1)
            txt = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
        return (img * txt).sum(-1).tolist()


class BlipItm:
    """Probability of "match" from BLIP's image-text matching head (``BlipForImageTextRetrieval``)."""

    def __init__(self, model: str, device: str = "cpu"):
        from transformers import BlipForImageTextRetrieval, BlipProcessor

        path = resolve_model(model)
        self.device = device
        self.processor = BlipProcessor.from_pretrained(path)
        self.model = BlipForImageTextRetrieval.from_pretrained(path).eval().to(device)

    def __call__(self, images: Sequence, texts: Sequence[str]) -> list[float]:
        import torch

        inputs = self.processor(images=list(images), text=list(texts), return_tensors="pt", padding=True,
                                truncation=True).to(self.device)
        with torch.no_grad():
            logits = self.model(**inputs, use_itm_head=True).itm_score
        return logits.float().softmax(-1)[:, 1].tolist()
