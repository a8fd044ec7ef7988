"""Streaming caption readers: SynthVLM JSON, LLaVA conversation JSON, JSONL, CSV and Parquet.

Every reader yields :class:`RawChunk` s of at most ``chunk_rows`` rows, so a pool of millions of
captions is never held as Python objects at once. JSON arrays are parsed incrementally with ``ijson``
when it is installed (else the whole file is loaded, with a warning); CSV and Parquet go through
pyarrow's streaming readers. :class:`RowValidator` then checks ids and captions row by row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

FORMATS = ("synthvlm", "llava", "jsonl", "csv", "parquet")


class CaptionInputError(ValueError):
    """Bad caption input; the message names the file and row."""


@dataclass
class RawChunk:
    """Rows as read: parallel lists, plus rows that could not even be read (``(row, reason)``)."""

    start: int  # source row index of the first row
    ids: list[Any] = field(default_factory=list)
    captions: list[Any] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def detect_format(path: Path) -> str:
    """The reader for ``path``, from its suffix (and for ``.json``, its first record)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix != ".json":
        raise CaptionInputError(f"{path}: cannot tell the format from the suffix {suffix!r}; "
                                f"set curation.source_format to one of {', '.join(FORMATS)}")
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    return "llava" if '"conversations"' in head else "synthvlm"


