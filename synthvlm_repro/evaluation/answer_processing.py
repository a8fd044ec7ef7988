"""The VQA answer normalisation (EvalAI's answer processor) and the official VQA accuracy.

Written for this kit from the published rules of the VQA evaluation (Antol et al.; the VQA API's
``vqaEval.py``, used by EvalAI and by LLaVA's ``m4c_evaluator.py``), because no maintained pip
package exposes them: lower-case, drop ``,``/``?``, split ``'s``, strip punctuation (removed when
touching a space or inside a number like 1,000, else replaced by a space), drop periods not
followed by a digit, map number words to digits, drop articles, restore contraction apostrophes.
"""

from __future__ import annotations

import re
from itertools import combinations

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
_COMMA_IN_NUMBER = re.compile(r"(\d)(,)(\d)")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")

# Contractions as the VQA table lists them; an answer written without the apostrophe (or with it
# misplaced in a double contraction) is mapped back to these spellings.
_CONTRACTIONS = (
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't "
    "he'd he'd've he'll he's how'd how'll how's isn't it'd it'd've it'll it's let's "
    "ma'am mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't 'ow's'at shan't "
    "she'd've she'd she'll she's should've shouldn't shouldn't've somebody'd somebody'd've somebody'll "
    "somebody's someone'd someone'd've someone'll someone's something'd something'd've something'll "
    "that's there'd there'd've there're there's they'd they'd've they'll they're they've 'twas wasn't we'd "
    "we'd've we'll we're we've weren't what'll what're what's what've when's where'd where's where've who'd "
    "who'd've who'll who's who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll "
    "y'all'd've you'd you'd've you'll you're you've"
).split()


def _contraction_table() -> dict[str, str]:
    table = {}
    for word in _CONTRACTIONS:
        table[word.replace("'", "")] = word
        parts = word.split("'")
        if len(parts) == 3:  # couldn't've: also couldnt've and couldn'tve
            table[parts[0] + parts[1] + "'" + parts[2]] = word
            table[parts[0] + "'" + parts[1] + parts[2]] = word
    for word in ("its", "ill", "well", "were", "hell", "shed", "wed", "id", "im", "ive", "idve", "i'dve", "id've"):
        table.pop(word, None)  # English words of their own; the VQA table's I-forms are capitalised and never match
    return table


CONTRACTIONS = _contraction_table()


def _strip_punctuation(text: str) -> str:
    has_number_comma = _COMMA_IN_NUMBER.search(text) is not None
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or has_number_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out)


def _digits_articles_contractions(text: str) -> str:
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word not in ARTICLES:
            words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def normalize_vqa_answer(answer: str) -> str:
    """EvalAI's answer processor: the normal form both predictions and ground truths are compared in."""
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _digits_articles_contractions(_strip_punctuation(text))


def vqa_accuracy(prediction: str, gt_answers: list[str]) -> float:
    """VQA accuracy: ``min(1, matches/3)`` against each 9-of-10 annotator subset, averaged.

    Both sides are normalised first. With 10 answers this equals the official metric; with fewer
    (fixtures, VizWiz-style sets) the same leave-one-out average is taken.
    """
    if not gt_answers:
        raise ValueError("vqa_accuracy: no ground-truth answers")
    pred = normalize_vqa_answer(prediction)
    gts = [normalize_vqa_answer(a) for a in gt_answers]
    if len(gts) == 1:
        return float(pred == gts[0])
    subsets = list(combinations(range(len(gts)), len(gts) - 1))
    scores = [min(1.0, sum(gts[i] == pred for i in subset) / 3.0) for subset in subsets]
    return sum(scores) / len(scores)
