"""Image-text filters against a caption's original image: open_clip cosine similarity and BLIP ITM.

Both read at most the text model's context (77 CLIP tokens, 512 BLIP tokens): longer captions are
truncated, and ``score`` reports which ones were, so the funnel can count them. Before tokenising, a
caption is cut to ``MAX_CHARS_PER_TOKEN`` characters per context token, so a 100 KB caption costs no
more than a normal one; that cut only loses text when the first ``context`` tokens span more characters,
i.e. never for real text (such a caption is counted as truncated either way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from synthvlm_repro.models import load_open_clip, resolve_model

MAX_CHARS_PER_TOKEN = 32
#: Longest side of the copy :func:`image_status` checks for blankness (JPEGs are decoded at that scale).
CHECK_SIZE = 256


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


def _image_file(ref: str | Path):
    """A path, or the bytes of a tar member / parquet cell (img2dataset refs) as a file object."""
    import io

    from synthvlm_repro.curation.image_stream import member_bytes, split_ref  # it imports this module

    parts = split_ref(str(ref))
    return ref if parts is None else io.BytesIO(member_bytes(*parts))


def image_status(path: str | Path) -> str:
    """``"ok"``, ``"blank"`` (near-constant, :func:`~synthvlm_repro.image_checks.is_near_constant` on a
    copy at most ``CHECK_SIZE`` px) or ``"unreadable: <why>"`` for the image at ``path``."""
    from PIL import Image

    from synthvlm_repro.image_checks import is_near_constant

    try:
        with Image.open(_image_file(path)) as img:
            img.draft("RGB", (CHECK_SIZE, CHECK_SIZE))  # JPEG: decode at 1/2..1/8 scale
            img.load()  # a truncated or corrupt file fails here
            small = img.convert("RGB")
        small.thumbnail((CHECK_SIZE, CHECK_SIZE))
    except Exception as e:  # noqa: BLE001 - Pillow's decoders raise many types (OSError, SyntaxError, bomb, ...)
        return "unreadable: " + " ".join(f"{type(e).__name__}: {e}".split())[:200]
    return "blank" if is_near_constant(small) else "ok"


def _cut(texts: Sequence[str], context: int) -> tuple[list[str], list[bool]]:
    limit = context * MAX_CHARS_PER_TOKEN
    return [t[:limit] for t in texts], [len(t) > limit for t in texts]


class ClipSimilarity:
    """Raw cosine similarity of open_clip image and text embeddings (the paper's 0.28 threshold scale)."""

    def __init__(self, model: str, pretrained: str | None, device: str = "cpu"):
        self.device = device
        self.model, self.preprocess, self.tokenizer = load_open_clip(model, pretrained, device=device)
        self.context = int(getattr(self.model, "context_length", None) or self.tokenizer.context_length)

    def score(self, images: Sequence, texts: Sequence[str]) -> tuple[list[float], list[bool]]:
        """Similarities and, per caption, whether it was longer than the context (and truncated)."""
        import torch

        texts, cut = _cut(texts, self.context)
        tokens = self.tokenizer(texts, context_length=self.context)
        # open_clip truncates silently: a caption fits iff one more slot changes nothing in the first ones
        longer = self.tokenizer(texts, context_length=self.context + 1)[:, :self.context]
        truncated = [c or bool(d) for c, d in zip(cut, (tokens != longer).any(dim=1).tolist())]
        pixels = torch.stack([self.preprocess(img) for img in images]).to(self.device)
        with torch.no_grad():
            img = torch.nn.functional.normalize(self.model.encode_image(pixels).float(), dim=-1)
            txt = torch.nn.functional.normalize(self.model.encode_text(tokens.to(self.device)).float(), dim=-1)
        return (img * txt).sum(-1).tolist(), truncated

    def __call__(self, images: Sequence, texts: Sequence[str]) -> list[float]:
        return self.score(images, texts)[0]


class BlipItm:
    """Probability of "match" from BLIP's image-text matching head (``BlipForImageTextRetrieval``)."""

    def __init__(self, model: str, device: str = "cpu"):
        from transformers import BlipForImageTextRetrieval, BlipProcessor

        path = resolve_model(model)
        self.device = device
        self.processor = BlipProcessor.from_pretrained(path)
        self.model = BlipForImageTextRetrieval.from_pretrained(path).eval().to(device)
        # the text encoder's positions bound the input, whatever the tokenizer's model_max_length says
        self.context = min(self.model.config.text_config.max_position_embeddings,
                           self.processor.tokenizer.model_max_length)

    def score(self, images: Sequence, texts: Sequence[str]) -> tuple[list[float], list[bool]]:
        """Match probabilities and, per caption, whether it was longer than the context (and truncated)."""
        import torch

        texts, cut = _cut(texts, self.context)
        lengths = [len(ids) for ids in self.processor.tokenizer(texts, verbose=False)["input_ids"]]
        truncated = [c or n > self.context for c, n in zip(cut, lengths)]
        inputs = self.processor(images=list(images), text=texts, return_tensors="pt", padding=True,
                                truncation=True, max_length=self.context).to(self.device)
        with torch.no_grad():
            logits = self.model(**inputs, use_itm_head=True).itm_score
        return logits.float().softmax(-1)[:, 1].tolist(), truncated

    def __call__(self, images: Sequence, texts: Sequence[str]) -> list[float]:
        return self.score(images, texts)[0]
