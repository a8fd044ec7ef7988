"""Build a LLaVA-1.5 model from a CLIP vision tower and a Vicuna-style LM, in llava-hf format.

What LLaVA's ``builder``/llava-hf's conversion script do, with transformers' own classes:
``<image>`` and ``<pad>`` are added to the tokenizer, the embeddings are resized (padded to a multiple of
64) with the new rows drawn around the existing rows' mean (``mean_resizing``), the projector is a
fresh mlp2x_gelu (``nn.Linear`` default init, as LLaVA), and the processor pads images to a square with
CLIP's mean colour (LLaVA's ``expand2square``) before CLIP's resize/crop.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from synthvlm_repro.conversation import IMAGE_TOKEN, SYSTEM_PROMPT
from synthvlm_repro.models import resolve_model
from synthvlm_repro.training.config import TrainingConfig

log = logging.getLogger(__name__)

PAD_TOKEN = "<pad>"
VICUNA_SYSTEM = SYSTEM_PROMPT  # LLaVA ``conv_vicuna_v1``, shared with evaluation
# The v1 format for ``processor.apply_chat_template``: the system prompt, "USER: <image>\n..." and
# "ASSISTANT: ...</s>" — the prompt the model was trained on (llava-hf's own template omits the system).
VICUNA_V1_CHAT_TEMPLATE = (
    '{{ "' + VICUNA_SYSTEM + ' " }}' "{% for m in messages %}{% if m['role'] == 'user' %}USER: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %} {% elif m['role'] == 'assistant' %}ASSISTANT: "
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}</s>"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def load_tokenizer_with_image_token(language_model: str):
    """The LM's tokenizer plus ``<image>`` (as ``tokenizer.image_token``) and ``<pad>`` (pad token)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(language_model),
                                        extra_special_tokens={"image_token": IMAGE_TOKEN})
    if tok.pad_token is None:
        tok.add_special_tokens({"pad_token": PAD_TOKEN})
    return tok


def build_processor(vision_tower: str, tokenizer, pad_to_square: bool = True):
    """``LlavaProcessor``: CLIP's image settings (+ LLaVA pad-to-square, as LLaVA-1.5 is fine-tuned and
    evaluated) and one ``<image>`` -> N tokens."""
    from transformers import AutoConfig, LlavaImageProcessor, LlavaProcessor

    path = resolve_model(vision_tower)
    image_processor = LlavaImageProcessor.from_pretrained(path, do_pad=pad_to_square)
    vision_cfg = AutoConfig.from_pretrained(path)
    vision_cfg = getattr(vision_cfg, "vision_config", vision_cfg)
    tokenizer.padding_side = "left"  # the saved processor is for (batched) generation
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision_cfg.patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=VICUNA_V1_CHAT_TEMPLATE)


def load_vision_tower(vision_tower: str, dtype: torch.dtype):
    """The vision half of a CLIP checkpoint (its text half is left out on purpose, so its load report is muted)."""
    from transformers import CLIPVisionModel
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return CLIPVisionModel.from_pretrained(resolve_model(vision_tower), dtype=dtype)
    finally:
        hf_logging.set_verbosity(level)


def build_llava(cfg: TrainingConfig, dtype: torch.dtype = torch.float32, seed: int = 0):
    """``(LlavaForConditionalGeneration, LlavaProcessor)`` assembled from ``cfg.vision_tower`` + ``cfg.language_model``."""
    from transformers import AutoModelForCausalLM, LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    tokenizer = load_tokenizer_with_image_token(cfg.language_model)
    vision = load_vision_tower(cfg.vision_tower, dtype)
    lm = AutoModelForCausalLM.from_pretrained(resolve_model(cfg.language_model), dtype=dtype)
    torch.manual_seed(seed)  # mean_resizing samples the new rows; the projector init draws too
    lm.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=cfg.pad_vocab_to_multiple_of, mean_resizing=True)
    text_config = lm.config
    text_config.pad_token_id = tokenizer.pad_token_id
    vcfg = vision.config
    config = LlavaConfig(vision_config=vcfg, text_config=text_config,
                         image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         image_seq_length=(vcfg.image_size // vcfg.patch_size) ** 2,
                         vision_feature_layer=cfg.vision_feature_layer, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", multimodal_projector_bias=True)
    with torch.device("meta"):  # skeleton only; every part is replaced by real weights below
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = vision
    model.model.language_model = lm.model
    model.lm_head = lm.lm_head
    model.model.multi_modal_projector = LlavaMultiModalProjector(config).to(dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    for name, p in model.named_parameters():
        if p.is_meta:
            raise RuntimeError(f"build_llava: parameter {name} was left uninitialised")
    return model, build_processor(cfg.vision_tower, tokenizer)


def save_llava(model, processor, out: str | Path) -> Path:
    """Save model + processor in llava-hf format (a folder ``from_pretrained`` and lmms-eval's llava_hf read)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def image_tokens_per_image(processor) -> int:
    """How many ``<image>`` placeholders the processor puts for one image (576 for ViT-L/14 at 336 px)."""
    crop = processor.image_processor.crop_size
    n = (crop["height"] // processor.patch_size) * (crop["width"] // processor.patch_size)
    return n + processor.num_additional_image_tokens - (processor.vision_feature_select_strategy == "default")
