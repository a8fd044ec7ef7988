"""Stage 05 scorers equal the official scoring code item for item.

``tests/data/eval_parity/<benchmark>.json`` hold hard answer cases and the values the official scripts
gave on them (each file names the official file, repository and commit; they were run unmodified, with
I/O glue only, outside this repository). Every case and every headline number must be reproduced.
"""

import json
import logging
from pathlib import Path

import pytest

from synthvlm_repro.evaluation import scoring
from synthvlm_repro.evaluation.answer_processing import normalize_vqa_answer, textvqa_accuracy, vqav2_accuracy
from synthvlm_repro.evaluation.benchmarks import get_benchmark, textvqa_question
from synthvlm_repro.evaluation.config import EvaluationConfig

DATA = Path(__file__).parent / "data" / "eval_parity"
CFG = EvaluationConfig()


def _load(name):
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def _cases(name):
    return [pytest.param(c, id=f"{name}-{i}") for i, c in enumerate(_load(name)["cases"])]


def _jsonl(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _scores(bench, root, split, answers, cfg=CFG):
    return {s.metric: s.value for s in get_benchmark(bench).score(root, split, answers, cfg)}


def test_every_benchmark_has_40_cases_and_names_its_source():
    for name in ("answer_processor", "gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz"):
        data = _load(name)
        assert len(data["cases"]) >= 40, name
        assert "commit" in json.dumps(data["official"]), name


# ----------------------------------------------------------------------------- EvalAI answer processor


@pytest.mark.parametrize("case", _cases("answer_processor"))
def test_answer_processor_is_evalai_byte_for_byte(case):
    assert normalize_vqa_answer(case["raw"]) == case["processed"]


# ----------------------------------------------------------------------------- GQA


@pytest.mark.parametrize("case", _cases("gqa"))
def test_gqa_item(case):
    assert scoring.gqa_normalize(case["text"]) == case["prediction"]
    assert (scoring.gqa_normalize(case["text"]) == case["answer"]) is case["correct"]


def test_gqa_headline_on_real_layout(tmp_path):
    data = _load("gqa")
    truth = {c["question_id"]: {"answer": c["answer"], "isBalanced": True} for c in data["cases"]}
    (tmp_path / "gqa" / "data").mkdir(parents=True)
    (tmp_path / "gqa" / "data" / "testdev_balanced_questions.json").write_text(json.dumps(truth))
    answers = {c["question_id"]: c["text"] for c in data["cases"]}
    got = _scores("gqa", tmp_path, "testdev_balanced", answers)["accuracy"]
    assert got == pytest.approx(data["expected"]["accuracy"], abs=1e-9)


# ----------------------------------------------------------------------------- ScienceQA-IMG


@pytest.mark.parametrize("case", _cases("scienceqa_img"))
def test_scienceqa_item(case):
    assert scoring.scienceqa_parse(case["text"]) == case["parsed"]
    assert scoring.scienceqa_letter(case["text"], case["n_choices"]) == case["pred_index"]


def test_scienceqa_img_headline_on_real_layout(tmp_path):
    data = _load("scienceqa_img")
    d = tmp_path / "scienceqa"
    d.mkdir()
    problems = {c["pid"]: {"choices": [f"c{k}" for k in range(c["n_choices"])], "answer": c["answer"]}
                for c in data["cases"]}
    (d / "problems.json").write_text(json.dumps(problems))
    (d / "pid_splits.json").write_text(json.dumps({"test": list(problems) + ["4999"]}))
    answers = {c["pid"]: c["text"] for c in data["cases"]}
    got = _scores("scienceqa_img", tmp_path, "test", answers)["accuracy"]
    assert got == pytest.approx(data["expected"]["img_accuracy"], abs=1e-9)


# ----------------------------------------------------------------------------- TextVQA


def _textvqa_truth():
    data = _load("textvqa")
    return {(a["image_id"], a["question"].lower()): a["answers"] for a in data["annotations"]}


@pytest.mark.parametrize("case", _cases("textvqa"))
def test_textvqa_item(case):
    question = textvqa_question(case["prompt"])
    assert question == case["question"].lower()
    assert textvqa_accuracy(case["text"], _textvqa_truth()[(case["image_id"], question)]) == \
        pytest.approx(case["score"], abs=1e-12)


def test_textvqa_headline_joins_on_image_id_and_question(tmp_path):
    data = _load("textvqa")
    d = tmp_path / "textvqa"
    _jsonl(d / "llava_textvqa_val_v051_ocr.jsonl",
           [{"question_id": c["image_id"], "image": f"{c['image_id']}.jpg", "text": c["prompt"]}
            for c in data["cases"]])
    (d / "TextVQA_0.5.1_val.json").write_text(json.dumps({"data": data["annotations"]}))
    qs = get_benchmark("textvqa").questions(tmp_path, CFG)["val"]
    assert len({q.qid for q in qs}) == len(data["cases"]) > len({c["image_id"] for c in data["cases"]})
    answers = {q.qid: c["text"] for q, c in zip(qs, data["cases"])}
    got = _scores("textvqa", tmp_path, "val", answers)["vqa_accuracy"]
    assert got == pytest.approx(data["expected"]["accuracy"], abs=1e-9)


# ----------------------------------------------------------------------------- POPE


@pytest.mark.parametrize("case", _cases("pope"))
def test_pope_item(case):
    assert scoring.pope_parse(case["text"]) == case["parsed"]


@pytest.mark.parametrize("split", ["adversarial", "popular", "random", "allno"])
def test_pope_split_metrics(split, caplog):
    data = _load("pope")
    cases = [c for c in data["cases"] if c["split"] == split]
    expected = data["expected"][split]
    with caplog.at_level(logging.WARNING):
        m = scoring.pope_metrics([scoring.pope_parse(c["text"]) for c in cases], [c["label"] for c in cases])
    if expected["official_error"]:  # no "yes" answer: eval_pope.py divides by zero; the kit reports 0 and warns
        assert m["precision"] == 0.0 and m["f1"] == 0.0
        assert "undefined" in caplog.text
        tp, fp, tn, fn = expected["tp_fp_tn_fn"]
        assert m["accuracy"] == pytest.approx((tp + tn) / (tp + fp + tn + fn))
    else:
        assert m == pytest.approx(expected["metrics"], abs=1e-12)


# ----------------------------------------------------------------------------- MME


@pytest.mark.parametrize("case", _cases("mme"))
def test_mme_item(case):
    assert scoring.mme_parse(case["text"]) == case["parsed"]


def test_mme_category_scores_and_totals():
    data = _load("mme")
    by_cat = {}
    for c in data["cases"]:
        by_cat.setdefault(c["category"], []).append((c["image"], c["text"], c["answer"]))
    scores = {cat: scoring.mme_category_score(rows)["score"] for cat, rows in by_cat.items()}
    assert scores == pytest.approx(data["expected"]["category_score"], abs=1e-9)
    totals = scoring.mme_totals(scores)
    assert totals["perception"] == pytest.approx(data["expected"]["perception"], abs=1e-9)
    assert totals["cognition"] == pytest.approx(data["expected"]["cognition"], abs=1e-9)


# ----------------------------------------------------------------------------- MMBench


@pytest.fixture(scope="module")
def mmbench_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmbench_parity")
    (root / "mmbench").mkdir()
    (root / "mmbench" / "mmbench_dev_20230712.tsv").write_text(_load("mmbench")["tsv"], encoding="utf-8")
    return root


@pytest.mark.parametrize("case", _cases("mmbench"))
def test_mmbench_item(case, mmbench_root):
    import pandas as pd

    df = pd.read_table(mmbench_root / "mmbench" / "mmbench_dev_20230712.tsv")
    row = df[df["index"] == case["index"]].iloc[0]
    choices = {c: row[c] for c in "ABCD" if not pd.isna(row[c])}
    assert scoring.mmbench_letter(case["text"], choices) == case["letter"]


def test_mmbench_circular_and_single_on_real_layout(mmbench_root):
    data = _load("mmbench")
    answers = {str(c["index"]): c["text"] for c in data["cases"]}
    got = _scores("mmbench", mmbench_root, "dev", answers)
    assert got["accuracy_circular"] == pytest.approx(data["expected"]["accuracy_circular"], abs=1e-9)
    assert got["accuracy_single"] == pytest.approx(data["expected"]["accuracy_single"], abs=1e-9)
    circular = scoring.mmbench_circular({c["index"]: c["correct"] for c in data["cases"]})
    assert {str(k): v for k, v in circular.items()} == data["expected"]["circular_by_question"]
    qs = get_benchmark("mmbench").questions(mmbench_root, CFG)["dev"]
    assert [q.qid for q in qs] == [str(c["index"]) for c in data["cases"]]  # every TSV row asked once


def test_mmbench_upload_equals_llavas_converter(mmbench_root, tmp_path):
    import pandas as pd

    data = _load("mmbench")
    answers = {str(c["index"]): c["text"] for c in data["cases"]}
    bench = get_benchmark("mmbench")
    path = bench.write_submission(mmbench_root, "dev", [], answers, tmp_path)
    assert path.suffix == ".xlsx"
    got = json.loads(pd.read_excel(path, engine="openpyxl").to_json(orient="split"))
    assert got == data["expected"]["submission_xlsx"]


def test_mmbench_upload_without_openpyxl_is_the_same_table_as_tsv(mmbench_root, tmp_path, monkeypatch):
    import sys

    import pandas as pd

    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import fails as if it were not installed
    data = _load("mmbench")
    answers = {str(c["index"]): c["text"] for c in data["cases"]}
    path = get_benchmark("mmbench").write_submission(mmbench_root, "dev", [], answers, tmp_path)
    assert path.suffix == ".tsv"
    got = pd.read_table(path, keep_default_na=False)
    expected = data["expected"]["submission_xlsx"]
    assert list(got.columns) == expected["columns"]
    assert list(got["prediction"]) == [row[6] if row[6] is not None else "" for row in expected["data"]]


# ----------------------------------------------------------------------------- VQAv2


@pytest.mark.parametrize("case", _cases("vqav2"))
def test_vqav2_val_item(case):
    uploaded = normalize_vqa_answer(case["text"])
    assert uploaded == case["uploaded_answer"]
    assert 100 * vqav2_accuracy(uploaded, case["answers"]) == pytest.approx(case["accuracy"], abs=1e-9)


def test_vqav2_val_headline_on_real_layout(tmp_path):
    data = _load("vqav2")
    anns = [{"question_id": c["question_id"], "answers": [{"answer": a, "answer_id": j + 1}
                                                          for j, a in enumerate(c["answers"])]}
            for c in data["cases"]]
    (tmp_path / "vqav2").mkdir()
    (tmp_path / "vqav2" / "v2_mscoco_val2014_annotations.json").write_text(json.dumps({"annotations": anns}))
    answers = {str(c["question_id"]): c["text"] for c in data["cases"]}
    got = _scores("vqav2", tmp_path, "val", answers)["vqa_accuracy"]
    assert got == pytest.approx(data["expected"]["accuracy"], abs=1e-9)
    assert round(got, 2) == data["expected"]["accuracy_rounded"]


def test_vqav2_test_dev_upload_is_llavas_converter_byte_for_byte(tmp_path):
    test = _load("vqav2")["test_dev"]
    d = tmp_path / "vqav2"
    _jsonl(d / "llava_vqav2_mscoco_test2015.jsonl", test["test2015"])
    _jsonl(d / "llava_vqav2_mscoco_test-dev2015.jsonl",
           [r for r in test["test2015"] if str(r["question_id"]) in test["answers"]])
    bench = get_benchmark("vqav2")
    qs = bench.questions(tmp_path, CFG)["test-dev"]
    path = bench.write_submission(tmp_path, "test-dev", qs, test["answers"], tmp_path / "out")
    assert path.read_text() == test["upload_text"]
    assert json.loads(path.read_text()) == test["upload"]


# ----------------------------------------------------------------------------- VizWiz


def test_vizwiz_upload_is_llavas_converter_byte_for_byte(tmp_path):
    data = _load("vizwiz")
    _jsonl(tmp_path / "vizwiz" / "llava_test.jsonl",
           [{"question_id": c["question_id"], "image": c["image"], "text": "What is this?"} for c in data["cases"]])
    bench = get_benchmark("vizwiz")
    answers = {str(c["question_id"]): c["text"] for c in data["cases"]}
    path = bench.write_submission(tmp_path, "test", bench.questions(tmp_path, CFG)["test"], answers, tmp_path / "out")
    assert path.read_text() == data["expected"]["upload_text"]
