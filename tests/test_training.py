"""Stage 04 on the tiny models: builder, save/load, data, freezing, stage hand-off, resume, CLI."""

import json
import subprocess
import sys

import pytest
import torch

from synthvlm_repro.config import load_config
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.runtime.llava import load_llava
from synthvlm_repro.training.builder import build_llava, image_tokens_per_image, save_llava
from synthvlm_repro.training.data import DataError, LlavaCollator, LlavaDataset, check_labels, read_llava_json
from synthvlm_repro.training.sample_mix import build_sample_mix, build_sample_pretrain
from synthvlm_repro.training.train import gradient_accumulation, set_trainable, train_phase


@pytest.fixture(scope="module")
def cfg():
    return load_config("smoke").training


@pytest.fixture(scope="module")
def built(cfg):
    return build_llava(cfg, seed=0)


def smoke_paths(tmp_path) -> RunPaths:
    paths = RunPaths.for_run(tmp_path / "run")
    build_sample_pretrain(paths.llava_pretrain_json, paths.llava_image_folder)
    return paths


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def trained(cfg, tmp_path_factory):
    """Both training phases trained once (smoke recipe) in one run dir."""
    paths = smoke_paths(tmp_path_factory.mktemp("trained"))
    return paths, train_phase(cfg, paths, 1), train_phase(cfg, paths, 2)


def test_builder_adds_tokens_and_mean_initialises_new_rows(built):
    model, processor = built
    tok = processor.tokenizer
    cfg = model.config
    assert cfg.image_token_index == tok.convert_tokens_to_ids("<image>")
    assert cfg.text_config.pad_token_id == tok.pad_token_id
    assert cfg.text_config.vocab_size % 64 == 0 and cfg.text_config.vocab_size >= len(tok)
    emb = model.get_input_embeddings().weight.detach()
    old = emb[: len(tok) - 2]
    new = emb[len(tok) - 2 : len(tok)]
    assert torch.allclose(new, old.mean(0).expand_as(new), atol=1e-3)
    assert cfg.vision_feature_layer == -2 and cfg.vision_feature_select_strategy == "default"
    assert cfg.projector_hidden_act == "gelu"


def test_image_token_count_agrees_between_processor_and_config(built):
    from PIL import Image

    model, processor = built
    n = image_tokens_per_image(processor)
    assert n == model.config.image_seq_length == (56 // 14) ** 2
    enc = processor(images=Image.new("RGB", (90, 30)), text="<image>\nhi", return_tensors="pt")
    assert int((enc["input_ids"] == model.config.image_token_index).sum()) == n
    with torch.no_grad():
        feats = model.get_image_features(pixel_values=enc["pixel_values"]).pooler_output
    assert feats[0].shape[0] == n


def test_processor_pads_to_square_with_clip_mean_colour(built):
    from PIL import Image

    _, processor = built
    wide = Image.new("RGB", (120, 40), (255, 0, 0))  # red band in the middle, padding above and below
    pixels = processor.image_processor(wide, return_tensors="pt")["pixel_values"][0]
    assert pixels[:, 0, :].abs().max() < 0.02  # the pad is the normalisation mean, i.e. ~0 after normalising
    assert pixels[0, 28, 28] > 1.5  # red stays red in the middle


def test_phase1_centre_crops_and_phase2_pads_as_llava(built, cfg, tmp_path):
    from PIL import Image

    _, processor = built
    Image.new("RGB", (120, 40), (255, 0, 0)).save(tmp_path / "wide.png")
    (tmp_path / "d.json").write_text(json.dumps([{"id": "w", "image": "wide.png", "conversations": [
        {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "red"}]}]))
    assert not cfg.phase1.pad_to_square and cfg.phase2.pad_to_square
    pixels = {pad: LlavaDataset(tmp_path / "d.json", tmp_path, processor, "plain", 16, 512,
                                pad_to_square=pad)[0]["pixel_values"] for pad in (False, True)}
    assert pixels[False][0].min() > 1.5  # centre crop: all red
    assert pixels[True][:, 0, :].abs().max() < 0.02  # padded: mean-colour band on top


def test_save_load_round_trip(built, tmp_path):
    model, processor = built
    save_llava(model, processor, tmp_path / "m")
    model2, processor2 = load_llava(tmp_path / "m")
    a, b = model.state_dict(), model2.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert processor2.tokenizer.convert_tokens_to_ids("<image>") == model2.config.image_token_index
    assert processor2.image_processor.do_pad
    assert "ASSISTANT:" in processor2.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}], add_generation_prompt=True)


