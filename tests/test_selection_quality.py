"""Stage 03 quality report: real-dataset readers, scoring them like the candidates, the table with the
paper's values, the plots and the pair browser."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.figures.reference import load_reference
from synthvlm_repro.selection.quality import load_pairs, paper_quality, quality_table, score_dataset, summarize
from synthvlm_repro.selection.ssim import ssim_skimage


@pytest.fixture
def real_set(tmp_path):
    """Five images with LLaVA-format and COCO-format caption files pointing at them."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    llava, coco_images, coco_anns = [], [], []
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (60 + 10 * i, 80, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
        llava.append({"id": f"l{i}", "image": f"{i}.jpg", "conversations": [
            {"from": "human", "value": "Describe the image concisely.\n<image>"},
            {"from": "gpt", "value": f"caption number {i}"}]})
        coco_images.append({"id": i, "file_name": f"{i}.jpg"})
        coco_anns += [{"id": 10 * i + 1, "image_id": i, "caption": f"first caption {i} "},
                      {"id": 10 * i + 2, "image_id": i, "caption": f"second caption {i}"}]
    (tmp_path / "llava.json").write_text(json.dumps(llava))
    (tmp_path / "coco.json").write_text(json.dumps({"images": coco_images, "annotations": coco_anns}))
    return tmp_path


def test_readers(real_set):
    llava = load_pairs(real_set / "llava.json", real_set / "imgs")
    assert list(llava.caption_id) == [f"l{i}" for i in range(5)]
    assert llava.caption[2] == "caption number 2" and llava.path[2] == str((real_set / "imgs/2.jpg").resolve())
    coco = load_pairs(real_set / "coco.json", real_set / "imgs")
    assert list(coco.caption) == [f"first caption {i}" for i in range(5)]  # first caption per image, stripped
    sample = load_pairs(real_set / "coco.json", real_set / "imgs", limit=3, seed=1)
    assert len(sample) == 3 and sample.equals(load_pairs(real_set / "coco.json", real_set / "imgs", limit=3, seed=1))
    (real_set / "bad.json").write_text(json.dumps([{"id": 1, "conversations": []}]))
    with pytest.raises(ValueError, match=r"bad.json: no image-caption pairs"):
        load_pairs(real_set / "bad.json")
    (real_set / "bad.json").write_text(json.dumps([{"id": 1, "image": "0.jpg", "conversations": []}]))
    with pytest.raises(ValueError, match=r"bad.json: row 0: no caption"):
        load_pairs(real_set / "bad.json")
    sample = load_pairs("sample")  # the kit's drawn sample images: only rows that have one
    assert len(sample) == 20 and all(Path(p).exists() for p in sample.path)


def test_score_dataset_and_table(real_set, tiny):
    ctx = prepare_run("smoke", real_set / "run", ["selection.quality_limit=4", "selection.batch_size=3"])
    scores = score_dataset(ctx, real_set / "llava.json", real_set / "imgs", name="llava", progress=False)
    assert len(scores) == 4 and (scores.status == "ok").all()
    assert (ctx.paths.selection / "quality" / "llava.parquet").exists()
    for row in scores.itertuples():
        assert row.ssim == pytest.approx(ssim_skimage(Image.open(row.path), 96, 42), abs=1e-4)
    table = quality_table({"llava": scores}, 0.5)
    ours = table[table.dataset == "llava"].iloc[0]
    assert ours.n == 4 and ours.ssim_mean == pytest.approx(scores.ssim.mean())
    assert ours.weighted_mean == pytest.approx((scores.clip_score + 0.5 * scores.ssim).mean())
    paper = table[table.source.str.startswith("paper")].set_index("dataset")
    assert list(paper.index) == list(paper_quality().dataset)
    assert paper.loc["SynthVLM-100K", "weighted_mean"] == 0.79
    assert paper.loc["COCO-Caption", "ssim_mean"] == 0.73


def test_paper_rows_are_the_reference_yaml_and_never_computed():
    """The paper's numbers come from reference_numbers.yaml only: a value it marks missing (COCO's weighted
    score is not printed) stays empty instead of being filled with clip + 0.5·ssim."""
    rows = load_reference()["tables"]["data_quality"]["rows"]
    paper = paper_quality().set_index("dataset")
    assert list(paper.index) == list(rows)
    for name, cells in rows.items():
        for column in ("clip_score", "ssim", "weighted"):
            if "value" in cells[column]:
                assert paper.loc[name, column] == cells[column]["value"]
            else:
                assert np.isnan(paper.loc[name, column]), (name, column)
    assert np.isnan(paper.loc["COCO-Caption", "weighted"]) and paper.loc["SynthVLM-100K", "source"] == "ARGMIN/AWL"
    table = quality_table({}, 0.5).set_index("dataset")
    assert np.isnan(table.loc["COCO-Caption", "weighted_mean"])


def test_summarize_counts_unreadable():
    df = pd.DataFrame({"clip_score": [0.2, 0.4, np.nan], "ssim": [0.5, 0.7, np.nan],
                       "status": ["ok", "ok", "corrupt"]})
    out = summarize(df, 0.5)
    assert out["n"] == 2 and out["unreadable"] == 1
    assert out["weighted_mean"] == pytest.approx(0.6) and out["clip_score_median"] == pytest.approx(0.3)


def test_plots_and_browser(real_set, tiny):
    import ipywidgets

    from synthvlm_repro.plotting import save_figure
    from synthvlm_repro.selection.report import pair_browser, plot_distributions, plot_extremes

    ctx = prepare_run("smoke", real_set / "run", ["selection.quality_limit=5"])
    scores = score_dataset(ctx, real_set / "llava.json", real_set / "imgs", name="llava", progress=False)
    written = save_figure(plot_distributions({"llava": scores}, 0.5), ctx.paths.figures / "dist", smoke=True)
    written += save_figure(plot_extremes(scores, None, 0.5, n=2), ctx.paths.figures / "grid", smoke=True)
    assert all(p.stat().st_size > 1000 for p in written) and len(written) == 4
    browser = pair_browser(scores, None, 0.5)
    (sort_by, descending, index), image, info = browser.children[0].children, *browser.children[1:]
    assert isinstance(browser, ipywidgets.VBox)
    best = scores.assign(s=scores.clip_score + 0.5 * scores.ssim).sort_values("s", ascending=False)
    assert image.value == open(best.path.iloc[0], "rb").read()
    descending.value = False
    assert image.value == open(best.path.iloc[-1], "rb").read()
    sort_by.value = "ssim"
    index.value = 1
    assert scores.sort_values("ssim").caption_id.iloc[1] in info.value
