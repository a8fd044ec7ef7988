"""Atomic file writes: write to a temp file in the same folder, fsync, then ``os.replace``.

A crash leaves either the old file or the new one, never a half-written file. Also the one JSON reader
whose errors are a single line naming the file (:func:`read_json`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open`` that only makes the file visible once it is completely written."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")
    return Path(path)


def write_parquet(path: str | os.PathLike, table: Any) -> Path:
    """Write a pyarrow Table or pandas DataFrame as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def build_cached_dir(target: str | os.PathLike, build) -> Path:
    """``target``, built once: ``build(tmp)`` fills a temp folder beside it and returns a record that is
    written to ``.complete``; the folder is then renamed into place. A folder with ``.complete`` is reused;
    a crash leaves no half-built ``target``; when two processes race, the first rename wins."""
    import shutil

    target = Path(target)
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        record = build(tmp)
        (tmp / ".complete").write_text(json.dumps(record, indent=1))
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race; its copy is equivalent
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_json(path: str | os.PathLike, error: type[Exception] = ValueError, missing: str = "file not found",
              missing_error: type[Exception] | None = None) -> Any:
    """Parse the JSON file ``path``. A missing file raises ``missing_error`` (default ``error``) with
    ``"<path>: <missing>"``; invalid JSON raises ``error`` with ``"<path>: invalid JSON at line N: why"``."""
    path = Path(path)
    if not path.exists():
        raise (missing_error or error)(f"{path}: {missing}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise error(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
