"""The prefix-cached judge gives generate's verdicts caption for caption (fast path and fallback both
exercised), on the tiny judge and on a ~50M-parameter random Llama; long captions are cut to the context."""

import json

import pytest

from synthvlm_repro.curation.judge import CaptionJudge, PrefixJudge, _LEADING_VERDICT, _may_start_verdict
from synthvlm_repro.curation.random_judges import bias_towards_verdicts, random_llama_judge, \
    tiny_judge_with_verdict_tokens
from synthvlm_repro.sample_data import sample_captions_path


def _captions(n):
    return [r["caption"] for r in json.loads(sample_captions_path().read_text())][:n]


def _compare(model, tokenizer, captions, batch_size):
    reference = CaptionJudge(model=model, tokenizer=tokenizer, max_new_tokens=5)
    bias_towards_verdicts(model, tokenizer, [reference.prompt(c) for c in captions], quantile=0.5)
    expected = [r for lo in range(0, len(captions), batch_size) for r in reference(captions[lo:lo + batch_size])]
    fast = PrefixJudge(model=model, tokenizer=tokenizer, max_new_tokens=5, batch_size=batch_size)
    got = fast(captions)
    assert [r["judge_verdict"] for r in got] == [r["judge_verdict"] for r in expected]
    for g, e in zip(got, expected):  # what the fast path read is the start of generate's answer
        assert e["judge_answer"].startswith(g["judge_answer"])
    return fast.counts, [r["judge_verdict"] for r in expected]


def test_verdict_is_settled_only_by_a_whole_leading_word():
    assert _LEADING_VERDICT.match("Yes.") and _LEADING_VERDICT.match(" no,") and _LEADING_VERDICT.match("Yes ")
    assert not _LEADING_VERDICT.match("Yes") and not _LEADING_VERDICT.match("Yesterday")
    assert not _LEADING_VERDICT.match("Yes\ufffd")  # half a multi-byte character: the next token decides
    assert _may_start_verdict(" Ye") and _may_start_verdict("") and _may_start_verdict("N")
    assert not _may_start_verdict("Answer:") and not _may_start_verdict("Yesterday")


def test_prefix_judge_matches_generate_on_the_tiny_judge():
    model, tokenizer = tiny_judge_with_verdict_tokens()
    counts, verdicts = _compare(model, tokenizer, _captions(16), batch_size=8)
    assert counts["fast"] > 0 and counts["decoded"] > 0
    assert {"yes", "no"} <= set(verdicts)


@pytest.mark.slow  # ~50M parameters: ~30 s on an idle 2-core CPU
def test_prefix_judge_matches_generate_on_a_50m_random_llama():
    model, tokenizer = random_llama_judge(hidden=768, layers=8, heads=12, kv_heads=4, intermediate=2048, seed=0)
    assert 45e6 < sum(p.numel() for p in model.parameters()) < 100e6
    counts, verdicts = _compare(model, tokenizer, _captions(10), batch_size=5)
    assert counts["fast"] > 0 and counts["decoded"] > 0


def test_unbiased_tiny_judge_decodes_from_the_cache_and_near_ties_go_to_generate():
    reference = CaptionJudge("tiny:judge-lm", "cpu", max_new_tokens=3)
    fast = PrefixJudge(model=reference.model, tokenizer=reference.tokenizer, max_new_tokens=3, batch_size=4)
    captions = _captions(4)
    expected = reference(captions)
    # Random answers never start with yes/no: each is decoded to its end from the cache, as generate does.
    # (A near-tie, within tie_margin of the runner-up, may go to generate instead.)
    assert fast(captions) == expected and fast.counts["fast"] == 0 and fast.counts["decoded"] >= 2
    assert fast.counts["decoded"] + fast.counts["generate"] == 4
    always_tied = PrefixJudge(model=reference.model, tokenizer=reference.tokenizer, max_new_tokens=3, batch_size=4,
                              tie_margin=float("inf"))
    assert always_tied(captions) == expected and always_tied.counts == {"fast": 0, "decoded": 0, "generate": 4}


@pytest.mark.parametrize("judge_class", [CaptionJudge, PrefixJudge])
def test_a_100kb_caption_is_cut_to_the_context_and_counted(judge_class):
    base = CaptionJudge("tiny:judge-lm", "cpu", max_new_tokens=2)
    judge = judge_class(model=base.model, tokenizer=base.tokenizer, max_new_tokens=2)
    words = " ".join(f"w{i % 9973}x{i // 9973}" for i in range(14_000))  # ~100 KB, no repetition
    assert len(words) > 100_000
    fitted = judge.fit(words)
    context = base.model.config.max_position_embeddings
    assert len(judge.encode(judge.prompt(fitted))) + 2 <= context and judge.truncated == 1
    rows = judge([words, "A red car."])
    assert [r["judge_truncated"] for r in rows] == [True, False] and judge.truncated == 2
    assert judge.fit("A red car.") == "A red car." and judge.truncated == 2
