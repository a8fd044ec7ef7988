"""Issue 16 fuzz tests (Hypothesis): arbitrary bytes and JSON values as a caption source (every reader
format) and arbitrary config overrides / profile files end in a clean one-line error (ConfigError,
CaptionInputError) or in quarantined rows, never in another exception. Sizes are kept small so the
whole file runs in well under a minute."""

import io
import json
import os
import string

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthvlm_repro.config import ConfigError, ProjectConfig, load_config
from synthvlm_repro.curation.readers import CaptionInputError
from tests.test_curation_bad_input import read_all

# SYNTHVLM_FUZZ_EXAMPLES=2000 for a long hunt; CI keeps the default.
FUZZ = settings(max_examples=int(os.environ.get("SYNTHVLM_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
record_like = st.fixed_dictionaries(
    {}, optional={"id": json_values | st.text(max_size=8), "caption": json_values | st.text(max_size=60),
                  "image": json_values | st.text(max_size=20), "conversations": json_values}) | json_values
maybe_bytes = st.binary(max_size=200)


def assert_clean(path, image_root):
    """Skip mode: a one-line CaptionInputError, or rows that all fit in Arrow string columns; strict mode:
    the same, with at most the first bad row as a one-line error."""
    for skip in (True, False):
        try:
            good, bad = read_all(path, skip, image_root, chunk_rows=3)
        except CaptionInputError as e:
            assert "\n" not in str(e) and str(path) in str(e)
            continue
        assert not bad or skip
        pa.array([g[1] for g in good], pa.string())
        pa.array([g[2] for g in good], pa.string())
        pa.array([g[3] for g in good], pa.string())
        pa.array([b[1] for b in bad], pa.string())
        pa.array([b[2] for b in bad], pa.string())
        assert all(isinstance(b[3], str) and "\n" not in b[3] for b in bad)
        assert all(isinstance(g[2], str) and g[2].strip() for g in good)


@pytest.mark.parametrize("suffix", ["json", "jsonl", "csv", "tsv", "parquet"])
@FUZZ
@given(data=maybe_bytes)
def test_fuzz_arbitrary_bytes_as_caption_source(tmp_path, suffix, data):
    path = tmp_path / f"pool.{suffix}"
    path.write_bytes(data)
    assert_clean(path, tmp_path)


@FUZZ
@given(records=st.lists(record_like, max_size=6), top=json_values, as_array=st.booleans(), bom=st.booleans(),
       damage=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3)), max_size=2))
def test_fuzz_json_values_as_json_and_jsonl_sources(tmp_path, records, top, as_array, bom, damage):
    body = json.dumps(records if as_array else top).encode()
    lines = b"\n".join(json.dumps(r, allow_nan=True).encode() for r in records)
    for suffix, content in (("json", body), ("jsonl", lines)):
        content = bytearray((b"\xef\xbb\xbf" if bom else b"") + content)
        for where, junk in damage:  # splice in random bytes (Latin-1, broken UTF-8, NULs, quotes, ...)
            content[where % (len(content) + 1):where % (len(content) + 1)] = junk
        path = tmp_path / f"pool.{suffix}"
        path.write_bytes(bytes(content))
        assert_clean(path, tmp_path)


csv_cells = st.text(alphabet=string.printable + "éü€\x00\"", max_size=12)


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "caption", "image", "x", ""]), min_size=1, max_size=4),
       rows=st.lists(st.lists(csv_cells, max_size=5), max_size=6), latin1=st.booleans(), bom=st.booleans())
def test_fuzz_csv_rows(tmp_path, header, rows, latin1, bom):
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    path = tmp_path / "pool.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("latin-1" if latin1 else "utf-8",
                                                                     errors="replace"))
    assert_clean(path, tmp_path)


@FUZZ
@given(ids=st.lists(st.none() | st.integers(-5, 5) | st.text(max_size=5), max_size=5),
       captions=st.lists(st.none() | st.text(max_size=40), max_size=5), with_image=st.booleans())
def test_fuzz_parquet_tables(tmp_path, ids, captions, with_image):
    n = min(len(ids), len(captions))
    columns = {"id": pa.array([None if i is None else str(i) for i in ids[:n]], pa.string()),
               "caption": pa.array(captions[:n], pa.string())}
    if with_image:
        columns["image"] = pa.array(["../x.png", "/etc/passwd", "a.png", None, ""][:n] + [None] * (n - 5), pa.string())
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table(columns), path)
    assert_clean(path, tmp_path)


def _dotted_keys(model=ProjectConfig, prefix=""):
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, ProjectConfig.__mro__[1]) and sub is not ProjectConfig:
            keys += _dotted_keys(sub, f"{prefix}{name}.")
        keys.append(f"{prefix}{name}")
    return keys


CONFIG_KEYS = _dotted_keys()
override_values = json_values | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)


@FUZZ
@given(overrides=st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=12), override_values, max_size=3))
def test_fuzz_config_overrides_as_mapping(overrides):
    try:
        cfg = load_config("smoke", overrides)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    dumped = json.dumps(cfg.model_dump(mode="json"), allow_nan=False)  # nothing non-finite got through
    assert dumped


@FUZZ
@given(keys=st.lists(st.sampled_from(CONFIG_KEYS), max_size=3), raw=st.lists(st.text(max_size=25), max_size=3))
def test_fuzz_config_overrides_as_cli_strings(keys, raw):
    overrides = [f"{k}={v}" for k, v in zip(keys, raw)] + raw[len(keys):]
    try:
        load_config("smoke", overrides)
    except ConfigError as e:
        assert "\n" not in str(e)


@FUZZ
@given(text=st.text(max_size=120) | st.sampled_from(["extends: 123\n", "extends: [smoke]\n", "seed: 1\nseed: 2\n",
                                                     "curation:\n  clip_min: .nan\n", "device: tpu9\n",
                                                     "extends: smoke\nsynthesis: {limit: -1}\n", "a: &x [*x]\n"]),
       as_bytes=maybe_bytes, use_bytes=st.booleans())
def test_fuzz_profile_files(tmp_path, text, as_bytes, use_bytes):
    path = tmp_path / "fuzz.yaml"
    if use_bytes:
        path.write_bytes(as_bytes)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except ConfigError as e:
        assert "\n" not in str(e) and str(path) in str(e)
