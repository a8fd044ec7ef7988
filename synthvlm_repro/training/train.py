"""One LLaVA-1.5 training phase with HF ``Trainer`` (in-process, or as a torchrun/accelerate worker).

LLaVA calls its two training steps "stage 1" and "stage 2"; here they are training *phases* (a
"stage" is one of the kit's pipeline stages 01–06). Phase 1 builds the model from its parts and trains
the projector; phase 2 starts from phase 1's ``final/`` and trains projector + LM. Both resume from the
latest ``checkpoint-*`` in their ``checkpoints/`` folder (Trainer's own checkpoints carry
``trainer_state.json``, optimizer, scheduler and RNG states — LLaVA's stage-1 resume lacks them, its
issue #1164).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from synthvlm_repro.atomic import write_json
from synthvlm_repro.models import resolve_model
from synthvlm_repro.paths import RunPaths, find_project_root
from synthvlm_repro.runtime import distributed
from synthvlm_repro.runtime.dtypes import torch_dtype
from synthvlm_repro.runtime.llava import load_llava
from synthvlm_repro.training.builder import build_llava, image_tokens_per_image
from synthvlm_repro.training.config import PhaseRecipe, TrainingConfig
from synthvlm_repro.training.data import LlavaCollator, LlavaDataset, check_labels
from synthvlm_repro.training.throughput import check_fused_kernels, sampler_for, set_attention

log = logging.getLogger(__name__)


def _trainer_class():
    from transformers import Trainer

    class LlavaTrainer(Trainer):
        """``Trainer`` whose checkpoints can be resumed.

        transformers 5 saves Llava weights under llava-hf's original key names (``language_model.model.*``)
        but resumes with a plain ``load_state_dict`` on the current names, which silently loads nothing and
        restarts from the initial weights. Checkpoints are therefore written in the current layout; only the
        final export (``export_original_format``) uses llava-hf's key names, as published llava-hf checkpoints.
        """

        export_original_format = False
        grouped_sampler = None  # set for LLaVA's group_by_modality_length (training/throughput.py)

        def _get_train_sampler(self, train_dataset=None):
            if self.grouped_sampler is not None:
                return self.grouped_sampler
            return super()._get_train_sampler(train_dataset)

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            output_dir = output_dir or self.args.output_dir
            os.makedirs(output_dir, exist_ok=True)
            model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
            model.save_pretrained(output_dir, state_dict=state_dict, is_main_process=self.args.should_save,
                                  save_original_format=self.export_original_format)
            torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    return LlavaTrainer


def recipe(cfg: TrainingConfig, phase: int) -> PhaseRecipe:
    if phase not in (1, 2):
        raise ValueError(f"training phase must be 1 or 2, got {phase}")
    return cfg.phase1 if phase == 1 else cfg.phase2


def gradient_accumulation(r: PhaseRecipe, world_size: int) -> int:
    """Steps to accumulate so that per-device batch x steps x GPUs = the recipe's global batch."""
    per_step = r.per_device_batch_size * world_size
    if r.global_batch_size % per_step:
        raise ValueError(f"global batch {r.global_batch_size} is not a multiple of per-device batch "
                         f"{r.per_device_batch_size} x {world_size} processes")
    return r.global_batch_size // per_step


def phase_data(cfg: TrainingConfig, paths: RunPaths, phase: int, seed: int = 0) -> tuple[Path, Path]:
    """``(json, image folder)`` a training phase trains on."""
    if phase == 1:
        return paths.llava_pretrain_json, paths.llava_image_folder
    if cfg.phase2_data == "sample-mix":
        from synthvlm_repro.training.sample_mix import build_sample_mix

        return build_sample_mix(paths.phase2_sample_mix, seed)
    root = find_project_root()  # absolute paths (and toy:<set>/<file> references) stay absolute
    return root / resolve_model(cfg.phase2_data), root / resolve_model(cfg.phase2_image_folder)


