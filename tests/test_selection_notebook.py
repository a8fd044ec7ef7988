"""Stage 03 notebook under papermill, inside the shared smoke pipeline run."""

import json

import pandas as pd
import pytest


@pytest.mark.slow
def test_selection_notebook_artifacts(smoke_run):
    paths, record = smoke_run
    status = {nb.notebook: nb.status for nb in record.notebooks}
    assert status.get("03_clip_selection.ipynb") == "ok", status
    manifest = pd.read_parquet(paths.synthesis_manifest)
    scores = pd.read_parquet(paths.scores_parquet)
    assert len(scores) == len(manifest)
    assert {"caption_id", "candidate", "caption", "path", "clip_score", "ssim", "score", "status",
            "error"} <= set(scores.columns)
    ok = scores[scores.status == "ok"]
    assert ok.clip_score.between(0, 1).all() and ok.ssim.between(-1, 1).all()
    selected = pd.read_parquet(paths.selected_parquet)
    assert 0 < len(selected) <= 24 and list(selected["rank"]) == list(range(1, len(selected) + 1))
    assert selected.caption_id.is_unique and selected.score.is_monotonic_decreasing
    records = json.loads(paths.llava_pretrain_json.read_text())
    assert len(records) == len(selected)
    for rec in records:
        assert (paths.llava_image_folder / rec["image"]).is_file()
        assert rec["conversations"][0]["value"].endswith("\n<image>")
    table = pd.read_csv(paths.selection / "quality_table.csv")
    assert {"all candidates", "selected", "SynthVLM-100K"} <= set(table.dataset)
    for name in ("selection_score_distributions", "selection_best_worst"):
        assert (paths.figures / f"{name}.png").exists() and (paths.figures / f"{name}.pdf").exists()
