"""Training throughput switches on the tiny model: same losses as the default path; the grouped sampler."""

import json
from collections import Counter

import pytest
import torch

from synthvlm_repro.config import load_config
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.training.sample_mix import build_sample_pretrain
from synthvlm_repro.training.throughput import ModalityLengthGroupedSampler, check_fused_kernels
from synthvlm_repro.training.train import train_phase


def first_losses(tmp_path, name: str, **changes) -> list[float]:
    cfg = load_config("smoke").training
    cfg = cfg.model_copy(update={"phase1": cfg.phase1.model_copy(update={"max_steps": 3, "save_steps": 100}),
                                 **changes})
    paths = RunPaths.for_run(tmp_path / name)
    build_sample_pretrain(paths.llava_pretrain_json, paths.llava_image_folder)
    train_phase(cfg, paths, 1)
    history = json.loads((paths.training_log_history(1)).read_text())
    return [h["loss"] for h in history if "loss" in h]


@pytest.fixture(scope="module")
def default_losses(tmp_path_factory):
    return first_losses(tmp_path_factory.mktemp("default"), "default")


@pytest.mark.parametrize("changes", [{"attn_implementation": "eager"}, {"attn_implementation": "sdpa"},
                                     {"gradient_checkpointing": True}], ids=["eager", "sdpa", "grad-ckpt"])
def test_switch_gives_the_default_losses(tmp_path, default_losses, changes):
    losses = first_losses(tmp_path, "switched", **changes)
    assert len(losses) == len(default_losses) == 3
    assert losses == pytest.approx(default_losses, rel=1e-5, abs=1e-6)


@pytest.mark.slow  # minutes of tracing on a busy 2-core machine
def test_torch_compile_gives_the_default_losses(tmp_path, default_losses):
    # aot_eager traces forward and backward graphs as inductor does, without minutes of CPU code generation
    losses = first_losses(tmp_path, "compiled", torch_compile=True, torch_compile_backend="aot_eager")
    assert losses == pytest.approx(default_losses, rel=1e-4, abs=1e-5)


def test_liger_is_refused_clearly_where_it_cannot_run():
    assert check_fused_kernels("none", on_gpu=False) is False
    with pytest.raises(ValueError, match="fused_kernels=liger") as e:
        check_fused_kernels("liger", on_gpu=False)
    assert "\n" not in str(e.value)


def grouped(seed=0, epoch=0, world_size=2, batch=4):
    g = torch.Generator().manual_seed(7)
    has_image = [i % 3 != 0 for i in range(103)]
    lengths = [n + 576 * m for n, m in zip(torch.randint(5, 400, (103,), generator=g).tolist(), has_image)]
    sampler = ModalityLengthGroupedSampler(lengths, has_image, batch, world_size, seed)
    sampler.set_epoch(epoch)
    return list(sampler), lengths, has_image


def padding(order, lengths, batch):
    return sum(max(lengths[i] for i in order[k:k + batch]) * len(order[k:k + batch]) -
               sum(lengths[i] for i in order[k:k + batch]) for k in range(0, len(order), batch))


def test_grouped_sampler_yields_every_index_once_and_is_seeded():
    order, lengths, has_image = grouped()
    assert sorted(order) == list(range(len(lengths)))
    assert order == grouped()[0]  # same seed and epoch: same order
    assert order != grouped(seed=1)[0] and order != grouped(epoch=1)[0]
    assert sorted(grouped(epoch=1)[0]) == list(range(len(lengths)))


def test_grouped_sampler_keeps_modalities_apart_and_groups_lengths():
    order, lengths, has_image = grouped(world_size=2, batch=4)
    mega = 8
    full = len(order) // mega - 1  # the last two slices hold the incomplete megabatches
    for k in range(full):
        chunk = order[k * mega:(k + 1) * mega]
        assert len({has_image[i] for i in chunk}) == 1  # one modality per megabatch
        a, b = chunk[:4], chunk[4:]  # the two ranks' batches carry similar token totals
        assert abs(sum(lengths[i] for i in a) - sum(lengths[i] for i in b)) <= max(lengths[i] for i in chunk)
    single, _, _ = grouped(world_size=1, batch=4)
    for k in range(0, 4 * (len(single) // 4 - 2), 4):  # one rank: each batch sorted longest first
        assert [lengths[i] for i in single[k:k + 4]] == sorted((lengths[i] for i in single[k:k + 4]), reverse=True)
    shuffled = torch.randperm(len(order), generator=torch.Generator().manual_seed(0)).tolist()
    assert padding(order, lengths, 4) < 0.5 * padding(shuffled, lengths, 4)  # far less padding than at random


def test_grouped_sampler_drives_the_trainer(tmp_path):
    """Stage 2 (image + text-only rows) trains with the grouped order; each batch holds one modality."""
    from synthvlm_repro.training import train as train_module

    cfg = load_config("smoke").training
    cfg = cfg.model_copy(update={"phase2": cfg.phase2.model_copy(update={"group_by_modality_length": True})})
    paths = RunPaths.for_run(tmp_path / "run")
    build_sample_pretrain(paths.llava_pretrain_json, paths.llava_image_folder)
    train_phase(cfg, paths, 1)
    seen = Counter()
    original = train_module._trainer_class

    def spying_class():
        cls = original()

        class Spy(cls):
            def training_step(self, model, inputs, *args, **kwargs):
                seen[type(self._get_train_sampler()).__name__] += 1
                seen["image" if "pixel_values" in inputs else "text"] += 1
                seen["mixed"] += int("pixel_values" in inputs and len(inputs["pixel_values"]) < len(inputs["input_ids"]))
                return super().training_step(model, inputs, *args, **kwargs)
        return Spy

    train_module._trainer_class = spying_class
    try:
        train_phase(cfg, paths, 2)
    finally:
        train_module._trainer_class = original
    assert seen["ModalityLengthGroupedSampler"] == seen["image"] + seen["text"] > 0
    assert seen["mixed"] == 0  # the first steps come from full megabatches: one modality per batch
    assert json.loads((paths.training_log_history(2)).read_text())[0]["step"] == 1
