"""Images for the image-text filters: plain files, tar members and parquet cells, decoded in DataLoader
workers (stage 03's pattern) and handed to the filter model in order.

A tar member is ``<file>.tar#<member>``, a parquet cell ``<file>.parquet#<row>`` (img2dataset layouts,
:mod:`synthvlm_repro.curation.img2dataset_source`). Members are read by seeking to their bytes (the tar's
header index is built once per worker) and parquet images from their row group, never unpacked to disk.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from synthvlm_repro.curation.image_text import load_rgb
from synthvlm_repro.runtime.distributed import cpu_cores_per_rank

FETCH = 8  # images per worker fetch; the main process regroups them into model batches


def split_ref(ref: str) -> tuple[Path, str] | None:
    """``(container, member)`` for a ``.tar#member`` / ``.parquet#row`` reference, else ``None``."""
    head, sep, member = str(ref).rpartition("#")
    if sep and head.lower().endswith((".tar", ".parquet")) and member and not Path(ref).exists():
        return Path(head), member
    return None


@lru_cache(maxsize=16)
def _tar_index(path: Path) -> dict[str, tuple[int, int]]:
    """Member name -> ``(data offset, size)``; only headers are read."""
    import tarfile

    with tarfile.open(path, "r:") as tar:
        return {m.name: (m.offset_data, m.size) for m in tar if m.isfile()}


@lru_cache(maxsize=16)
def _parquet_groups(path: Path) -> list[int]:
    """First row of every row group, and the total row count at the end."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    starts = [0]
    for g in range(meta.num_row_groups):
        starts.append(starts[-1] + meta.row_group(g).num_rows)
    return starts


@lru_cache(maxsize=2)
def _parquet_group_images(path: Path, group: int) -> list:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=["jpg"]).column("jpg").to_pylist()


def member_bytes(container: Path, member: str) -> bytes:
    if container.suffix.lower() == ".tar":
        index = _tar_index(container)
        if member not in index:
            raise FileNotFoundError(f"{container}#{member}: no such member in the tar")
        offset, size = index[member]
        with open(container, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)
    import bisect

    row = int(member)
    starts = _parquet_groups(container)
    if not 0 <= row < starts[-1]:
        raise FileNotFoundError(f"{container}#{member}: row out of range ({starts[-1]} rows)")
    group = bisect.bisect_right(starts, row) - 1
    data = _parquet_group_images(container, group)[row - starts[group]]
    if data is None:
        raise FileNotFoundError(f"{container}#{member}: no image stored in this row")
    return data


def open_image(ref: str):
    """The RGB image a caption's ``image`` names (file, tar member or parquet cell); one-line errors."""
    parts = split_ref(ref)
    if parts is None:
        return load_rgb(ref)
    from PIL import Image, UnidentifiedImageError

    try:
        data = member_bytes(*parts)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}: image not found") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{ref}: unreadable image ({e})") from None


def image_exists(ref: str) -> bool:
    """Whether ``ref`` names an existing file, tar member or stored parquet image."""
    parts = split_ref(ref)
    if parts is None:
        return Path(ref).exists()
    container, member = parts
    if not container.is_file():
        return False
    if container.suffix.lower() == ".tar":
        return member in _tar_index(container)
    return member.isdigit() and int(member) < _parquet_groups(container)[-1]


class _Decode:
    """Map-style dataset: position ``i`` -> ``(i, RGB image or None, error message)``."""

    def __init__(self, refs: Sequence[str]):
        self.refs = list(refs)

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int):
        try:
            return i, open_image(self.refs[i]), ""
        except (FileNotFoundError, ValueError) as e:
            return i, None, str(e)


def stream_images(refs: Sequence[str], batch_size: int, workers: int | None = None) -> Iterator[list]:
    """Decoded RGB images of ``refs`` in order, ``batch_size`` per list, decoded by ``workers`` DataLoader
    workers (default: this rank's share of the cores minus one, none on <= 2 cores; 0 = in this process).
    An unreadable image raises ``ValueError`` (a missing one ``FileNotFoundError``) naming it."""
    from torch.utils.data import DataLoader

    if workers is None:  # the main process keeps a core for the model; on <= 2 cores workers only add
        cores = cpu_cores_per_rank()  # IPC
        workers = cores - 1 if cores > 2 else 0
    workers = min(workers, -(-len(refs) // FETCH)) if refs else 0
    loader = DataLoader(_Decode(refs), batch_size=FETCH, num_workers=workers, collate_fn=list,
                        prefetch_factor=max(2, -(-2 * batch_size // (FETCH * workers))) if workers else None)
    pending: list = []
    for fetched in loader:
        for i, image, error in fetched:
            if image is None:
                raise (FileNotFoundError if "not found" in error else ValueError)(error)
            pending.append(image)
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]
    if pending:
        yield pending
