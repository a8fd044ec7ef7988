"""Issue 16 in stage 01: a 100 KB caption is truncated to each model's input (and counted in funnel.json),
never an OOM or a traceback; unreadable original images are named or quarantined; blank (near-constant)
originals are dropped as ``blank`` before any scoring; image paths never leave the source's folder."""

import json
import math
import random
import shutil

import numpy as np
import pytest
from PIL import Image

from synthvlm_repro.config import load_config
from synthvlm_repro.curation.pipeline import curate
from synthvlm_repro.curation.readers import CaptionInputError
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.sample_data import sample_data_dir

NO_RULES = ["curation.alnum_min=null", "curation.char_rep_max=null", "curation.word_rep_max=null",
            "curation.special_min=null", "curation.special_max=null", "curation.flagged_words_max=null",
            "curation.near_dedup_threshold=null", "curation.max_captions=null", "curation.judge_mode=off"]
IMAGE_STEPS = NO_RULES + ["curation.perplexity_max=null", "curation.clip_min=-1.0", "curation.itm_min=0.0"]
SHORT = "A red octagonal stop sign with the word STOP in white letters."


def long_caption(n_bytes=100_000, seed=0) -> str:
    """~100 KB of distinct made-up words: no repetition for the rule filters to catch."""
    rng = random.Random(seed)
    words, size = [], 0
    while size < n_bytes:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:n_bytes]


def curate_pool(tmp_path, records, overrides=(), images=None):
    folder = tmp_path / "pool"
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for name, make in (images or {}).items():
        make(folder / "img" / name)
    src = folder / "pool.json"
    src.write_text(json.dumps(records))
    cfg = load_config("smoke", [f"curation.source={src}", *overrides])
    return curate(cfg.curation, RunPaths.for_run(tmp_path / "run"), "cpu", cfg.seed, progress=False)


def copy_sample(name):
    return lambda dest: shutil.copy(sample_data_dir() / "images" / name, dest)


def step(result, name):
    return next(s for s in result.funnel if s["step"] == name)


def test_long_caption_is_truncated_and_counted_in_every_model_step(tmp_path):
    records = [{"id": "long", "caption": long_caption(), "image": "img/a.png"},
               {"id": "short", "caption": SHORT, "image": "img/b.png"}]
    result = curate_pool(tmp_path, records, NO_RULES + ["curation.perplexity_max=1e12", "curation.clip_min=-1.0",
                                                        "curation.itm_min=0.0"],
                         {"a.png": copy_sample("snowman.png"), "b.png": copy_sample("stop_sign.png")})
    for name in ("perplexity", "clip_similarity", "itm_score"):
        assert step(result, name)["truncated"] == 1, name
    rows = {r["id"]: r for r in result.curated.to_pylist()}
    assert set(rows) == {"long", "short"}
    assert all(math.isfinite(rows["long"][k]) for k in ("perplexity", "clip_similarity", "itm_score"))
    assert json.loads((tmp_path / "run" / "captions" / "funnel.json").read_text()) == result.funnel


def test_hf_perplexity_reads_at_most_lm_max_tokens():
    from synthvlm_repro.curation.perplexity import HFPerplexity

    lm = HFPerplexity("tiny:vicuna", "cpu", "fp32", max_tokens=16)
    assert lm.max_tokens == 16
    text = long_caption(2_000)
    head = lm.tokenizer.decode(lm.tokenizer(text, add_special_tokens=False)["input_ids"][:15])
    (full, short), truncated = lm.score([text, head])
    assert truncated == [True, False] and full == pytest.approx(short, rel=1e-4)
    assert HFPerplexity("tiny:vicuna", "cpu", "fp32", max_tokens=10_000).max_tokens == 512  # the model's context


def test_kenlm_scores_a_100kb_caption(tmp_path):
    pytest.importorskip("kenlm")
    sentencepiece = pytest.importorskip("sentencepiece")
    from synthvlm_repro.curation.perplexity import KenLMPerplexity
    from tests.test_curation_kenlm import HandArpa, good_captions, train_sentencepiece

    sp_path = train_sentencepiece(tmp_path, "nmt_nfkc")
    arpa = HandArpa(sentencepiece.SentencePieceProcessor(model_file=str(sp_path)), good_captions()[:60])
    scorer = KenLMPerplexity(str(arpa.write(tmp_path / "lm.arpa")), str(sp_path))
    (value,), truncated = scorer.score([long_caption()])
    assert math.isfinite(value) and value > 1 and truncated == [False]


