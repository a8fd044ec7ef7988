"""Checksums the HF cache already knows: its blob names.

A cached file ``snapshots/<commit>/<file>`` links to ``blobs/<etag>``; for LFS files the etag is the
file's sha256, for small git-stored files it is git's blob sha1 (``sha1(b"blob <size>\\0" + content)``).
Written by hand because huggingface_hub exposes no function that verifies a file against its etag.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


def blob_digest(cached: Path) -> str | None:
    """``sha256:<hex>`` or ``git-sha1:<hex>`` from the cache blob ``cached`` points to, else None."""
    name = Path(cached).resolve().name
    if _SHA256.fullmatch(name):
        return f"sha256:{name}"
    if _SHA1.fullmatch(name):
        return f"git-sha1:{name}"
    return None


def file_digest(path: Path, like: str) -> str:
    """The digest of ``path`` in the same scheme as ``like`` (``sha256:...`` or ``git-sha1:...``)."""
    scheme = like.split(":", 1)[0]
    if scheme == "sha256":
        h = hashlib.sha256()
    elif scheme == "git-sha1":
        h = hashlib.sha1()
        h.update(b"blob %d\0" % path.stat().st_size)
    else:
        raise ValueError(f"unknown digest scheme {scheme!r}")
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"{scheme}:{h.hexdigest()}"
