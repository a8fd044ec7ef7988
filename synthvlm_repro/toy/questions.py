"""Questions about a toy scene with their ground-truth answers (stage-2 instructions and benchmarks)."""

from __future__ import annotations

import random

from synthvlm_repro.toy.world import ATTRIBUTES, COLOURS, SHAPES, Scene

SHORT_QUESTIONS = {
    "colour": "What color is the {shape}?",
    "shape": "What shape is the {colour} object?",
    "size": "Is the {shape} small or large?",
    "position": "Where in the image is the {shape}: left, right, top, bottom or center?",
}
CHOICE_QUESTIONS = {
    "colour": "What color is the {shape} in the image?",
    "shape": "Which shape is in the image?",
    "size": "How big is the {shape}?",
    "position": "Where is the {shape} in the image?",
}


def short_question(scene: Scene, kind: str) -> tuple[str, str]:
    """``(question, one-word answer)``: GQA-style."""
    return SHORT_QUESTIONS[kind].format(**scene.attributes()), scene.attributes()[kind]


def presence_question(scene: Scene, r: random.Random, answer_yes: bool, split: str = "random") -> tuple[str, str]:
    """POPE-style ``("Is there a <colour> <shape> in the image?", "yes"|"no")``.

    The "no" object differs by colour and shape (``random``), by colour only (``popular``: the same shape
    is in the image) or by shape only (``adversarial``: the same colour is in the image).
    """
    colour, shape = scene.colour, scene.shape
    if not answer_yes:
        if split in ("random", "popular"):
            colour = r.choice([c for c in COLOURS if c != scene.colour])
        if split in ("random", "adversarial"):
            shape = r.choice([s for s in SHAPES if s != scene.shape])
    return f"Is there a {colour} {shape} in the image?", "yes" if answer_yes else "no"


def choice_question(scene: Scene, kind: str, r: random.Random, n_options: int = 4) -> tuple[str, list[str], int]:
    """MMBench-style ``(question, options, index of the right option)``."""
    truth = scene.attributes()[kind]
    others = [v for v in ATTRIBUTES[kind] if v != truth]
    options = r.sample(others, min(n_options - 1, len(others))) + [truth]
    r.shuffle(options)
    return CHOICE_QUESTIONS[kind].format(**scene.attributes()), options, options.index(truth)
