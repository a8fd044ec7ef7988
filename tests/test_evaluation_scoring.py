"""Stage 05 scorers on hand-computed cases (no models): VQA normalisation and accuracy, GQA, ScienceQA,
POPE, MME, MMBench, MMLU aggregation, the v1 prompt. (Parity with the official code: test_evaluation_parity.)"""

import pytest

from synthvlm_repro.evaluation import scoring
from synthvlm_repro.evaluation.answer_processing import normalize_vqa_answer, textvqa_accuracy, vqav2_accuracy
from synthvlm_repro.evaluation.mmlu import aggregate_by_category
from synthvlm_repro.evaluation.mmlu_subjects import CATEGORY_OF, MMLU_CATEGORIES, MMLU_SUBJECTS
from synthvlm_repro.evaluation.prompting import expand_to_square, question_prompt, vicuna_v1_prompt


@pytest.mark.parametrize("raw, expected", [
    ("Two", "2"),                      # number words
    ("none", "0"),
    ("The red car.", "red car"),       # articles, final period
    ("a dog", "dog"),
    ("3.5", "3.5"),                    # a period before a digit stays
    ("1,000", "1000"),                 # comma inside a number
    ("yes!", "yes"),
    ("black-and-white", "black and white"),  # punctuation not touching a space becomes a space
    ("black - white", "black white"),  # touching a space: removed
    ("dont", "don't"),                 # contractions get their apostrophe
    ("isnt", "isn't"),
    ("couldnt've", "couldn't've"),
    ("its", "its"),                    # not in the table
    ("Shell", "shell"),                # not in the table either (EvalAI's table has no "shell")
    ("lets go", "lets go"),
    ("somebody'd", "somebodyd"),       # the table's own quirk
    ("a." * 40, "a" * 33 + ".a" * 7 + "."),  # re.UNICODE passed as the count: only 32 periods go
    ("man's hat", "man 's hat"),
    ("  Hello\tWorld\n", "hello world"),
    ("What?", "what"),
])
def test_vqa_normalisation(raw, expected):
    assert normalize_vqa_answer(raw) == expected


def test_textvqa_accuracy_leave_one_out():
    # 2 of 10 annotators said "cat": each humans' 9 others hold 2 (8 times) or 1 (2 times) matches
    gts = ["cat", "cat"] + ["dog"] * 8
    assert textvqa_accuracy("cat", gts) == pytest.approx((8 * 2 / 3 + 2 * 1 / 3) / 10)
    assert textvqa_accuracy("Cat.", ["cat"] * 3 + ["dog"] * 7) == pytest.approx((3 * 2 / 3 + 7) / 10)
    assert textvqa_accuracy("two", ["2"] * 10) == 1.0
    assert textvqa_accuracy("bird", gts) == 0.0
    assert textvqa_accuracy("dog", gts) == 1.0  # 4+ matches everywhere
    with pytest.raises(ValueError, match="10 human answers"):
        textvqa_accuracy("x", ["x"] * 3)


def test_vqav2_accuracy_normalises_only_when_humans_disagree():
    assert vqav2_accuracy("2", ["two"] * 10) == 0.0       # all agree: compared as written
    assert vqav2_accuracy("2", ["two"] * 9 + ["2"]) == 1.0  # disagree: "two" -> "2" everywhere
    assert vqav2_accuracy("2", ["two"] * 9 + ["three"]) == 1.0
    assert vqav2_accuracy("yes", ["Yes"] * 10) == 0.0     # no lower-casing when they agree
    assert vqav2_accuracy("yes", ["yes\n"] * 10) == 1.0  # newlines/tabs stripped always


def test_gqa_normalisation_is_llavas():
    assert scoring.gqa_normalize("Red.") == "red"
    assert scoring.gqa_normalize("left side") == "left side"
    assert scoring.gqa_normalize("The car") == "the car"  # no article stripping in LLaVA's GQA conversion
    assert scoring.gqa_normalize(" red..") == " red"       # no whitespace stripping either


@pytest.mark.parametrize("text, n, expected", [
    ("B", 3, 1), ("C. opaque", 3, 2), ("The answer is A.", 2, 0), ("D", 3, -1), ("b", 3, -1),
    ("I think it is B", 3, -1), ("The answer is A. The answer is B.", 3, -1),
    ("The answer is B,", 3, 1), ("The answer is B because", 3, 1), ("The answer is D!", 4, 3),  # unescaped dot
    ("The answer is B", 3, -1), (" B", 3, -1), ("B.", 3, -1),
])
def test_scienceqa_letter(text, n, expected):
    assert scoring.scienceqa_letter(text, n) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", "yes"), ("No", "no"), ("no.", "no"), ("Yes, there is a dog.", "yes"),
    ("There is not a dog in the image.", "no"), ("Yes. No dog though.", "yes"),  # first sentence only
    ("Nope", "yes"), ("no, there is none", "no"), ("", "yes"),
])
def test_pope_lenient_parse(text, expected):
    assert scoring.pope_parse(text) == expected


def test_pope_metrics_by_hand():
    preds = ["yes", "yes", "no", "no", "yes"]
    labels = ["yes", "no", "no", "yes", "yes"]
    m = scoring.pope_metrics(preds, labels)  # tp=2 fp=1 tn=1 fn=1
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["yes_ratio"] == pytest.approx(3 / 5)
    assert scoring.pope_metrics(["no"], ["no"])["f1"] == 0.0
    with pytest.raises(ValueError):
        scoring.pope_metrics(["yes"], [])


