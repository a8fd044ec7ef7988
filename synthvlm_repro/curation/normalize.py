"""Caption normalisation as Data-Juicer's ``fix_unicode_mapper`` + ``punctuation_normalization_mapper``.

``fix_unicode_mapper`` is ``ftfy.fix_text(text, normalization="NFC")``. The punctuation map is the
cc_net / BigScience table Data-Juicer uses (its unit test pins input and output, see the tests here).
"""

from __future__ import annotations

from typing import Iterable

import ftfy

PUNCTUATION_MAP = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "１": '"', "」": '"',
    "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
    "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">",
    "【": "[", "】": "]", "％": "%", "►": "-",
}
_PUNCTUATION_TABLE = str.maketrans(PUNCTUATION_MAP)


def fix_unicode(text: str) -> str:
    """Repair mojibake and other unicode damage, then NFC (Data-Juicer's ``fix_unicode_mapper``)."""
    return ftfy.fix_text(text, normalization="NFC")


def normalize_punctuation(text: str) -> str:
    """Map unicode punctuation to ASCII (Data-Juicer's ``punctuation_normalization_mapper``)."""
    return text.translate(_PUNCTUATION_TABLE)


def is_plain_ascii(text: str) -> bool:
    """Printable ASCII without ``&``: both mappers return such a text unchanged, so it can skip them.

    ftfy can change ASCII text only through HTML entities (``&``), line breaks (``\\r``), terminal escapes
    and control characters (all unprintable); every other fixer, NFC and the punctuation map touch only
    non-ASCII code points. ``tests/test_curation_stats.py`` checks the shortcut against ftfy.
    """
    return text.isascii() and text.isprintable() and "&" not in text


def normalize_captions(texts: Iterable[str]) -> list[str]:
    """Both mappers, in Data-Juicer recipe order (fix_unicode first)."""
    return [t if is_plain_ascii(t) else normalize_punctuation(fix_unicode(t)) for t in texts]
