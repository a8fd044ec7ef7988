"""LLaVA-1.5's ``vicuna_v1`` conversation template and its prompt suffixes.

Training (stage 04) and evaluation build prompts from the same definition,
:mod:`synthvlm_repro.conversation`; this module adds the question prompt, LLaVA's answer-format
suffixes and the pad-to-square image transform.
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from synthvlm_repro.conversation import IMAGE_TOKEN, ROLES, SEP, SEP2, SYSTEM_PROMPT, vicuna_v1_prompt  # noqa: F401

SHORT_ANSWER = "Answer the question using a single word or phrase."
OPTION_LETTER = "Answer with the option's letter from the given choices directly."


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
