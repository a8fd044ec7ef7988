"""The one rule for paths read from data (caption images, manifest paths, answer files).

A path that comes from a data file is resolved against the folder it is declared relative to (its
*root*) and refused when it leaves that folder: ``../x.jpg``, a symlink pointing out, or an absolute
path. Absolute paths are accepted only where a config key says so (``allow_absolute=True``).
Callers decide what refusal means: quarantine the row with the error's message as its reason, or
stop with a one-line error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


class PathPolicyError(ValueError):
    """A data path that is empty, not a string, or outside its root. The message is one line."""


def resolve_within(root: str | os.PathLike, value: object, *, allow_absolute: bool = False,
                   what: str = "path") -> Path:
    """``value`` resolved under ``root`` (symlinks followed); :class:`PathPolicyError` if it leaves it.

    ``value`` may be any object read from a file: ``None``, NaN, numbers and empty strings are
    refused with a reason rather than crashing later in ``open``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise PathPolicyError(f"{what} is missing")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise PathPolicyError(f"{what} is not a string: {value!r}")
    if not value.strip():
        raise PathPolicyError(f"{what} is empty")
    if "\x00" in value:
        raise PathPolicyError(f"{what} contains a NUL byte: {value!r}")
    root_resolved = Path(root).resolve()
    candidate = Path(value)
    if candidate.is_absolute():
        if not allow_absolute:
            raise PathPolicyError(f"{what} {value!r} is absolute; only paths relative to {root_resolved} are allowed")
        return candidate.resolve()
    resolved = (root_resolved / candidate).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathPolicyError(f"{what} {value!r} leaves its folder {root_resolved}")
    return resolved


def is_within(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True when ``path`` (resolved, symlinks followed) lies inside ``root``."""
    root_resolved = Path(root).resolve()
    resolved = Path(path).resolve()
    return resolved == root_resolved or root_resolved in resolved.parents
