"""Tiny random models built offline in the real checkpoints' on-disk formats.

No weights can be downloaded here, so tests, CI and the ``smoke`` profile use these stand-ins. Each
is saved exactly as its real counterpart is published (diffusers pipeline dirs, transformers model
dirs, an open_clip hub-style dir) and the stages load them through the same ``from_pretrained`` /
open_clip calls they use for the hub ids. A profile refers to one as ``tiny:<name>``.

Models are cached under ``$SYNTHVLM_CACHE`` (default ``~/.cache/synthvlm_repro``) in a folder named
by a hash of their spec and of the library versions, and built atomically (temp dir + rename).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from synthvlm_repro.atomic import build_cached_dir

SEED = 1234
# Chat template of the tiny judge LM (Llama-3-Instruct's shape, kept short).
JUDGE_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# llava-hf/llava-1.5-7b-hf's template shape: "USER: <image>\n<prompt> ASSISTANT:".
LLAVA_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }} {% elif m['role'] == 'user' %}USER: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %} {% else %}ASSISTANT: {% for c in m['content'] %}{% if c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

# Sizes (kept in one place so the cache hash covers them).
SPECS: dict[str, dict] = {
    "clip-text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "projection_dim": 32, "merges": 2000},
    "sdxl-unet": {"block_out_channels": [32, 64], "layers_per_block": 1, "attention_head_dim": [2, 4],
                  "addition_time_embed_dim": 8, "norm_num_groups": 8},
    "sdxl-vae": {"block_out_channels": [16, 16, 32, 32], "norm_num_groups": 8, "layers_per_block": 1},
    "open-clip": {"embed_dim": 32, "vision": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                                              "patch_size": 16},
                  "text": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}},
    "blip-itm": {"hidden": 32, "layers": 2, "heads": 4, "image_size": 64, "patch_size": 16},
    "clip-vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
                    "image_size": 56, "patch_size": 14, "projection_dim": 32},
    "llama": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 512, "vocab_size": 1024},
}


# --------------------------------------------------------------------------- cache


def cache_root() -> Path:
    """Root of the tiny-model cache (``$SYNTHVLM_CACHE`` or ``~/.cache/synthvlm_repro``)."""
    return Path(os.environ.get("SYNTHVLM_CACHE", Path.home() / ".cache" / "synthvlm_repro")) / "tiny"


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("transformers", "diffusers", "open_clip_torch", "tokenizers"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def spec_hash(name: str) -> str:
    """Hash of everything a tiny model's bytes depend on: its spec, the seed, library versions."""
    from synthvlm_repro.sample_data import sample_captions_path

    corpus = hashlib.sha256(sample_captions_path().read_bytes()).hexdigest()  # tokenizers train on it
    payload = {"name": name, "specs": SPECS, "seed": SEED, "versions": _versions(), "corpus": corpus, "format": 1}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def tiny_model_path(name: str) -> Path:
    """Path of tiny model ``name``, building it first if it is not cached yet."""
    if name not in BUILDERS:
        raise KeyError(f"unknown tiny model {name!r}; known: {', '.join(sorted(BUILDERS))}")
    def build(tmp: Path) -> dict:
        _seed()
        BUILDERS[name](tmp)
        return {"name": name, "versions": _versions()}

    return build_cached_dir(cache_root() / f"{name}-{spec_hash(name)}", build)


def _seed() -> None:
    import torch

    torch.manual_seed(SEED)


# --------------------------------------------------------------------------- tokenizers


def clip_tokenizer(model_max_length: int = 77):
    """A real-vocabulary CLIP BPE tokenizer built from the merges file that open_clip ships.

    The first ``merges`` merges are kept, so ids agree with real CLIP for the tokens they cover.
    """
    from transformers import CLIPTokenizer

    spec = importlib.util.find_spec("open_clip")
    merges_file = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(merges_file, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + SPECS["clip-text"]["merges"]]]
    byte_chars = list(_bytes_to_unicode().values())
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _training_corpus() -> list[str]:
    from synthvlm_repro.sample_data import load_sample_captions

    texts = [row["caption"] for row in load_sample_captions()]
    texts += [
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: ASSISTANT: Yes No",
        "Answer the question using a single word or phrase. Answer with the option's letter from the given "
        "choices directly. A. B. C. D. The answer is 0 1 2 3 4 5 6 7 8 9 yes no red blue green",
    ]
    return texts


def llama_tokenizer(special: list[str], extra_special: dict[str, str] | None = None, chat_template: str | None = None,
                    pad_token: str | None = None):
    """A byte-level BPE tokenizer trained on the sample captions, in Llama's shape (``<s>`` prepended)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=SPECS["llama"]["vocab_size"] - 8, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_training_corpus(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    kwargs = dict(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                  model_max_length=SPECS["llama"]["max_position_embeddings"], padding_side="right")
    if pad_token:
        kwargs["pad_token"] = pad_token
    if extra_special:
        kwargs["extra_special_tokens"] = extra_special
    fast = PreTrainedTokenizerFast(**kwargs)
    if chat_template:
        fast.chat_template = chat_template
    return fast


def bert_tokenizer(tmp: Path):
    """A lower-case WordPiece tokenizer (BLIP uses bert-base-uncased's) with a vocabulary from the samples."""
    import re

    from transformers import BertTokenizerFast

    words = sorted({w for t in _training_corpus() for w in re.findall(r"[a-z]+", t.lower())})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(33, 127)] + words[:900]
    vocab_file = tmp / "_vocab.txt"
    vocab_file.write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab_file), model_max_length=35)
    vocab_file.unlink()
    return tok


