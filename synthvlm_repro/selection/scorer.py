"""The seam every selection score goes through: the :class:`Scorer` protocol, the registry of scorers,
and the one function that combines their values into the ranking score.

The paper's rule is ``score = clip_score + λ·ssim`` (λ = ``selection.ssim_weight``). Further scores are
switched on by name in ``selection.extra_scores`` (name → weight; empty by default, which is the
paper's behaviour) and add ``weight · value`` to it. Adding a score takes a module with one class that
follows :class:`Scorer` and one line in :data:`SCORERS`; scoring (CPU or GPU decode, shards, resume),
the settings fingerprint, ``scores.parquet``, the selection rule, the quality table and the plots pick
it up from there.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

#: name → ``module:Class`` of every scorer (imported only when used, so configs load without torch).
SCORERS: dict[str, str] = {
    "clip_score": "synthvlm_repro.selection.clipscore:ClipScore",
    "ssim": "synthvlm_repro.selection.ssim:SsimScore",
    "sharpness": "synthvlm_repro.selection.sharpness:SharpnessScore",
}
#: The paper's two scores: always active, weighted 1 and ``selection.ssim_weight``.
PAPER_SCORERS = ("clip_score", "ssim")


@runtime_checkable
class Scorer(Protocol):
    """One score of an image–caption pair, computed in the one decoding pass over the candidates.

    A scorer class is built as ``cls(cfg, device)`` (``cfg``: the ``selection`` config). Each decoded
    image goes through :meth:`prepare` in a DataLoader worker (or the whole decoded batch through
    :meth:`prepare_batch` on the GPU with ``selection.decode: gpu``); the main process stacks those
    inputs into model batches on the device and calls :meth:`score` with them.
    """

    #: Registry key, and the key of its weight in ``selection.extra_scores``.
    name: str
    #: Columns it writes to ``scores.parquet``; the weight multiplies the one named ``name``.
    columns: tuple[str, ...]

    @classmethod
    def settings(cls, cfg) -> dict:
        """Everything its values depend on (JSON-able); part of the settings fingerprint, so parts
        scored with other settings are never mixed on resume. Computed from the config alone."""

    def prepare(self, image) -> Any:
        """A PIL RGB image → this scorer's input for it: a tensor, an array or a number (stacked into
        a batch). Runs in a DataLoader worker: keep it a light, picklable callable (no model)."""

    def prepare_batch(self, images) -> Any:
        """uint8 ``(N, 3, H, W)`` images on the scoring device → the batched input (GPU decode)."""

    def begin(self, captions: Sequence[str]) -> None:
        """The captions of the rows about to be scored, in row order (``score`` gets row numbers)."""

    def score(self, inputs, rows: Sequence[int]) -> dict[str, np.ndarray]:
        """Values of a batch: ``inputs`` is the stacked batch on the device, ``rows`` the batch's row
        numbers (into :meth:`begin`'s captions). Returns ``{column: values}`` for every column."""


def scorer_class(name: str) -> type:
    """The registered scorer class called ``name``."""
    if name not in SCORERS:
        raise ValueError(f"unknown selection score {name!r}; registered: {', '.join(SCORERS)}")
    module, attr = SCORERS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def active_scores(cfg) -> list[str]:
    """Names of the scores a config computes: the paper's two, then ``extra_scores`` in config order."""
    return [*PAPER_SCORERS, *(cfg.extra_scores or {})]


def build_scorers(cfg, device: str, **loaded) -> list:
    """Instances of the active scorers on ``device``; ``loaded`` passes ready objects by scorer name
    (e.g. ``clip_score=ClipScorer(...)`` to reuse a loaded CLIP model)."""
    return [scorer_class(name)(cfg, device, **({"model": loaded[name]} if name in loaded else {}))
            for name in active_scores(cfg)]


def scorer_settings(cfg) -> dict:
    """The settings-fingerprint payload of the active scorers.

    The paper's two keep their flat keys (so score parts made before the seam keep their hash);
    each extra score adds ``extra_scores.<name>``: enabling one moves the scores to a new parts folder.
    """
    payload: dict = {}
    for name in PAPER_SCORERS:
        payload.update(scorer_class(name).settings(cfg))
    extras = {name: scorer_class(name).settings(cfg) for name in (cfg.extra_scores or {})}
    if extras:
        payload["extra_scores"] = extras
    return payload


# --------------------------------------------------------------------------- the combined score


def score_weights(cfg) -> dict[str, float]:
    """Column → weight of the ranking score: clip_score 1, ssim λ, then each extra score's weight."""
    return {"clip_score": 1.0, "ssim": float(cfg.ssim_weight), **{k: float(v) for k, v in
                                                                  (cfg.extra_scores or {}).items()}}


def as_weights(weights: float | Mapping[str, float]) -> dict[str, float]:
    """A weights mapping, or a bare λ meaning the paper's ``{clip_score: 1, ssim: λ}``."""
    if isinstance(weights, Mapping):
        return dict(weights)
    return {"clip_score": 1.0, "ssim": float(weights)}


def combined_score(df: pd.DataFrame, weights: float | Mapping[str, float]) -> pd.Series:
    """The ranking score of each row: ``clip_score + λ·ssim + Σ weight·extra`` (NaN where a value is).

    The one place it is computed. ``weights`` is :func:`score_weights`'s mapping or a bare λ.
    """
    total = None
    for column, weight in as_weights(weights).items():
        if column not in df.columns:
            raise ValueError(f"scores have no {column!r} column: score with selection.extra_scores "
                             f"naming {column!r} (rerun `selection run` / `selection score`)")
        term = df[column].astype(float) if weight == 1.0 else weight * df[column].astype(float)
        total = term if total is None else total + term
    return total if total is not None else pd.Series(np.nan, index=df.index)


def weights_label(weights: float | Mapping[str, float]) -> str:
    """``CLIP + 0.5·SSIM (+ 2·sharpness)``: the combined score's formula for plot labels."""
    parts = []
    for column, weight in as_weights(weights).items():
        label = {"clip_score": "CLIP", "ssim": "SSIM"}.get(column, column)
        parts.append(label if weight == 1.0 else f"{weight:g}·{label}")
    return " + ".join(parts)
