"""Stage 03 against bad manifests (issue 16): missing paths, blank images, paths leaving the run dir, the
settings hash, and a real SIGKILL at a random point of ``selection run`` followed by a rerun."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synthvlm_repro.config import load_config
from synthvlm_repro.path_policy import PathPolicyError
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.selection.quality import quality_table
from synthvlm_repro.selection.scoring import merge_scores, read_manifest, score_rows, settings_fingerprint
from synthvlm_repro.selection.select import export_llava, select_pairs
from synthvlm_repro.selection.ssim import ssim_skimage

HERE = Path(__file__).resolve().parent


def _photo(seed: int, size: int = 80) -> Image.Image:
    """A textured image (a gradient with noise): real content, not near-constant."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, size)
    base = np.add.outer(x, x[::-1])[..., None] / 2 * rng.random(3)
    return Image.fromarray((base + rng.normal(0, 12, (size, size, 3))).clip(0, 255).astype(np.uint8))


def _write_run(root: Path, extra: list[dict] = (), n_captions: int = 3) -> Path:
    """A run dir whose manifest has ``n_captions`` × 2 textured candidates plus the ``extra`` rows."""
    rows = []
    for n in range(n_captions):
        for k in range(2):
            rel = f"synthesis/images/00/c{n}_{k}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            _photo(10 * n + k).save(root / rel, quality=95)
            rows.append(dict(caption_id=f"c{n}", candidate=k, caption=f"caption number {n}", path=rel, status="ok"))
    pd.DataFrame(rows + list(extra)).to_parquet(root / "synthesis" / "manifest.parquet")
    return root


@pytest.fixture(scope="module")
def cfg():
    return load_config("smoke", ["selection.batch_size=3", "selection.chunk_size=4"]).selection


@pytest.fixture(scope="module")
def scorer(cfg, tiny):
    from synthvlm_repro.selection.clipscore import ClipScorer

    return ClipScorer("tiny:open-clip", None, "cpu", "fp32", cfg.caption_prefix)


def _score(run_dir, cfg, scorer):
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    score_rows(rows, run_dir, cfg, "cpu", run_dir / "parts", clip_model=scorer, progress=False)
    return merge_scores(rows, run_dir / "parts", cfg.ssim_weight).set_index(["caption_id", "candidate"])


# --------------------------------------------------------------------------- 1. missing paths


def test_missing_manifest_paths_are_marked_missing_not_a_crash(tmp_path, cfg, scorer):
    """None / NaN / empty paths (and a missing caption) used to raise TypeError in the scorer."""
    run_dir = _write_run(tmp_path)
    rows = read_manifest(run_dir / "synthesis" / "manifest.parquet")
    good = rows.iloc[0]
    bad = pd.DataFrame([dict(caption_id="x", candidate=k, caption="a caption", path=p, status="ok")
                        for k, p in enumerate([None, float("nan"), "", "  "])]
                       + [dict(caption_id="y", candidate=0, caption=None, path=good.path, status="ok")])
    rows = pd.concat([rows, bad], ignore_index=True)
    score_rows(rows, run_dir, cfg, "cpu", run_dir / "parts", clip_model=scorer, progress=False)
    scores = merge_scores(rows, run_dir / "parts", 0.5).set_index(["caption_id", "candidate"])
    assert list(scores.loc["x"].status) == ["missing"] * 4
    assert list(scores.loc["x"].error) == ["manifest path is missing"] * 2 + ["manifest path is empty"] * 2
    assert scores.loc[("y", 0), "status"] == "missing" and "caption" in scores.loc[("y", 0), "error"]
    assert (scores.drop(index=["x", "y"]).status == "ok").all()
    assert set(select_pairs(scores.reset_index(), 0.5, top_k=10).caption_id) == {"c0", "c1", "c2"}


def test_cli_selection_run_completes_with_null_manifest_paths(tmp_path, capsys, tiny):
    """The whole stage (``selection run`` = the notebook's ``run_stage``) finishes and reports the rows."""
    from synthvlm_repro.cli import main

    run_dir = _write_run(tmp_path, [dict(caption_id="z", candidate=0, caption="no image", path=None, status="ok")])
    assert main(["selection", "run", "--run-dir", str(run_dir), "--no-progress", "--set", "selection.top_k=2"]) == 0
    assert "missing 1" in capsys.readouterr().out
    scores = pd.read_parquet(run_dir / "selection" / "scores.parquet").set_index("caption_id")
    assert scores.loc["z", "status"] == "missing" and scores.loc["z", "error"] == "manifest path is missing"
    assert len(json.loads((run_dir / "selection" / "llava_pretrain.json").read_text())) == 2


