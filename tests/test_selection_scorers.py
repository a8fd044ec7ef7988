"""The selection scorer seam: the Scorer protocol and registry, the one combined score, and a third score
(sharpness) switched on by ``selection.extra_scores`` — on the tiny open_clip model and real JPEGs."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFilter

from synthvlm_repro.config import ConfigError, load_config
from synthvlm_repro.selection.scorer import (PAPER_SCORERS, SCORERS, Scorer, active_scores, build_scorers,
                                             combined_score, score_weights, scorer_class)
from synthvlm_repro.selection.scoring import merge_scores, read_manifest, score_rows, settings_fingerprint
from synthvlm_repro.selection.select import select_pairs
from synthvlm_repro.selection.sharpness import SharpnessScore, laplacian_variance


def _config(*overrides):
    return load_config("smoke", ["selection.batch_size=3", "selection.chunk_size=4", *overrides]).selection


def _photo(seed: int, blur: float, size: int = 96) -> Image.Image:
    """Stripes and noise, then a Gaussian blur of ``blur`` px: the same content at chosen sharpness."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([128 + 90 * np.sign(np.sin(x / (3 + seed + c))) * np.cos(y / 9) for c in range(3)], -1)
    img = Image.fromarray((img + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(blur)) if blur else img


BLURS = [0, 3, 1, 5, 0.5, 2]  # per caption: candidate 0 gets BLURS[i], candidate 1 the next one


@pytest.fixture
def run_dir(tmp_path):
    """Six captions × two candidates that differ in sharpness."""
    rows = []
    folder = tmp_path / "synthesis" / "images"
    folder.mkdir(parents=True)
    for n in range(6):
        for k in range(2):
            rel = f"synthesis/images/c{n}_{k}.jpg"
            _photo(n, BLURS[(n + k) % len(BLURS)]).save(tmp_path / rel, quality=95)
            rows.append(dict(caption_id=f"c{n}", candidate=k, caption=f"striped picture number {n}", path=rel,
                             status="ok"))
    pd.DataFrame(rows).to_parquet(tmp_path / "synthesis" / "manifest.parquet")
    return tmp_path


@pytest.fixture(scope="module")
def clip_model(tiny):
    from synthvlm_repro.selection.clipscore import ClipScorer

    return ClipScorer("tiny:open-clip", None, "cpu", "fp32", "A photo depicts ")


def _scores(run_dir, cfg, clip_model, parts):
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    score_rows(rows, run_dir, cfg, "cpu", run_dir / parts, clip_model=clip_model, progress=False)
    return merge_scores(rows, run_dir / parts, score_weights(cfg))


def test_registered_scorers_follow_the_protocol(clip_model):
    cfg = _config("selection.extra_scores={sharpness: 1.0}")
    assert set(PAPER_SCORERS) <= set(SCORERS) and "sharpness" in SCORERS
    assert active_scores(_config()) == ["clip_score", "ssim"]
    assert active_scores(cfg) == ["clip_score", "ssim", "sharpness"]
    scorers = build_scorers(cfg, "cpu", clip_score=clip_model)
    assert [s.name for s in scorers] == active_scores(cfg)
    for scorer in scorers:
        assert isinstance(scorer, Scorer) and scorer.name in scorer.columns
        assert type(scorer) is scorer_class(scorer.name)
        assert isinstance(type(scorer).settings(cfg), dict)
    assert scorers[0].model is clip_model  # a loaded model is reused, not loaded again
    with pytest.raises(ValueError, match="unknown selection score 'nope'"):
        scorer_class("nope")


def test_extra_scores_must_be_registered_and_finite():
    with pytest.raises(ConfigError, match="unknown score 'aesthetic'; registered: clip_score, ssim, sharpness"):
        _config("selection.extra_scores={aesthetic: 1.0}")
    with pytest.raises(ConfigError, match="'ssim' is always scored"):
        _config("selection.extra_scores={ssim: 1.0}")
    with pytest.raises(ConfigError, match="finite"):
        _config("selection.extra_scores={sharpness: .nan}")
    assert _config().extra_scores == {}  # the paper's rule by default


def test_combined_score_is_clip_plus_lambda_ssim_exactly():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"clip_score": rng.random(50), "ssim": rng.random(50), "sharpness": rng.random(50)})
    df.loc[3, "ssim"] = np.nan
    for lam in (0.0, 0.5, 1.0, 2.5):
        expected = df["clip_score"] + lam * df["ssim"]  # the formula the five copies computed
        pd.testing.assert_series_equal(combined_score(df, lam), expected, check_exact=True, check_names=False)
        weights = score_weights(_config(f"selection.ssim_weight={lam}"))
        pd.testing.assert_series_equal(combined_score(df, weights), expected, check_exact=True, check_names=False)
    weights = score_weights(_config("selection.extra_scores={sharpness: 3.0}"))
    assert weights == {"clip_score": 1.0, "ssim": 0.5, "sharpness": 3.0}
    np.testing.assert_allclose(combined_score(df, weights), df.clip_score + 0.5 * df.ssim + 3.0 * df.sharpness)
    assert np.isnan(combined_score(df, weights)[3])
    with pytest.raises(ValueError, match="no 'sharpness' column"):
        combined_score(df.drop(columns="sharpness"), weights)


