"""Notebook 04 under papermill inside the smoke pipeline (slow: runs every notebook once per session)."""

import json

import pytest


@pytest.mark.slow
def test_notebook_04_trains_both_phases_and_saves_llava_hf(smoke_run):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    paths, record = smoke_run
    status = {nb.notebook: nb.status for nb in record.notebooks}
    assert status.get("04_llava_pretraining.ipynb") == "ok", record
    n_rows = len(json.loads(paths.llava_pretrain_json.read_text()))
    for phase in (1, 2):
        final = paths.training_final_dir(phase)
        assert final.parent.name == f"phase{phase}"
        model = LlavaForConditionalGeneration.from_pretrained(final)
        processor = AutoProcessor.from_pretrained(final)
        assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index
        losses = [h["loss"] for h in json.loads(paths.training_log_history(phase).read_text()) if "loss" in h]
        assert losses and all(loss > 0 for loss in losses)
        assert json.loads(paths.training_label_check(phase).read_text())["fully_masked"] == 0
    assert json.loads(paths.training_label_check(1).read_text())["checked"] == n_rows
    assert paths.figure("training_loss").with_suffix(".png").exists()
    assert paths.figure("training_loss").with_suffix(".pdf").exists()
