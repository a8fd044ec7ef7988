"""What to generate: one work item per (caption, candidate), its seed, its file, its batch and shard.

Determinism contract. Every item's seed comes from (global seed, caption id, candidate), and batches
are cut from the global item list at fixed boundaries (``batch_size``); shards and resumes take whole
batches. So for a given ``batch_size`` (and device/thread setup) every image is byte-identical whatever
the shard count, rank or resume point. On CPU with ``synthesis.batch_invariant`` (default) it is also
byte-identical whatever the batch size: the few batch-sensitive ops run one image at a time
(``batch_invariance.py``). On CUDA an image changes across batch sizes by float rounding only: cuBLAS
and cuDNN choose kernels per shape, batch included.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from synthvlm_repro.atomic import read_json

IMAGES_SUBDIR = "synthesis/images"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class WorkItem:
    caption_id: str
    candidate: int
    caption: str
    seed: int
    path: str  # relative to the run dir
    batch: int  # index of the global batch this item belongs to


def item_seed(global_seed: int, caption_id: str, candidate: int) -> int:
    """A 63-bit seed from (global seed, caption id, candidate): stable across runs and machines."""
    digest = hashlib.sha256(f"{global_seed}\x1f{caption_id}\x1f{candidate}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def file_stem(caption_id: str) -> str:
    """A filesystem-safe name for a caption id (ids with odd characters get a hash suffix to stay unique)."""
    safe = _UNSAFE.sub("_", caption_id)[:100]
    if safe != caption_id:
        safe += "-" + hashlib.sha256(caption_id.encode()).hexdigest()[:8]
    return safe


def image_folder(caption_id: str) -> str:
    """The ``<shard>`` folder of a caption's images: 256 buckets by id hash, independent of rank count."""
    return hashlib.sha256(caption_id.encode()).hexdigest()[:2]


def image_relpath(caption_id: str, candidate: int, ext: str) -> str:
    return f"{IMAGES_SUBDIR}/{image_folder(caption_id)}/{file_stem(caption_id)}_{candidate}.{ext}"


def load_captions(path: Path) -> list[dict]:
    """Read SynthVLM's ``[{id, caption, image?}]``; a bad file or row is a one-line error naming it."""
    rows = read_json(path, missing="no captions; run stage 01 (caption curation) first",
                     missing_error=FileNotFoundError)
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of {{id, caption}} objects")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("caption"), str) or "id" not in row:
            raise ValueError(f"{path}: row {i}: expected an object with 'id' and a string 'caption'")
        if not row["caption"].strip():
            raise ValueError(f"{path}: row {i} (id {row['id']!r}): empty caption")
        cid = str(row["id"])
        if cid in seen:
            raise ValueError(f"{path}: row {i}: duplicate id {cid!r}")
        seen.add(cid)
    return rows


def plan_items(captions: list[dict], repeat: int, global_seed: int, batch_size: int, ext: str) -> list[WorkItem]:
    """All work items in caption order, candidates adjacent, each tagged with its global batch."""
    items = []
    for row in captions:
        cid = str(row["id"])
        for k in range(repeat):
            n = len(items)
            items.append(WorkItem(cid, k, row["caption"], item_seed(global_seed, cid, k),
                                  image_relpath(cid, k, ext), n // batch_size))
    return items


def batches(items: list[WorkItem]) -> list[list[WorkItem]]:
    """Items grouped by their global batch index, in order."""
    out: dict[int, list[WorkItem]] = {}
    for item in items:
        out.setdefault(item.batch, []).append(item)
    return list(out.values())
