"""Answer parsing and metrics of each benchmark, as LLaVA-1.5's evaluation scripts compute them.

Pure functions on strings and lists, written for this kit from the rules of LLaVA's scripts
(``convert_gqa_for_eval.py``, ``eval_science_qa.py``, ``eval_pope.py``, MME's ``calculation.py``,
``model_vqa_mmbench.py --all-rounds``) so that every number can be checked by hand in the tests.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from typing import Iterable, Sequence

LETTERS = string.ascii_uppercase

# MME's two halves (its calculation.py): 10 perception and 4 cognition categories.
MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


# ----------------------------------------------------------------------------- GQA


def gqa_normalize(text: str) -> str:
    """LLaVA's ``convert_gqa_for_eval.py``: strip trailing periods, lower-case (then exact match)."""
    return text.strip().rstrip(".").lower()


# ----------------------------------------------------------------------------- ScienceQA


def scienceqa_letter(text: str, n_choices: int) -> int:
    """Index of the chosen option as ``eval_science_qa.py`` parses it, or -1 (counted wrong).

    Accepted: the bare letter ``"B"``, ``"B. text"``, or one ``"The answer is B."``.
    """
    options = LETTERS[:n_choices]
    text = text.strip()
    letter = None
    if text in options:
        letter = text
    elif len(text) >= 3 and text[0] in options and text[1:3] == ". ":
        letter = text[0]
    else:
        found = re.findall(r"The answer is ([A-Z])\.", text)
        if len(found) == 1 and found[0] in options:
            letter = found[0]
    return options.index(letter) if letter else -1


# ----------------------------------------------------------------------------- POPE


def pope_parse(text: str) -> str:
    """LLaVA's lenient yes/no: first sentence, commas dropped; ``No``/``no``/``not`` as a word means no."""
    first = text.split(".")[0] if "." in text else text
    words = first.replace(",", "").split(" ")
    return "no" if any(w in ("No", "no", "not") for w in words) else "yes"


def pope_metrics(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio with "yes" as the positive class."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"pope_metrics: {len(predictions)} predictions for {len(labels)} labels")
    pairs = list(zip(predictions, labels))
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    tn = sum(p == "no" and g == "no" for p, g in pairs)
    fn = sum(p == "no" and g == "yes" for p, g in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / len(pairs), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": (tp + fp) / len(pairs)}


# ----------------------------------------------------------------------------- MME


def mme_parse(text: str) -> str:
    """MME's ``calculation.py``: exact yes/no, else look for yes/no in the first four characters."""
    text = text.strip().lower()
    if text in ("yes", "no"):
        return text
    head = text[:4]
    return "yes" if "yes" in head else "no" if "no" in head else "other"


def mme_category_score(records: Iterable[tuple[str, str, str]]) -> dict[str, float]:
    """``(image, prediction, answer)`` rows of one category -> acc, acc+ (both questions of an image
    right), and score = 100·acc + 100·acc+. Every image must have exactly two questions."""
    by_image: dict[str, list[bool]] = defaultdict(list)
    for image, prediction, answer in records:
        by_image[image].append(mme_parse(prediction) == answer.strip().lower())
    bad = [img for img, marks in by_image.items() if len(marks) != 2]
    if bad:
        raise ValueError(f"MME: image {bad[0]} has {len(by_image[bad[0]])} questions, expected 2")
    if not by_image:
        raise ValueError("MME: empty category")
    marks = [m for ms in by_image.values() for m in ms]
    acc = sum(marks) / len(marks)
    acc_plus = sum(all(ms) for ms in by_image.values()) / len(by_image)
    return {"acc": 100 * acc, "acc_plus": 100 * acc_plus, "score": 100 * acc + 100 * acc_plus}


def mme_totals(category_scores: dict[str, float]) -> dict[str, float]:
    """Perception and cognition sums over the categories present (max 2000 and 800)."""
    return {"perception": sum(v for k, v in category_scores.items() if k in MME_PERCEPTION),
            "cognition": sum(v for k, v in category_scores.items() if k in MME_COGNITION)}


# ----------------------------------------------------------------------------- MMBench


def mmbench_letter(text: str, options: dict[str, str]) -> str | None:
    """The option letter a free-text answer names, without any API: a leading letter (``B``, ``B.``,
    ``(B)``, ``B: ...``), else exactly one option text contained in the answer, else None."""
    text = text.strip()
    m = re.match(r"^\(?([A-Z])(?:[).:,\s]|$)", text)
    if m and m.group(1) in options:
        return m.group(1)
    m = re.search(r"answer is:?\s*\(?([A-Z])\b", text)
    if m and m.group(1) in options:
        return m.group(1)
    lowered = text.lower()
    hits = [k for k, v in options.items() if v and v.strip().lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def rotate_options(options: Sequence[str], answer_index: int, shift: int) -> tuple[list[str], int]:
    """Options moved ``shift`` places to the front (LLaVA's ``--all-rounds``) and the new answer index."""
    n = len(options)
    rotated = list(options[shift:]) + list(options[:shift])
    return rotated, (answer_index - shift) % n


def circular_accuracy(correct_by_round: dict[str, list[bool]]) -> float:
    """CircularEval: a question counts only if the answers of all its rotations are right."""
    if not correct_by_round:
        raise ValueError("circular_accuracy: no questions")
    return sum(all(v) for v in correct_by_round.values()) / len(correct_by_round)
