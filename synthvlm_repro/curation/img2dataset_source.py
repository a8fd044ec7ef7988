"""img2dataset output folders as a caption source, images read in place (never unpacked).

img2dataset (github.com/rom1504/img2dataset, ``writer.py``) writes one of three layouts, every shard
named by a zero-padded number:

- ``--output_format webdataset``: ``00000.tar`` holding ``{key}.jpg``, ``{key}.txt`` (caption) and
  ``{key}.json`` (metadata) per sample, with ``00000.parquet`` (metadata of every URL) beside it;
- ``--output_format parquet``: ``00000.parquet`` with ``key``, ``url``, ``caption``/``txt``, ``status``, ...
  and the encoded image in a binary ``jpg`` column;
- ``--output_format files``: ``00000/{key}.jpg``, ``.txt`` and ``.json``, with ``00000.parquet`` beside.

A source row is a sample img2dataset stored an image for (``status == "success"``); its id is the
img2dataset ``key``, its caption the ``.txt`` (else the metadata's ``caption``). The ``image`` of a row
is relative to the folder: a plain path for ``files``, ``00000.tar#{key}.jpg`` for a tar member and
``00000.parquet#{row}`` for a parquet row; :mod:`synthvlm_repro.curation.image_stream` opens these
by seeking to the member's bytes (tar) or reading the one row group (parquet).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Iterator

from synthvlm_repro.curation.readers import CaptionInputError, RawChunk

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def layout(folder: Path) -> str | None:
    """``"webdataset"``, ``"parquet"``, ``"files"`` or ``None`` (not an img2dataset folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if any(folder.glob("*.tar")):
        return "webdataset"
    parquets = sorted(folder.glob("*.parquet"))
    if parquets:
        import pyarrow.parquet as pq

        if "jpg" in pq.read_schema(parquets[0]).names:
            return "parquet"
    if any(p.is_dir() and any(p.glob("*.txt")) for p in folder.iterdir()):
        return "files"
    return None


def read_img2dataset(folder: str | Path, chunk_rows: int = 50_000) -> Iterator[RawChunk]:
    """Stream the samples of an img2dataset output folder in chunks of at most ``chunk_rows`` rows."""
    folder = Path(folder)
    kind = layout(folder)
    if kind is None:
        raise CaptionInputError(f"{folder}: not an img2dataset output folder (no *.tar, no parquet with a 'jpg' "
                                "column, no shard folders with .txt captions)")
    samples = {"webdataset": _tar_samples, "parquet": _parquet_samples, "files": _file_samples}[kind](folder)
    chunk, row = RawChunk(0), 0
    for key, caption, image in samples:
        chunk.ids.append(key)
        chunk.captions.append(caption)
        chunk.images.append(image)
        row += 1
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = RawChunk(row)
    if len(chunk):
        yield chunk


def _caption(text: bytes | None, meta: bytes | None) -> str | None:
    if text is not None:
        return text.decode("utf-8", errors="replace")
    if meta is not None:
        try:
            value = json.loads(meta).get("caption")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    return None


def _split(name: str) -> tuple[str, str]:
    """``"000000012.jpg"`` -> ``("000000012", ".jpg")`` (webdataset: the key ends at the first dot)."""
    base = name.rsplit("/", 1)[-1]
    key, _, ext = base.partition(".")
    return key, "." + ext.lower()


def _tar_samples(folder: Path):
    for tar_path in sorted(folder.glob("*.tar")):
        try:
            with tarfile.open(tar_path, "r:") as tar:  # random-access mode: headers are read, data is seeked over
                sample: dict = {}
                for member in tar:
                    if not member.isfile():
                        continue
                    key, ext = _split(member.name)
                    if sample and key != sample["key"]:
                        yield from _finish(sample, tar_path.name)
                        sample = {}
                    sample.setdefault("key", key)
                    if ext in IMAGE_EXTENSIONS:
                        sample["image"] = member.name
                    elif ext in (".txt", ".json"):
                        sample[ext] = tar.extractfile(member).read()
                if sample:
                    yield from _finish(sample, tar_path.name)
        except tarfile.TarError as e:
            raise CaptionInputError(f"{tar_path}: unreadable tar ({e})") from None


def _finish(sample: dict, container: str):
    if "image" in sample:  # samples without an image were not stored by img2dataset's writer anyway
        yield sample["key"], _caption(sample.get(".txt"), sample.get(".json")), f"{container}#{sample['image']}"


def _parquet_samples(folder: Path):
    import pyarrow.parquet as pq

    for path in sorted(folder.glob("*.parquet")):
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        text_col = "txt" if "txt" in names else "caption" if "caption" in names else None
        if "key" not in names:
            raise CaptionInputError(f"{path}: no 'key' column (columns: {', '.join(names)})")
        columns = ["key"] + [c for c in (text_col, "status") if c and c in names]
        row = 0
        for batch in pf.iter_batches(columns=columns, batch_size=8192):
            keys = batch.column("key").to_pylist()
            texts = batch.column(text_col).to_pylist() if text_col else [None] * len(keys)
            status = batch.column("status").to_pylist() if "status" in names else ["success"] * len(keys)
            for i, (key, text, st) in enumerate(zip(keys, texts, status)):
                if st == "success":
                    yield key, text, f"{path.name}#{row + i}"
            row += len(keys)


def _file_samples(folder: Path):
    for shard in sorted(p for p in folder.iterdir() if p.is_dir()):
        for image in sorted(p for p in shard.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS):
            text, meta = image.with_suffix(".txt"), image.with_suffix(".json")
            caption = _caption(text.read_bytes() if text.exists() else None,
                               meta.read_bytes() if meta.exists() else None)
            yield image.stem, caption, f"{shard.name}/{image.name}"
