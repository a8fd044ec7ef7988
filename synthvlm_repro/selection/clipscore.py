"""CLIPScore as the official ``clipscore.py`` computes it (Hessel et al. 2021), on open_clip.

Caption prefixed with "A photo depicts ", tokenised with truncation at the model's context length,
the model's own image preprocessing, score = max(cos(image, text), 0). The kit stores that raw clipped
cosine (the paper's scale, ~0.3); :data:`HESSEL_SCALE` × it is the usual 2.5-scaled CLIP-S.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from synthvlm_repro.models import load_open_clip
from synthvlm_repro.runtime.dtypes import resolve_dtype, torch_dtype

HESSEL_SCALE = 2.5


class ClipScorer:
    """An open_clip model with its preprocessing and tokenizer, scoring image–caption pairs."""

    def __init__(self, model: str, pretrained: str | None, device: str = "cpu", precision: str = "auto",
                 caption_prefix: str = "A photo depicts "):
        self.device = device
        self.precision = resolve_dtype(precision, str(device), auto="fp16")  # fp16 on CUDA, as the official code
        self.model, self.preprocess, self.tokenizer = load_open_clip(model, pretrained, device, self.precision)
        self.dtype = torch_dtype(self.precision)
        self.caption_prefix = caption_prefix

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        """Token ids of the prefixed captions, truncated to the model's context length."""
        return self.tokenizer([self.caption_prefix + c for c in captions])

    @torch.inference_mode()
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (float32) of preprocessed pixels ``(N, 3, H, W)``."""
        feats = self.model.encode_image(pixels.to(self.device, self.dtype, non_blocking=True))
        return F.normalize(feats.float(), dim=-1)

    @torch.inference_mode()
    def encode_texts(self, captions: Sequence[str], max_tokens: int | None = None) -> torch.Tensor:
        """L2-normalised text features (float32) of the prefixed captions, in input order.

        Captions are sorted by token length and encoded in batches of at most ``max_tokens`` padded
        positions (default 512 on CPU, 8192 on GPUs), each run only up to its longest caption, so one
        long caption does not make a whole batch pay for 77 positions.
        """
        if not captions:
            return torch.empty(0, 0, device=self.device)
        max_tokens = max_tokens or (8192 if str(self.device).startswith("cuda") else 512)
        tokens = self.tokenize(captions).to(self.device)
        lengths = (tokens.argmax(dim=-1) + 1).tolist()
        order = sorted(range(len(captions)), key=lengths.__getitem__)
        batches, current = [], []
        for i in order:  # ascending lengths: the caption being added is the batch's longest
            if current and (len(current) + 1) * lengths[i] > max_tokens:
                batches.append(current)
                current = []
            current.append(i)
        batches.append(current)
        feats = torch.cat([F.normalize(_encode_text_trimmed(self.model, tokens[b]).float(), dim=-1) for b in batches])
        return feats[torch.argsort(torch.tensor(order, device=feats.device))]

    @staticmethod
    def clip_score(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Row-wise max(cos, 0) of normalised features: the raw clipped cosine."""
        return (image_features * text_features).sum(dim=-1).clamp(min=0)


def _encode_text_trimmed(model, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens)`` run only up to the batch's longest caption.

    open_clip always runs all 77 positions. For CLIP's causal text tower pooled at the end-of-text
    token, positions after that token cannot influence the pooled feature, so cutting the padding
    gives the same features for a fraction of the compute (captions are usually 15–40 tokens).
    Models of another shape (padding masks, other pooling, no causal mask) use ``encode_text``.
    """
    standard = (type(model).__name__ == "CLIP" and getattr(model, "text_pool_type", None) == "argmax"
                and getattr(model, "attn_mask", None) is not None and hasattr(model, "token_embedding"))
    if not standard:
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Module) else x @ projection
