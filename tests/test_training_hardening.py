"""Stage 04 against long data and real interruptions (issue 16): samples longer than the model's context
are truncated (counted, masks intact), a SIGKILLed run resumes to the same weights, a torn checkpoint is
skipped, and two gloo ranks on CPU follow the one-rank loss curve."""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from synthvlm_repro.config import load_config
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.runtime.llava import load_llava
from synthvlm_repro.training.builder import build_llava, image_tokens_per_image
from synthvlm_repro.training.data import LlavaCollator, LlavaDataset, check_labels
from synthvlm_repro.training.sample_mix import build_sample_pretrain
from synthvlm_repro.training.templates import IGNORE_INDEX
from synthvlm_repro.training.train import last_complete_checkpoint, sequence_limit, train_phase


@pytest.fixture(scope="module")
def cfg():
    return load_config("smoke").training


@pytest.fixture(scope="module")
def built(cfg):
    return build_llava(cfg, seed=0)


def _long_text(n_words: int, seed: int = 0) -> str:
    """Non-repeating text (random letter strings), so no tokenizer merges it into few tokens."""
    rng = random.Random(seed)
    return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
                    for _ in range(n_words))


def test_samples_longer_than_the_context_are_truncated_counted_and_masked_right(built, tmp_path, caplog):
    model, processor = built
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "red.png")
    caption = _long_text(20_000)  # ~100 KB
    rows = [{"id": "long", "image": "red.png", "conversations": [
                {"from": "human", "value": "Describe.\n<image>"}, {"from": "gpt", "value": caption}]},
            {"id": "short", "image": "red.png", "conversations": [
                {"from": "human", "value": "Describe.\n<image>"}, {"from": "gpt", "value": "a red square"}]}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    context = model.config.text_config.max_position_embeddings
    limit = sequence_limit(10**6, model)  # training.max_length above the context is capped at it
    assert limit == context == 512 and sequence_limit(100, model) == 100
    n_image = image_tokens_per_image(processor)
    ds = LlavaDataset(tmp_path / "d.json", tmp_path, processor, "plain", n_image, limit)
    long, short = ds[0], ds[1]
    assert len(long["input_ids"]) == limit and len(short["input_ids"]) < limit
    ids, labels = long["input_ids"].tolist(), long["labels"].tolist()
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert ids.count(image_id) == n_image  # the image survives whole
    start = 1 + n_image  # BOS, the image, then the caption: every caption token that is kept is trained
    assert labels[:start] == [IGNORE_INDEX] * start and labels[start:] == ids[start:]
    full = processor.tokenizer(caption, add_special_tokens=False).input_ids
    assert ids[start:] == full[: limit - start]  # a prefix of the caption, cut at the limit
    with caplog.at_level(logging.WARNING):
        report = check_labels(ds, max_fraction=0.0)
    assert report["truncated"] == 1 and report["fully_masked"] == 0 and report["max_length"] == 512
    assert "1 of 2 samples are longer than 512 tokens and are truncated" in caplog.text
    batch = LlavaCollator(processor.tokenizer.pad_token_id)([long, short])
    with torch.no_grad():  # the truncated batch runs through the model (no position past the context)
        loss = model(**batch).loss
    assert torch.isfinite(loss)

    # v1: a long question pushes the answer past the limit; that sample trains nothing and is counted
    v1 = [{"id": "q", "conversations": [{"from": "human", "value": _long_text(3000, 1)},
                                        {"from": "gpt", "value": "yes"}]}]
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    report = check_labels(LlavaDataset(tmp_path / "v1.json", tmp_path, processor, "v1", n_image, limit), 1.0)
    assert report["truncated"] == 1 and report["fully_masked"] == 1


def test_a_torn_checkpoint_is_skipped_and_removed(tmp_path):
    """A kill while Trainer writes checkpoint-N leaves it without trainer_state.json (written last);
    ``get_last_checkpoint`` would pick it and the resume would fail."""
    for step, complete in ((2, True), (4, True), (6, False), (8, "torn")):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if complete is True:
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        elif complete == "torn":
            (folder / "trainer_state.json").write_text('{"global_st')
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_training_sigkilled_mid_epoch_resumes_to_the_same_final_weights(tmp_path):
    """A real process, SIGKILLed right after its step-2 checkpoint (mid-epoch: 20 samples, 8 per step),
    resumed: the same weights and loss curve as an uninterrupted run. Every run is the same CLI command in a
    fresh process, so no state of the test process (threads, RNG, libraries' globals) enters the comparison."""
    straight = RunPaths.for_run(tmp_path / "straight")
    build_sample_pretrain(straight.llava_pretrain_json, straight.llava_image_folder)
    killed = RunPaths.for_run(tmp_path / "killed")
    build_sample_pretrain(killed.llava_pretrain_json, killed.llava_image_folder)

    def command(paths):
        return [sys.executable, "-m", "synthvlm_repro.cli", "pretrain", "--in-process", "--run-dir", str(paths.root),
                "--set", "training.phase1.max_steps=4", "--set", "training.phase1.save_steps=2"]

    state = killed.training_checkpoints(1) / "checkpoint-2" / "trainer_state.json"
    proc = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert state.exists() and not killed.training_final_dir(1).exists()

    for paths in (straight, killed):  # the second resumes from checkpoint-2, mid-way through the first epoch
        done = subprocess.run(command(paths), capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "resuming from" in done.stderr.decode()
    a = load_llava(straight.training_final_dir(1))[0].state_dict()
    b = load_llava(killed.training_final_dir(1))[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    curve = [(h["step"], h["loss"]) for h in json.loads((killed.training_log_history(1)).read_text())
             if "loss" in h]
    assert curve == [(h["step"], h["loss"]) for h in json.loads((straight.training_log_history(1))
                                                               .read_text()) if "loss" in h]
    assert [s for s, _ in curve] == [1, 2, 3, 4]


def test_two_gloo_ranks_on_cpu_follow_the_one_rank_loss_curve(tmp_path):
    """Training phase 1 under torchrun with 2 CPU processes (gloo) and per-device batch 4 = global batch 8 in one
    step, against 1 process accumulating 2 × 4: the same loss at every step and the same projector.

    16 samples = 2 global batches per epoch, 2 epochs. (With a partial last batch the curves part at that
    step by design: the distributed loader evens the ranks' batches by repeating samples.)"""
    from synthvlm_repro.training.launch import launch_phase

    overrides = ["training.phase1.max_samples=16", "training.phase1.max_steps=4", "training.phase1.save_steps=100"]
    one, two = prepare_run("smoke", tmp_path / "one", overrides), prepare_run("smoke", tmp_path / "two", overrides)
    for ctx in (one, two):
        build_sample_pretrain(ctx.paths.llava_pretrain_json, ctx.paths.llava_image_folder)
    final_two = launch_phase(two, 1, "torchrun", 2)
    final_one = train_phase(one.cfg.training, one.paths, 1)

    def curve(ctx):
        return [(h["step"], h["loss"]) for h in json.loads((ctx.paths.training_log_history(1)).read_text())
                if "loss" in h]

    steps_one, losses_one = zip(*curve(one))
    steps_two, losses_two = zip(*curve(two))
    assert steps_one == steps_two == (1, 2, 3, 4)
    assert losses_two == pytest.approx(losses_one, rel=1e-5)
    log = (two.paths.training_launch_log(1)).read_text()
    assert "nproc_per_node=2" in log
    a, b = load_llava(final_one)[0].state_dict(), load_llava(final_two)[0].state_dict()
    for k in (k for k in a if "multi_modal_projector" in k):
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
