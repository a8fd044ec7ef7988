"""Stage 06 figures and tables on a small hand-made run dir that follows the README schemas."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from synthvlm_repro.atomic import write_json, write_parquet
from synthvlm_repro.figures import tables
from synthvlm_repro.figures.artifacts import MissingInput
from synthvlm_repro.figures.build import FigureBuilder, judgment_file, summary
from synthvlm_repro.figures.preference import append_jsonl
from synthvlm_repro.figures.reference import reference_rows, reference_value
from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

ALL_FIGURES = ["data_quality", "score_distributions", "example_grid", "curation_funnel", "benchmarks", "mmlu",
               "tsne", "preference", "grid_search", "throughput"]


def make_run(root, with_images=True):
    """A run dir holding every artifact stage 06 reads: 'synthetic' images are the sample images
    mirrored (two candidates per caption), scores and results are made-up but schema-true."""
    rng = np.random.default_rng(0)
    records = [r for r in load_sample_captions() if r.get("image")][:8]
    manifest, scores = [], []
    for r in records:
        for k in range(2):
            rel = f"synthesis/images/00000/{r['id']}_{k}.jpg"
            img = Image.open(sample_data_dir() / r["image"]).convert("RGB")
            if with_images:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (ImageOps.mirror(img) if k else img.rotate(90)).resize((64, 64)).save(root / rel)
            manifest.append({"caption_id": r["id"], "candidate": k, "caption": r["caption"], "seed": 7 * k,
                             "path": rel, "status": "ok", "model": "tiny:sdxl-base", "steps": 4, "seconds": 0.25})
            clip, ssim = float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.6, 0.9))
            scores.append({"caption_id": r["id"], "candidate": k, "caption": r["caption"], "path": rel,
                           "clip_score": clip, "ssim": ssim, "score": clip + 0.5 * ssim, "status": "ok", "error": ""})
    scores_df = pd.DataFrame(scores)
    write_parquet(root / "synthesis/manifest.parquet", pd.DataFrame(manifest))
    write_parquet(root / "selection/scores.parquet", scores_df)
    best = scores_df.sort_values("score", ascending=False).drop_duplicates("caption_id").head(5)
    write_parquet(root / "selection/selected.parquet", best.assign(rank=range(1, len(best) + 1)))
    write_parquet(root / "selection/quality/coco.parquet", scores_df.assign(clip_score=0.25, ssim=0.5))
    write_json(root / "captions/funnel.json", [{"step": "input", "kept": 256, "dropped": 0},
                                               {"step": "special_characters", "kept": 240, "dropped": 16},
                                               {"step": "llm_judge", "kept": 200, "dropped": 40}])
    grid = [{"steps": s, "guidance_scale": g, "refiner": r, "clip_score": 0.3 + 0.001 * s + 0.002 * g}
            for s in (20, 40, 60) for g in (5.0, 10.0, 20.0) for r in (True, False)]
    write_parquet(root / "synthesis/grid.parquet", pd.DataFrame(grid))
    for stage in (1, 2):
        write_json(root / f"training/stage{stage}/log_history.json",
                   [{"loss": 2.0, "step": 1, "epoch": 0.5}, {"loss": 1.5, "step": 2, "epoch": 1.0},
                    {"train_runtime": 4.0, "train_samples_per_second": 2.0, "step": 2, "epoch": 1.0}])
    rows = [("gqa", "testdev", "accuracy", 12.5, 8), ("pope", "adversarial", "f1", 40.0, 10),
            ("pope", "random", "f1", 50.0, 10), ("pope", "random", "accuracy", 45.0, 10),
            ("pope", "random", "yes_ratio", 0.5, 10), ("mme", "test/OCR", "score", 90.0, 4),
            ("mme", "test", "perception", 700.0, 28), ("mme", "test", "cognition", 200.0, 8),
            ("vqav2", "test-dev", "submission_rows", 30.0, 30),
            ("mmlu", "test_5shot", "accuracy", 25.0, 40), ("mmlu", "test_5shot/stem", "accuracy", 20.0, 10),
            ("mmlu", "test_5shot/humanities", "accuracy", 30.0, 10)]
    results = pd.DataFrame(rows, columns=["benchmark", "split", "metric", "value", "n"])
    results["model"], results["checkpoint"] = "tiny", "training/phase2/final"
    (root / "evaluation").mkdir(parents=True, exist_ok=True)
    results.to_csv(root / "evaluation/results.csv", index=False)
    return root


@pytest.fixture()
def ctx(tmp_path):
    run = make_run(tmp_path / "run")
    return prepare_run("smoke", run, [f"figures.output_dir={tmp_path / 'figures'}", "figures.tsne_samples=6",
                                      "figures.example_pairs=3"])


def test_reference_numbers_have_sources_and_nothing_invented():
    ref = reference_rows()
    present = ref[ref["value"].notna()]
    assert (present["source"] != "").all() and (present["missing"] == "").all()
    assert (ref[ref["value"].isna()]["missing"] != "").all()
    assert reference_value("preference", "Human", "win_rate") == 75.8
    assert reference_value("mmlu", "SynthVLM-7B", "overall") == 41.2
    assert reference_value("mmlu", "SynthVLM-7B", "stem") is None  # breakdown not found: missing, not made up
    assert reference_value("benchmarks", "LLaVA-1.5-7B", "mme") == 1510.7
    assert reference_value("benchmarks", "SynthVLM-7B", "gqa") is None
    assert reference_value("data_quality", "SynthVLM-100K", "weighted") == 0.79


def test_benchmark_and_mmlu_tables_pick_headline_numbers(ctx):
    bench = tables.benchmark_table(ctx.paths).set_index("benchmark")
    assert bench.loc["pope", "metric"] == "f1"
    assert bench.loc["pope", "this run"] == pytest.approx(45.0)  # n-weighted mean of the split F1s
    assert bench.loc["mme", "this run"] == 700.0 and bench.loc["mme", "LLaVA-1.5-7B"] == 1510.7
    assert np.isnan(bench.loc["gqa", "SynthVLM-7B (paper)"])
    assert "vqav2" not in bench.index  # only a submission file: nothing to compare
    mmlu = tables.mmlu_table(ctx.paths)
    assert list(mmlu["category"]) == ["overall", "stem", "humanities"]
    assert mmlu.iloc[0]["SynthVLM-7B (paper)"] == 41.2 and np.isnan(mmlu.iloc[1]["SynthVLM-7B (paper)"])


def test_table_writers(tmp_path):
    df = pd.DataFrame({"dataset": ["a_b", "c"], "clip_score": [0.3123, float("nan")]})
    csv, md, tex = tables.write_table(df, tmp_path / "t", "cap 100%")
    assert pd.read_csv(csv).shape == (2, 2)
    assert md.read_text().splitlines()[2] == "| a_b | 0.312 |" and "| c | – |" in md.read_text()
    assert r"a\_b & 0.312 \\" in tex.read_text() and r"cap 100\%" in tex.read_text()


def test_every_figure_is_written_with_fixed_names(ctx, tiny):
    results = FigureBuilder(ctx).build([f for f in ALL_FIGURES if f != "preference"])
    by_name = {r.name: r for r in results}
    assert all(r.status == "made" for r in results), summary(results).to_string()
    out = ctx.paths.root.parent / "figures"
    for stem in ("data_quality", "score_distributions", "example_grid", "curation_funnel", "benchmarks",
                 "mmlu_by_category", "tsne_clip_embeddings", "grid_search_heatmap", "throughput"):
        for suffix in (".png", ".pdf"):
            assert (out / f"{stem}{suffix}").stat().st_size > 1000, stem
    for stem in ("data_quality_table", "benchmarks_table", "mmlu_table", "throughput_table"):
        assert {p.suffix for p in out.glob(f"{stem}.*")} == {".csv", ".md", ".tex"}
    quality = by_name["data_quality"].table.set_index("dataset")
    assert quality.loc["this run: selected", "n"] == 5 and quality.loc["this run: original images", "n"] == 8
    assert quality.loc["SynthVLM-100K", "clip_score"] == 0.36
    assert quality.loc["this run: coco (real)", "weighted"] == pytest.approx(0.5)
    grid = by_name["example_grid"].table
    assert len(grid) == 3 and grid["clip_original"].between(0, 1).all()
    tsne = by_name["tsne"].table.set_index("dataset")
    assert tsne.loc["this run (selected synthetic)", "image"] == 5 and tsne.loc["original images", "text"] == 6
    assert tsne.loc["coco (real)", "image"] == 6  # stage 03's real-set scores join the t-SNE, capped at tsne_samples
    throughput = pd.read_csv(out / "throughput_table.csv")
    assert throughput.iloc[0]["seconds_per_item"] == pytest.approx(0.25)


def test_missing_inputs_skip_with_a_reason(tmp_path):
    ctx = prepare_run("smoke", tmp_path / "empty", [f"figures.output_dir={tmp_path / 'figs'}"])
    results = FigureBuilder(ctx).build([f for f in ALL_FIGURES if f not in ("tsne", "example_grid")])
    assert [r.status for r in results] == ["skipped"] * len(results)
    for r in results:
        assert r.reason and "\n" not in r.reason
    assert "scores.parquet not found" in results[0].reason
    assert not list((tmp_path / "figs").glob("*.png"))


def test_malformed_input_is_a_one_line_skip(ctx):
    write_parquet(ctx.paths.scores_parquet, pd.DataFrame({"caption_id": ["x"], "clip_score": [0.3]}))
    (result,) = FigureBuilder(ctx).build(["score_distributions"])
    assert result.status == "skipped" and "missing column(s) candidate" in result.reason


def test_preference_figure_from_judgment_files(ctx):
    for i in range(10):
        append_jsonl(judgment_file(ctx.paths, "human-alice"), {"pair_id": f"p{i}", "judge": "alice",
                                                               "winner": "synthetic" if i < 7 else "original"})
    (result,) = FigureBuilder(ctx).build(["preference"])
    assert result.status == "made"
    table = result.table.set_index("judge")
    assert table.loc["alice", "win_rate"] == pytest.approx(70.0)
    assert table.loc["alice", "ci_low"] < 70 < table.loc["alice", "ci_high"]
    assert table.loc["Human", "win_rate"] == 75.8 and table.loc["Human", "source"].startswith("paper [AWL]")
    assert 73 < table.loc["Human", "ci_low"] < 75.8 < table.loc["Human", "ci_high"] < 78.5


def test_unknown_figure_name_is_rejected(ctx):
    with pytest.raises(ValueError, match="unknown figure"):
        FigureBuilder(ctx).build(["nope"])



@pytest.mark.slow
def test_notebook_06_on_the_smoke_pipeline(smoke_run, project_root):
    """Under papermill after stages 01-05: judge ran, core figures made, skips explained, report written."""
    paths, record = smoke_run
    status = {n.notebook: n.status for n in record.notebooks}
    assert status["06_paper_figures.ipynb"] == "ok"
    from synthvlm_repro.figures.preference import read_jsonl

    judged = read_jsonl(paths.root / "preference" / "judge-tiny_llava.jsonl")
    assert judged and {r["winner"] for r in judged} <= {"synthetic", "original", "tie"}
    report = paths.report_md.read_text()
    assert "Smoke run — tiny random models" in report and "## versions" in report and "## hardware" in report
    out = project_root / "figures"
    for stem in ("data_quality", "score_distributions", "example_grid", "curation_funnel", "tsne_clip_embeddings",
                 "preference_win_rates"):
        # written by this notebook: after its prepare_run wrote the run's config.yaml
        assert (out / f"{stem}.png").stat().st_mtime >= paths.config_yaml.stat().st_mtime, stem
        assert (out / f"{stem}.pdf").exists(), stem
    for line in report.splitlines():
        if line.startswith("_skipped:"):
            assert line.endswith("_") and len(line) < 400


def test_a_broken_input_fails_one_figure_not_the_build(ctx):
    for k in (0, 1):
        (ctx.paths.root / f"synthesis/images/00000/sv-0001_{k}.jpg").write_bytes(b"not a jpeg")
    results = {r.name: r for r in FigureBuilder(ctx).build(["example_grid", "curation_funnel"])}
    assert results["example_grid"].status == "failed" and "\n" not in results["example_grid"].reason
    assert "sv-0001_" in results["example_grid"].reason  # names the file
    assert results["curation_funnel"].status == "made"


def test_report_has_settings_figures_and_environment(ctx):
    from synthvlm_repro.figures.build import figures_dir
    from synthvlm_repro.figures.report import settings_table, write_report

    settings = settings_table(ctx.cfg).set_index("setting")
    assert settings.loc["sampling steps", "paper"] == 60 and settings.loc["sampling steps", "source"] == "APP"
    assert settings.loc["preference pairs", "this run"] == ctx.cfg.figures.preference_pairs
    results = FigureBuilder(ctx).build(["curation_funnel", "preference"])
    text = write_report(ctx, results, figures_dir(ctx)).read_text()
    assert "Smoke run — tiny random models" in text
    assert "![curation_funnel](../figures/curation_funnel.png)" in text  # relative to the run dir
    assert "_skipped: no judgments in" in text
    assert "| transformers |" in text and "| gpus |" in text


def test_original_images_of_a_custom_source_come_from_curated_parquet(tmp_path):
    from synthvlm_repro.figures.pairs import original_images

    (tmp_path / "imgs").mkdir()
    source = tmp_path / "pool.json"
    source.write_text("[]")
    ctx = prepare_run("smoke", tmp_path / "run", [f"curation.source={source}"])
    write_parquet(ctx.paths.curated_parquet, pd.DataFrame({"id": ["a", "b", "c"], "caption": ["x", "y", "z"],
                                                           "image": ["imgs/a.png", "/abs/b.png", None]}))
    df = original_images(ctx.cfg, ctx.paths).set_index("caption_id")
    assert list(df.index) == ["a", "b"]
    assert df.loc["a", "original"] == str(tmp_path / "imgs/a.png") and df.loc["b", "original"] == "/abs/b.png"
