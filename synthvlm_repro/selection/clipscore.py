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


class ClipScore:
    """CLIPScore behind the :class:`~synthvlm_repro.selection.scorer.Scorer` seam: column ``clip_score``.

    Workers run the model's own preprocessing; the main process encodes the images of a batch and looks
    up the text features of its captions, which are encoded in windows of ``chunk_size`` rows (each
    distinct caption once per window), so a caption's candidates share one text encoding.
    """

    name = "clip_score"
    columns = ("clip_score",)

    def __init__(self, cfg, device: str = "cpu", model: ClipScorer | None = None):
        self.model = model or ClipScorer(cfg.clip_model, cfg.clip_pretrained, device, cfg.precision,
                                         cfg.caption_prefix)
        self.prepare = self.model.preprocess  # the PIL transform: what the DataLoader workers run
        self.window = cfg.chunk_size
        self._tensor_preprocess = None
        self.begin([])

    @classmethod
    def settings(cls, cfg) -> dict:
        from synthvlm_repro.models import model_revision

        return {"model": cfg.clip_model, "pretrained": cfg.clip_pretrained, "revision": model_revision(cfg.clip_model),
                "prefix": cfg.caption_prefix, "precision": cfg.precision}

    def prepare_batch(self, images: torch.Tensor) -> torch.Tensor:
        from synthvlm_repro.selection.gpu_decode import TensorPreprocess

        if self._tensor_preprocess is None:
            self._tensor_preprocess = TensorPreprocess(self.model.preprocess)
        return self._tensor_preprocess(images)

    def begin(self, captions: Sequence[str]) -> None:
        self._captions = list(captions)
        self._text: dict[str, torch.Tensor] = {}
        self._window_end = 0  # captions of rows before this one are encoded

    def _encode_window(self, last: int, keep: list[str]) -> None:
        """Encode the distinct captions of the next window of rows (reaching at least row ``last``)."""
        start, self._window_end = self._window_end, max(self._window_end + self.window, last + 1)
        self._text = {c: self._text[c] for c in keep if c in self._text}
        new = [c for c in dict.fromkeys(self._captions[start:self._window_end]) if c not in self._text]
        self._text.update(zip(new, self.model.encode_texts(new)))

    def score(self, inputs: torch.Tensor, rows: Sequence[int]) -> dict:
        captions = [self._captions[i] for i in rows]
        if max(rows) >= self._window_end:
            self._encode_window(max(rows), captions)
        image_features = self.model.encode_images(inputs)
        text_features = torch.stack([self._text[c] for c in captions])
        return {"clip_score": self.model.clip_score(image_features, text_features).cpu().numpy()}
