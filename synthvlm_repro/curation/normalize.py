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


def normalize_captions(texts: Iterable[str]) -> list[str]:
    """Both mappers, in Data-Juicer recipe order (fix_unicode first)."""
    return [normalize_punctuation(fix_unicode(t)) for t in texts]