# --------------------------------------------------------------------------- builders


def _clip_text_config(with_projection: bool):
    from transformers import CLIPTextConfig

    s = SPECS["clip-text"]
    return CLIPTextConfig(
        vocab_size=s["merges"] + 514, hidden_size=s["hidden_size"], intermediate_size=s["intermediate_size"],
        num_hidden_layers=s["num_hidden_layers"], num_attention_heads=s["num_attention_heads"],
        projection_dim=s["projection_dim"] if with_projection else 512, max_position_embeddings=77,
        bos_token_id=s["merges"] + 512, eos_token_id=s["merges"] + 513, pad_token_id=s["merges"] + 513,
        hidden_act="gelu")


def _sdxl_unet(time_ids: int, text_dim: int, pooled_dim: int):
    from diffusers import UNet2DConditionModel

    s = SPECS["sdxl-unet"]
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=s["block_out_channels"],
        layers_per_block=s["layers_per_block"], down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=s["attention_head_dim"],
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=s["addition_time_embed_dim"], cross_attention_dim=text_dim,
        projection_class_embeddings_input_dim=time_ids * s["addition_time_embed_dim"] + pooled_dim,
        norm_num_groups=s["norm_num_groups"])


def _sdxl_vae():
    from diffusers import AutoencoderKL

    s = SPECS["sdxl-vae"]
    n = len(s["block_out_channels"])
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=s["block_out_channels"],
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        layers_per_block=s["layers_per_block"], norm_num_groups=s["norm_num_groups"], sample_size=128,
        scaling_factor=0.13025, force_upcast=True)


def _sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  steps_offset=1, timestep_spacing="leading", prediction_type="epsilon")


def build_sdxl_base(out: Path) -> None:
    """``stabilityai/stable-diffusion-xl-base-1.0``'s layout: two CLIP text encoders, UNet, VAE, Euler."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    te1 = CLIPTextModel(_clip_text_config(False))
    te2 = CLIPTextModelWithProjection(_clip_text_config(True))
    hidden = SPECS["clip-text"]["hidden_size"]
    pipe = StableDiffusionXLPipeline(
        vae=_sdxl_vae(), text_encoder=te1, text_encoder_2=te2, tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(), unet=_sdxl_unet(6, 2 * hidden, SPECS["clip-text"]["projection_dim"]),
        scheduler=_sdxl_scheduler())
    pipe.save_pretrained(out)


def build_sdxl_refiner(out: Path) -> None:
    """``stable-diffusion-xl-refiner-1.0``'s layout: only text_encoder_2, aesthetic-score time ids."""
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    te2 = CLIPTextModelWithProjection(_clip_text_config(True))
    hidden = SPECS["clip-text"]["hidden_size"]
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=_sdxl_vae(), text_encoder=None, text_encoder_2=te2, tokenizer=None, tokenizer_2=clip_tokenizer(),
        unet=_sdxl_unet(5, hidden, SPECS["clip-text"]["projection_dim"]), scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
    pipe.save_pretrained(out)


def open_clip_model_config() -> dict:
    """open_clip ``model_cfg`` of the tiny CLIP (ViT-B-32's shape, scaled down)."""
    s = SPECS["open-clip"]
    return {"embed_dim": s["embed_dim"], "vision_cfg": dict(s["vision"]), "text_cfg": dict(s["text"])}


