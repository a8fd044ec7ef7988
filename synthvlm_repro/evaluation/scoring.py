"""Answer parsing and metrics of each benchmark, as the official scoring scripts compute them.

Pure functions on strings and lists, written for this kit from the rules of LLaVA's scripts
(``convert_gqa_for_eval.py`` + GQA ``eval.py``, ``eval_science_qa.py``, ``eval_pope.py``), MME's
``calculation.py`` and VLMEvalKit's rule-based ``can_infer`` (MMBench, no API); the parity suite
(``tests/test_evaluation_parity.py``) checks every rule against the official code's output.
"""

from __future__ import annotations

import logging
import re
import string
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

log = logging.getLogger(__name__)
LETTERS = string.ascii_uppercase

# MME's two halves (its calculation.py): 10 perception and 4 cognition categories.
MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


# ----------------------------------------------------------------------------- GQA


def gqa_normalize(text: str) -> str:
    """LLaVA's ``convert_gqa_for_eval.py``: trailing periods stripped, lower-cased, nothing else
    (GQA's ``eval.py`` then compares it with the gold answer exactly)."""
    return text.rstrip(".").lower()


# ----------------------------------------------------------------------------- ScienceQA

SQA_OPTIONS = ("A", "B", "C", "D", "E")  # eval_science_qa.py's --options default (a list: whole-item tests)
# The official pattern, unescaped dot included: "The answer is B," and "The answer is B because" read B.
_SQA_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def scienceqa_parse(text: str) -> str:
    """The letter ``eval_science_qa.py`` reads from an answer, or ``"FAILED"``: the text itself if it is
    one of A-E, else ``"X. ..."``, else the one match of ``The answer is ([A-Z]).`` (two or more: FAILED)."""
    if text in SQA_OPTIONS:
        return text
    if len(text) >= 3 and text[0] in SQA_OPTIONS and text[1:3] == ". ":
        return text[0]
    found = _SQA_ANSWER_IS.findall(text)
    return found[0] if len(found) == 1 else "FAILED"


def scienceqa_letter(text: str, n_choices: int) -> int:
    """Index of the chosen option as ``eval_science_qa.py`` scores it, or -1 (counted wrong)."""
    letter = scienceqa_parse(text)
    options = SQA_OPTIONS[:n_choices]
    return options.index(letter) if letter in options else -1


# ----------------------------------------------------------------------------- POPE


def pope_parse(text: str) -> str:
    """LLaVA's lenient yes/no: first sentence, commas dropped; ``No``/``no``/``not`` as a word means no."""
    first = text.split(".")[0] if "." in text else text
    words = first.replace(",", "").split(" ")
    return "no" if any(w in ("No", "no", "not") for w in words) else "yes"


def pope_metrics(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio with "yes" as the positive class (``eval_pope.py``:
    any label other than "no" is positive). Where the official script divides by zero (no "yes"
    answer, no positive label, precision + recall = 0) the metric is 0 and a warning is logged."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"pope_metrics: {len(predictions)} predictions for {len(labels)} labels")
    pairs = [(p != "no", g != "no") for p, g in zip(predictions, labels)]
    tp = sum(p and g for p, g in pairs)
    fp = sum(p and not g for p, g in pairs)
    tn = sum(not p and not g for p, g in pairs)
    fn = sum(not p and g for p, g in pairs)
    for what, denominator in (("precision (no 'yes' answer)", tp + fp), ("recall (no 'yes' label)", tp + fn)):
        if not denominator:
            log.warning("POPE: %s is undefined; reported as 0 (eval_pope.py would stop with ZeroDivisionError)", what)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / len(pairs), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": (tp + fp) / len(pairs)}


# ----------------------------------------------------------------------------- MME


def mme_parse(text: str) -> str:
    """MME's ``calculation.py`` on one response: lower-cased (not stripped); exactly yes/no, else
    "yes" or "no" inside its first four characters ("yes" checked first), else "other"."""
    text = text.lower()
    if text in ("yes", "no"):
        return text
    head = text[:4]
    return "yes" if "yes" in head else "no" if "no" in head else "other"


def mme_category_score(records: Iterable[tuple[str, str, str]]) -> dict[str, float]:
    """``(image, prediction, answer)`` rows of one category -> acc, acc+ (both questions of an image
    right), and score = 100·acc + 100·acc+. Every image must have exactly two questions."""
    by_image: dict[str, list[bool]] = defaultdict(list)
    for image, prediction, answer in records:
        by_image[image].append(mme_parse(prediction) == answer.lower())
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

# VLMEvalKit's can_infer (vlmeval/utils/matching_util.py), the rule-based matcher it uses before (or,
# under its exact-matching policy, instead of) an LLM judge.
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
_SPACED_CHARS = ".()[],:;!*#{}"
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _letter_from_tokens(text: str, choices: Mapping[str, str]) -> str | None:
    """can_infer_option: a choice letter standing alone among the last few tokens, "Z" for refusals."""
    if "Failed to obtain answer via API" in text:
        return None
    if any(r in text for r in _REFUSALS):
        return "Z"
    spaced = text
    for c in _SPACED_CHARS:
        spaced = spaced.replace(c, " ")
    tokens = spaced.split()
    present = [c for c in choices if c in tokens]
    if len(present) == 1:
        for c in choices:
            if c in tokens and tokens.index(c) > len(tokens) - 5:
                return c
    elif not present and "Z" in tokens:
        return "Z"
    m = _ANSWER_IS.search(text)
    if m and m.group(1).upper() in choices:
        return m.group(1).upper()
    return None


def _letter_from_option_text(text: str, choices: Mapping[str, str]) -> str | None:
    """can_infer_text: the one option whose text the (short enough) answer contains."""
    text = text.lower()
    if len(text) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    hits = [k for k, v in choices.items() if str(v).lower() in text]
    return hits[0] if len(hits) == 1 else None


def mmbench_letter(text: str, choices: Mapping[str, str]) -> str | None:
    """The letter VLMEvalKit's ``can_infer`` reads from an answer (``"Z"``: refusal), or None."""
    text = str(text)
    return _letter_from_tokens(text, choices) or _letter_from_option_text(text, choices)


def mmbench_circular(correct_by_index: Mapping[int, bool]) -> dict[int, bool]:
    """MMBench CircularEval over TSV rows (index + k·10⁶ are circular copies of question ``index``):
    a question is right only if every copy is; only questions whose main row (k = 0) is present count
    (VLMEvalKit's ``mcq_circular_eval``)."""
    groups: dict[int, list[bool]] = defaultdict(list)
    for index, ok in correct_by_index.items():
        groups[int(index) % 1_000_000].append(ok)
    return {g: all(v) for g, v in groups.items() if g in correct_by_index}
