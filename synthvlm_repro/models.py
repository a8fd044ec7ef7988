"""Resolve model references from configs and load the models more than one stage shares.

A reference is a hub id (``stabilityai/stable-diffusion-xl-base-1.0``), a local dir, or
``tiny:<name>`` for one of the offline tiny models (:mod:`synthvlm_repro.tiny_models`), or
``toy:<name>[/<file>]`` for a model or data set trained on the toy world (:mod:`synthvlm_repro.toy.registry`).
"""

from __future__ import annotations

from pathlib import Path

TINY_PREFIX = "tiny:"
TOY_PREFIX = "toy:"


def resolve_model(ref: str | None) -> str | None:
    """A string that ``from_pretrained`` accepts: the tiny model's dir, a local dir, or the hub id."""
    if ref is None:
        return None
    if ref.startswith(TINY_PREFIX):
        from synthvlm_repro.tiny_models import tiny_model_path

        return str(tiny_model_path(ref[len(TINY_PREFIX):]))
    if ref.startswith(TOY_PREFIX):
        from synthvlm_repro.toy.registry import resolve_toy

        return str(resolve_toy(ref[len(TOY_PREFIX):]))
    local = Path(ref).expanduser()
    return str(local) if local.exists() else ref


def open_clip_name(model: str, pretrained: str | None) -> tuple[str, str | None]:
    """open_clip ``(model_name, pretrained)``: a local hub-style dir becomes ``local-dir:<path>``."""
    resolved = resolve_model(model)
    if resolved and (Path(resolved) / "open_clip_config.json").exists():
        return f"local-dir:{resolved}", None
    return model, pretrained


def load_open_clip(model: str, pretrained: str | None, device: str = "cpu", precision: str = "fp32"):
    """``(model, preprocess, tokenizer)`` through open_clip's own factory (eval mode)."""
    import open_clip

    name, tag = open_clip_name(model, pretrained)
    clip_model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, device=device,
                                                                      precision=precision)
    return clip_model.eval(), preprocess, open_clip.get_tokenizer(name)


def model_revision(ref: str | None) -> str:
    """A short identity of the weights behind ``ref`` (for manifests): the tiny model's hash, the HF
    cache snapshot commit of a hub id, ``local`` for a plain directory, else ``hub`` (not cached yet)."""
    if ref is None:
        return ""
    resolved = Path(resolve_model(ref))
    if ref.startswith(TINY_PREFIX):
        return resolved.name.rsplit("-", 1)[-1]
    if ref.startswith(TOY_PREFIX):
        from synthvlm_repro.toy.registry import spec_hash

        return spec_hash(ref[len(TOY_PREFIX):].partition("/")[0])
    if resolved.parent.name == "snapshots":  # a path inside the HF cache
        return resolved.name
    if resolved.exists():
        return "local"
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json", "open_clip_config.json"):
        try:
            cached = try_to_load_from_cache(ref, filename)
        except ValueError:  # not a valid repo id
            break
        if isinstance(cached, str):  # .../snapshots/<commit>/<filename>
            return Path(cached).parent.name
    return "hub"
