"""The configs' dtype names (``fp32``, ``fp16``, ``bf16``, and ``auto`` where a config allows it) and what
each becomes: a torch dtype, the string transformers / lm-eval / vLLM take, bytes per parameter.

``auto`` is the kit's rule, not transformers' "as stored in the checkpoint": half precision on CUDA
(``bf16`` unless a caller names another), ``fp32`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"


@dataclass(frozen=True)
class DType:
    """One dtype name of the configs and its spellings elsewhere."""

    name: str  # the configs' name: fp32, fp16, bf16
    library_name: str  # torch attribute; also the string transformers, lm-eval and vLLM take
    bytes_per_param: int

    @property
    def torch(self):
        import torch

        return getattr(torch, self.library_name)


DTYPES = {d.name: d for d in (DType("fp32", "float32", 4), DType("fp16", "float16", 2), DType("bf16", "bfloat16", 2))}


def on_cuda(device: str | None) -> bool:
    return str(device or "").startswith("cuda")


def resolve_dtype(name: str, device: str | None = None, *, auto: str = "bf16", half_needs_cuda: bool = False) -> str:
    """The concrete dtype name for ``device``: ``auto`` is ``auto`` (a name) on CUDA and ``fp32`` elsewhere;
    with ``half_needs_cuda`` fp16/bf16 off CUDA fall back to fp32 (half matmuls on CPU are slow or missing)."""
    if name == AUTO:
        if device is None:
            raise ValueError("dtype 'auto' needs a device to resolve against")
        name = auto if on_cuda(device) else "fp32"
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r} (expected one of {', '.join([*DTYPES, AUTO])})")
    if half_needs_cuda and not on_cuda(device):
        return "fp32"
    return name


def torch_dtype(name: str, device: str | None = None, **rules):
    """The torch dtype of ``name`` on ``device`` (rules as :func:`resolve_dtype`)."""
    return DTYPES[resolve_dtype(name, device, **rules)].torch


def library_dtype(name: str) -> str:
    """The string transformers / lm-eval / vLLM take (``float32``, ...); ``auto`` stays ``auto``, which
    there means the checkpoint's own dtype."""
    return name if name == AUTO else DTYPES[resolve_dtype(name)].library_name


def bytes_per_param(name: str) -> int:
    return DTYPES[resolve_dtype(name)].bytes_per_param
