"""The paper's rule filters: thresholds on the Data-Juicer statistics, computed over streamed chunks in
one or several processes."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from synthvlm_repro.curation.normalize import normalize_captions
from synthvlm_repro.curation.stats import caption_stats

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RuleFilter:
    """Keep a caption iff ``low <= stat <= high`` (Data-Juicer's closed interval); ``None`` = unbounded."""

    stat: str
    low: float | None = None
    high: float | None = None

    def passes(self, values: np.ndarray) -> np.ndarray:
        ok = np.ones(values.shape, dtype=bool)
        if self.low is not None:
            ok &= values >= self.low
        if self.high is not None:
            ok &= values <= self.high
        return ok

    def describe(self, value: float) -> str:
        """Why ``value`` fails, e.g. ``alnum_ratio 0.4 < 0.6``."""
        if self.low is not None and value < self.low:
            return f"{self.stat} {value:.6g} < {self.low:g}"
        return f"{self.stat} {value:.6g} > {self.high:g}"


def rule_filters(cfg) -> list[RuleFilter]:
    """The enabled rule filters of a :class:`CurationConfig`, in the paper's Table 1 order."""
    candidates = [
        RuleFilter("alnum_ratio", cfg.alnum_min, None),
        RuleFilter("char_rep_ratio", None, cfg.char_rep_max),
        RuleFilter("flagged_words_ratio", None, cfg.flagged_words_max),
        RuleFilter("special_char_ratio", cfg.special_min, cfg.special_max),
        RuleFilter("word_rep_ratio", None, cfg.word_rep_max),
    ]
    return [f for f in candidates if f.low is not None or f.high is not None]


def load_flagged_words(path: str | os.PathLike | None = None, lang: str = "en") -> frozenset[str]:
    """The flagged-word list: the shipped English list, a text file (one word per line, ``#`` comments)
    or Data-Juicer's ``flagged_words.json`` (its ``lang`` key)."""
    if path is None:
        text = resources.files("synthvlm_repro.curation").joinpath("flagged_words_en.txt").read_text("utf-8")
    else:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: flagged-words file not found")
        text = path.read_text("utf-8")
        if path.suffix == ".json":
            import json

            data = json.loads(text)
            if lang not in data:
                raise ValueError(f"{path}: no {lang!r} key (keys: {', '.join(sorted(data))})")
            return frozenset(w.lower() for w in data[lang])
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def score_captions(captions: Sequence[str], normalize: bool, flagged: frozenset[str], char_rep_len: int = 10,
                   word_rep_len: int = 10) -> tuple[list[str] | None, dict[str, np.ndarray]]:
    """Normalise (optionally) and compute the rule statistics of one chunk; runs in worker processes.
    Returns ``(normalised texts or None when not normalising, stats)``: unchanged texts are not sent back."""
    texts = normalize_captions(captions) if normalize else captions
    return (texts if normalize else None), caption_stats(texts, flagged, char_rep_len, word_rep_len)


def map_ordered(fn: Callable[..., R], items: Iterable[T], select: Callable[[T], object] = lambda x: x,
                num_proc: int = 1, in_flight: int | None = None) -> Iterator[tuple[T, R]]:
    """``(item, fn(select(item)))`` in input order, over ``num_proc`` processes with at most ``in_flight``
    items submitted at once, so a huge stream never piles up in memory (``Pool.imap`` reads ahead
    unbounded). Only ``select(item)`` travels to the workers."""
    if num_proc <= 1:
        for item in items:
            yield item, fn(select(item))
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    in_flight = in_flight or 2 * num_proc
    with ProcessPoolExecutor(num_proc, mp_context=multiprocessing.get_context(method)) as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(fn, select(item))))
            if len(pending) >= in_flight:
                first, fut = pending.popleft()
                yield first, fut.result()
        while pending:
            first, fut = pending.popleft()
            yield first, fut.result()
