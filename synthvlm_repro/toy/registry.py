"""The toy world's trained models and data sets, built on first use and cached by a hash of their specs.

A profile refers to one as ``toy:<name>`` (``synthvlm_repro.models.resolve_model``), or to a file inside
one as ``toy:<name>/<file>``. Each is trained here on the toy world and saved in its real counterpart's
on-disk format, like :mod:`synthvlm_repro.tiny_models`' random stand-ins. The cache folder
(``$SYNTHVLM_CACHE/toy/<name>-<hash>``) is keyed by the model's spec, the specs of what it is built
from, the world's definition and the library versions, and is written atomically (temp dir + rename).
Build times are recorded in ``<folder>/.complete`` (wall and CPU seconds).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from pathlib import Path
from typing import Callable

from synthvlm_repro.atomic import build_cached_dir
from synthvlm_repro.tiny_models import _versions

FORMAT = 1

# Sizes and training lengths, in one place so the cache hash covers them.
SPECS: dict[str, dict] = {
    "world": {"captions": 1000, "stage2": 400, "junk_fraction": 0.15},
    "benchmarks": {"images": 40, "layout": "gqa/data"},  # layout: stage 05's gqa/data/ (a stale cache had gqa/)
    "open-clip": {"embed_dim": 64, "image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32,
                  "text_width": 64, "text_layers": 2, "context_length": 32, "pool": 8000, "steps": 300, "batch": 128,
                  "lr": 2e-3, "pool_type": "avg"},
    "clip-vision": {"from": "open-clip"},
    "llama": {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 600, "steps": 300, "batch": 32, "lr": 3e-3, "copy_docs": True},
    "judge": {"width": 16, "pool": 6000, "steps": 300, "batch": 64, "lr": 2e-3},
    "generator": {"unet_channels": [32, 64], "text_width": 64, "text_layers": 2, "max_tokens": 24,
                  "latent_channels": 8, "vae_channels": [16, 32, 32], "pool": 4000, "vae_steps": 120, "vae_batch": 32, "steps": 500,
                  "batch": 48, "lr": 2e-3},
}
DEPENDS = {"clip-vision": ["open-clip"], "benchmarks": [], "generator": [], "llama": []}


def cache_root() -> Path:
    return Path(os.environ.get("SYNTHVLM_CACHE", Path.home() / ".cache" / "synthvlm_repro")) / "toy"


def _builders() -> dict[str, Callable[[Path, dict], None]]:
    from synthvlm_repro.toy import benchmarks, clip, data, generator, judge, lm

    return {"world": data.build_world, "benchmarks": benchmarks.build_benchmarks, "open-clip": clip.build_open_clip,
            "clip-vision": clip.build_clip_vision, "llama": lm.build_llama, "judge": judge.build_judge,
            "generator": generator.build_generator}


def _world_source() -> str:
    from synthvlm_repro.toy import world

    return hashlib.sha256(inspect.getsource(world).encode()).hexdigest()


def _builder_source(name: str) -> str:
    """Hash of the source of the module whose function builds ``name`` (a change there rebuilds it: a
    cache built by older code once kept a benchmark layout stage 05 no longer reads)."""
    module = inspect.getmodule(_builders()[name])
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()


def spec_hash(name: str) -> str:
    """Hash of what the artifact's bytes depend on (spec, dependencies, world code, builder code, library
    versions)."""
    payload = {"name": name, "spec": SPECS[name], "deps": [spec_hash(d) for d in DEPENDS.get(name, [])],
               "world": _world_source(), "builder": _builder_source(name), "versions": _versions(),
               "format": FORMAT}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def toy_path(name: str) -> Path:
    """Folder of toy artifact ``name``, training/building it first if it is not cached."""
    if name not in SPECS:
        raise KeyError(f"unknown toy model {name!r}; known: {', '.join(sorted(SPECS))}")
    target = cache_root() / f"{name}-{spec_hash(name)}"
    if (target / ".complete").exists():
        return target
    for dep in DEPENDS.get(name, []):
        toy_path(dep)

    def build(tmp: Path) -> dict:
        wall, cpu = time.perf_counter(), time.process_time()
        _builders()[name](tmp, SPECS[name])
        return {"name": name, "spec": SPECS[name], "wall_s": round(time.perf_counter() - wall, 1),
                "cpu_s": round(time.process_time() - cpu, 1), "versions": _versions()}

    return build_cached_dir(target, build)


def resolve_toy(ref: str) -> Path:
    """``<name>`` or ``<name>/<file inside it>`` -> path (building the artifact when needed)."""
    name, _, rest = ref.partition("/")
    root = toy_path(name)
    return root / rest if rest else root


def build_record(name: str) -> dict:
    """What ``.complete`` says about a cached artifact (its build wall/CPU seconds)."""
    return json.loads((toy_path(name) / ".complete").read_text())
