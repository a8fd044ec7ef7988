"""Settings of stage 04 (LLaVA-1.5 training).

Defaults are LLaVA-1.5-7B's recipe (haotian-liu/LLaVA ``scripts/v1_5/pretrain.sh`` / ``finetune.sh``,
see ``../shared/reference/anchors.md`` §A1): training phase 1 trains the projector on image–caption pairs
with the ``plain`` template, phase 2 trains projector + LM on LLaVA-665K with the Vicuna ``v1`` template.

LLaVA calls the phases "stage 1" and "stage 2"; in this kit a "stage" is a pipeline stage (01–06), so
the keys are ``phase1`` / ``phase2``. LLaVA's names (``stage1``, ``stage2``, ``run_stage2``,
``stage2_data``, ``stage2_image_folder``) are accepted as aliases in profiles and ``--set`` overrides.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from synthvlm_repro.stage_config import Limit, StageConfig, UnitFloat


#: LLaVA's names of the phase keys, accepted in profiles and overrides (``config.load_config`` renames them).
LLAVA_KEY_ALIASES = {"stage1": "phase1", "stage2": "phase2", "run_stage2": "run_phase2",
                     "stage2_data": "phase2_data", "stage2_image_folder": "phase2_image_folder"}


class PhaseRecipe(StageConfig):
    """Optimisation settings of one training phase."""

    template: Literal["plain", "v1"] = "plain"
    tune: Literal["projector", "projector+lm"] = "projector"
    learning_rate: float = Field(1e-3, gt=0)
    global_batch_size: int = Field(256, ge=1)  # per_device_batch_size x gradient accumulation x number of GPUs
    per_device_batch_size: int = Field(32, ge=1)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)  # > 0 stops after this many optimizer steps (overrides epochs)
    warmup_ratio: UnitFloat = 0.03
    weight_decay: float = Field(0.0, ge=0)
    lr_scheduler: str = "cosine"
    max_grad_norm: float = Field(1.0, ge=0)
    deepspeed: str | None = None  # path (relative to the project root) of a DeepSpeed JSON, GPU only
    save_steps: int = Field(500, ge=1)
    save_total_limit: int = Field(1, ge=1)
    max_samples: Limit | None = None  # train on the first N rows only (quick runs)
    # LLaVA's --image_aspect_ratio pad: pad to a square in CLIP's mean colour before resize + centre crop.
    # LLaVA-1.5 sets it in finetune.sh only; pretrain.sh centre-crops.
    pad_to_square: bool = False
    # LLaVA's --group_by_modality_length (finetune.sh sets it): batches of similar lengths and one
    # modality (training/throughput.py). It reorders the epoch, so it is off by default here.
    group_by_modality_length: bool = False


class Phase1Recipe(PhaseRecipe):
    """Projector alignment (LLaVA-1.5 ``pretrain.sh``)."""

    deepspeed: str | None = "configs/deepspeed_zero2.json"
    # LLaVA saves every 24000 steps, i.e. never within 1 epoch (391 steps for 100K, 2181 for 558K):
    # a checkpoint every ~25K samples makes a crash cost minutes, not the run.
    save_steps: int = Field(100, ge=1)


class Phase2Recipe(PhaseRecipe):
    """Visual instruction tuning (LLaVA-1.5 ``finetune.sh``)."""

    template: Literal["plain", "v1"] = "v1"
    tune: Literal["projector", "projector+lm"] = "projector+lm"
    pad_to_square: bool = True
    learning_rate: float = Field(2e-5, gt=0)
    global_batch_size: int = Field(128, ge=1)
    per_device_batch_size: int = Field(16, ge=1)
    deepspeed: str | None = "configs/deepspeed_zero3.json"
    save_steps: int = Field(500, ge=1)  # LLaVA: 50000 (never within 5198 steps); each ZeRO-3 checkpoint holds optimizer state


class TrainingConfig(StageConfig):
    """Model parts and the two-phase recipe (defaults: LLaVA-1.5 7B)."""

    vision_tower: str = "openai/clip-vit-large-patch14-336"
    language_model: str = "lmsys/vicuna-7b-v1.5"
    vision_feature_layer: int = -2
    pad_vocab_to_multiple_of: int = 64  # as llava-hf's conversion (32002 -> 32064 rows)
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    max_length: int = Field(2048, ge=1)
    gradient_checkpointing: bool = True  # false: no recompute (faster, more memory; same losses)
    # Throughput switches (training/throughput.py; same losses as the defaults, tests/test_training_throughput.py)
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = None  # None: as loaded (sdpa)
    fused_kernels: Literal["none", "liger"] = "none"  # liger: liger-kernel's fused RMSNorm/SwiGLU/RoPE/CE, CUDA
    torch_compile: bool = False  # Trainer's torch_compile of the model
    torch_compile_backend: str = "inductor"  # aot_eager: traced but not code-generated (the CPU tests)
    max_masked_fraction: UnitFloat = 0.01  # fail when more samples than this have no trained token
    label_check_rows: int = Field(5000, ge=0)  # rows tokenised up front for that check (0 = all)
    dataloader_num_workers: int = Field(4, ge=0)
    logging_steps: int = Field(1, ge=1)
    launcher: Literal["auto", "inprocess", "torchrun", "accelerate"] = "auto"  # auto: in-process on CPU
    num_gpus: Limit | None = None  # None = every visible GPU
    run_phase2: bool = Field(True, validation_alias=AliasChoices("run_phase2", "run_stage2"))
    # Phase-2 data: a LLaVA-665K-format JSON + image folder (relative to the project root or absolute);
    # "sample-mix" builds a tiny multi-turn mix (with text-only rows) from the kit's sample data.
    phase2_data: str = Field("data/llava_v1_5_mix665k.json",
                             validation_alias=AliasChoices("phase2_data", "stage2_data"))
    phase2_image_folder: str = Field("data", validation_alias=AliasChoices("phase2_image_folder", "stage2_image_folder"))
    phase1: Phase1Recipe = Field(Phase1Recipe(), validation_alias=AliasChoices("phase1", "stage1"))
    phase2: Phase2Recipe = Field(Phase2Recipe(), validation_alias=AliasChoices("phase2", "stage2"))
