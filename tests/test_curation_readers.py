"""Stage 01 readers: every input format, ids kept, streaming in chunks, and bad input named by file and row."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthvlm_repro.curation.readers import CaptionInputError, RowValidator, detect_format, read_chunks

RECORDS = [{"id": "a", "caption": "A red car.", "image": "img/a.png"}, {"id": "b", "caption": "A dog."},
           {"id": 7, "caption": "Seven swans."}]


def rows_of(path, fmt="auto", chunk_rows=50_000, skip_bad_rows=False):
    validator = RowValidator(path, skip_bad_rows)
    good, bad = [], []
    for chunk in read_chunks(path, fmt, chunk_rows):
        g, b = validator.check(chunk)
        good += g
        bad += b
    return good, bad


def write_all_formats(tmp_path, records):
    (tmp_path / "c.json").write_text(json.dumps(records))
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    table = pa.table({"id": [str(r["id"]) for r in records], "caption": [r["caption"] for r in records],
                      "image": [r.get("image") for r in records]})
    pq.write_table(table, tmp_path / "c.parquet")
    table.to_pandas().to_csv(tmp_path / "c.csv", index=False)
    return [tmp_path / f"c.{ext}" for ext in ("json", "jsonl", "parquet", "csv")]


def test_every_format_gives_the_same_rows(tmp_path):
    expected = [(0, "a", "A red car.", "img/a.png"), (1, "b", "A dog.", None), (2, "7", "Seven swans.", None)]
    for path in write_all_formats(tmp_path, RECORDS):
        good, bad = rows_of(path)
        assert good == expected, path.suffix
        assert bad == []


def test_llava_conversation_json_takes_the_gpt_turn(tmp_path):
    records = [{"id": "004539375", "image": "00453/004539375.jpg", "conversations": [
        {"from": "human", "value": "Render a clear and concise summary of the photo.\n<image>"},
        {"from": "gpt", "value": "select luxury furniture 3 - inch gel memory foam mattress topper"}]}]
    path = tmp_path / "blip_laion_cc_sbu_558k.json"
    path.write_text(json.dumps(records))
    assert detect_format(path) == "llava"
    good, _ = rows_of(path)
    assert good == [(0, "004539375", "select luxury furniture 3 - inch gel memory foam mattress topper",
                     "00453/004539375.jpg")]


def test_readers_stream_in_bounded_chunks(tmp_path):
    records = [{"id": f"id{i}", "caption": f"caption number {i}"} for i in range(25)]
    for path in write_all_formats(tmp_path, records):
        chunks = list(read_chunks(path, chunk_rows=10))
        assert [len(c) for c in chunks] == [10, 10, 5], path.suffix
        assert [c.start for c in chunks] == [0, 10, 20]
        assert chunks[2].ids[-1] == "id24"


@pytest.mark.parametrize("record, problem", [
    ({"caption": "no id here"}, "missing id"),
    ({"id": "x", "caption": ""}, "empty caption"),
    ({"id": "x", "caption": "  \t "}, "empty caption"),
    ({"id": "x", "caption": 42}, "caption must be a string, got int"),
    ({"id": "x"}, "missing caption"),
    ({"id": ["x"], "caption": "list id"}, "id must be a string or an integer, got list"),
    ({"id": "a", "caption": "same id again"}, "duplicate id 'a'"),
])
def test_bad_rows_name_file_row_and_problem(tmp_path, record, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(RECORDS[:2] + [record]))
    with pytest.raises(CaptionInputError) as err:
        rows_of(path)
    assert str(err.value).startswith(f"{path}: row 2 ")
    assert problem in str(err.value)
    good, bad = rows_of(path, skip_bad_rows=True)   # quarantined instead, nothing else lost
    assert [g[1] for g in good] == ["a", "b"]
    assert len(bad) == 1 and bad[0][0] == 2 and problem in bad[0][3]


def test_malformed_json_array_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"id": "a", "caption": "ok"}, {"id": "b", "caption": "cut off')
    with pytest.raises(CaptionInputError, match=r"broken.json: malformed JSON after row 1"):
        rows_of(path)
    (tmp_path / "obj.json").write_text('{"id": "a"}')
    with pytest.raises(CaptionInputError, match="top level must be a JSON array"):
        rows_of(tmp_path / "obj.json")


def test_malformed_jsonl_line_is_quarantined_with_its_line_number(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "caption": "fine"}\n{"id": "b", "caption": \n\n{"id": "c", "caption": "also fine"}\n')
    with pytest.raises(CaptionInputError, match=r"c.jsonl: row 1 .*line 2: malformed JSON"):
        rows_of(path)
    good, bad = rows_of(path, skip_bad_rows=True)
    assert [g[1] for g in good] == ["a", "c"] and bad[0][0] == 1


def test_missing_columns_and_unknown_suffix(tmp_path):
    pq.write_table(pa.table({"key": ["a"], "caption": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(CaptionInputError, match="no 'id' column"):
        rows_of(tmp_path / "c.parquet")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(CaptionInputError, match="set curation.source_format"):
        rows_of(tmp_path / "c.txt")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        rows_of(tmp_path / "missing.json")


def test_csv_empty_caption_field_is_an_empty_caption(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,caption\na,"A caption, with a comma"\nb,\n')
    with pytest.raises(CaptionInputError, match="row 1 .*empty caption"):
        rows_of(path)
    good, _ = rows_of(path, skip_bad_rows=True)
    assert good == [(0, "a", "A caption, with a comma", None)]
