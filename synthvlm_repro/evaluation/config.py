"""Settings of stage 05 (benchmarks and MMLU). Defaults follow LLaVA-1.5's evaluation scripts."""

from typing import Literal, Optional

from pydantic import Field

from synthvlm_repro.stage_config import Limit, StageConfig


class EvaluationConfig(StageConfig):
    """Which model and benchmarks to evaluate, from which local files, and how to decode."""

    model: Optional[str] = None  # llava-hf dir, hub id or tiny:<name>; None: <run>/training/phase2/final
    benchmarks: list[Literal["gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz"]] = \
        ["gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz"]
    data_dir: Optional[str] = None  # LLaVA's playground/data/eval layout; None: <run>/evaluation/fixtures
    fixtures: bool = False  # write the kit's tiny benchmark sets into <run>/evaluation/fixtures and use them
    limit: Optional[Limit] = None  # at most this many questions per benchmark split (None: all)
    batch_size: int = Field(1, ge=1)  # LLaVA's scripts use 1; larger batches are left-padded (see tests)
    # Faster answering without padding (evaluation/fast_generate.py); off until a bf16 GPU run shows 0 changes.
    group_equal_length: bool = False  # batches hold only prompts of equal token length (no padding)
    kv_cache: Literal["dynamic", "static"] = "dynamic"  # static: preallocated KV cache
    compile_decoding: bool = True  # with kv_cache static on CUDA: torch.compile the decoding step
    max_new_tokens: dict[str, Limit] = {}  # per benchmark; missing ones use default_max_new_tokens
    default_max_new_tokens: int = Field(128, ge=1)  # LLaVA's model_vqa_loader default
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: bf16 on cuda, fp32 on cpu
    image_aspect_ratio: Literal["pad", "original"] = "pad"  # LLaVA-1.5 pads images to a square
    textvqa_ocr: bool = True  # LLaVA's prompt carries "Reference OCR token: ..."; lmms-eval's does not
    mmbench_circular: bool = True  # ask the TSV's circular copies too; a question counts only if all are right
    mmlu: bool = True
    mmlu_data_dir: Optional[str] = None  # Hendrycks layout data/{dev,test}/<subject>_{dev,test}.csv
    mmlu_num_fewshot: int = Field(5, ge=0)  # Open LLM Leaderboard convention; lm-eval's own default is 0
    mmlu_limit: Optional[Limit] = None  # questions per subject (None: all)
    mmlu_batch_size: int = Field(1, ge=1)  # 1: padded batches change log-likelihoods (open-instruct #75)
