"""LLaVA-1.5's ``vicuna_v1`` conversation template and its prompt suffixes.

Training (stage 04) and evaluation must build prompts identically; this is the evaluation side's
copy (to be shared with stage 04). Written from LLaVA's ``conv_vicuna_v1`` definition: system
prompt, roles ``USER``/``ASSISTANT``, separators ``" "`` and ``"</s>"``. The tokenizer adds ``<s>``.
llava-hf's own chat template lacks the system prompt (anchors.md B3.5), so it is not used here.
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image

SYSTEM_PROMPT = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = ("USER", "ASSISTANT")
SEP, SEP2 = " ", "</s>"
IMAGE_TOKEN = "<image>"
SHORT_ANSWER = "Answer the question using a single word or phrase."
OPTION_LETTER = "Answer with the option's letter from the given choices directly."


def vicuna_v1_prompt(turns: Sequence[tuple[str, str | None]]) -> str:
    """Render ``[(role, message)]``; a final ``(ASSISTANT, None)`` leaves the prompt open for generation."""
    text = SYSTEM_PROMPT + SEP
    for i, (role, message) in enumerate(turns):
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {ROLES})")
        if message is None:
            if i != len(turns) - 1:
                raise ValueError("only the last turn may be open (message None)")
            text += f"{role}:"
        else:
            text += f"{role}: {message}" + (SEP if role == ROLES[0] else SEP2)
    return text


def question_prompt(question: str, with_image: bool = True) -> str:
    """The generation prompt for one question: ``<system> USER: <image>\\n{question} ASSISTANT:``."""
    question = question.replace(IMAGE_TOKEN, "").strip()
    user = f"{IMAGE_TOKEN}\n{question}" if with_image else question
    return vicuna_v1_prompt([(ROLES[0], user), (ROLES[1], None)])


def with_suffix(question: str, suffix: str) -> str:
    """``question\\nsuffix`` unless the question already ends with the suffix."""
    question = question.rstrip()
    return question if question.endswith(suffix) else f"{question}\n{suffix}"


def expand_to_square(image: Image.Image, background: Sequence[float]) -> Image.Image:
    """LLaVA-1.5's ``image_aspect_ratio: pad``: centre the image on a square of the processor's mean colour."""
    image = image.convert("RGB")
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    fill = tuple(int(round(c * 255)) for c in background)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas
