"""What the machine has: GPUs (torch.cuda), free disk, and whether a model reference resolves offline."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from synthvlm_repro.models import TINY_PREFIX

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


@dataclass(frozen=True)
class Gpu:
    name: str
    total_gib: float


def probe_gpus() -> list[Gpu]:
    """The visible CUDA devices with their memory (empty without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(Gpu(props.name, props.total_memory / 2**30))
    return out


def free_disk_bytes(path: Path) -> tuple[Path, int]:
    """Free bytes on the filesystem that holds ``path`` (its nearest existing ancestor)."""
    p = Path(path).expanduser().resolve()
    while not p.exists():
        p = p.parent
    return p, shutil.disk_usage(p).free


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Resolution:
    status: str  # ok | warn | block
    detail: str


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def _looks_local(ref: str) -> bool:
    """Not shaped like a hub id (``org/name``): a path, so a missing one is an error, not a download."""
    return ref.startswith(("/", ".", "~")) or not _HUB_ID.fullmatch(ref)


def resolve_hub(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Resolution:
    """A hub repo in the HF cache (through huggingface_hub's own offline resolution) with weight files."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=cache_dir))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        if hub_offline():
            return Resolution("block", f"{repo_id}: not in the HF cache and HF_HUB_OFFLINE=1")
        return Resolution("warn", f"{repo_id}: not cached; downloads on first use")
    weights = [p for p in snapshot.rglob("*") if p.suffix in WEIGHT_SUFFIXES]
    if not weights:
        return Resolution("block", f"{repo_id}: cached snapshot {snapshot.name[:7]} has no weight files (partial download?)")
    size = sum(p.stat().st_size for p in weights)
    return Resolution("ok", f"{repo_id}: cached {snapshot.name[:7]}, {len(weights)} weight files, {size / 2**30:.1f} GiB")


def resolve_model(ref: str, cache_dir: str | os.PathLike | None = None) -> Resolution:
    """``tiny:<name>``, a local folder, or a hub id found in the HF cache."""
    if ref.startswith(TINY_PREFIX):
        from synthvlm_repro.tiny_models import BUILDERS

        name = ref[len(TINY_PREFIX):]
        if name not in BUILDERS:
            return Resolution("block", f"{ref}: no such tiny model (known: {', '.join(BUILDERS)})")
        return Resolution("ok", f"{ref}: tiny model, built offline on first use")
    local = Path(ref).expanduser()
    if local.is_dir():
        return Resolution("ok", f"{ref}: local folder")
    if _looks_local(ref):
        return Resolution("block", f"{ref}: local folder not found")
    return resolve_hub(ref, cache_dir)


# open_clip's own pretrained config for the pair the paper uses (open_clip 3.3.0 ``get_pretrained_cfg``);
# kept here because importing open_clip takes seconds to tens of seconds. Other pairs ask open_clip.
KNOWN_OPEN_CLIP = {("ViT-B-32", "openai"): {"hf_hub": "timm/vit_base_patch32_clip_224.openai/"}}


def resolve_open_clip(model: str, pretrained: str | None, cache_dir: str | os.PathLike | None = None) -> Resolution:
    """An open_clip ``(model, pretrained tag)``: local/tiny dirs as above, else the hub repo open_clip loads from."""
    if pretrained is None or model.startswith(TINY_PREFIX) or Path(model).expanduser().is_dir():
        return resolve_model(model, cache_dir)
    cfg = KNOWN_OPEN_CLIP.get((model, pretrained))
    if cfg is None:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        return Resolution("block", f"open_clip {model}/{pretrained}: unknown model or pretrained tag")
    hub_id = (cfg.get("hf_hub") or "").strip("/")
    if not hub_id:
        return Resolution("warn", f"open_clip {model}/{pretrained}: downloads from {cfg.get('url', 'a URL')}; "
                                  "cache not checked")
    found = resolve_hub(hub_id, cache_dir)
    return Resolution(found.status, f"open_clip {model}/{pretrained} -> {found.detail}")