# --------------------------------------------------------------------------- 2. blank images


def test_blank_candidates_are_status_blank_never_selected_and_counted(tmp_path, cfg, scorer):
    """A flat image round-trips perfectly (SSIM 1.0) and would rank first; now it is ``blank``."""
    folder = tmp_path / "synthesis/images/bl"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    flat = {"white": np.full((80, 80, 3), 255, np.uint8), "black": np.zeros((80, 80, 3), np.uint8),
            "grey": (np.full((80, 80, 3), 128.0) + rng.normal(0, 1.0, (80, 80, 3))).round().astype(np.uint8)}
    extra = []
    for k, (name, pixels) in enumerate(flat.items()):
        Image.fromarray(pixels).save(folder / f"{name}.jpg", quality=95)
        extra.append(dict(caption_id=f"c{k}", candidate=2, caption=f"caption number {k}",
                          path=f"synthesis/images/bl/{name}.jpg", status="ok"))
    assert ssim_skimage(Image.open(folder / "white.jpg"), 96, 42) == pytest.approx(1.0)  # why they used to win
    scores = _score(_write_run(tmp_path, extra), cfg, scorer)
    blank = scores[scores.status == "blank"]
    assert sorted(blank.path) == sorted(r["path"] for r in extra)
    assert blank.error.str.contains("near-constant").all() and blank.ssim.isna().all()
    selected = select_pairs(scores.reset_index(), 100.0, best_per_caption=False, top_k=100)
    assert len(selected) == 6 and not selected.path.str.contains("/bl/").any()
    table = quality_table({"candidates": scores.reset_index()}, 0.5).iloc[0]
    assert (table.n, table.blank, table.unreadable) == (6, 3, 0)


def test_blank_threshold_is_a_setting_in_the_settings_hash(cfg):
    strict = cfg.model_copy(update={"blank_max_std": 0.0})
    assert settings_fingerprint(strict)[0] != settings_fingerprint(cfg)[0]


# --------------------------------------------------------------------------- 3. paths leaving the run dir


def test_manifest_paths_outside_the_run_dir_are_refused_and_never_linked(tmp_path, cfg, scorer):
    run_dir = tmp_path / "run"
    outside = tmp_path / "outside.jpg"
    _photo(99).save(outside, quality=95)
    (run_dir / "synthesis/images").mkdir(parents=True)
    os.symlink(outside, run_dir / "synthesis/images/link.jpg")
    escaping = ["../outside.jpg", str(outside), "synthesis/images/link.jpg", "synthesis/../../outside.jpg"]
    extra = [dict(caption_id=f"e{k}", candidate=0, caption="an escaping path", path=p, status="ok")
             for k, p in enumerate(escaping)]
    scores = _score(_write_run(run_dir, extra), cfg, scorer)
    refused = scores[scores.status == "refused"]
    assert sorted(refused.path) == sorted(escaping)
    assert refused.error.str.contains("leaves its folder|is absolute").all()

    paths = RunPaths.for_run(run_dir)
    selected = select_pairs(scores.reset_index(), 0.5, top_k=100)
    export_llava(selected, run_dir, paths.llava_image_folder, paths.llava_pretrain_json, seed=0)
    linked = [p for p in paths.llava_image_folder.rglob("*") if p.is_file()]
    assert len(linked) == 3 and not any(os.path.samefile(p, outside) for p in linked)

    # scores edited (or written by an older version) cannot smuggle the file in either
    forged = selected.copy()
    forged.loc[0, "path"] = "../outside.jpg"
    with pytest.raises(PathPolicyError, match=r"selected pair 'c\d' #\d: path '../outside.jpg' leaves its folder"):
        export_llava(forged, run_dir, paths.llava_image_folder, paths.llava_pretrain_json, seed=0)
    assert not any(os.path.samefile(p, outside) for p in paths.llava_image_folder.rglob("*") if p.is_file())


