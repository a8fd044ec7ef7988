"""05_evaluation.ipynb under papermill inside the shared smoke pipeline run."""

import json

import pytest


@pytest.mark.slow
def test_evaluation_notebook_runs_in_the_smoke_pipeline(smoke_run):
    paths, record = smoke_run
    status = {nb.notebook: nb.status for nb in record.notebooks}
    assert status["05_evaluation.ipynb"] == "ok"
    rows = json.loads(paths.results_json.read_text())
    assert paths.results_csv.read_text().splitlines()[0] == "benchmark,split,metric,value,n,model,checkpoint"
    benchmarks = {r["benchmark"] for r in rows}
    assert benchmarks == {"gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz", "mmlu"}
    assert {r["split"] for r in rows if r["benchmark"] == "pope"} == {"adversarial", "popular", "random"}
    mmlu = {r["split"]: r for r in rows if r["benchmark"] == "mmlu"}
    assert mmlu["test_5shot"]["n"] == 57 and len(mmlu) == 5
    assert all(0 <= r["value"] <= 2000 and r["n"] > 0 for r in rows)
    if (paths.training_final_dir(2) / "config.json").exists():  # stage 04 ran: its checkpoint was evaluated
        assert {r["model"] for r in rows} == {"training/phase2/final"}
    assert (paths.figures / "evaluation_headlines.png").exists()
    assert (paths.evaluation / "submissions" / "vqav2_test-dev.json").exists()
