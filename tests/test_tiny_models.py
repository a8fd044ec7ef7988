"""Each tiny model loads through the real loading path and runs one forward pass."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from synthvlm_repro import tiny_models


def _image(size=80, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_cache_is_keyed_by_spec_and_reused(tiny, monkeypatch):
    path = tiny("vicuna")
    assert (path / ".complete").exists()
    mtime = (path / "config.json").stat().st_mtime_ns
    assert tiny("vicuna") == path and (path / "config.json").stat().st_mtime_ns == mtime
    monkeypatch.setitem(tiny_models.SPECS, "llama", {**tiny_models.SPECS["llama"], "hidden_size": 48})
    assert tiny_models.spec_hash("vicuna") != path.name.rsplit("-", 1)[1]


def test_unknown_tiny_model_is_named():
    with pytest.raises(KeyError, match="unknown tiny model 'nope'"):
        tiny_models.tiny_model_path("nope")


def test_clip_tokenizer_ids_match_real_clip_vocabulary():
    tok = tiny_models.clip_tokenizer()
    ids = tok("a photo of a cat")["input_ids"]
    # real CLIP: <|startoftext|>=49406 there; here the specials follow the truncated vocab
    assert ids[0] == tok.convert_tokens_to_ids("<|startoftext|>")
    assert tok.convert_tokens_to_ids("a</w>") == 320  # same id as in openai/clip-vit-base-patch32
    assert tok.model_max_length == 77


def test_sdxl_base_and_refiner_handoff(tiny):
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    base = StableDiffusionXLPipeline.from_pretrained(tiny("sdxl-base"))
    refiner = StableDiffusionXLImg2ImgPipeline.from_pretrained(tiny("sdxl-refiner"))
    g = torch.Generator().manual_seed(0)
    latents = base("a red car", num_inference_steps=4, height=64, width=64, denoising_end=0.8,
                   output_type="latent", generator=g).images
    assert latents.shape == (1, 4, 8, 8)
    image = refiner("a red car", image=latents, num_inference_steps=4, denoising_start=0.8,
                    generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_open_clip_local_dir_loads_and_encodes(tiny):
    import open_clip

    path = tiny("open-clip")
    cfg = json.loads((path / "open_clip_config.json").read_text())
    assert (path / "open_clip_model.safetensors").exists() and "model_cfg" in cfg
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{path}")
    with torch.no_grad():
        img = model.encode_image(preprocess(_image()).unsqueeze(0))
        txt = model.encode_text(tokenizer(["A photo depicts a cat"]))
    assert img.shape == txt.shape == (1, cfg["model_cfg"]["embed_dim"])


def test_blip_itm_scores_a_pair(tiny):
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    path = tiny("blip-itm")
    model = BlipForImageTextRetrieval.from_pretrained(path).eval()
    processor = BlipProcessor.from_pretrained(path)
    inputs = processor(images=_image(), text="a red circle", return_tensors="pt")
    with torch.no_grad():
        itm = model(**inputs, use_itm_head=True).itm_score
    prob = itm.softmax(-1)[0, 1].item()
    assert itm.shape == (1, 2) and 0.0 <= prob <= 1.0


def test_clip_vision_tower_loads_from_full_clip_dir(tiny):
    from transformers import CLIPImageProcessor, CLIPVisionModel

    path = tiny("clip-vision")
    tower = CLIPVisionModel.from_pretrained(path)
    pixels = CLIPImageProcessor.from_pretrained(path)(_image(), return_tensors="pt").pixel_values
    out = tower(pixels, output_hidden_states=True)
    spec = tiny_models.SPECS["clip-vision"]
    assert out.hidden_states[-2].shape[1] == (spec["image_size"] // spec["patch_size"]) ** 2 + 1


def test_vicuna_like_lm_has_no_image_token_and_generates(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny("vicuna")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert "<image>" not in tok.get_vocab()
    ids = tok("USER: hello ASSISTANT:", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tok.bos_token_id
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 3


def test_judge_lm_has_a_chat_template(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny("judge-lm")
    tok = AutoTokenizer.from_pretrained(path)
    text = tok.apply_chat_template([{"role": "user", "content": "Is this good?"}], tokenize=False,
                                   add_generation_prompt=True)
    assert "<|start_header_id|>assistant<|end_header_id|>" in text
    model = AutoModelForCausalLM.from_pretrained(path)
    logits = model(**tok(text, return_tensors="pt", add_special_tokens=False)).logits
    assert logits.shape[-1] == model.config.vocab_size


def test_llava_hf_model_expands_image_tokens_and_generates(tiny):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    path = tiny("llava")
    processor = AutoProcessor.from_pretrained(path)
    model = LlavaForConditionalGeneration.from_pretrained(path)
    assert processor.tokenizer.image_token == "<image>"
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]
    prompt = processor.apply_chat_template(conv, add_generation_prompt=True)
    inputs = processor(images=_image(), text=prompt, return_tensors="pt")
    n_image = (inputs.input_ids == model.config.image_token_index).sum().item()
    assert n_image == model.config.image_seq_length
    out = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert out.shape[1] == inputs.input_ids.shape[1] + 2


def test_model_revision_identifies_weights(tiny, tmp_path):
    from synthvlm_repro.models import model_revision

    assert model_revision("tiny:vicuna") == tiny("vicuna").name.rsplit("-", 1)[1]
    assert model_revision(str(tmp_path)) == "local"
    assert model_revision("some-org/not-cached-model") == "hub"
    assert model_revision(None) == ""
