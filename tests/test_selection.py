"""Stage 03: CLIPScore and SSIM parity with the reference computations, the one-pass scorer (bad images,
shards, resume), the selection rules and the LLaVA export — on the tiny open_clip model and real JPEGs."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from synthvlm_repro.config import load_config
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.selection.instructions import BRIEF_DESCRIPTION_INSTRUCTIONS, brief_instruction
from synthvlm_repro.selection.scoring import (IncompleteScoresError, merge_scores, read_manifest, score_rows,
                                              shard_rows)
from synthvlm_repro.selection.select import export_llava, select_pairs
from synthvlm_repro.selection.ssim import round_trip_pair, ssim_batch, ssim_skimage

CAPTIONS = {
    "c1": "A red car parked next to a brick wall.",
    "c2": "Two dogs running on a sandy beach at sunset.",
    "c3": "A bowl of green apples on a wooden table.",
    "c4": " ".join(["A very long caption about a busy market street with many stalls"] * 8),  # > 77 tokens
}


def _image(seed: int, size: int = 80) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, size)
    base = np.add.outer(x, x[::-1])[..., None] / 2 * rng.random(3)
    noise = rng.normal(0, 5 + 15 * (seed % 3), (size, size, 3))
    return Image.fromarray((base + noise).clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def cfg():
    return load_config("smoke", ["selection.batch_size=3", "selection.chunk_size=4"]).selection


@pytest.fixture(scope="module")
def scorer(cfg, tiny):
    from synthvlm_repro.selection.clipscore import ClipScorer

    return ClipScorer("tiny:open-clip", None, "cpu", "fp32", cfg.caption_prefix)


@pytest.fixture
def run_dir(tmp_path):
    """A run dir with a synthesis manifest: 4 captions × 2 candidates, plus one corrupt, one truncated,
    one missing and one 'broken' (by synthesis) image."""
    rows = []
    for n, (cid, caption) in enumerate(CAPTIONS.items()):
        for k in range(2):
            rel = f"synthesis/images/{cid[-1]}0/{cid}_{k}.jpg"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            _image(10 * n + k).save(tmp_path / rel, quality=95)
            rows.append(dict(caption_id=cid, candidate=k, caption=caption, seed=k, path=rel, status="ok"))
    bad = tmp_path / "synthesis/images/b0"
    bad.mkdir(parents=True)
    (bad / "bad_0.jpg").write_bytes(b"not an image at all")
    full = (tmp_path / rows[0]["path"]).read_bytes()
    (bad / "bad_1.jpg").write_bytes(full[: len(full) // 2])
    rows += [dict(caption_id="bad", candidate=0, caption="corrupt", seed=0, path="synthesis/images/b0/bad_0.jpg",
                  status="ok"),
             dict(caption_id="bad", candidate=1, caption="truncated", seed=1, path="synthesis/images/b0/bad_1.jpg",
                  status="ok"),
             dict(caption_id="bad", candidate=2, caption="missing", seed=2, path="synthesis/images/b0/gone.jpg",
                  status="ok"),
             dict(caption_id="bad", candidate=3, caption="black", seed=3, path="synthesis/images/b0/black.jpg",
                  status="broken")]
    pd.DataFrame(rows).to_parquet(tmp_path / "synthesis" / "manifest.parquet")
    return tmp_path


def _score(run_dir, cfg, scorer, shard=Shard(), parts="parts"):
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    n = score_rows(rows, run_dir, cfg, "cpu", run_dir / parts, shard, clip_model=scorer, progress=False)
    return rows, n


# --------------------------------------------------------------------------- parity with the references


def test_clip_score_equals_direct_open_clip(run_dir, cfg, scorer, tiny):
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tiny('open-clip')}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tiny('open-clip')}")
    model.eval()
    rows, _ = _score(run_dir, cfg, scorer)
    scores = merge_scores(rows, run_dir / "parts", 0.5)
    ok = scores[scores.status == "ok"]
    assert len(ok) == 8
    with torch.no_grad():
        images = torch.stack([preprocess(Image.open(run_dir / p).convert("RGB")) for p in ok.path])
        texts = tokenizer(["A photo depicts " + c for c in ok.caption])
        img = model.encode_image(images, normalize=True)
        txt = model.encode_text(texts, normalize=True)
    cosine = (img * txt).sum(-1).numpy()
    np.testing.assert_allclose(ok.clip_score.to_numpy(), np.maximum(cosine, 0), atol=1e-5)
    # the trimmed text encoder gives open_clip's full-context features, long captions truncated alike
    np.testing.assert_allclose(scorer.encode_texts(list(ok.caption)).numpy(), txt.numpy(), atol=1e-5)


def test_ssim_batch_matches_skimage_at_paper_geometry():
    from skimage.metrics import structural_similarity

    images = [_image(s, 1024) for s in range(3)]
    pairs = [round_trip_pair(im, 768, 336) for im in images]
    a = torch.from_numpy(np.stack([p[0] for p in pairs]))
    b = torch.from_numpy(np.stack([p[1] for p in pairs]))
    reference = np.array([structural_similarity(x, y) for x, y in pairs])
    assert np.all(reference < 0.999) and reference.std() > 1e-3  # distinct, non-trivial values
    np.testing.assert_allclose(ssim_batch(a, b).numpy(), reference, atol=1e-10)
    np.testing.assert_allclose(ssim_batch(a, b, dtype=torch.float32).numpy(), reference, atol=1e-4)
    assert ssim_skimage(images[0]) == pytest.approx(reference[0], abs=1e-12)


def test_round_trip_pair_is_the_authors_resize_chain():
    image = _image(7, 120)
    a, b = round_trip_pair(image, 96, 42)
    expected_a = np.asarray(image.resize((96, 96), Image.BILINEAR).convert("L"))
    low = image.resize((96, 96), Image.BILINEAR).resize((42, 42), Image.BILINEAR)
    expected_b = np.asarray(low.resize((96, 96), Image.BILINEAR).convert("L"))
    assert a.dtype == np.uint8 and np.array_equal(a, expected_a) and np.array_equal(b, expected_b)


# --------------------------------------------------------------------------- the one-pass scorer


def test_one_pass_scores_and_records_unreadable_images(run_dir, cfg, scorer):
    rows, n = _score(run_dir, cfg, scorer)
    assert n == len(rows) == 12
    scores = merge_scores(rows, run_dir / "parts", 0.5).set_index(["caption_id", "candidate"])
    bad = scores.loc["bad"]
    assert list(bad.status) == ["corrupt", "truncated", "missing", "broken"]
    assert "not a readable image" in bad.error[0] and "truncated" in bad.error[1].lower()
    assert "gone.jpg" in bad.error[2] and "broken" in bad.error[3]
    assert bad.clip_score.isna().all() and bad.ssim.isna().all()
    ok = scores[scores.status == "ok"]
    for (cid, k), row in ok.iterrows():  # SSIM equals the author's per-image skimage computation
        assert row.ssim == pytest.approx(ssim_skimage(Image.open(run_dir / row.path), 96, 42), abs=1e-4)
    np.testing.assert_allclose(ok.score, ok.clip_score + 0.5 * ok.ssim)
    # a rerun scores nothing new (resume) and part files hold chunk_size rows at most
    assert _score(run_dir, cfg, scorer)[1] == 0
    assert all(len(pd.read_parquet(p)) <= 4 for p in (run_dir / "parts").rglob("part-*.parquet"))


def test_caption_windows_with_repeated_captions(run_dir, cfg, scorer):
    """Caption features are encoded per window of rows; a caption text seen in an earlier window (a
    duplicate under another id) must still be scored correctly."""
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    rows = rows[rows.caption_id != "bad"].copy()
    rows.loc[rows.caption_id == "c4", "caption"] = CAPTIONS["c1"]
    small = cfg.model_copy(update={"chunk_size": 4, "batch_size": 2})
    score_rows(rows, run_dir, small, "cpu", run_dir / "windows", clip_model=scorer, progress=False)
    scores = merge_scores(rows, run_dir / "windows", 0.5)
    expected = scorer.clip_score(scorer.encode_images(torch.stack(
        [scorer.preprocess(Image.open(run_dir / p).convert("RGB")) for p in scores.path])),
        scorer.encode_texts(list(scores.caption))).numpy()
    np.testing.assert_allclose(scores.clip_score, expected, atol=1e-6)


def test_torch_and_skimage_backends_agree(run_dir, cfg, scorer):
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    out = {}
    for backend, workers in (("torch", 2), ("skimage", 0)):  # torch: also through DataLoader worker processes
        c = cfg.model_copy(update={"ssim_backend": backend, "num_workers": workers})
        score_rows(rows, run_dir, c, "cpu", run_dir / backend, clip_model=scorer, progress=False)
        out[backend] = merge_scores(rows, run_dir / backend, 0.5)
    np.testing.assert_allclose(out["torch"].ssim, out["skimage"].ssim, atol=1e-10)
    np.testing.assert_allclose(out["torch"].clip_score, out["skimage"].clip_score)


def test_worker_fetches_regroup_into_model_batches(run_dir, cfg, scorer, monkeypatch):
    """Workers fetch a few images at a time and the main process regroups them into model batches of
    ``batch_size``: same scores as one image per batch, failures kept, batches exactly that size."""
    from synthvlm_repro.selection import scoring

    batches = []
    real = scorer.encode_images
    monkeypatch.setattr(scorer, "encode_images", lambda pixels: batches.append(len(pixels)) or real(pixels))
    monkeypatch.setattr(scoring, "FETCH_SIZE", 2)
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    regrouped = cfg.model_copy(update={"batch_size": 3, "num_workers": 2})
    score_rows(rows, run_dir, regrouped, "cpu", run_dir / "regrouped", clip_model=scorer, progress=False)
    assert batches == [3, 3, 2]  # 8 readable images in fetches of 2 (3 unreadable ones among them)
    single = cfg.model_copy(update={"batch_size": 1, "num_workers": 0})
    score_rows(rows, run_dir, single, "cpu", run_dir / "single", clip_model=scorer, progress=False)
    a, b = merge_scores(rows, run_dir / "regrouped", 0.5), merge_scores(rows, run_dir / "single", 0.5)
    assert (a.status != "ok").sum() == 4
    pd.testing.assert_frame_equal(a.drop(columns=["clip_score", "score"]), b.drop(columns=["clip_score", "score"]))
    np.testing.assert_allclose(a.clip_score, b.clip_score, atol=1e-6)


def test_shards_partition_captions_and_merge_to_the_single_run(run_dir, cfg, scorer):
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    parts = [shard_rows(rows, Shard(i, 3)) for i in range(3)]
    assert sum(len(p) for p in parts) == len(rows)
    assert all(set(p.caption_id).isdisjoint(q.caption_id) for i, p in enumerate(parts) for q in parts[i + 1:])
    _score(run_dir, cfg, scorer, Shard(0, 2), "sharded")
    with pytest.raises(IncompleteScoresError, match="not scored yet"):
        merge_scores(rows, run_dir / "sharded", 0.5)
    _score(run_dir, cfg, scorer, Shard(1, 2), "sharded")
    _score(run_dir, cfg, scorer, Shard(), "single")
    pd.testing.assert_frame_equal(merge_scores(rows, run_dir / "sharded", 0.5),
                                  merge_scores(rows, run_dir / "single", 0.5))


def test_bad_manifest_is_a_one_line_error(tmp_path):
    path = tmp_path / "manifest.parquet"
    pd.DataFrame({"caption_id": ["a"], "candidate": [0]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"manifest.parquet: missing column\(s\) caption, path, status"):
        read_manifest(path)
    with pytest.raises(FileNotFoundError, match="run stage 02"):
        read_manifest(tmp_path / "nope.parquet")


# --------------------------------------------------------------------------- selection rules


def _scores_table():
    # caption a: candidate 1 wins on CLIP alone, candidate 0 once SSIM counts (λ = 0.5)
    return pd.DataFrame([
        dict(caption_id="a", candidate=0, clip_score=0.30, ssim=0.90),
        dict(caption_id="a", candidate=1, clip_score=0.34, ssim=0.50),
        dict(caption_id="b", candidate=0, clip_score=0.32, ssim=0.60),
        dict(caption_id="b", candidate=1, clip_score=0.20, ssim=0.60),
        dict(caption_id="c", candidate=0, clip_score=0.32, ssim=0.60),  # ties with b/0: id breaks it
        dict(caption_id="d", candidate=0, clip_score=0.90, ssim=0.90),
        dict(caption_id="e", candidate=0, clip_score=np.nan, ssim=np.nan),
    ]).assign(caption=lambda d: d.caption_id, path=lambda d: "synthesis/images/x/" + d.caption_id + ".jpg",
              status=lambda d: np.where(d.caption_id == "e", "corrupt", "ok"), error="")


def _keys(df):
    return list(zip(df.caption_id, df.candidate))


def test_best_of_n_top_k_and_lambda():
    scores = _scores_table()
    sel = select_pairs(scores, 0.5, top_k=3)
    assert _keys(sel) == [("d", 0), ("a", 0), ("b", 0)] and list(sel["rank"]) == [1, 2, 3]
    official = select_pairs(scores, 0.0, top_k=None)  # λ = 0: the official CLIP-only best-of-N
    assert _keys(official) == [("d", 0), ("a", 1), ("b", 0), ("c", 0)]
    np.testing.assert_allclose(official.score, official.clip_score)
    assert len(select_pairs(scores, 0.5, top_k=None, top_fraction=0.5)) == 2  # int(4 * 0.5)
    every = select_pairs(scores, 0.5, best_per_caption=False, top_k=None)
    assert len(every) == 6 and "e" not in set(every.caption_id)


def test_random_strategy_is_seeded():
    scores = _scores_table()
    first = select_pairs(scores, strategy="random", top_k=2, seed=1)
    assert _keys(first) == _keys(select_pairs(scores, strategy="random", top_k=2, seed=1))
    assert len(first) == 2 and first.caption_id.is_unique
    orders = {tuple(_keys(select_pairs(scores, strategy="random", top_k=None, seed=s))) for s in range(8)}
    assert len(orders) > 1


# --------------------------------------------------------------------------- LLaVA export


def test_llava_json_schema_and_image_folder(run_dir, cfg, scorer):
    rows, _ = _score(run_dir, cfg, scorer)
    scores = merge_scores(rows, run_dir / "parts", 0.5)
    paths = RunPaths.for_run(run_dir)
    selected = select_pairs(scores, 0.5, top_k=3)
    stale = paths.llava_image_folder / "old" / "stale.jpg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    export_llava(selected, run_dir, paths.llava_image_folder, paths.llava_pretrain_json, seed=0)
    records = json.loads(paths.llava_pretrain_json.read_text())
    assert [r["id"] for r in records] == list(selected.caption_id)
    for rec, row in zip(records, selected.itertuples()):
        assert set(rec) == {"id", "image", "conversations"}
        human, gpt = rec["conversations"]
        assert human["from"] == "human" and gpt == {"from": "gpt", "value": row.caption}
        instruction, image_tag = human["value"].split("\n")
        assert image_tag == "<image>" and instruction == brief_instruction(rec["id"], 0)
        image = paths.llava_image_folder / rec["image"]
        assert rec["image"] == row.path.removeprefix("synthesis/images/")
        assert os.path.samefile(image, run_dir / row.path)  # hardlinked, not copied
    assert not stale.exists()


def test_instruction_list_has_eleven_separate_prompts():
    assert len(BRIEF_DESCRIPTION_INSTRUCTIONS) == len(set(BRIEF_DESCRIPTION_INSTRUCTIONS)) == 11
    assert all(p.count(".") == 1 and p.endswith(".") for p in BRIEF_DESCRIPTION_INSTRUCTIONS)  # no merged pair
    drawn = {brief_instruction(f"id{i}", 0) for i in range(300)}
    assert drawn == set(BRIEF_DESCRIPTION_INSTRUCTIONS)
    assert brief_instruction("x", 0) == brief_instruction("x", 0)
    assert [brief_instruction(f"id{i}", 0) for i in range(20)] != [brief_instruction(f"id{i}", 1) for i in range(20)]


def test_cli_shards_then_select(run_dir, capsys, tiny):
    from synthvlm_repro.cli import main

    common = ["--run-dir", str(run_dir), "--no-progress", "--set", "selection.top_k=2"]
    assert main(["selection", "score", "--shard", "0/2", *common]) == 0
    assert main(["selection", "select", *common]) == 2  # shard 1 not scored yet: a one-line error
    assert "pairs not scored yet" in capsys.readouterr().err
    assert main(["selection", "score", "--shard", "1/2", *common]) == 0
    assert main(["selection", "select", *common]) == 0
    assert "2 selected" in capsys.readouterr().out
    assert len(json.loads((run_dir / "selection" / "llava_pretrain.json").read_text())) == 2
    assert len(pd.read_parquet(run_dir / "selection" / "scores.parquet")) == 12


def test_cli_help_documents_every_option(capsys):
    from synthvlm_repro.cli import build_parser

    for action in ("run", "score", "select", "quality"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["selection", action, "--help"])
        text = capsys.readouterr().out
        for option in ("--profile", "--run-dir", "--set", "--no-progress"):
            assert option in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["selection", "score", "--help"])
    assert "--shard I/N" in capsys.readouterr().out


def test_config_rejects_inverted_ssim_sizes():
    from synthvlm_repro.config import ConfigError

    with pytest.raises(ConfigError, match="ssim_low_size must be smaller"):
        load_config("smoke", ["selection.ssim_low_size=200"])
