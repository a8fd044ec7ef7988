"""Issue 16: skip_bad_rows works per row for every reader and every kind of damage; strict mode names the
file and row in one line; image paths never leave their folder; empty and directory sources are errors."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthvlm_repro.curation.readers import CaptionInputError, RowValidator, read_chunks

GOOD = [{"id": "a", "caption": "A red car parked on a quiet street."}, {"id": "b", "caption": "A dog on a beach."}]


def read_all(path, skip_bad_rows=True, image_root=None, allow_absolute=False, chunk_rows=2):
    """Every row of ``path`` through the reader and the validator, as the pipeline reads them."""
    extra = () if image_root is None else (image_root, allow_absolute)
    validator = RowValidator(path, skip_bad_rows, *extra)
    good, bad = [], []
    for chunk in read_chunks(path, "auto", chunk_rows=chunk_rows):
        g, b = validator.check(chunk)
        good += g
        bad += b
    return good, bad


def strict_error(path, **kwargs) -> str:
    with pytest.raises(CaptionInputError) as e:
        read_all(path, skip_bad_rows=False, **kwargs)
    text = str(e.value)
    assert "\n" not in text and str(path) in text
    return text


def jsonl_bytes(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_reader_latin1_line_in_jsonl_is_one_bad_row(tmp_path):
    src = tmp_path / "pool.jsonl"
    latin = '{"id": "c", "caption": "Un caf\xe9 au coin de la rue."}\n'.encode("latin-1")
    src.write_bytes(jsonl_bytes(GOOD[:1]) + latin + jsonl_bytes(GOOD[1:]))
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a", "b"]
    assert [(row, reason) for row, _, _, reason in bad] == [
        (1, "line 2: not UTF-8 (byte 0xe9 at byte 31 of the line)")]
    assert "row 1 (id None): line 2: not UTF-8" in strict_error(src)


def test_reader_invalid_json_line_and_non_string_captions_are_bad_rows(tmp_path):
    src = tmp_path / "pool.jsonl"
    src.write_bytes(jsonl_bytes(GOOD[:1]) + b'{"id": "x", "caption": \n' + jsonl_bytes(
        [{"id": "n", "caption": 3}, {"id": "l", "caption": ["a"]}, {"id": "f", "caption": float("nan")}])
        + b"[" * 5000 + b"\n" + jsonl_bytes(GOOD[1:]))
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a", "b"]
    assert [reason for *_, reason in bad] == [
        "line 2: malformed JSON (Expecting value)", "caption must be a string, got int",
        "caption must be a string, got list", "caption must be a string, got float",
        "line 6: malformed JSON (nested too deeply)"]
    assert "row 1 (id None): line 2: malformed JSON" in strict_error(src)


def test_reader_ragged_and_latin1_csv_rows_are_bad_rows(tmp_path):
    src = tmp_path / "pool.csv"
    src.write_bytes(b"id,caption,image\na,A red car parked on a quiet street.,\nr,too,many,fields\n"
                    b"c,Un caf\xe9 au coin.,\nd,\"A caption\nover two lines.\",\nb,A dog on a beach.,\n")
    good, bad = read_all(src)
    assert [(g[1], g[2]) for g in good] == [("a", GOOD[0]["caption"]), ("d", "A caption\nover two lines."),
                                            ("b", GOOD[1]["caption"])]
    reasons = sorted(reason for *_, reason in bad)
    assert reasons == ["caption not UTF-8 (byte 0xe9 at byte 7)",
                       "malformed CSV row (4 fields, expected 3): 'r,too,many,fields'"]
    assert "malformed CSV row (4 fields, expected 3)" in strict_error(src)


def test_reader_latin1_record_in_a_json_array_is_one_bad_row(tmp_path):
    src = tmp_path / "pool.json"
    records = json.dumps(GOOD[:1] + [{"id": "c", "caption": "Un cafXX au coin."}] + GOOD[1:])
    src.write_bytes(records.encode().replace(b"XX", b"\xe9"))
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a", "b"]
    assert [(row, cid, reason) for row, cid, _, reason in bad] == [
        (1, "c", "caption is not valid UTF-8 (undecodable bytes)")]
    assert "row 1 (id 'c'): caption is not valid UTF-8" in strict_error(src)


@pytest.mark.parametrize("suffix", ["json", "jsonl", "csv"])
def test_reader_accepts_a_utf8_bom(tmp_path, suffix):
    src = tmp_path / f"pool.{suffix}"
    body = {"json": json.dumps(GOOD).encode(), "jsonl": jsonl_bytes(GOOD),
            "csv": ("id,caption\n" + "".join(f"{r['id']},{r['caption']}\n" for r in GOOD)).encode()}[suffix]
    src.write_bytes(b"\xef\xbb\xbf" + body)
    good, bad = read_all(src, skip_bad_rows=False)
    assert [(g[1], g[2]) for g in good] == [(r["id"], r["caption"]) for r in GOOD] and bad == []


def test_reader_lone_surrogate_is_a_bad_row_not_a_crash(tmp_path):
    src = tmp_path / "pool.jsonl"
    src.write_bytes(jsonl_bytes(GOOD[:1]) + b'{"id": "s", "caption": "half \\ud800 a pair"}\n')
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a"]
    assert [reason for *_, reason in bad] == ["caption is not valid Unicode (lone surrogate)"]


@pytest.mark.parametrize("content", [b"", b"[]", b"  \n"])
@pytest.mark.parametrize("suffix", ["json", "jsonl", "csv"])
def test_reader_empty_source_is_an_error(tmp_path, suffix, content):
    src = tmp_path / f"pool.{suffix}"
    src.write_bytes(content if suffix == "json" else content.replace(b"[]", b""))
    with pytest.raises(CaptionInputError, match=r"pool\.\w+: the caption source has no rows$"):
        read_all(src)


def test_reader_empty_parquet_is_an_error(tmp_path):
    src = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "caption": pa.array([], pa.string())}), src)
    with pytest.raises(CaptionInputError, match="the caption source has no rows"):
        read_all(src)


def test_reader_directory_named_like_a_source_is_one_line_error(tmp_path):
    (tmp_path / "x.json").mkdir()
    with pytest.raises(CaptionInputError, match=r"x\.json: caption source is a directory, not a file$"):
        read_all(tmp_path / "x.json")


def test_reader_corrupt_parquet_is_one_line_error(tmp_path):
    src = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"id": ["a"] * 100, "caption": ["A red car."] * 100}), src)
    data = src.read_bytes()
    src.write_bytes(data[:40] + b"\x00" * 60 + data[100:])
    with pytest.raises(CaptionInputError) as e:
        read_all(src)
    assert str(e.value).startswith(f"{src}: ") and "\n" not in str(e.value)


@pytest.mark.parametrize("image", ["../outside.png", "img/../../outside.png", "/etc/passwd"])
def test_path_policy_refuses_images_outside_the_source_folder(tmp_path, image):
    folder = tmp_path / "pool"
    folder.mkdir()
    src = folder / "pool.jsonl"
    src.write_bytes(jsonl_bytes([{**GOOD[0], "image": image}, {**GOOD[1], "image": "img/b.png"}]))
    good, bad = read_all(src, image_root=folder)
    assert [(g[1], g[3]) for g in good] == [("b", str(folder.resolve() / "img" / "b.png"))]
    (row, cid, _, reason), = bad
    assert (row, cid) == (0, "a") and reason.startswith(f"image {image!r} ")
    assert ("absolute" in reason) == image.startswith("/")
    assert f"row 0 (id 'a'): image {image!r}" in strict_error(src, image_root=folder)


def test_path_policy_absolute_images_only_with_the_config_key(tmp_path):
    src = tmp_path / "pool.jsonl"
    outside = tmp_path.parent / "elsewhere.png"
    src.write_bytes(jsonl_bytes([{**GOOD[0], "image": str(outside)}]))
    assert "curation.allow_absolute_image_paths" in strict_error(src, image_root=tmp_path)
    good, bad = read_all(src, skip_bad_rows=False, image_root=tmp_path, allow_absolute=True)
    assert good[0][3] == str(outside.resolve()) and bad == []


def test_reader_lone_surrogate_escape_in_a_json_array_is_one_line_error(tmp_path):
    src = tmp_path / "pool.json"  # found by the fuzz test: yajl hands the pair split by a space on as bad UTF-8
    src.write_bytes(b'[{"id": "a", "caption": "x\\ud800 \\udc00y"}]')
    with pytest.raises(CaptionInputError, match=r"pool\.json: malformed JSON after row 0: .*lone surrogate$"):
        read_all(src)


def test_reader_llava_conversations_that_are_not_a_list_are_a_bad_row(tmp_path):
    src = tmp_path / "pool.jsonl"  # found by the fuzz test: iterating True raised a TypeError
    src.write_bytes(jsonl_bytes([{"id": "t", "conversations": True}] + GOOD))
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a", "b"] and [(b[1], b[3]) for b in bad] == [("t", "missing caption")]


def test_reader_ragged_csv_row_that_is_also_latin1_is_one_bad_row(tmp_path, capsys):
    src = tmp_path / "pool.csv"  # found by the fuzz test: pyarrow cannot hand such a row to its row handler
    src.write_bytes(b"id,caption\na,A red car parked on a quiet street.\nr,caf\xe9,extra\nc,caf\xe9 latin\n"
                    b"b,A dog on a beach.\n")
    good, bad = read_all(src)
    assert [g[1] for g in good] == ["a", "b"]
    assert [(row, reason) for row, _, _, reason in bad] == [
        (1, "line 3: malformed CSV row (3 fields, expected 2): 'r,caf\xe9,extra'"), (2, "line 4: caption not UTF-8")]
    assert "Traceback" not in capsys.readouterr().err
    assert "row 1 (id None): line 3: malformed CSV row" in strict_error(src)