def test_quality_dataset_image_paths_stay_in_the_image_dir(tmp_path, tiny):
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.selection.quality import load_pairs, score_dataset

    (tmp_path / "imgs").mkdir()
    _photo(1).save(tmp_path / "imgs" / "a.jpg")
    _photo(2).save(tmp_path / "secret.jpg")
    rows = [{"id": "a", "image": "a.jpg", "caption": "fine"}, {"id": "b", "image": "../secret.jpg", "caption": "no"},
            {"id": "c", "image": "", "caption": "none"}]
    (tmp_path / "set.json").write_text(json.dumps(rows))
    pairs = load_pairs(tmp_path / "set.json", tmp_path / "imgs").set_index("caption_id")
    assert list(pairs.status) == ["ok", "refused", "missing"]
    ctx = prepare_run("smoke", tmp_path / "run", [])
    scores = score_dataset(ctx, tmp_path / "set.json", tmp_path / "imgs", name="set", progress=False)
    assert list(scores.status) == ["ok", "refused", "missing"] and scores.clip_score.notna().sum() == 1


# --------------------------------------------------------------------------- 4. settings hash


def test_chunk_size_is_part_of_the_settings_fingerprint(cfg):
    """Captions are encoded in windows of ``chunk_size`` rows, which moves clip_score by ~1e-7: parts
    scored with another chunking must land in another folder, never be mixed on resume."""
    other = cfg.model_copy(update={"chunk_size": cfg.chunk_size + 1})
    (a, payload_a), (b, payload_b) = settings_fingerprint(cfg), settings_fingerprint(other)
    assert a != b and payload_a["chunk_size"] == cfg.chunk_size and payload_b["chunk_size"] == cfg.chunk_size + 1
    assert settings_fingerprint(cfg.model_copy())[0] == a  # and the hash stays stable otherwise


# --------------------------------------------------------------------------- 6. kill and resume


def _cli(run_dir: Path, kill_at: int | None, log: Path, not_matching: str | None = None):
    cmd = [sys.executable, str(HERE / "kill_at_op.py"), "--root", str(run_dir), "--log", str(log)]
    cmd += ["--kill-at", str(kill_at)] if kill_at else []
    cmd += ["--not-matching", not_matching] if not_matching else []
    cmd += ["--", "selection", "run", "--run-dir", str(run_dir), "--no-progress",
            "--set", "selection.top_k=5", "--set", "selection.chunk_size=3", "--set", "selection.batch_size=2"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _outputs(run_dir: Path) -> dict:
    sel = run_dir / "selection"
    images = sel / "images"
    return {"scores": pd.read_parquet(sel / "scores.parquet"), "selected": pd.read_parquet(sel / "selected.parquet"),
            "json": (sel / "llava_pretrain.json").read_bytes(),
            "images": {str(p.relative_to(images)): p.read_bytes() for p in sorted(images.rglob("*")) if p.is_file()}}


def test_selection_killed_at_random_points_then_rerun_gives_identical_outputs(tmp_path, tiny):
    """``selection run`` SIGKILLed (for real, in a subprocess) right before a random file commit while
    scoring, its rerun SIGKILLed again at a random commit while selecting/exporting, then run to the
    end: scores, selection, LLaVA JSON and image folder equal those of an uninterrupted run."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    extra = [dict(caption_id="m", candidate=0, caption="no image", path=None, status="ok")]
    for root in (straight, killed):
        _write_run(root, extra, n_captions=6)
    result = _cli(straight, None, straight / "ops.log")
    assert result.returncode == 0, result.stderr
    ops = (straight / "ops.log").read_text().splitlines()
    scoring = [i for i, op in enumerate(ops, 1) if "score_parts" in op]
    selecting = [i for i, op in enumerate(ops, 1) if i > max(scoring)]
    assert len(scoring) >= 4 and len(selecting) >= 5  # enough commit points to choose from
    rng = random.Random(16)
    first, second = rng.choice(scoring[1:]), rng.randint(1, len(selecting))
    assert _cli(killed, first, killed / "ops1.log").returncode == -9
    assert not (killed / "selection" / "scores.parquet").exists()
    # the rerun finishes the scoring, then dies at the second-th commit after it
    assert _cli(killed, second, killed / "ops2.log", not_matching="score_parts").returncode == -9
    result = _cli(killed, None, killed / "ops3.log")
    assert result.returncode == 0, result.stderr
    a, b = _outputs(straight), _outputs(killed)
    pd.testing.assert_frame_equal(a["scores"], b["scores"], check_exact=True)
    pd.testing.assert_frame_equal(a["selected"], b["selected"], check_exact=True)
    assert a["json"] == b["json"] and a["images"] == b["images"] and len(a["images"]) == 5