def test_projector_only_really_freezes_the_rest(cfg, built, tmp_path):
    model, processor = built
    model = type(model)(model.config)
    model.load_state_dict(built[0].state_dict())
    counts = set_trainable(model, "projector")
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.startswith("model.multi_modal_projector.") for n in names)
    assert counts["trainable"] == sum(p.numel() for p in model.model.multi_modal_projector.parameters())
    paths = smoke_paths(tmp_path)
    ds = LlavaDataset(paths.llava_pretrain_json, paths.llava_image_folder, processor, "plain",
                      image_tokens_per_image(processor), 512)
    batch = LlavaCollator(processor.tokenizer.pad_token_id)([ds[0], ds[1]])
    before = state(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch).loss.backward()
    opt.step()
    after = state(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("model.multi_modal_projector.") for k in changed)


def test_collator_mixes_image_and_text_only_rows(built, tmp_path):
    model, processor = built
    json_path, folder = build_sample_mix(tmp_path / "mix")
    ds = LlavaDataset(json_path, folder, processor, "v1", image_tokens_per_image(processor), 512)
    text_only = next(i for i, r in enumerate(ds.rows) if "image" not in r)
    with_image = next(i for i, r in enumerate(ds.rows) if "image" in r)
    batch = LlavaCollator(processor.tokenizer.pad_token_id)([ds[with_image], ds[text_only]])
    assert batch["pixel_values"].shape[0] == 1
    assert batch["attention_mask"][1].sum() == len(ds[text_only]["input_ids"])
    assert torch.isfinite(model(**batch).loss)


def test_bad_data_gives_a_one_line_error_naming_file_and_row(built, tmp_path):
    _, processor = built
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "a", "conversations": [{"from": "human", "value": "x"}]}, {"id": "b"}]))
    with pytest.raises(DataError, match=r"bad.json: row 1 \(id b\)"):
        read_llava_json(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{"id": "m", "image": "nope.jpg", "conversations": [
        {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "a cat"}]}]))
    ds = LlavaDataset(missing, tmp_path, processor, "plain", image_tokens_per_image(processor), 512)
    with pytest.raises(DataError, match=r"missing.json: row 0 \(id m\): image .*nope.jpg"):
        ds[0]


def test_label_check_fails_when_too_many_samples_train_nothing(built, tmp_path):
    _, processor = built
    rows = [{"id": str(i), "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a" if i else ""}]}
            for i in range(4)]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    # an empty answer in the plain template still trains the "\n"; v1 with max_length 5 trains nothing at all
    ds = LlavaDataset(tmp_path / "d.json", tmp_path, processor, "v1", 4, max_length=5)
    with pytest.raises(DataError, match="4 of 4 samples have every label masked"):
        check_labels(ds, max_fraction=0.25)
    ok = LlavaDataset(tmp_path / "d.json", tmp_path, processor, "v1", 4, max_length=512)
    assert check_labels(ok, max_fraction=0.0) == {"checked": 4, "fully_masked": 0, "examples": [], "truncated": 0,
                                                  "max_length": 512}


def test_gradient_accumulation_keeps_the_global_batch(cfg):
    r = cfg.phase1.model_copy(update={"global_batch_size": 256, "per_device_batch_size": 32})
    assert [gradient_accumulation(r, n) for n in (1, 2, 8)] == [8, 4, 1]
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation(r, 3)


def test_phase1_to_phase2_hand_off(trained):
    paths, final1, final2 = trained
    s1, _ = load_llava(final1)
    s2, _ = load_llava(final2)
    base, _ = build_llava(load_config("smoke").training, seed=0)
    a, b, c = base.state_dict(), s1.state_dict(), s2.state_dict()
    proj = [k for k in a if "multi_modal_projector" in k]
    lm = [k for k in a if k.startswith("model.language_model.") or k.startswith("lm_head")]
    vision = [k for k in a if k.startswith("model.vision_tower.")]
    assert all(not torch.equal(a[k], b[k]) for k in proj)  # phase 1 trained the projector ...
    assert all(torch.equal(a[k], b[k]) for k in lm + vision)  # ... and nothing else
    assert any(not torch.equal(b[k], c[k]) for k in lm)  # phase 2 trains the LM
    assert all(torch.equal(b[k], c[k]) for k in vision)  # the vision tower stays frozen
    first = json.loads((paths.training_log_history(2)).read_text())
    assert first[0]["step"] == 1 and "loss" in first[0]
    assert json.loads((paths.training_label_check(1)).read_text())["fully_masked"] == 0


class CrashAfterSave:
    """A Trainer callback that dies right after the first checkpoint is written (a simulated crash)."""

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt(f"simulated crash at step {state.global_step}")