def build_open_clip(out: Path) -> None:
    """A hub-style open_clip dir (``open_clip_config.json`` + ``open_clip_model.safetensors``).

    Load it with ``open_clip.create_model_and_transforms("local-dir:<path>")``.
    """
    import open_clip
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    cfg_dir = out / "_cfg"
    cfg_dir.mkdir()
    (cfg_dir / "tiny-clip.json").write_text(json.dumps(open_clip_model_config()))
    open_clip.add_model_config(cfg_dir)
    model = open_clip.create_model("tiny-clip", pretrained=None)
    shutil.rmtree(cfg_dir)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, out / "open_clip_model.safetensors")
    preprocess = {"image_size": SPECS["open-clip"]["vision"]["image_size"],
                  "mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD),
                  "interpolation": "bicubic", "resize_mode": "shortest"}
    (out / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": open_clip_model_config(), "preprocess_cfg": preprocess}, indent=2))


def build_blip_itm(out: Path) -> None:
    """``Salesforce/blip-itm-base-coco``'s layout: BlipForImageTextRetrieval + BlipProcessor."""
    from transformers import BlipConfig, BlipForImageTextRetrieval, BlipImageProcessor, BlipProcessor

    s = SPECS["blip-itm"]
    tok = bert_tokenizer(out if out.exists() else _mk(out))
    text = dict(vocab_size=len(tok), hidden_size=s["hidden"], encoder_hidden_size=s["hidden"],
                intermediate_size=2 * s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                max_position_embeddings=64, projection_dim=s["hidden"], pad_token_id=tok.pad_token_id,
                bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, sep_token_id=tok.sep_token_id)
    vision = dict(hidden_size=s["hidden"], intermediate_size=2 * s["hidden"], num_hidden_layers=s["layers"],
                  num_attention_heads=s["heads"], image_size=s["image_size"], patch_size=s["patch_size"],
                  projection_dim=s["hidden"])
    model = BlipForImageTextRetrieval(BlipConfig(text_config=text, vision_config=vision, projection_dim=s["hidden"],
                                                 image_text_hidden_size=s["hidden"]))
    model.save_pretrained(out)
    size = s["image_size"]
    BlipProcessor(BlipImageProcessor(size={"height": size, "width": size}), tok).save_pretrained(out)


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_clip_vision(out: Path) -> None:
    """``openai/clip-vit-large-patch14-336``'s layout: a full CLIPModel dir + processor.

    LLaVA loads only its vision half (``CLIPVisionModel.from_pretrained``), as with the real one.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    s = SPECS["clip-vision"]
    vision = {k: s[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                "image_size", "patch_size")}
    text = _clip_text_config(True).to_dict()
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=s["projection_dim"]))
    model.save_pretrained(out)
    size = s["image_size"]
    CLIPProcessor(CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
                  clip_tokenizer()).save_pretrained(out)


def _llama_config(vocab_size: int, **extra):
    from transformers import LlamaConfig

    s = SPECS["llama"]
    return LlamaConfig(vocab_size=vocab_size, hidden_size=s["hidden_size"], intermediate_size=s["intermediate_size"],
                       num_hidden_layers=s["num_hidden_layers"], num_attention_heads=s["num_attention_heads"],
                       num_key_value_heads=s["num_key_value_heads"],
                       max_position_embeddings=s["max_position_embeddings"], tie_word_embeddings=False, **extra)


def build_vicuna(out: Path) -> None:
    """``lmsys/vicuna-7b-v1.5``'s layout: LlamaForCausalLM, tokenizer with ``<unk> <s> </s>`` and no
    ``<image>``/``<pad>`` (LLaVA's builder adds those, as for the real Vicuna)."""
    from transformers import LlamaForCausalLM

    tok = llama_tokenizer(["<unk>", "<s>", "</s>"])
    model = LlamaForCausalLM(_llama_config(len(tok), bos_token_id=1, eos_token_id=2))
    model.generation_config.pad_token_id = 0
    model.save_pretrained(out)
    tok.save_pretrained(out)


def build_judge_lm(out: Path) -> None:
    """A chat LM in Llama-3-Instruct's shape (a chat template with header tokens) for the caption judge."""
    from transformers import LlamaForCausalLM

    specials = ["<unk>", "<s>", "</s>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<pad>"]
    tok = llama_tokenizer(specials, chat_template=JUDGE_CHAT_TEMPLATE, pad_token="<pad>")
    model = LlamaForCausalLM(_llama_config(len(tok), bos_token_id=1, eos_token_id=[2, 5], pad_token_id=6))
    model.save_pretrained(out)
    tok.save_pretrained(out)


def build_llava(out: Path) -> None:
    """``llava-hf/llava-1.5-7b-hf``'s layout: LlavaForConditionalGeneration + LlavaProcessor whose
    tokenizer carries ``<image>`` and ``<pad>``; for evaluation/judging without training first."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)

    tok = llama_tokenizer(["<unk>", "<s>", "</s>", "<image>", "<pad>"], extra_special={"image_token": "<image>"},
                          pad_token="<pad>")
    s = SPECS["clip-vision"]
    vision = CLIPVisionConfig(**{k: s[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                   "num_attention_heads", "image_size", "patch_size")})
    n_patches = (s["image_size"] // s["patch_size"]) ** 2
    config = LlavaConfig(vision_config=vision, text_config=_llama_config(len(tok), bos_token_id=1, eos_token_id=2,
                                                                         pad_token_id=4),
                         image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=n_patches,
                         vision_feature_select_strategy="default", vision_feature_layer=-2,
                         projector_hidden_act="gelu")
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = 4
    model.save_pretrained(out)
    size = s["image_size"]
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=s["patch_size"],
                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                   chat_template=LLAVA_CHAT_TEMPLATE).save_pretrained(out)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "sdxl-base": build_sdxl_base,
    "sdxl-refiner": build_sdxl_refiner,
    "open-clip": build_open_clip,
    "blip-itm": build_blip_itm,
    "clip-vision": build_clip_vision,
    "vicuna": build_vicuna,
    "judge-lm": build_judge_lm,
    "llava": build_llava,
}
