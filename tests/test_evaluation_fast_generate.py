"""Faster answering (static KV cache, equal-length batches) gives eager batch-size-1's answers on the tiny
llava-hf model in fp32, answer for answer, through ``answer_questions``."""

import pytest

from synthvlm_repro.evaluation import inference
from synthvlm_repro.evaluation.benchmarks import get_benchmark
from synthvlm_repro.evaluation.config import EvaluationConfig
from synthvlm_repro.evaluation.fast_generate import equal_length_batches, generate_options, prompt_length
from synthvlm_repro.evaluation.fixtures import WRITERS, write_fixtures

CFG = EvaluationConfig()


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    root = write_fixtures(tmp_path_factory.mktemp("eval") / "fixtures", mmlu=False)
    picked = [q for name in WRITERS for qs in get_benchmark(name).questions(root, CFG).values() for q in qs[:4]]
    # one answer file holds them all here, keyed by question id: ids repeat across benchmarks (e.g. MMBench
    # indices and POPE question ids), so keep each id's first question
    return list({q.qid: q for q in reversed(picked)}.values())[::-1]


@pytest.fixture(scope="module")
def llava(tiny):
    return inference.load_llava(str(tiny("llava")), "cpu", "fp32")


@pytest.fixture(scope="module")
def eager_answers(llava, questions, tmp_path_factory):
    out = tmp_path_factory.mktemp("eager") / "a.jsonl"
    return {k: v["text"] for k, v in inference.answer_questions(*llava, questions, out, 12).items()}


def test_equal_length_batches_cover_every_question_once_without_padding(llava, questions):
    tok = llava[1].tokenizer
    batches = equal_length_batches(questions, tok, 4)
    assert sorted(q.qid for b in batches for q in b) == sorted(q.qid for q in questions)
    assert all(len(b) <= 4 and len({prompt_length(tok, q) for q in b}) == 1 for b in batches)
    assert any(len(b) > 1 for b in batches)  # the fixtures do have equal-length prompts to batch
    assert len({prompt_length(tok, q) for q in questions}) > 3


@pytest.mark.parametrize("grouped,batch_size,kv_cache", [(False, 1, "static"), (True, 4, "dynamic"),
                                                         (True, 4, "static")],
                         ids=["static-bs1", "grouped-bs4", "grouped-static-bs4"])
def test_fast_paths_give_eager_batch_size_one_answers(llava, questions, eager_answers, tmp_path, grouped,
                                                      batch_size, kv_cache):
    options = generate_options(kv_cache, compile_decoding=False)
    rows = inference.answer_questions(*llava, questions, tmp_path / "a.jsonl", 12, batch_size,
                                      group_equal_length=grouped, generate_options=options)
    fast = {k: v["text"] for k, v in rows.items()}
    assert fast.keys() == eager_answers.keys()
    differing = [k for k in fast if fast[k] != eager_answers[k]]
    assert differing == [], f"{len(differing)} of {len(fast)} answers differ"
    assert len(set(eager_answers.values())) > 1  # the answers are not all the same string


def test_generate_options():
    assert generate_options("dynamic") == {}
    assert generate_options("static") == {"cache_implementation": "static", "max_cache_len": 2048,
                                          "disable_compile": False}
    assert generate_options("static", compile_decoding=False)["disable_compile"] is True
