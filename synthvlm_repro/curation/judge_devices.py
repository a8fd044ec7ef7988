"""Where the judge LM lives: one replica per GPU group, not one model layer-split over every GPU.

``device_map="auto"`` over all GPUs runs a 70B model one GPU at a time (pipeline without micro-batches),
so 8 GPUs do the work of one. Here each process (torchrun rank, SLURM task) takes its own slice of the
node's GPUs, ``LOCAL_WORLD_SIZE`` slices in all, and spreads the model over that slice only; with one
process per node it takes the fewest GPUs the model fits on and says how many replicas would fit.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from synthvlm_repro.runtime.distributed import local_rank, local_world_size
from synthvlm_repro.runtime.dtypes import bytes_per_param, resolve_dtype

log = logging.getLogger(__name__)

# Memory a replica needs: weights x 1.05 (buffers, fragmentation) + 4 GiB (a batch's KV cache and activations).
HEADROOM, SPARE_BYTES = 1.05, 4 << 30


def weight_bytes(path: Path, dtype: str) -> int:
    """Parameter bytes of the checkpoint at ``path`` once loaded in ``dtype`` (from the safetensors
    headers, without reading the weights; else the size of ``*.bin`` files)."""
    import json
    import struct

    total = 0
    for file in Path(path).glob("*.safetensors"):
        with open(file, "rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    if not total:
        return sum(f.stat().st_size for f in Path(path).glob("*.bin"))
    return total * bytes_per_param(dtype)


def gpu_groups(n_gpus: int, group_size: int) -> list[list[int]]:
    """Disjoint groups of ``group_size`` consecutive GPU indices (leftover GPUs unused)."""
    return [list(range(g * group_size, (g + 1) * group_size)) for g in range(n_gpus // max(1, group_size))]


def group_for_rank(n_gpus: int, gpu_bytes: int, model_bytes: int, local_rank: int, local_world: int) -> list[int]:
    """The GPUs this rank's replica uses: slice ``local_rank`` of ``local_world`` equal slices, or, with one
    process, the fewest GPUs that hold ``model_bytes`` (with :data:`HEADROOM` and :data:`SPARE_BYTES`)."""
    need = max(1, math.ceil((model_bytes * HEADROOM + SPARE_BYTES) / gpu_bytes)) if gpu_bytes else 1
    if local_world > 1:
        size = n_gpus // local_world
        if size < 1:
            raise ValueError(f"{local_world} ranks on this node but {n_gpus} GPUs: run at most one rank per GPU")
        if size < need:
            raise ValueError(f"the judge needs {need} GPUs per replica but {local_world} ranks x {size} GPUs were "
                             f"started; use --nproc_per_node {max(1, n_gpus // need)}")
        return gpu_groups(n_gpus, size)[local_rank]
    need = min(need, n_gpus)
    replicas = n_gpus // need
    if replicas > 1:
        log.warning("the judge fits on %d of %d GPUs: this process uses GPUs %s; run `torchrun --nproc_per_node %d "
                    "-m synthvlm_repro.curation ...` for %d replicas", need, n_gpus, list(range(need)), replicas,
                    replicas)
    return list(range(need))


def load_judge_lm(ref: str, device: str, dtype: str = "auto"):
    """``(model, tokenizer)`` of the judge LM on ``device``; on CUDA on this rank's GPU group."""
    from synthvlm_repro.curation.lm import load_causal_lm
    from synthvlm_repro.runtime.dtypes import torch_dtype

    if not device.startswith("cuda") or device.startswith("cuda:"):
        return load_causal_lm(ref, device, dtype, padding_side="left")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthvlm_repro.models import resolve_model

    path = resolve_model(ref)
    n = torch.cuda.device_count()
    gpu_bytes = min(torch.cuda.get_device_properties(i).total_memory for i in range(n))
    group = group_for_rank(n, gpu_bytes, weight_bytes(path, resolve_dtype(dtype, device)), local_rank(),
                           local_world_size())
    log.info("judge replica on GPUs %s", group)
    device_map = {"": group[0]} if len(group) == 1 else "auto"
    kwargs = {} if len(group) == 1 else {"max_memory": {g: int(gpu_bytes * 0.9) for g in group}}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(dtype, device), device_map=device_map,
                                                 **kwargs).eval()
    return model, tokenizer