def read_chunks(path: str | Path, fmt: str = "auto", chunk_rows: int = 50_000) -> Iterator[RawChunk]:
    """Stream ``path`` in chunks of at most ``chunk_rows`` rows."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: caption source not found")
    if fmt == "img2dataset" or (fmt == "auto" and path.is_dir()):  # an img2dataset output folder
        from synthvlm_repro.curation.img2dataset_source import read_img2dataset
        yield from read_img2dataset(path, chunk_rows)
        return
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {"synthvlm": _read_json_array, "llava": _read_json_array, "jsonl": _read_jsonl,
               "csv": _read_csv, "parquet": _read_parquet}
    if fmt not in readers:
        raise CaptionInputError(f"{path}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    yield from readers[fmt](path, fmt, chunk_rows)


def _llava_caption(record: dict) -> Any:
    for turn in record.get("conversations") or []:
        if isinstance(turn, dict) and turn.get("from") == "gpt":
            return turn.get("value")
    return None


def _add_record(chunk: RawChunk, row: int, record: Any, fmt: str) -> None:
    if not isinstance(record, dict):
        chunk.ids.append(None)
        chunk.captions.append(None)
        chunk.images.append(None)
        chunk.unreadable.append((row, f"record is a {type(record).__name__}, not an object"))
        return
    chunk.ids.append(record.get("id"))
    chunk.captions.append(_llava_caption(record) if fmt == "llava" else record.get("caption"))
    chunk.images.append(record.get("image"))


def _read_json_array(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    try:
        import ijson
    except ImportError:
        ijson = None
        log.warning("%s: ijson is not installed, loading the whole JSON file into memory "
                    "(pip install ijson to stream it)", path)
    json_error = ijson.JSONError if ijson is not None else ()
    with open(path, "rb") as fh:
        if ijson is not None:
            records = ijson.items(fh, "item", use_float=True)
        else:
            try:
                records = json.load(fh)
            except json.JSONDecodeError as e:
                raise CaptionInputError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
            if not isinstance(records, list):
                raise CaptionInputError(f"{path}: top level must be a JSON array of records")
        chunk, row = RawChunk(0), 0
        try:
            for record in records:
                _add_record(chunk, row, record, fmt)
                row += 1
                if len(chunk) >= chunk_rows:
                    yield chunk
                    chunk = RawChunk(row)
        except json_error as e:  # only reachable with ijson
            raise CaptionInputError(f"{path}: malformed JSON after row {row}: {e}") from None
        if row == 0 and ijson is not None:
            _check_json_top_level(path)
        if len(chunk):
            yield chunk


def _check_json_top_level(path: Path) -> None:
    with open(path, "rb") as fh:
        first = fh.read(4096).lstrip()[:1]
    if first not in (b"[", b""):
        raise CaptionInputError(f"{path}: top level must be a JSON array of records")


def _read_jsonl(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    chunk, row = RawChunk(0), 0
    with open(path, "r", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                chunk.ids.append(None)
                chunk.captions.append(None)
                chunk.images.append(None)
                chunk.unreadable.append((row, f"line {line_no}: malformed JSON ({e.msg})"))
            else:
                fmt_row = "llava" if isinstance(record, dict) and "conversations" in record else fmt
                _add_record(chunk, row, record, fmt_row)
            row += 1
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = RawChunk(row)
    if len(chunk):
        yield chunk


def _arrow_chunks(batches, path: Path, chunk_rows: int) -> Iterator[RawChunk]:
    row = 0
    for batch in batches:
        names = batch.schema.names
        for needed in ("id", "caption"):
            if needed not in names:
                raise CaptionInputError(f"{path}: no {needed!r} column (columns: {', '.join(names)})")
        ids = batch.column("id").to_pylist()
        caps = batch.column("caption").to_pylist()
        imgs = batch.column("image").to_pylist() if "image" in names else [None] * len(ids)
        for lo in range(0, len(ids), chunk_rows):
            hi = lo + chunk_rows
            yield RawChunk(row + lo, ids[lo:hi], caps[lo:hi], imgs[lo:hi])
        row += len(ids)


def _read_parquet(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    columns = [c for c in ("id", "caption", "image") if c in pf.schema_arrow.names]
    yield from _arrow_chunks(pf.iter_batches(batch_size=chunk_rows, columns=columns), path, chunk_rows)


def _read_csv(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    types = {name: pa.string() for name in ("id", "caption", "image")}
    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22),
                               parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                               convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False))
        yield from _arrow_chunks(reader, path, chunk_rows)
    except pa.ArrowInvalid as e:
        raise CaptionInputError(f"{path}: malformed CSV: {e}") from None


class RowValidator:
    """Checks ids and captions across a whole source; keeps the set of ids seen (for duplicates).

    ``check(chunk)`` returns ``(good, bad)``: ``good`` = ``(row, id, caption, image)`` tuples,
    ``bad`` = ``(row, id, caption, reason)``. With ``skip_bad_rows`` false the first bad row raises
    :class:`CaptionInputError` naming the file, the row and the problem.
    """

    def __init__(self, source: str | Path, skip_bad_rows: bool = False):
        self.source = str(source)
        self.skip_bad_rows = skip_bad_rows
        self.seen_ids: set[str] = set()

    def _problem(self, cid: Any, caption: Any, image: Any) -> str | None:
        if cid is None or (isinstance(cid, str) and not cid.strip()):
            return "missing id"
        if isinstance(cid, bool) or not isinstance(cid, (str, int)):
            return f"id must be a string or an integer, got {type(cid).__name__}"
        if str(cid) in self.seen_ids:
            return f"duplicate id {str(cid)!r}"
        if caption is None:
            return "missing caption"
        if not isinstance(caption, str):
            return f"caption must be a string, got {type(caption).__name__}"
        if not caption.strip():
            return "empty caption"
        if image is not None and not isinstance(image, str):
            return f"image must be a path string, got {type(image).__name__}"
        return None

    def check(self, chunk: RawChunk):
        unreadable = dict(chunk.unreadable)
        good, bad = [], []
        for offset, (cid, caption, image) in enumerate(zip(chunk.ids, chunk.captions, chunk.images)):
            row = chunk.start + offset
            reason = unreadable.get(row) or self._problem(cid, caption, image)
            if reason is None:
                cid = str(cid)
                self.seen_ids.add(cid)
                good.append((row, cid, caption, image or None))
                continue
            if not self.skip_bad_rows:
                raise CaptionInputError(f"{self.source}: row {row} (id {cid!r}): {reason} "
                                        f"(set curation.skip_bad_rows=true to quarantine such rows)")
            bad.append((row, None if cid is None else str(cid), caption if isinstance(caption, str) else None,
                        reason))
        return good, bad
