"""The toy CLIP: an open_clip ViT trained contrastively on augmented renders, and its vision half as a
transformers ``CLIPVisionModel`` (the LLaVA vision tower).

The open_clip model is saved hub-style (``open_clip_config.json`` + ``open_clip_model.safetensors``),
loaded by stage 01's CLIP filter and stage 03's CLIPScore through ``local-dir:``. Captions are seen with
and without stage 03's ``"A photo depicts "`` prefix. Training uses open_clip's own ``ClipLoss``. The
image embedding is the mean of the patch tokens (``pool_type: avg``), so the contrastive loss trains every
patch token of the last layer, the features LLaVA reads (with CLS pooling they were never trained).

The weight conversion to ``CLIPVisionModel`` is written here because neither library ships one for
open_clip ViTs (transformers' ``convert_clip_original_pytorch_to_hf.py`` is a script for OpenAI's
checkpoints, not an importable function); the layouts differ only in names and the fused q/k/v matrix.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import trange

from synthvlm_repro.toy.world import caption, training_pool

MEAN = STD = (0.5, 0.5, 0.5)
PHOTO_PREFIX = "A photo depicts "


def model_config(spec: dict) -> dict:
    return {"embed_dim": spec["embed_dim"],
            "vision_cfg": {"image_size": spec["image_size"], "patch_size": spec["patch_size"], "width": spec["width"],
                           "layers": spec["layers"], "head_width": spec["head_width"], "mlp_ratio": 2.0,
                           "pool_type": spec.get("pool_type", "tok")},
            "text_cfg": {"context_length": spec["context_length"], "vocab_size": 49408, "width": spec["text_width"],
                         "heads": spec["text_width"] // 32, "layers": spec["text_layers"]}}


def create(spec: dict, tmp: Path):
    """A fresh open_clip model of this spec, through open_clip's factory."""
    import open_clip

    cfg_dir = tmp / "_cfg"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "toy-clip.json").write_text(json.dumps(model_config(spec)))
    open_clip.add_model_config(cfg_dir)
    model = open_clip.create_model("toy-clip", pretrained=None)
    shutil.rmtree(cfg_dir)
    return model


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> normalised float ``[N, 3, H, W]`` (the preprocessing saved with the model)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - 0.5) / 0.5


def clip_captions(ids: list[str], scenes) -> list[str]:
    return [(PHOTO_PREFIX if random.Random(i).random() < 0.5 else "") + caption(s, i) for i, s in zip(ids, scenes)]


def train_open_clip(spec: dict, tmp: Path, steps: int | None = None, progress: bool = True):
    """Train contrastively on augmented renders; returns the model (eval mode)."""
    import open_clip
    from open_clip.loss import ClipLoss

    torch.manual_seed(0)
    model = create(spec, tmp)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=spec["context_length"])
    loss_fn = ClipLoss()
    steps = steps or spec["steps"]
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps, pct_start=0.1)
    pool, pool_ids, pool_scenes = training_pool("clip", spec["pool"], progress)
    texts = tokenizer(clip_captions(pool_ids, pool_scenes))
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in trange(steps, desc="toy CLIP", disable=not progress):
        pick = torch.randint(len(pool), (spec["batch"],), generator=gen)
        image_features, text_features, logit_scale = model(to_tensor(pool[pick.numpy()]), texts[pick])
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def save_open_clip(model, spec: dict, out: Path) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "open_clip_model.safetensors")
    preprocess = {"image_size": spec["image_size"], "mean": list(MEAN), "std": list(STD),
                  "interpolation": "bicubic", "resize_mode": "shortest"}
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_config(spec),
                                                           "preprocess_cfg": preprocess}, indent=2))


def build_open_clip(out: Path, spec: dict) -> None:
    save_open_clip(train_open_clip(spec, out), spec, out)


# --------------------------------------------------------------------------- vision tower for LLaVA


def vision_state_dict(visual, layers: int, p: str = "") -> dict[str, torch.Tensor]:
    """open_clip ``VisionTransformer`` weights under ``CLIPVisionModel``'s names (after the prefix ``p``)."""
    sd = visual.state_dict()
    out = {p + "embeddings.patch_embedding.weight": sd["conv1.weight"],
           p + "embeddings.class_embedding": sd["class_embedding"],
           p + "embeddings.position_embedding.weight": sd["positional_embedding"],
           p + "pre_layrnorm.weight": sd["ln_pre.weight"], p + "pre_layrnorm.bias": sd["ln_pre.bias"],
           p + "post_layernorm.weight": sd["ln_post.weight"], p + "post_layernorm.bias": sd["ln_post.bias"]}
    for i in range(layers):
        src, dst = f"transformer.resblocks.{i}.", f"{p}encoder.layers.{i}."
        q, k, v = sd[src + "attn.in_proj_weight"].chunk(3)
        qb, kb, vb = sd[src + "attn.in_proj_bias"].chunk(3)
        for name, w, b in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
            out[f"{dst}self_attn.{name}.weight"], out[f"{dst}self_attn.{name}.bias"] = w, b
        pairs = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
                 "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
        for hf, oc in pairs.items():
            out[f"{dst}{hf}.weight"], out[f"{dst}{hf}.bias"] = sd[f"{src}{oc}.weight"], sd[f"{src}{oc}.bias"]
    return {k: v.clone().contiguous() for k, v in out.items()}


def build_clip_vision(out: Path, spec: dict) -> None:
    from synthvlm_repro.toy.registry import toy_path

    convert_vision_tower(toy_path(spec["from"]), out)


def convert_vision_tower(clip_dir: Path, out: Path) -> None:
    """A toy open_clip dir's image tower in ``openai/clip-vit-large-patch14-336``'s layout (model + processor)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from synthvlm_repro.models import load_open_clip

    cfg = json.loads((Path(clip_dir) / "open_clip_config.json").read_text())["model_cfg"]
    v = cfg["vision_cfg"]
    src = {"layers": v["layers"], "image_size": v["image_size"]}
    clip_model, _, _ = load_open_clip(str(clip_dir), None)
    config = CLIPVisionConfig(hidden_size=v["width"], intermediate_size=int(v["mlp_ratio"] * v["width"]),
                              num_hidden_layers=v["layers"], num_attention_heads=v["width"] // v["head_width"],
                              image_size=v["image_size"], patch_size=v["patch_size"], hidden_act="gelu",
                              layer_norm_eps=1e-5, projection_dim=cfg["embed_dim"])
    model = CLIPVisionModel(config)
    prefix = "vision_model." if any(k.startswith("vision_model.") for k in model.state_dict()) else ""
    missing, unexpected = model.load_state_dict(vision_state_dict(clip_model.visual, src["layers"], prefix),
                                                strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"clip-vision conversion: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out)
    size = src["image_size"]
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}, image_mean=list(MEAN),
                       image_std=list(STD), resample=3).save_pretrained(out)