def set_trainable(model, tune: str) -> dict[str, int]:
    """Freeze everything, then unfreeze the projector (and the LM + head for ``projector+lm``)."""
    model.requires_grad_(False)
    model.model.multi_modal_projector.requires_grad_(True)
    if tune == "projector+lm":
        model.model.language_model.requires_grad_(True)
        model.lm_head.requires_grad_(True)
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}


def load_phase_model(cfg: TrainingConfig, paths: RunPaths, phase: int, seed: int, dtype: torch.dtype):
    if phase == 1:
        return build_llava(cfg, dtype=dtype, seed=seed)
    start = paths.training_final_dir(1)
    if not (start / "config.json").exists():
        raise FileNotFoundError(f"{start}: phase-1 checkpoint missing; run training phase 1 first")
    return load_llava(start, dtype=dtype)


def start_fingerprint(paths: RunPaths, phase: int) -> list:
    """Identity of what a phase starts from: phase 2 starts from phase 1's saved weights."""
    if phase == 1:
        return []
    final = paths.training_final_dir(1)
    return sorted([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in final.glob("*.safetensors"))


def check_start_point(paths: RunPaths, phase: int, checkpoints: Path, resuming: bool) -> None:
    """Refuse to resume phase 2 from checkpoints made on top of a different phase-1 model."""
    record = checkpoints / "start.json"
    now = start_fingerprint(paths, phase)
    if resuming and record.exists() and json.loads(record.read_text()) != now:
        raise RuntimeError(f"{checkpoints}: these checkpoints started from another phase-1 model than "
                           f"{paths.training_final_dir(1)}; delete the folder to train phase {phase} afresh")
    if not resuming:
        write_json(record, now)


def model_context_length(model) -> int | None:
    """The language model's context (``max_position_embeddings``), or None when the config has none."""
    return getattr(model.config.get_text_config(), "max_position_embeddings", None)


def sequence_limit(max_length: int, model) -> int:
    """``training.max_length`` capped at the model's context: a longer sample is truncated, never run past it."""
    context = model_context_length(model)
    if context is not None and max_length > context:
        log.warning("training.max_length %d is longer than the model's context (%d tokens); samples are truncated "
                    "to %d", max_length, context, context)
        return context
    return max_length


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest ``checkpoint-N`` whose ``trainer_state.json`` (the file Trainer writes last) is complete.

    A process killed while writing a checkpoint leaves a ``checkpoint-N`` without it, which
    ``get_last_checkpoint`` would pick and resuming would fail on; such a torn checkpoint is removed.
    """
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = {}
    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.rsplit("-", 1)[1]
        if path.is_dir() and suffix.isdigit():
            steps[path] = int(suffix)
    for path in sorted(steps, key=steps.get, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            if distributed.is_main_process():
                log.warning("%s: incomplete checkpoint (killed while saving); removing it", path)
                shutil.rmtree(path, ignore_errors=True)
    return None


def finished(checkpoint: Path) -> bool:
    """True when a Trainer checkpoint was taken at the run's last step."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return state.get("max_steps", 0) > 0 and state["global_step"] >= state["max_steps"]


def training_arguments(cfg: TrainingConfig, r: PhaseRecipe, out: Path, seed: int, device: str, world_size: int):
    from transformers import TrainingArguments

    on_gpu = device.startswith("cuda")
    deepspeed = str(find_project_root() / r.deepspeed) if (r.deepspeed and on_gpu) else None
    if deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ValueError(f"training: {r.deepspeed} needs DeepSpeed (pip install -e '.[train]'), or train without it: "
                         "--set training.phase1.deepspeed=null --set training.phase2.deepspeed=null")
    return TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=r.per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation(r, world_size), learning_rate=r.learning_rate,
        num_train_epochs=r.num_train_epochs, max_steps=r.max_steps, lr_scheduler_type=r.lr_scheduler,
        warmup_steps=r.warmup_ratio, weight_decay=r.weight_decay, max_grad_norm=r.max_grad_norm,
        bf16=on_gpu and cfg.dtype == "bf16", fp16=on_gpu and cfg.dtype == "fp16", tf32=on_gpu or None,
        activation_checkpointing=cfg.gradient_checkpointing, logging_steps=cfg.logging_steps, logging_first_step=True,
        save_strategy="steps", save_steps=r.save_steps, save_total_limit=r.save_total_limit,
        dataloader_num_workers=cfg.dataloader_num_workers if on_gpu else 0, seed=seed, data_seed=seed,
        use_cpu=not on_gpu, report_to=[], remove_unused_columns=False, deepspeed=deepspeed,
        torch_compile=cfg.torch_compile, torch_compile_backend=cfg.torch_compile_backend if cfg.torch_compile else None,
        use_liger_kernel=check_fused_kernels(cfg.fused_kernels, on_gpu))