def test_enabling_sharpness_adds_a_column_and_ranks_as_its_weight_says(run_dir, clip_model):
    base = _scores(run_dir, _config(), clip_model, "base")
    assert "sharpness" not in base.columns
    off = _config("selection.extra_scores={sharpness: 0.0}")
    sharp = _scores(run_dir, off, clip_model, "sharp")
    assert list(sharp.columns) == ["caption_id", "candidate", "caption", "path", "clip_score", "ssim", "sharpness",
                                   "score", "status", "error"]
    # the paper's two scores are untouched, and a zero weight leaves score and selection as they were
    for col in ("clip_score", "ssim", "score"):
        pd.testing.assert_series_equal(sharp[col], base[col], check_exact=True)
    pd.testing.assert_frame_equal(select_pairs(sharp, score_weights(off), top_k=None).drop(columns="sharpness"),
                                  select_pairs(base, score_weights(_config()), top_k=None), check_exact=True)
    # the values are the documented measure, and blur lowers them
    for row in sharp.itertuples():
        assert row.sharpness == pytest.approx(laplacian_variance(Image.open(run_dir / row.path)), rel=1e-9)
    by_blur = sharp.assign(blur=[BLURS[(int(c[1:]) + k) % len(BLURS)] for c, k in zip(sharp.caption_id,
                                                                                        sharp.candidate)])
    assert by_blur.groupby("blur").sharpness.mean().is_monotonic_decreasing
    # a dominant weight ranks by sharpness: the sharper candidate of every caption, sharpest caption first
    heavy = score_weights(_config("selection.extra_scores={sharpness: 1000.0}"))
    picked = select_pairs(sharp, heavy, top_k=None)
    best = sharp.loc[sharp.groupby("caption_id").sharpness.idxmax()]
    assert set(zip(picked.caption_id, picked.candidate)) == set(zip(best.caption_id, best.candidate))
    assert picked.sharpness.is_monotonic_decreasing
    paper = select_pairs(sharp, score_weights(off), top_k=None)
    assert list(paper.caption_id) != list(picked.caption_id) or list(paper.candidate) != list(picked.candidate)


def test_fingerprint_covers_the_active_scorers_not_the_weights():
    cfg = _config()
    fingerprint, payload = settings_fingerprint(cfg)
    assert "extra_scores" not in payload and {"model", "prefix", "ssim", "chunk_size"} <= set(payload)
    on, on_payload = settings_fingerprint(_config("selection.extra_scores={sharpness: 0.0}"))
    assert on != fingerprint and on_payload["extra_scores"] == {"sharpness": SharpnessScore.settings(cfg)}
    assert {k: v for k, v in on_payload.items() if k != "extra_scores"} == payload
    # weights act when parts are merged: another weight reuses the same scores (`selection select`)
    assert settings_fingerprint(_config("selection.extra_scores={sharpness: 5.0}"))[0] == on
    assert settings_fingerprint(_config("selection.ssim_weight=0"))[0] == fingerprint


def test_sharpness_tensor_path_follows_the_pil_path(run_dir):
    """``selection.decode: gpu`` computes it from device tensors: the same numbers at native size, and
    within a few percent where torchvision's resize replaces PIL's (images above 384 px)."""
    paths = sorted((run_dir / "synthesis" / "images").glob("*.jpg"))
    for size in (96, 512):
        images = [Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC) for p in paths]
        stack = torch.stack([torch.from_numpy(np.array(im)).permute(2, 0, 1) for im in images])
        tensor = SharpnessScore().prepare_batch(stack).numpy()
        pil = np.array([laplacian_variance(im) for im in images])
        np.testing.assert_allclose(tensor, pil, rtol=1e-9 if size == 96 else 0.1)
        assert np.corrcoef(tensor, pil)[0, 1] > 0.99
