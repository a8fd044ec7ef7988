"""VQA answer normalisation and accuracies exactly as the official scorers compute them.

Written for this kit (no maintained pip package exposes these rules), checked item for item against
the official code by ``tests/test_evaluation_parity.py``:

- :func:`normalize_vqa_answer` is ``EvalAIAnswerProcessor`` of LLaVA's ``llava/eval/m4c_evaluator.py``
  (used by TextVQA scoring and by LLaVA's VQAv2/VizWiz upload converters), quirks included;
- :func:`textvqa_accuracy` is ``TextVQAAccuracyEvaluator`` of the same file;
- :func:`vqav2_accuracy` is ``VQAEval.evaluate`` of GT-Vision-Lab's ``vqaEval.py``, which normalises
  only when the human answers disagree.
"""

from __future__ import annotations

import re
from typing import Sequence

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")
# The official code calls ``PERIOD_STRIP.sub("", text, re.UNICODE)``: the flag lands in the *count*
# argument, so only the first int(re.UNICODE) == 32 such periods are removed.
_PERIOD_SUB_COUNT = 32

# The official table, quirks kept: capitalised I-forms never match (words are lower-cased first),
# "somebody'd" maps to "somebodyd", "let's"/"she's" map to themselves, no "shell"/"lets" entries.
_CONTRACTION_PAIRS = """
aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've
couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've
hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's
howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd
itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't
mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've
neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at
'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've
shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd
somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll somebodys=somebody's
someoned=someone'd someoned've=someone'd've someone'dve=someone'd've someonell=someone'll
someones=someone's somethingd=something'd somethingd've=something'd've something'dve=something'd've
somethingll=something'll thats=that's thered=there'd thered've=there'd've there'dve=there'd've
therere=there're theres=there's theyd=they'd theyd've=they'd've they'dve=they'd've theyll=they'll
theyre=they're theyve=they've twas='twas wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've
werent=weren't whatll=what'll whatre=what're whats=what's whatve=what've whens=when's whered=where'd
wheres=where's whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's
whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't
wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll
yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've
you'dve=you'd've youll=you'll youre=you're youve=you've
"""
CONTRACTIONS = dict(pair.split("=", 1) for pair in _CONTRACTION_PAIRS.split())


def process_punctuation(text: str) -> str:
    """Punctuation touching a space (or any, when the text has digit,digit) is removed, else spaced;
    then periods not followed by a digit are dropped (the first 32 of them)."""
    drop_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for p in PUNCTUATION:
        if drop_all or p + " " in text or " " + p in text:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=_PERIOD_SUB_COUNT)


def process_digits_articles(text: str) -> str:
    """Lower-cased words; number words to digits, articles dropped, contraction table applied."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_vqa_answer(answer: str) -> str:
    """EvalAI's answer processor (LLaVA's ``m4c_evaluator.EvalAIAnswerProcessor``), byte for byte."""
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digits_articles(process_punctuation(text))


def _leave_one_out(prediction: str, answers: Sequence[str]) -> float:
    """Mean over the humans of ``min(1, matches among the other humans / 3)``."""
    total = 0.0
    for i in range(len(answers)):
        matches = sum(1 for j, a in enumerate(answers) if j != i and a == prediction)
        total += min(1.0, matches / 3)
    return total / len(answers)


def textvqa_accuracy(prediction: str, gt_answers: Sequence[str]) -> float:
    """``TextVQAAccuracyEvaluator``: both sides EvalAI-normalised, leave-one-out over exactly 10 answers."""
    if len(gt_answers) != 10:
        raise ValueError(f"TextVQA accuracy needs 10 human answers, got {len(gt_answers)}")
    answers = [normalize_vqa_answer(a) for a in gt_answers]
    pred = normalize_vqa_answer(prediction)
    return _leave_one_out(pred, answers) if pred in answers else 0.0


def vqav2_accuracy(result_answer: str, gt_answers: Sequence[str]) -> float:
    """``vqaEval.py``: strip newlines/tabs; only if the human answers differ, normalise both sides
    (punctuation, digits, articles, contractions; no lower-casing beyond that step); leave-one-out.

    ``result_answer`` is the answer as uploaded (LLaVA's converter has EvalAI-normalised it already).
    """
    if not gt_answers:
        raise ValueError("VQAv2 accuracy: no human answers")

    def clean(s: str) -> str:
        return s.replace("\n", " ").replace("\t", " ").strip()

    answers = [clean(a) for a in gt_answers]
    res = clean(result_answer)
    if len(set(answers)) > 1:
        answers = [process_digits_articles(process_punctuation(a)) for a in answers]
        res = process_digits_articles(process_punctuation(res))
    return _leave_one_out(res, answers)