def test_mme_acc_plus_pairs_questions_by_image():
    rows = [("a.png", "Yes", "Yes"), ("a.png", "no", "No"),      # both right -> acc+
            ("b.png", "Yes", "Yes"), ("b.png", "yes", "No"),     # one right
            ("c.png", "Yes, it is", "No"), ("c.png", "maybe", "Yes")]  # parse: yes (wrong), other (wrong)
    s = scoring.mme_category_score(rows)
    assert s["acc"] == pytest.approx(100 * 3 / 6)
    assert s["acc_plus"] == pytest.approx(100 / 3)
    assert s["score"] == pytest.approx(50 + 100 / 3)
    assert scoring.mme_parse("Nope") == "no" and scoring.mme_parse("Sure") == "other"
    assert scoring.mme_parse("   yes") == "other"  # not stripped: "yes" is not in the first four characters
    with pytest.raises(ValueError, match="expected 2"):
        scoring.mme_category_score([("a.png", "yes", "yes")])
    totals = scoring.mme_totals({"existence": 200.0, "count": 150.0, "code_reasoning": 50.0})
    assert totals == {"perception": 350.0, "cognition": 50.0}
    assert len(scoring.MME_PERCEPTION) == 10 and len(scoring.MME_COGNITION) == 4


def test_mmbench_letters_and_circular_grouping():
    opts = {"A": "red", "B": "blue", "C": "green"}
    assert scoring.mmbench_letter("B", opts) == "B"
    assert scoring.mmbench_letter("(C) green", opts) == "C"
    assert scoring.mmbench_letter("A. red", opts) == "A"
    assert scoring.mmbench_letter("The answer is B", opts) == "B"
    assert scoring.mmbench_letter("It is blue.", opts) == "B"          # option text, unique
    assert scoring.mmbench_letter("red or blue", opts) is None         # ambiguous
    assert scoring.mmbench_letter("D", opts) is None                   # not an option
    assert scoring.mmbench_letter("Cannot determine the answer", opts) == "Z"  # a refusal
    # copies 10**6 + i of question i: right only if all are; a copy without its main row is not a question
    correct = {0: True, 1_000_000: True, 1: True, 1_000_001: False, 2_000_005: True}
    assert scoring.mmbench_circular(correct) == {0: True, 1: False}


def test_mmlu_categories_match_lm_eval():
    assert len(MMLU_SUBJECTS) == 57
    import pathlib

    import lm_eval
    import yaml

    folder = pathlib.Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"
    for subject in MMLU_SUBJECTS:
        cfg = yaml.safe_load((folder / f"mmlu_{subject}.yaml").read_text())
        assert cfg["tag"] == f"mmlu_{CATEGORY_OF[subject]}_tasks", subject


def test_mmlu_aggregation_weights_by_size():
    per = {"anatomy": (0.5, 10), "astronomy": (1.0, 30), "philosophy": (0.0, 20), "virology": (0.25, 4)}
    agg = aggregate_by_category(per)
    assert agg["stem"] == (pytest.approx((5 + 30) / 40), 40)
    assert agg["humanities"] == (0.0, 20)
    assert agg["other"] == (0.25, 4)
    assert agg["all"] == (pytest.approx((5 + 30 + 0 + 1) / 64), 64)  # micro, not the mean of categories
    assert "social_sciences" not in agg
    assert set(MMLU_CATEGORIES) == {"stem", "humanities", "social_sciences", "other"}


def test_vicuna_v1_prompt():
    system = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
              "helpful, detailed, and polite answers to the user's questions.")
    assert question_prompt("What is it?\nAnswer the question using a single word or phrase.") == \
        f"{system} USER: <image>\nWhat is it?\nAnswer the question using a single word or phrase. ASSISTANT:"
    assert question_prompt("<image>\nHi") == f"{system} USER: <image>\nHi ASSISTANT:"  # one image token
    assert vicuna_v1_prompt([("USER", "a"), ("ASSISTANT", "b"), ("USER", "c"), ("ASSISTANT", None)]) == \
        f"{system} USER: a ASSISTANT: b</s>USER: c ASSISTANT:"
    with pytest.raises(ValueError):
        vicuna_v1_prompt([("SYSTEM", "x")])


def test_expand_to_square_centres_on_mean_colour():
    from PIL import Image

    im = Image.new("RGB", (40, 20), (255, 0, 0))
    sq = expand_to_square(im, (0.5, 0.25, 0.0))
    assert sq.size == (40, 40)
    assert sq.getpixel((0, 0)) == (128, 64, 0)
    assert sq.getpixel((20, 20)) == (255, 0, 0) and sq.getpixel((20, 9)) == (128, 64, 0)


def test_headline_table_means_pope_f1_and_takes_mmlu_overall():
    import pandas as pd

    from synthvlm_repro.evaluation.report import headline_table, plot_headlines

    rows = [("pope", s, "f1", v, 10) for s, v in (("adversarial", 80.0), ("popular", 85.0), ("random", 90.0))]
    rows += [("pope", "random", "accuracy", 99.0, 10), ("mme", "test", "perception", 1500.0, 100),
             ("mme", "test/count", "score", 150.0, 10), ("mmlu", "test_5shot", "accuracy", 40.0, 57),
             ("mmlu", "test_5shot/stem", "accuracy", 30.0, 19), ("gqa", "testdev_balanced", "accuracy", 62.0, 4)]
    df = pd.DataFrame(rows, columns=["benchmark", "split", "metric", "value", "n"])
    table = headline_table(df)
    got = dict(zip(table.benchmark, table.value))
    assert got == {"GQA": 62.0, "POPE (F1, mean of 3)": 85.0, "MME perception": 1500.0, "MMLU": 40.0}
    assert list(table.benchmark) == ["GQA", "POPE (F1, mean of 3)", "MME perception", "MMLU"]  # LLaVA's order
    assert plot_headlines(table).axes[0].get_xlim() == (0.0, 110.0)