def train_phase(cfg: TrainingConfig, paths: RunPaths, phase: int, seed: int = 0, device: str = "cpu",
                callbacks: tuple = ()) -> Path:
    """Train one phase (resuming if it has checkpoints); returns the saved ``training/phase{N}/final``."""
    r = recipe(cfg, phase)
    on_gpu = device.startswith("cuda")
    dtype = torch_dtype(cfg.dtype, device, half_needs_cuda=True)
    world_size = distributed.world_size()
    # Arguments first: with ZeRO-3 they make from_pretrained partition the weights across ranks while loading.
    args = training_arguments(cfg, r, paths.training_checkpoints(phase), seed, device, world_size)
    last = last_complete_checkpoint(Path(args.output_dir))
    check_start_point(paths, phase, Path(args.output_dir), resuming=last is not None)
    final = paths.training_final_dir(phase)
    staging = final.with_name(".final.tmp")
    done = last is not None and finished(Path(last))  # resuming it, Trainer would run one step past max_steps
    if done and (final / "config.json").exists():
        log.info("training phase %d: already trained (%s); keeping %s", phase, last, final)
        return final
    model, processor = load_phase_model(cfg, paths, phase, seed, dtype)
    counts = set_trainable(model, r.tune)
    set_attention(model, cfg.attn_implementation)
    if on_gpu and r.deepspeed is None and dtype != torch.float32:
        for p in model.parameters():  # optimizer state of trained weights in fp32; autocast does bf16 math
            if p.requires_grad:
                p.data = p.data.float()
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    log.info("training phase %d: training %s of %s parameters (%s)", phase, f"{counts['trainable']:,}",
             f"{counts['total']:,}", r.tune)

    json_path, image_folder = phase_data(cfg, paths, phase, seed)
    dataset = LlavaDataset(json_path, image_folder, processor, r.template, image_tokens_per_image(processor),
                           sequence_limit(cfg.max_length, model), r.max_samples, r.pad_to_square)
    write_json(paths.training_label_check(phase), check_labels(dataset, cfg.max_masked_fraction, cfg.label_check_rows, seed))

    processor.tokenizer.padding_side = "right"
    trainer = _trainer_class()(model=model, args=args, train_dataset=dataset, callbacks=list(callbacks),
                               data_collator=LlavaCollator(processor.tokenizer.pad_token_id))
    if r.group_by_modality_length:
        trainer.grouped_sampler = sampler_for(dataset, args.train_batch_size * args.gradient_accumulation_steps,
                                              world_size, seed)
    shutil.rmtree(staging, ignore_errors=True)  # left by a crash during an earlier export
    if done:  # crashed between the last checkpoint and the export: export that checkpoint
        log.info("training phase %d: training had finished at %s; saving it as %s", phase, last, final)
        history = json.loads((Path(last) / "trainer_state.json").read_text())["log_history"]
        if trainer.is_world_process_zero():
            type(model).from_pretrained(last, dtype=dtype).save_pretrained(staging)
    else:
        if last:
            log.info("training phase %d: resuming from %s", phase, last)
        trainer.train(resume_from_checkpoint=last)
        history = trainer.state.log_history
        trainer.export_original_format = True
        trainer.save_model(str(staging))  # gathers ZeRO-3 shards; written on the main process
    if trainer.is_world_process_zero():
        processor.tokenizer.padding_side = "left"  # saved for generation
        processor.save_pretrained(staging)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        write_json(paths.training_log_history(phase), history)
    return final
