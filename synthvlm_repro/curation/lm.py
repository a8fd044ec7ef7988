"""Loading local HF causal LMs for the perplexity scorer and the judge (dtype and device policy)."""

from __future__ import annotations

from synthvlm_repro.models import resolve_model
from synthvlm_repro.runtime.dtypes import torch_dtype


def load_causal_lm(ref: str, device: str, dtype: str = "auto", padding_side: str = "left"):
    """``(model, tokenizer)``; on CUDA the weights are spread over the visible GPUs (``device_map="auto"``),
    which is how a 70B judge fits. The tokenizer always has a pad token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(ref)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    kwargs = {"dtype": torch_dtype(dtype, device)}
    if device.startswith("cuda"):
        kwargs["device_map"] = "auto"
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
    if not device.startswith("cuda"):
        model.to(device)
    return model, tokenizer


def model_device(model):
    """Where a (possibly multi-GPU) model takes its inputs."""
    return next(model.parameters()).device


def context_length(model, tokenizer=None, default: int = 2048) -> int:
    """The most tokens ``model`` reads: its position table (``max_position_embeddings`` or the like),
    further bounded by the tokenizer's ``model_max_length`` when that is a real number (HF uses 1e30 for
    "unset")."""
    config = getattr(model, "config", None)
    text_config = getattr(config, "text_config", None) or config
    limit = next((getattr(text_config, key) for key in ("max_position_embeddings", "n_positions", "max_seq_len")
                  if isinstance(getattr(text_config, key, None), int)), default)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
        limit = min(limit, tokenizer_limit)
    return limit
