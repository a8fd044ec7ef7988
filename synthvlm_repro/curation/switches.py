"""Notebook switches: turn filters off by funnel-step name and set thresholds, as config overrides."""

from __future__ import annotations

from typing import Iterable, Mapping

# funnel step -> the overrides that turn it off
OFF_SWITCHES = {
    "alnum_ratio": ["alnum_min=null"],
    "char_rep_ratio": ["char_rep_max=null"],
    "flagged_words_ratio": ["flagged_words_max=null"],
    "special_char_ratio": ["special_min=null", "special_max=null"],
    "word_rep_ratio": ["word_rep_max=null"],
    "exact_dedup": ["exact_dedup=false"],
    "near_dedup": ["near_dedup_threshold=null"],
    "perplexity": ["perplexity_max=null"],
    "clip_similarity": ["clip_min=null"],
    "itm_score": ["itm_min=null"],
    "judge": ["judge_mode=off"],
    "max_captions": ["max_captions=null"],
}


def switch_overrides(disable: Iterable[str] = (), thresholds: Mapping[str, object] | None = None) -> list[str]:
    """``curation.*`` overrides for ``disable`` (funnel step names) and ``thresholds`` (curation keys)."""
    out = []
    for step in disable:
        if step not in OFF_SWITCHES:
            raise ValueError(f"disable: unknown curation step {step!r} (known: {', '.join(OFF_SWITCHES)})")
        out += [f"curation.{o}" for o in OFF_SWITCHES[step]]
    for key, value in (thresholds or {}).items():
        out.append(f"curation.{key}={'null' if value is None else value}")
    return out
