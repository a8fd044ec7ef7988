"""Loading a llava-hf checkpoint (model + processor): the one place training, evaluation and the figures'
judge open a LLaVA model."""

from __future__ import annotations

from pathlib import Path


def load_llava(path: str | Path, dtype="fp32", device: str | None = None, padding_side: str | None = None):
    """``(LlavaForConditionalGeneration, processor)`` of a llava-hf folder, hub id or ``tiny:``/``toy:`` ref,
    in eval mode, moved to ``device`` when one is given (None leaves the weights where loading put them:
    on the CPU, or partitioned across ranks under DeepSpeed ZeRO-3).

    ``dtype``: a config name (``fp32``/``fp16``/``bf16``/``auto``, :mod:`synthvlm_repro.runtime.dtypes`,
    resolved for ``device``), a ``torch.dtype``, or None for the dtype the checkpoint was saved in.
    ``padding_side``: set on the tokenizer when given (``left`` for batched generation, ``right`` for
    scoring answers), else the saved processor's.
    """
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from synthvlm_repro.models import resolve_model
    from synthvlm_repro.runtime.dtypes import torch_dtype

    resolved = resolve_model(str(path))
    if dtype is None:
        dtype = "auto"  # transformers' "auto": as stored
    elif isinstance(dtype, str):
        dtype = torch_dtype(dtype, device)
    model = LlavaForConditionalGeneration.from_pretrained(resolved, dtype=dtype)
    processor = AutoProcessor.from_pretrained(resolved)
    if padding_side is not None:
        processor.tokenizer.padding_side = padding_side
    if device is not None:
        model = model.to(device)
    return model.eval(), processor