def test_resumed_run_ends_with_the_same_weights(cfg, tmp_path):
    cfg = cfg.model_copy(update={"phase1": cfg.phase1.model_copy(update={"max_steps": 4, "save_steps": 2})})
    straight = smoke_paths(tmp_path / "straight")
    final_a = train_phase(cfg, straight, 1)
    crashed = smoke_paths(tmp_path / "crashed")
    with pytest.raises(KeyboardInterrupt, match="step 2"):
        train_phase(cfg, crashed, 1, callbacks=(CrashAfterSave(),))
    assert not crashed.training_final_dir(1).exists()
    final_b = train_phase(cfg, crashed, 1)  # resumes from checkpoint-2
    a, b = load_llava(final_a)[0].state_dict(), load_llava(final_b)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [h["step"] for h in json.loads(crashed.training_log_history(1).read_text()) if "loss" in h]
    assert steps == [1, 2, 3, 4]
    final_c = train_phase(cfg, crashed, 1)  # a finished phase is not trained again
    assert final_c == final_b and [h["step"] for h in json.loads(
        crashed.training_log_history(1).read_text()) if "loss" in h] == [1, 2, 3, 4]
    import shutil

    shutil.rmtree(final_c)  # crash between the last checkpoint and the export: export that checkpoint
    d = load_llava(train_phase(cfg, crashed, 1))[0].state_dict()
    assert all(torch.equal(a[k], d[k]) for k in a)


def test_phase2_refuses_checkpoints_of_another_phase1(cfg, trained):
    paths, final1, _ = trained
    model, processor = load_llava(final1)
    save_llava(model, processor, final1)  # a "new" phase-1 model (new files)
    (paths.training_final_dir(2) / "config.json").unlink()
    with pytest.raises(RuntimeError, match="another phase-1 model"):
        train_phase(cfg, paths, 2)


@pytest.mark.parametrize("command", ["train", "pretrain", "finetune"])
def test_cli_help_documents_every_option(command):
    out = subprocess.run([sys.executable, "-m", "synthvlm_repro.cli", command, "--help"], capture_output=True,
                         text=True, check=True).stdout
    for opt in ("--profile", "--run-dir", "--set", "--in-process") + (("--phase",) if command == "train" else ()):
        assert opt in out


def test_launch_command_and_log_streaming(tmp_path):
    import io

    from synthvlm_repro.runtime.launcher import stream_log
    from synthvlm_repro.training.launch import launch_command, resolve_launcher

    cmd = launch_command("torchrun", 8, tmp_path / "p.yaml", tmp_path, 1)
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node=8" in cmd
    assert cmd[-8:-4] == ["train", "--in-process", "--phase", "1"]
    assert resolve_launcher("auto", "cpu") == "inprocess" and resolve_launcher("auto", "cuda") == "torchrun"
    log = tmp_path / "train.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-c", "import time\nfor i in range(3): print('line', i, flush=True); "
                                 "time.sleep(0.2)"], stdout=fh)
    out = io.StringIO()
    stream_log(log, proc.pid, proc, poll_s=0.05, out=out)
    assert out.getvalue().splitlines() == ["line 0", "line 1", "line 2"]


def test_bench_7b_architecture_has_llava_1_5_7b_parameter_count(project_root):
    """The GPU bench's model is LLaVA-1.5-7B's shape: 7,063,427,072 parameters as llava-hf/llava-1.5-7b-hf."""
    import importlib.util

    from transformers import LlavaForConditionalGeneration

    spec = importlib.util.spec_from_file_location("train_bench", project_root / "bench" / "train_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(bench.llava_7b_config())
    assert sum(p.numel() for p in model.parameters()) == 7_063_427_072
    assert sum(p.numel() for p in model.model.multi_modal_projector.parameters()) == 20_979_712
    out = bench.main(["--device", "cpu", "--quick", "--batch-size", "2", "--threads", "1"])
    assert out["samples_per_s"] > 0 and out["seq_len"] == 1 + 16 + 64 and out["flops_per_sample"] > 0


def test_deepspeed_configs_follow_llava_and_leave_batch_fields_to_the_trainer(project_root):
    from synthvlm_repro.training.config import TrainingConfig

    paper = TrainingConfig()  # the paper recipe is the default
    for recipe, stage in ((paper.phase1, 2), (paper.phase2, 3)):
        ds = json.loads((project_root / recipe.deepspeed).read_text())
        assert ds["zero_optimization"]["stage"] == stage
        assert all(ds[k] == "auto" for k in ("train_micro_batch_size_per_gpu", "train_batch_size",
                                             "gradient_accumulation_steps", "gradient_clipping"))
        assert ds["bf16"]["enabled"] == "auto"
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert (paper.phase1.learning_rate, paper.phase1.global_batch_size) == (1e-3, 256)
    assert (paper.phase2.learning_rate, paper.phase2.global_batch_size) == (2e-5, 128)
