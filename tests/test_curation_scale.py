"""Stage 01 at scale: img2dataset folders as a source (images read in place), the model steps sharded over
two processes giving one process's outputs, and the judge's GPU groups."""

import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthvlm_repro.config import load_config
from synthvlm_repro.curation.image_stream import image_exists, open_image, stream_images
from synthvlm_repro.curation.img2dataset_source import layout
from synthvlm_repro.curation.judge_devices import group_for_rank
from synthvlm_repro.curation.readers import read_chunks
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.sample_data import sample_data_dir
from tests.test_curation_pipeline import MODEL_STEPS

IMAGES = ["stop_sign", "snowman", "sailboat", "red_car"]
CAPTIONS = ["A red octagonal stop sign with the word STOP in white letters.",
            "A snowman with a carrot nose and a black hat, in a snowy field.",
            "A small sailboat on blue water, with a white sail and a red hull.",
            "A small red car parked on a grey street in front of a white wall."]


def _jpeg(name: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(sample_data_dir() / "images" / f"{name}.png").convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _meta(key, caption, status="success"):
    return {"key": key, "url": f"http://example.com/{key}.jpg", "caption": caption, "status": status,
            "error_message": None, "width": 64, "height": 64}


def _write_layouts(root):
    """The same four samples (plus one failed download) in img2dataset's three layouts."""
    keys = [f"00000{i:04d}" for i in range(len(IMAGES))]
    metas = [_meta(k, c) for k, c in zip(keys, CAPTIONS)] + [_meta("000000004", "never downloaded", "failed")]
    jpgs = [_jpeg(n) for n in IMAGES]
    wds = root / "wds"
    wds.mkdir()
    with tarfile.open(wds / "00000.tar", "w") as tar:
        for key, caption, jpg, meta in zip(keys, CAPTIONS, jpgs, metas):
            for ext, data in (("jpg", jpg), ("txt", caption.encode()), ("json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    pq.write_table(pa.Table.from_pylist(metas), wds / "00000.parquet")
    par = root / "parquet"
    par.mkdir()
    rows = [dict(m, txt=m["caption"] if m["status"] == "success" else None,
                 jpg=jpgs[i] if i < len(jpgs) else None) for i, m in enumerate(metas)]
    pq.write_table(pa.Table.from_pylist(rows), par / "00000.parquet", row_group_size=3)
    files = root / "files"
    (files / "00000").mkdir(parents=True)
    for key, caption, jpg, meta in zip(keys, CAPTIONS, jpgs, metas):
        (files / "00000" / f"{key}.jpg").write_bytes(jpg)
        (files / "00000" / f"{key}.txt").write_text(caption)
        (files / "00000" / f"{key}.json").write_text(json.dumps(meta))
    pq.write_table(pa.Table.from_pylist(metas), files / "00000.parquet")
    return keys


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("img2dataset")
    return root, _write_layouts(root)


def test_img2dataset_layouts_read_alike_and_images_open_in_place(layouts):
    root, keys = layouts
    reference = [np.asarray(open_image(str(root / "files" / "00000" / f"{k}.jpg"))) for k in keys]
    for kind in ("wds", "parquet", "files"):
        folder = root / kind
        assert layout(folder) == {"wds": "webdataset"}.get(kind, kind)
        before = sorted(p.name for p in folder.rglob("*"))
        chunks = list(read_chunks(folder, "auto", chunk_rows=3))
        assert [len(c) for c in chunks] == [3, 1]  # the failed download is not a row
        ids = [i for c in chunks for i in c.ids]
        assert ids == keys and [t for c in chunks for t in c.captions] == CAPTIONS
        refs = [str(folder / im) for c in chunks for im in c.images]
        assert all(image_exists(r) for r in refs)
        for ref, expected in zip(refs, reference):
            assert np.array_equal(np.asarray(open_image(ref)), expected)
        streamed = [np.asarray(im) for batch in stream_images(refs, batch_size=3, workers=2) for im in batch]
        assert len(streamed) == 4 and all(np.array_equal(a, b) for a, b in zip(streamed, reference))
        assert sorted(p.name for p in folder.rglob("*")) == before  # nothing unpacked
    assert not image_exists(str(root / "wds" / "00000.tar#nope.jpg"))
    assert not image_exists(str(root / "parquet" / "00000.parquet#99"))
    with pytest.raises(FileNotFoundError, match="no image stored"):  # the failed download (never a source row)
        open_image(str(root / "parquet" / "00000.parquet#4"))
    with pytest.raises(FileNotFoundError, match="no such member"):
        open_image(str(root / "wds" / "00000.tar#nope.jpg"))


def _curate(run_dir, overrides):
    from synthvlm_repro.curation.pipeline import curate

    cfg = load_config("smoke", overrides)
    return curate(cfg.curation, RunPaths.for_run(run_dir), "cpu", cfg.seed, progress=False)


def test_image_text_filters_score_a_webdataset_source_as_its_files(layouts, tmp_path):
    root, keys = layouts
    steps = ["curation.perplexity_max=null", "curation.judge_mode=off", "curation.clip_min=-1.0",
             "curation.itm_min=0.0", "curation.special_min=null", "curation.max_captions=null",
             "curation.near_dedup_threshold=null", "curation.image_workers=2"]
    scores = {}
    for kind in ("wds", "files"):
        result = _curate(tmp_path / kind, steps + [f"curation.source={root / kind}"])
        table = result.curated.to_pydict()
        assert table["id"] == keys
        scores[kind] = (table["clip_similarity"], table["itm_score"])
    assert np.allclose(scores["wds"], scores["files"], rtol=0, atol=1e-6)


def _outputs(run_dir):
    paths = RunPaths.for_run(run_dir)
    return (pq.read_table(paths.curated_parquet).to_pandas(), pq.read_table(paths.rejected_parquet).to_pandas(),
            json.loads(paths.funnel_json.read_text()))


def test_two_shard_processes_give_one_process_outputs(tmp_path):
    """Shard 0 by --shard 0/2, shard 1 by torchrun's RANK/WORLD_SIZE, at the same time; the last merges."""
    folder = sample_data_dir() / "images"
    records = [{"id": f"p{i}", "caption": c, **({"image": str(folder / f"{n}.png")} if i % 4 < 2 else {})}
               for i, (c, n) in enumerate(zip(CAPTIONS * 2, IMAGES * 2))]
    records = [dict(r, caption=r["caption"] if i < 4 else r["caption"].replace("A ", "One ", 1))
               for i, r in enumerate(records)]
    src = tmp_path / "pool.json"
    src.write_text(json.dumps(records))
    overrides = MODEL_STEPS + [f"curation.source={src}", "curation.judge_batch_size=2", "curation.lm_batch_size=3",
                               "curation.image_workers=0", "curation.near_dedup_threshold=null",
                               "curation.allow_absolute_image_paths=true"]  # the kit's sample images
    _curate(tmp_path / "one", overrides)
    sets = [x for o in overrides for x in ("--set", o)]
    base = [sys.executable, "-m", "synthvlm_repro.cli", "curate", "--run-dir", str(tmp_path / "two"), "--quiet",
            "--no-figures", *sets]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")  # 2 processes, 2 cores
    procs = [subprocess.Popen(base + ["--shard", "0/2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
             subprocess.Popen(base, env=dict(env, RANK="1", WORLD_SIZE="2", LOCAL_RANK="0"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
    logs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    shards = RunPaths.for_run(tmp_path / "two").captions / "shards"
    assert sorted(p.name for p in shards.iterdir()) == ["00000-of-00002.json", "00001-of-00002.json"]
    assert all(json.loads(p.read_text())["assigned"] == 4 for p in shards.iterdir())
    one, two = _outputs(tmp_path / "one"), _outputs(tmp_path / "two")
    assert one[2] == two[2]  # the funnel
    for a, b in zip(one[:2], two[:2]):
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        for col in a.columns:
            if a[col].dtype.kind == "f":
                assert np.allclose(a[col], b[col], rtol=1e-5, equal_nan=True), col
            else:
                assert a[col].tolist() == b[col].tolist(), col
    # Every model step's scores came from two writers (one per shard).
    for step_dir in (RunPaths.for_run(tmp_path / "two").captions / "cache").iterdir():
        writers = {p.name.split("-")[1] for p in step_dir.glob("part-*.parquet")}
        assert writers == {"shard00000", "shard00001"}, step_dir.name


def test_merge_refuses_while_a_shard_is_unfinished(tmp_path, capsys):
    from synthvlm_repro.cli import main

    src = tmp_path / "pool.json"
    src.write_text(json.dumps([{"id": f"c{i}", "caption": c} for i, c in enumerate(CAPTIONS)]))
    args = ["curate", "--run-dir", str(tmp_path / "run"), "--quiet", "--no-figures",
            *[x for o in MODEL_STEPS + [f"curation.source={src}", "curation.judge_mode=off",
                                        "curation.clip_min=null", "curation.itm_min=null"] for x in ("--set", o)]]
    assert main(args + ["--shard", "1/2"]) == 0
    assert "shard 1/2" in capsys.readouterr().out
    assert main(args + ["--merge"]) == 2
    assert "2 of 4 captions not scored by perplexity yet" in capsys.readouterr().err
    assert main(args + ["--shard", "0/2"]) == 0  # the last shard merges
    assert len(json.loads((tmp_path / "run" / "captions" / "captions.json").read_text())) == 4


def test_judge_gpu_groups_replicate_instead_of_splitting_over_every_gpu():
    gib = 1 << 30
    # 8 x 80 GB, a 70B model in bf16 (140 GB): two GPUs per replica; 4 torchrun ranks get 2 each.
    assert [group_for_rank(8, 80 * gib, 140 * gib, r, 4) for r in range(4)] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert group_for_rank(8, 80 * gib, 140 * gib, 0, 1) == [0, 1]  # one process: the fewest GPUs that fit
    assert group_for_rank(8, 80 * gib, 16 * gib, 5, 8) == [5]  # an 8B judge: one replica per GPU
    with pytest.raises(ValueError, match="--nproc_per_node 4"):
        group_for_rank(8, 80 * gib, 140 * gib, 0, 8)
