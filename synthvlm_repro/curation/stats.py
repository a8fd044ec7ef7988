"""The five Data-Juicer text statistics the paper filters on, computed exactly as Data-Juicer does.

Data-Juicer 1.6.1's definitions are quoted in ``../shared/reference/datajuicer.md`` §3: ratios per Python
code point, words split on space / ``\\n`` / ``\\t`` only, lowercased, stripped of special characters at
both ends. They are re-implemented here (not imported) because Data-Juicer is a 1.8 GB install that
downloads assets at construction and spends most of its time in HF ``datasets`` plumbing (§4, §6).

:func:`caption_stats` is the fast path the pipeline uses; the ``*_ratio`` functions are the readable
one-caption definitions it is tested against, value for value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from synthvlm_repro.curation.special_characters import SPECIAL_CHARACTERS

STAT_COLUMNS = ("alnum_ratio", "char_rep_ratio", "flagged_words_ratio", "special_char_ratio", "word_rep_ratio")

_WS_SPLIT = re.compile(" |\n|\t")
_SPECIAL_STR = "".join(sorted(SPECIAL_CHARACTERS))
_ASCII_SPECIAL_STR = "".join(c for c in _SPECIAL_STR if c.isascii())  # str.strip is slow with 1,618 chars
_DELETE_SPECIAL = dict.fromkeys(map(ord, SPECIAL_CHARACTERS))


# --------------------------------------------------------------------------- one-caption definitions


def alnum_ratio(text: str) -> float:
    """Share of code points that are ``str.isalnum()``; 0.0 for an empty text."""
    return sum(1 for c in text if c.isalnum()) / len(text) if text else 0.0


def special_char_ratio(text: str) -> float:
    """Share of code points in Data-Juicer's special-character set (spaces and digits included)."""
    return sum(1 for c in text if c in SPECIAL_CHARACTERS) / len(text) if text else 0.0


def char_rep_ratio(text: str, n: int = 10) -> float:
    """Counts of the top ``isqrt(#distinct)`` character n-grams (only repeated ones) over all positions."""
    freq = Counter(text[i:i + n] for i in range(len(text) - n + 1))
    if not freq:
        return 0.0
    counts = sorted(freq.values(), reverse=True)
    k = min(math.isqrt(len(counts)), len(counts) - counts.count(1))
    return sum(counts[:k]) / sum(counts)


def refined_words(text: str) -> list[str]:
    """Data-Juicer's words with tokenization off: split, lowercase, strip special characters at the ends."""
    out = []
    for word in _WS_SPLIT.split(text):
        if not word:
            continue
        word = word.lower()
        begin, end = 0, len(word)
        while begin < end and word[begin] in SPECIAL_CHARACTERS:
            begin += 1
        while end > begin and word[end - 1] in SPECIAL_CHARACTERS:
            end -= 1
        if begin < end:
            out.append(word[begin:end])
    return out


def word_rep_ratio(text: str, n: int = 10) -> float:
    """Share of word n-gram positions whose n-gram occurs more than once."""
    words = refined_words(text)
    freq = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    if not freq:
        return 0.0
    return sum(v for v in freq.values() if v > 1) / sum(freq.values())


def flagged_words_ratio(text: str, flagged: frozenset[str] | set[str]) -> float:
    """Share of refined words in ``flagged`` (capped at 1.0)."""
    words = refined_words(text)
    return min(1.0, sum(w in flagged for w in words) / len(words)) if words else 0.0


# --------------------------------------------------------------------------- fast batch path


# Byte tables for ASCII texts: bytes.translate(None, delete) counts members of a set in C, ~10x faster than
# one str method call per code point. For ASCII, str.isalnum is exactly [0-9A-Za-z].
_ASCII_NOT_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())
_ASCII_SPECIAL = bytes(c for c in range(128) if chr(c) in SPECIAL_CHARACTERS)


def _fast_words(text: str) -> list[str]:
    # Lowercasing the whole text equals lowercasing each word: the separators are neither cased nor
    # case-ignorable, so even Greek final-sigma context stops at them. Splitting on " " after mapping
    # "\n" and "\t" to " " gives re.split(" |\n|\t")'s pieces. str.strip drops any character of its argument
    # from both ends, exactly like Data-Juicer's loops; an ASCII text only needs the ASCII members.
    lowered = text.lower()
    strip_chars = _ASCII_SPECIAL_STR if lowered.isascii() else _SPECIAL_STR
    parts = lowered.replace("\n", " ").replace("\t", " ").split(" ")
    return list(filter(None, map(str.strip, parts, repeat(strip_chars, len(parts)))))


def _fast_char_rep(text: str, n: int) -> float:
    positions = len(text) - n + 1
    if positions <= 0:
        return 0.0
    grams = [text[i:i + n] for i in range(positions)]
    if len(set(grams)) == positions:  # nothing repeats: k = 0
        return 0.0
    counts = sorted(Counter(grams).values(), reverse=True)
    k = min(math.isqrt(len(counts)), len(counts) - counts.count(1))
    return sum(counts[:k]) / positions


def _fast_word_rep(words: list[str], n: int) -> float:
    positions = len(words) - n + 1
    if positions <= 0:
        return 0.0
    if n > 1 and len(set(zip(words, words[1:]))) == len(words) - 1:  # a repeated n-gram repeats a word pair
        return 0.0
    freq = Counter(tuple(words[i:i + n]) for i in range(positions))
    if len(freq) == positions:
        return 0.0
    return sum(v for v in freq.values() if v > 1) / positions


def caption_stats(texts: Sequence[str], flagged: Iterable[str], char_rep_len: int = 10,
                  word_rep_len: int = 10) -> dict[str, np.ndarray]:
    """All five statistics for a batch of captions, as float64 arrays named by :data:`STAT_COLUMNS`.

    Bit-identical to the one-caption definitions above (and so to Data-Juicer's kernels): every ratio is
    the same integer count over the same integer total.
    """
    flagged = flagged if isinstance(flagged, (set, frozenset)) else frozenset(flagged)
    is_flagged = flagged.__contains__
    m = len(texts)
    alnum, char_rep, flag, special, word_rep = ([0.0] * m for _ in STAT_COLUMNS)
    for i, text in enumerate(texts):
        length = len(text)
        if not length:
            continue
        if text.isascii():
            raw = text.encode("ascii")
            alnum[i] = len(raw.translate(None, _ASCII_NOT_ALNUM)) / length
            special[i] = (length - len(raw.translate(None, _ASCII_SPECIAL))) / length
        else:
            alnum[i] = sum(map(str.isalnum, text)) / length
            special[i] = (length - len(text.translate(_DELETE_SPECIAL))) / length
        char_rep[i] = _fast_char_rep(text, char_rep_len)
        words = _fast_words(text)
        if words:
            flag[i] = min(1.0, sum(map(is_flagged, words)) / len(words))
            word_rep[i] = _fast_word_rep(words, word_rep_len)
    return {name: np.array(values, dtype=np.float64)
            for name, values in zip(STAT_COLUMNS, (alnum, char_rep, flag, special, word_rep))}