def write_flat(color):
    return lambda dest: Image.new("RGB", (96, 64), color).save(dest)


def write_noisy_white(dest):  # blank with faint JPEG-like noise: still blank
    rng = np.random.default_rng(0)
    Image.fromarray(np.clip(250 + rng.normal(0, 0.5, (64, 64, 3)), 0, 255).astype(np.uint8)).save(dest)


def write_garbage(dest):
    dest.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


def write_truncated_jpeg(dest):
    Image.open(sample_data_dir() / "images" / "snowman.png").convert("RGB").save(dest, quality=90)
    dest.write_bytes(dest.read_bytes()[:400])


IMAGES = {"ok.png": copy_sample("snowman.png"), "white.png": write_flat("white"), "black.jpg": write_flat("black"),
          "red.png": write_flat((200, 20, 20)), "noisy.png": write_noisy_white, "garbage.png": write_garbage,
          "cut.jpg": write_truncated_jpeg}


def image_records():
    return [{"id": name.split(".")[0], "caption": f"{SHORT} Number {i}.", "image": f"img/{name}"}
            for i, name in enumerate(IMAGES)]


def test_blank_originals_are_dropped_before_scoring_and_unreadable_ones_quarantined(tmp_path):
    result = curate_pool(tmp_path, image_records(), IMAGE_STEPS + ["curation.skip_bad_rows=true"], IMAGES)
    reasons = {r["id"]: r["reason"] for r in result.rejected.to_pylist()}
    assert reasons == {"white": "blank", "black": "blank", "red": "blank", "noisy": "blank",
                       "garbage": "image_unreadable", "cut": "image_unreadable"}
    assert result.curated.column("id").to_pylist() == ["ok"]
    assert step(result, "blank")["dropped"] == 4 and step(result, "image_unreadable")["dropped"] == 2
    names = [s["step"] for s in result.funnel]
    assert names.index("image_unreadable") < names.index("blank") < names.index("clip_similarity")
    assert all("clip_similarity" not in r or r["clip_similarity"] is None for r in result.rejected.to_pylist())
    detail = {r["id"]: r["detail"] for r in result.rejected.to_pylist()}
    assert "garbage.png: unreadable: " in detail["garbage"] and "\n" not in detail["garbage"]
    # A rerun takes ok/blank from captions/cache; a replaced or repaired file is checked again.
    fixed = {"white.png": copy_sample("sailboat.png"), "garbage.png": copy_sample("stop_sign.png")}
    again = curate_pool(tmp_path, image_records(), IMAGE_STEPS + ["curation.skip_bad_rows=true"], fixed)
    assert again.curated.column("id").to_pylist() == ["ok", "white", "garbage"]


def test_unreadable_original_image_is_a_one_line_error_naming_file_and_row(tmp_path):
    records = image_records()
    with pytest.raises(CaptionInputError) as e:
        curate_pool(tmp_path, records, IMAGE_STEPS, IMAGES)
    text = str(e.value)
    assert "\n" not in text and "garbage.png: image of caption garbage (row 5) is unreadable" in text


@pytest.mark.parametrize("image", ["../secret.png", "/etc/passwd"])
def test_curate_refuses_image_paths_outside_the_source_folder(tmp_path, image):
    (tmp_path / "secret.png").write_bytes(b"not for you")
    records = [{"id": "esc", "caption": SHORT, "image": image},
               {"id": "ok", "caption": SHORT + " Again.", "image": "img/ok.png"}]
    with pytest.raises(CaptionInputError, match=r"pool\.json: row 0 \(id 'esc'\): image "):
        curate_pool(tmp_path, records, IMAGE_STEPS, {"ok.png": copy_sample("snowman.png")})
    result = curate_pool(tmp_path, records, IMAGE_STEPS + ["curation.skip_bad_rows=true"],
                         {"ok.png": copy_sample("snowman.png")})
    (bad,) = result.rejected.to_pylist()
    assert (bad["id"], bad["reason"]) == ("esc", "bad_row") and image in bad["detail"]
    assert result.curated.column("id").to_pylist() == ["ok"]
