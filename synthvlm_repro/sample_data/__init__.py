"""Small shipped sample data: captions in SynthVLM input format plus a few drawn images.

``captions.json`` holds ``{"id", "caption"[, "image"]}`` records; about 15% are
deliberately bad (repetitive, special characters, flagged words, too short,
non-English, duplicates) so the curation filters have something to drop.
``expected_bad.json`` maps those ids to their category, for tests only.
"""

from __future__ import annotations

import json
from pathlib import Path

BAD_CATEGORIES = (
    "repetitive",
    "special_chars",
    "flagged_words",
    "too_short",
    "non_english",
    "exact_duplicate",
    "near_duplicate",
)


def sample_data_dir() -> Path:
    """Return the folder holding the sample data files."""
    return Path(__file__).resolve().parent


def sample_captions_path() -> Path:
    """Return the path of ``captions.json``."""
    return sample_data_dir() / "captions.json"


def load_sample_captions() -> list[dict]:
    """Load the sample caption records; ``image`` paths are relative to :func:`sample_data_dir`."""
    return json.loads(sample_captions_path().read_text(encoding="utf-8"))


def expected_bad_ids() -> dict[str, str]:
    """Return ``{id: category}`` for every deliberately bad caption."""
    return json.loads((sample_data_dir() / "expected_bad.json").read_text(encoding="utf-8"))
