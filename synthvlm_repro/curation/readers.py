"""Streaming caption readers: SynthVLM JSON, LLaVA conversation JSON, JSONL, CSV and Parquet.

Every reader yields :class:`RawChunk` s of at most ``chunk_rows`` rows, so a pool of millions of
captions is never held as Python objects at once. JSON arrays are parsed incrementally with ``ijson``
when it is installed (else the whole file is loaded, with a warning); CSV and Parquet go through
pyarrow's streaming readers. :class:`RowValidator` then checks ids, captions and image paths row by row.

Damage is contained to its row wherever the format allows: a line that is not UTF-8 or not JSON, a CSV
row with the wrong number of fields or undecodable bytes, a non-string caption, an image path outside
its folder each become an *unreadable* or *bad* row (quarantined with ``skip_bad_rows``, else a one-line
error naming file and row). A UTF-8 byte-order mark is accepted in every text format. What cannot be
attributed to a row (a truncated JSON array, a corrupt Parquet file, an empty source) is a one-line
:class:`CaptionInputError`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from synthvlm_repro.conversation import first_gpt_turn

log = logging.getLogger(__name__)

FORMATS = ("synthvlm", "llava", "jsonl", "csv", "parquet")
#: Stands in for each undecodable byte of a JSON array (which cannot be resynchronised per row), so that the
#: row holding it is refused instead of the whole file. A plane-16 private-use character: never in real text.
BAD_BYTE = "\U0010fffd"
codecs.register_error("synthvlm-mark-bad-bytes", lambda err: (BAD_BYTE, err.end))


class CaptionInputError(ValueError):
    """Bad caption input; the message names the file and row."""


def _one_line(text: object, limit: int = 300, first_line: bool = False) -> str:
    """A library's (possibly multi-line) error message as one short line (``first_line``: drop the rest,
    e.g. yajl's quoted context and ``(right here) ---^`` marker)."""
    text = str(text)
    if first_line:
        text = next((part for part in text.splitlines() if part.strip()), text)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "..."


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
    if fmt == "img2dataset" or (fmt == "auto" and path.is_dir()):
        from synthvlm_repro.curation.img2dataset_source import layout, read_img2dataset

        if fmt == "img2dataset" or layout(path) is not None:  # an img2dataset output folder
            yield from read_img2dataset(path, chunk_rows)
            return
    if not path.is_file():
        raise CaptionInputError(f"{path}: caption source is a directory, not a file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {"synthvlm": _read_json_array, "llava": _read_json_array, "jsonl": _read_jsonl,
               "csv": _read_csv, "parquet": _read_parquet}
    if fmt not in readers:
        raise CaptionInputError(f"{path}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    rows = 0
    for chunk in readers[fmt](path, fmt, chunk_rows):
        rows += len(chunk)
        yield chunk
    if rows == 0:  # chosen: an error, not 0 captions with exit 0 (an empty pool is always a mistake)
        raise CaptionInputError(f"{path}: the caption source has no rows")


def _add_unreadable(chunk: RawChunk, row: int, reason: str) -> None:
    chunk.ids.append(None)
    chunk.captions.append(None)
    chunk.images.append(None)
    chunk.unreadable.append((row, reason))


def _add_record(chunk: RawChunk, row: int, record: Any, fmt: str) -> None:
    if not isinstance(record, dict):
        _add_unreadable(chunk, row, f"record is a {type(record).__name__}, not an object")
        return
    chunk.ids.append(record.get("id"))
    chunk.captions.append(first_gpt_turn(record) if fmt == "llava" else record.get("caption"))
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
        head = fh.read(1 << 16)
    if not head.removeprefix(codecs.BOM_UTF8).strip() and len(head) == path.stat().st_size:
        return  # only whitespace: read_chunks reports the empty source
    with open(path, "rb") as raw_fh:
        fh = _MarkedUtf8(raw_fh)
        if ijson is not None:
            records = ijson.items(fh, "item", use_float=True)
        else:
            try:
                records = json.loads(fh.read())
            except (json.JSONDecodeError, RecursionError) as e:
                where = f" at line {e.lineno} column {e.colno}: {e.msg}" if hasattr(e, "lineno") else ": nested too deeply"
                raise CaptionInputError(f"{path}: malformed JSON{where}") from None
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
            raise CaptionInputError(f"{path}: malformed JSON after row {row}: {_one_line(e, first_line=True)}") from None
        except UnicodeDecodeError:  # yajl passes a \\ud800-style escape through as invalid UTF-8
            raise CaptionInputError(f"{path}: malformed JSON after row {row}: a \\u escape encodes a lone "
                                    "surrogate") from None
        if row == 0 and ijson is not None:
            _check_json_top_level(path)
        if len(chunk):
            yield chunk


def _check_json_top_level(path: Path) -> None:
    with open(path, "rb") as fh:
        first = fh.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    if first not in (b"[", b""):
        raise CaptionInputError(f"{path}: top level must be a JSON array of records")


class _MarkedUtf8:
    """A binary file read through a UTF-8 decoder that replaces each undecodable byte by :data:`BAD_BYTE`
    and drops a leading byte-order mark; what ``read`` returns is valid UTF-8 again (for ijson)."""

    def __init__(self, fh, block: int = 1 << 20):
        self.fh, self.block = fh, block
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")("synthvlm-mark-bad-bytes")
        self.buffer, self.pos, self.done = b"", 0, False

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.buffer) - self.pos < size):
            raw = self.fh.read(self.block)
            self.done = not raw
            self.buffer = self.buffer[self.pos:] + self.decoder.decode(raw, final=self.done).encode("utf-8")
            self.pos = 0
        end = len(self.buffer) if size < 0 else self.pos + size
        out, self.pos = self.buffer[self.pos:end], min(end, len(self.buffer))
        return out


