"""Perplexity scorers for the perplexity filter: Data-Juicer's KenLM formula, or an HF causal LM."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)


_CONFIG_KEYS = {"kenlm": "kenlm_model", "sentencepiece": "sentencepiece_model"}


class KenLMPerplexity:
    """Data-Juicer's ``perplexity_filter``: SentencePiece pieces of the raw text, KenLM log10 scores per
    line (with ``</s>``), ``10 ** (-logits / length)`` rounded to 0.1 (``datajuicer.md`` §3). Needs the
    ``kenlm`` and ``sentencepiece`` packages and DJ's ``en.arpa.bin`` / ``en.sp.model``."""

    name = "kenlm"

    def __init__(self, kenlm_model: str, sentencepiece_model: str):
        try:
            import kenlm
            import sentencepiece
        except ImportError as e:
            raise ImportError(f"the KenLM perplexity filter needs `pip install kenlm sentencepiece` ({e})") from None
        self.files = {"kenlm": Path(kenlm_model), "sentencepiece": Path(sentencepiece_model)}
        for key, path in self.files.items():
            if not path.is_file():
                raise FileNotFoundError(f"{path}: {key} model not found (curation.{_CONFIG_KEYS[key]})")
        self.lm = kenlm.Model(str(kenlm_model))
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(sentencepiece_model))

    def file_identity(self) -> dict:
        """Size and mtime of both model files, for the score cache: scores made with a file that was
        since replaced at the same path are not reused (hashing a multi-GB ``en.arpa.bin`` would be slow)."""
        return {key: [str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns]
                for key, path in self.files.items()}

    def score(self, texts: Sequence[str]) -> tuple[list[float], list[bool]]:
        """Perplexities, and ``False`` for every text: an n-gram model has no context to overflow and its
        memory does not grow with the text, so nothing is truncated."""
        return self(texts), [False] * len(texts)

    def __call__(self, texts: Sequence[str]) -> list[float]:
        out = []
        for text in texts:
            pieces = " ".join(self.sp.encode_as_pieces(text))
            logits, length = 0.0, 0
            for line in pieces.splitlines():
                logits += self.lm.score(line)
                length += len(line.split()) + 1
            out.append(round(10.0 ** (-logits / length), 1) if length else 0.0)
        return out


class HFPerplexity:
    """exp(mean token negative log-likelihood) under a local HF causal LM (BOS included as context).

    Each caption is read up to ``max_tokens`` tokens (and never past the model's context): the logits of
    a batch take batch x length x vocabulary floats, so one 100 KB caption padded to a 4K context would
    need gigabytes. Longer captions are scored on their beginning and reported as truncated.
    """

    name = "hf"

    def __init__(self, ref: str, device: str = "cpu", dtype: str = "auto", max_tokens: int = 512):
        from synthvlm_repro.curation.lm import context_length, load_causal_lm

        self.model, self.tokenizer = load_causal_lm(ref, device, dtype, padding_side="right")
        self.max_tokens = min(max_tokens, context_length(self.model, self.tokenizer))

    def _cut(self, texts: Sequence[str]) -> list[str]:
        """Texts cut to ``MAX_CHARS_PER_TOKEN`` characters per token (a 100 KB caption is not tokenised whole)."""
        from synthvlm_repro.curation.image_text import MAX_CHARS_PER_TOKEN

        return [t[:self.max_tokens * MAX_CHARS_PER_TOKEN] for t in texts]

    def score(self, texts: Sequence[str]) -> tuple[list[float], list[bool]]:
        """Perplexities and, per text, whether it was longer than ``max_tokens`` (and truncated)."""
        cut = self._cut(texts)
        lengths = [len(ids) for ids in self.tokenizer(cut, verbose=False)["input_ids"]]
        return self(texts), [n > self.max_tokens or len(c) < len(t) for n, c, t in zip(lengths, cut, texts)]

    def __call__(self, texts: Sequence[str]) -> list[float]:
        import torch

        from synthvlm_repro.curation.lm import model_device

        enc = self.tokenizer(self._cut(texts), return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_tokens)
        enc = enc.to(model_device(self.model))
        with torch.no_grad():
            logits = self.model(**enc).logits[:, :-1].float()
        targets = enc["input_ids"][:, 1:]
        mask = enc["attention_mask"][:, 1:].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        mean = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
        return [math.exp(v) for v in mean.tolist()]


def perplexity_scorer(cfg, device: str):
    """The configured scorer, or ``None`` (with the reason logged) when the filter cannot run."""
    if cfg.perplexity_max is None:
        log.info("perplexity filter off (curation.perplexity_max is null)")
        return None
    if cfg.perplexity_scorer == "kenlm":
        if bool(cfg.kenlm_model) != bool(cfg.sentencepiece_model):  # half configured: a mistake, not "off"
            missing = "sentencepiece_model" if cfg.kenlm_model else "kenlm_model"
            raise ValueError(f"curation.{missing} is not set: the KenLM perplexity filter needs both "
                             "curation.kenlm_model and curation.sentencepiece_model (or neither: filter off)")
        if not cfg.kenlm_model:
            log.warning("perplexity filter off: no KenLM model configured (set curation.kenlm_model and "
                        "curation.sentencepiece_model to Data-Juicer's en.arpa.bin / en.sp.model, or "
                        "curation.perplexity_scorer=hf with curation.perplexity_lm)")
            return None
        return KenLMPerplexity(cfg.kenlm_model, cfg.sentencepiece_model)
    if not cfg.perplexity_lm:
        log.warning("perplexity filter off: curation.perplexity_scorer=hf but curation.perplexity_lm is null")
        return None
    return HFPerplexity(cfg.perplexity_lm, device, cfg.dtype, cfg.lm_max_tokens)
