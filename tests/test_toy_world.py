"""The toy world: renders, captions, junk, and benchmark files that stage 05 reads and scores."""

import json

import numpy as np
import pytest

from synthvlm_repro.toy import world
from synthvlm_repro.toy.benchmarks import build_benchmarks
from synthvlm_repro.toy.data import caption_rows, stage2_rows


def test_render_is_deterministic_and_draws_the_colour():
    scene = world.Scene("square", "blue", "large", "left")
    a = np.asarray(world.render(scene, "x"))
    assert (a == np.asarray(world.render(scene, "x"))).all()
    centre = a[16, 9].astype(int)  # left position, large square covers it
    assert np.abs(centre - np.array(world.COLOURS["blue"])).max() < 30
    assert np.abs(a[2, 30].astype(int) - np.array(world.BACKGROUNDS[0])).max() < 10


def test_captions_name_every_attribute():
    for item_id in world.scene_ids("t", 50):
        scene = world.sample_scene(item_id)
        assert world.parse_caption(world.caption(scene, item_id)) == scene.attributes()


def test_source_mixes_junk_with_clean_captions():
    rows, truth, junk = caption_rows(200, 0.15)
    assert len(rows) == 230 and len(junk) == 30 and len(truth) == 200
    kinds = set(junk.values())
    assert {"symbols", "repeated", "shuffled"} <= kinds
    assert all(r["image"].startswith("images/") for r in rows)


def test_stage2_rows_are_llava_conversations():
    rows = stage2_rows(5)
    assert all(r["conversations"][0]["value"].startswith("<image>\n") for r in rows)
    assert all(len(r["conversations"]) == 6 for r in rows)


@pytest.fixture(scope="module")
def bench_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toybench")
    build_benchmarks(root, {"images": 12})
    return root


def test_benchmarks_score_perfectly_with_the_truth(bench_root):
    """Stage 05's own readers/scorers: answering with the ground truth scores 100, a constant answer does not."""
    from synthvlm_repro.config import load_config
    from synthvlm_repro.evaluation.benchmarks import get_benchmark

    cfg = load_config("toy").evaluation
    attrs = json.loads((bench_root / "attributes.json").read_text())
    truth = json.loads((bench_root / "gqa" / "data" / "testdev_balanced_questions.json").read_text())
    gqa = get_benchmark("gqa")
    qs = gqa.questions(bench_root, cfg)["testdev_balanced"]
    assert len(qs) == 48 and qs[0].load_image().size == (32, 32)
    assert gqa.score(bench_root, "testdev_balanced", {q.qid: truth[q.qid]["answer"] for q in qs}, cfg)[0].value == 100
    assert gqa.score(bench_root, "testdev_balanced", {q.qid: "red" for q in qs}, cfg)[0].value < 50

    pope = get_benchmark("pope")
    for split, questions in pope.questions(bench_root, cfg).items():
        labels = {}
        for line in (bench_root / "pope" / "coco" / f"coco_pope_{split}.json").read_text().splitlines():
            row = json.loads(line)
            labels[str(row["question_id"])] = row["label"]
        scores = {s.metric: s.value for s in pope.score(bench_root, split, labels, cfg)}
        assert scores["accuracy"] == 100 and scores["yes_ratio"] == 0.5
        assert len(questions) == 24

    mmb = get_benchmark("mmbench")
    import pandas as pd

    table = pd.read_csv(bench_root / "mmbench" / "mmbench_dev_20230712.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    assert (table["index"].astype(int) >= 1_000_000).any()  # the circular copies are rows
    qs = mmb.questions(bench_root, cfg)["dev"]
    right = {str(int(r['index'])): r["answer"] for _, r in table.iterrows()}  # qid = the TSV index
    assert mmb.score(bench_root, "dev", right, cfg)[0].value == 100
    assert len(attrs) == 12


def test_toy_cache_key_follows_the_source_of_the_builder(monkeypatch):
    """Editing a builder's module rebuilds that artifact (and only what depends on it)."""
    import inspect

    from synthvlm_repro.toy import registry

    before = {name: registry.spec_hash(name) for name in ("benchmarks", "judge")}
    real = inspect.getsource
    monkeypatch.setattr(registry.inspect, "getsource", lambda obj: real(obj) + (
        "\n# edited" if getattr(obj, "__name__", "") == "synthvlm_repro.toy.benchmarks" else ""))
    assert registry.spec_hash("benchmarks") != before["benchmarks"]
    assert registry.spec_hash("judge") == before["judge"]