def _not_utf8(raw: bytes, err: UnicodeDecodeError) -> str:
    return f"not UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line)"


def _read_jsonl(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    chunk, row = RawChunk(0), 0
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                _add_unreadable(chunk, row, f"line {line_no}: {_not_utf8(raw, e)}")
                line = None
            if line is not None and not line.strip():
                continue
            try:
                record = json.loads(line) if line is not None else None
            except (json.JSONDecodeError, RecursionError) as e:
                msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
                _add_unreadable(chunk, row, f"line {line_no}: malformed JSON ({msg})")
            else:
                if line is not None:
                    fmt_row = "llava" if isinstance(record, dict) and "conversations" in record else fmt
                    _add_record(chunk, row, record, fmt_row)
            row += 1
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = RawChunk(row)
    if len(chunk):
        yield chunk


def _decoded(column, what: str) -> tuple[list, dict[int, str]]:
    """A CSV column read as bytes → ``(strings, {offset: reason})``: UTF-8 is validated in C, and only a
    column holding a bad byte is decoded row by row to find the rows that hold it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_binary(column.type) and not pa.types.is_large_binary(column.type):
        return column.to_pylist(), {}
    try:
        return pc.cast(column, pa.string()).to_pylist(), {}
    except pa.ArrowInvalid:
        pass
    values, problems = [], {}
    for offset, raw in enumerate(column.to_pylist()):
        try:
            values.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            values.append(None)
            problems[offset] = f"{what} {_not_utf8(raw, e).replace(' of the line', '')}"
    return values, problems


def _arrow_chunks(batches, path: Path, chunk_rows: int, pending: list | None = None) -> Iterator[RawChunk]:
    """Chunks of Arrow record batches. ``pending``: rows the CSV parser set aside while reading (ragged
    rows); each is emitted as an unreadable row before the batch it was found in (so its row index is
    approximate; the reason quotes the row's text)."""
    import pyarrow as pa

    row = 0
    try:
        for batch in batches:
            names = batch.schema.names
            for needed in ("id", "caption"):
                if needed not in names:
                    raise CaptionInputError(f"{path}: no {needed!r} column (columns: {', '.join(names)})")
            while pending:
                chunk = RawChunk(row)
                for reason in pending[:chunk_rows]:
                    _add_unreadable(chunk, row, reason)
                    row += 1
                del pending[:chunk_rows]
                yield chunk
            ids, bad_ids = _decoded(batch.column("id"), "id")
            caps, bad_caps = _decoded(batch.column("caption"), "caption")
            imgs, bad_imgs = _decoded(batch.column("image"), "image") if "image" in names else ([None] * len(ids), {})
            problems = {**bad_imgs, **bad_caps, **bad_ids}
            for lo in range(0, len(ids), chunk_rows):
                hi = lo + chunk_rows
                chunk = RawChunk(row + lo, ids[lo:hi], caps[lo:hi], imgs[lo:hi])
                chunk.unreadable = [(row + o, why) for o, why in sorted(problems.items()) if lo <= o < hi]
                yield chunk
            row += len(ids)
    except (pa.ArrowException, OSError) as e:  # a corrupt file: nothing to attribute to one row
        raise CaptionInputError(f"{path}: unreadable {path.suffix.lstrip('.') or 'table'} file after row {row}: "
                                f"{_one_line(e)}") from None
    if pending:  # ragged rows after the last batch
        chunk = RawChunk(row)
        for offset, reason in enumerate(pending):
            _add_unreadable(chunk, row + offset, reason)
        yield chunk


def _read_parquet(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
    except (pa.ArrowException, OSError) as e:
        raise CaptionInputError(f"{path}: not a readable Parquet file: {_one_line(e)}") from None
    columns = [c for c in ("id", "caption", "image") if c in names]
    yield from _arrow_chunks(pf.iter_batches(batch_size=chunk_rows, columns=columns), path, chunk_rows)


def _read_csv(path: Path, fmt: str, chunk_rows: int) -> Iterator[RawChunk]:
    """CSV/TSV through pyarrow; the three columns are read as bytes and decoded per row (see ``_decoded``),
    rows with the wrong number of fields are set aside by pyarrow's ``invalid_row_handler``. pyarrow
    skips a UTF-8 byte-order mark itself."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    ragged: list[str] = []

    def set_aside(bad_row) -> str:
        ragged.append(f"malformed CSV row ({bad_row.actual_columns} fields, expected {bad_row.expected_columns}): "
                      f"{bad_row.text[:120]!r}")
        return "skip"

    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), None)
    except csv.Error as e:
        raise CaptionInputError(f"{path}: malformed CSV header: {_one_line(e)}") from None
    if not header or not "".join(header).strip():
        raise CaptionInputError(f"{path}: the caption source has no rows")
    for needed in ("id", "caption"):
        if needed not in header:
            raise CaptionInputError(f"{path}: no {needed!r} column (columns: {_one_line(', '.join(header))})")
    wanted = [name for name in ("id", "caption", "image") if name in header]  # other columns are never parsed
    produced = False
    with _quiet_row_decode_errors():
        try:
            reader = pcsv.open_csv(
                path, read_options=pcsv.ReadOptions(block_size=1 << 22),
                parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                                invalid_row_handler=set_aside),
                convert_options=pcsv.ConvertOptions(column_types={name: pa.binary() for name in wanted},
                                                    strings_can_be_null=False, include_columns=wanted))
            for chunk in _arrow_chunks(reader, path, chunk_rows, ragged):
                produced = True
                yield chunk
            return
        except (pa.ArrowException, OSError, CaptionInputError) as e:
            if produced:  # rows already went downstream: cannot restart, stop with the reason
                raise CaptionInputError(f"{path}: malformed CSV: {_one_line(e)}") from None
    # pyarrow gave up before the first chunk (e.g. a ragged row that is also not UTF-8: pyarrow cannot
    # even build the text it hands to the handler): read it again row by row with the csv module.
    yield from _read_csv_rows(path, delimiter, chunk_rows)


@contextlib.contextmanager
def _quiet_row_decode_errors():
    """pyarrow reports a ragged row it cannot decode for ``invalid_row_handler`` through
    ``sys.unraisablehook`` (a printed traceback) before failing; :func:`_read_csv_rows` then reports
    that row properly, so that one kind of message is silenced while pyarrow reads."""
    previous = sys.unraisablehook

    def hook(args):
        if not isinstance(args.exc_value, UnicodeDecodeError):
            previous(args)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _read_csv_rows(path: Path, delimiter: str, chunk_rows: int) -> Iterator[RawChunk]:
    """The slow, exact CSV path: Python's csv module over the file decoded with ``surrogateescape``, so
    every ragged or non-UTF-8 row is one unreadable row naming its line."""
    csv.field_size_limit(1 << 30)
    chunk, row = RawChunk(0), 0
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader)
            where = {name: header.index(name) for name in ("id", "caption", "image") if name in header}
            for fields in reader:
                if not fields:
                    continue
                line = reader.line_num
                if len(fields) != len(header):
                    shown = delimiter.join(fields)[:120].encode("utf-8", "surrogateescape").decode("latin-1")
                    _add_unreadable(chunk, row, f"line {line}: malformed CSV row ({len(fields)} fields, expected "
                                                f"{len(header)}): {shown!r}")
                else:
                    values = {name: fields[i] for name, i in where.items()}
                    bad = next((name for name, v in values.items() if _text_problem(name, v)), None)
                    if bad:
                        _add_unreadable(chunk, row, f"line {line}: {bad} not UTF-8")
                    else:
                        chunk.ids.append(values["id"])
                        chunk.captions.append(values["caption"])
                        chunk.images.append(values.get("image"))
                row += 1
                if len(chunk) >= chunk_rows:
                    yield chunk
                    chunk = RawChunk(row)
    except csv.Error as e:
        raise CaptionInputError(f"{path}: malformed CSV after row {row}: {_one_line(e)}") from None
    if len(chunk):
        yield chunk


def _text_problem(what: str, value: str) -> str | None:
    """Why ``value`` cannot be stored as UTF-8 text, or ``None``."""
    if BAD_BYTE in value:
        return f"{what} is not valid UTF-8 (undecodable bytes)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\\ud800" escape in JSON
        return f"{what} is not valid Unicode (lone surrogate)"
    return None


class RowValidator:
    """Checks ids, captions and image paths across a whole source; keeps the set of ids seen (for duplicates).

    ``check(chunk)`` returns ``(good, bad)``: ``good`` = ``(row, id, caption, image)`` tuples,
    ``bad`` = ``(row, id, caption, reason)``. With ``skip_bad_rows`` false the first bad row raises
    :class:`CaptionInputError` naming the file, the row and the problem.

    With ``image_root`` set, each ``image`` goes through :func:`~synthvlm_repro.path_policy.resolve_within`:
    a path leaving ``image_root`` (``../``, a symlink out) or an absolute one (unless ``allow_absolute_images``)
    makes the row bad, and good rows carry the resolved absolute path. Without it, paths are only type-checked.
    """

    def __init__(self, source: str | Path, skip_bad_rows: bool = False, image_root: str | Path | None = None,
                 allow_absolute_images: bool = False):
        self.source = str(source)
        self.skip_bad_rows = skip_bad_rows
        self.image_root = None if image_root is None else Path(image_root).resolve()
        self.allow_absolute_images = allow_absolute_images
        self.seen_ids: set[str] = set()

    def _problem(self, cid: Any, caption: Any, image: Any) -> str | None:
        if cid is None or (isinstance(cid, str) and not cid.strip()):
            return "missing id"
        if isinstance(cid, bool) or not isinstance(cid, (str, int)):
            return f"id must be a string or an integer, got {type(cid).__name__}"
        if isinstance(cid, str) and (problem := _text_problem("id", cid)):
            return problem
        if str(cid) in self.seen_ids:
            return f"duplicate id {_one_line(repr(str(cid)), 120)}"
        if caption is None:
            return "missing caption"
        if not isinstance(caption, str):
            return f"caption must be a string, got {type(caption).__name__}"
        if not caption.strip():
            return "empty caption"
        if problem := _text_problem("caption", caption):
            return problem
        if image is not None and not isinstance(image, str):
            return f"image must be a path string, got {type(image).__name__}"
        if image and (problem := _text_problem("image", image)):
            return problem
        return None

    def _resolve_image(self, image: str | None) -> str | None:
        """The image path as the later steps use it; raises :class:`PathPolicyError` if refused."""
        if not image:
            return None
        if self.image_root is None:
            return image
        from synthvlm_repro.path_policy import resolve_within

        return str(resolve_within(self.image_root, image, allow_absolute=self.allow_absolute_images, what="image"))

    def check(self, chunk: RawChunk):
        from synthvlm_repro.path_policy import PathPolicyError

        unreadable = dict(chunk.unreadable)
        good, bad = [], []
        for offset, (cid, caption, image) in enumerate(zip(chunk.ids, chunk.captions, chunk.images)):
            row = chunk.start + offset
            reason = unreadable.get(row) or self._problem(cid, caption, image)
            if reason is None:
                try:
                    image = self._resolve_image(image)
                except PathPolicyError as e:
                    reason = f"{e} (curation.allow_absolute_image_paths)" if "absolute" in str(e) else str(e)
            if reason is None:
                cid = str(cid)
                self.seen_ids.add(cid)
                good.append((row, cid, caption, image))
                continue
            shown_id = _one_line(repr(cid), 80)
            if not self.skip_bad_rows:
                raise CaptionInputError(f"{self.source}: row {row} (id {shown_id}): {reason} "
                                        f"(set curation.skip_bad_rows=true to quarantine such rows)")
            storable = cid is not None and not (isinstance(cid, str) and _text_problem("id", cid))
            bad.append((row, str(cid) if storable else None,
                        caption if isinstance(caption, str) and not _text_problem("caption", caption) else None,
                        reason))
        return good, bad
