"""Preference evaluation: Wilson intervals, the JSONL rater (state round trip, resume, blind order),
and the llava-hf judge's order handling on the tiny llava model."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from synthvlm_repro.figures.judge import LlavaJudge, judgment_record, position_bias, run_judge, side_by_side
from synthvlm_repro.figures.preference import load_judgments, read_jsonl, wilson_interval, win_rates
from synthvlm_repro.figures.rater import PreferenceRater
from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir


@pytest.fixture()
def pairs():
    records = [r for r in load_sample_captions() if r.get("image")][:6]
    imgs = [str(sample_data_dir() / r["image"]) for r in records]
    return pd.DataFrame({"pair_id": [r["id"] for r in records], "caption": [r["caption"] for r in records],
                         "synthetic": imgs, "original": imgs[1:] + imgs[:1]})


def test_wilson_interval_known_values():
    low, high = wilson_interval(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)  # textbook Wilson 95% for 7/10
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert all(np.isnan(wilson_interval(0, 0)))


def test_win_rates_count_ties_half_and_keep_last_answer(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = [{"pair_id": "a", "judge": "h", "winner": "original"}, {"pair_id": "a", "judge": "h", "winner": "synthetic"},
             {"pair_id": "b", "judge": "h", "winner": "tie"}, {"pair_id": "c", "judge": "h", "winner": "original"}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"pair_id": "d", "jud')  # torn last line
    rates = win_rates(load_judgments([path])).iloc[0]
    assert (rates["wins"], rates["losses"], rates["ties"], rates["n"]) == (1, 1, 1, 3)
    assert rates["win_rate"] == pytest.approx(50.0)


def test_bad_judgment_line_names_file_and_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"pair_id": "a", "judge": "h", "winner": "tie"}\nnot json\n{"pair_id": "b"}\n')
    with pytest.raises(ValueError, match=r"j.jsonl:2: not a JSON line"):
        read_jsonl(path)


def test_rater_round_trip_resume_and_blind_order(tmp_path, pairs):
    out = tmp_path / "human-alice.jsonl"
    rater = PreferenceRater(pairs, out, rater="alice", seed=0)
    sides = {pid: rater.synthetic_on_left(pid) for pid in pairs["pair_id"]}
    assert set(sides.values()) == {True, False}  # both orders occur
    first = rater.current
    syn_left = sides[first["pair_id"]]
    row = pairs.set_index("pair_id").loc[first["pair_id"]]
    assert first["left"] == (row["synthetic"] if syn_left else row["original"])
    rec = rater.answer("left")
    assert rec["winner"] == ("synthetic" if syn_left else "original")
    assert len(read_jsonl(out)) == 1  # on disk before the next pair shows
    rater.answer("skip")  # second pair goes to the back, nothing written
    rater.answer("tie")
    assert rater.progress == (2, 6) and len(read_jsonl(out)) == 2

    resumed = PreferenceRater(pairs, out, rater="alice", seed=0)  # a new kernel on the same file
    assert resumed.progress == (2, 6)
    answered = {r["pair_id"] for r in read_jsonl(out)}
    assert resumed.current["pair_id"] not in answered
    assert PreferenceRater(pairs, out, rater="bob").progress == (0, 6)  # another rater starts fresh
    while resumed.current is not None:
        resumed.answer("right")
    judgments = load_judgments([out])
    assert len(judgments) == 6 and set(judgments["pair_id"]) == set(pairs["pair_id"])
    with pytest.raises(ValueError, match="answer must be"):
        PreferenceRater(pairs, tmp_path / "x.jsonl").answer("up")


def test_rater_undo_replaces_the_answer(tmp_path, pairs):
    out = tmp_path / "r.jsonl"
    rater = PreferenceRater(pairs, out, rater="r")
    pid = rater.current["pair_id"]
    rater.answer("left")
    rater.answer("undo")
    assert rater.current["pair_id"] == pid
    rater.answer("tie")
    judgments = load_judgments([out])
    assert len(judgments) == 1 and judgments.iloc[0]["winner"] == "tie"


def test_rater_widget_keys_record_answers(tmp_path, pairs):
    rater = PreferenceRater(pairs, tmp_path / "w.jsonl", rater="w")
    ui = rater.widget(image_px=64)
    keys = ui.children[-1].children[0]
    keys.value = "a"  # what typing "a" into the keys box does
    keys.value = "s"
    assert rater.progress == (2, 6) and keys.value == ""
    assert [r["choice"] for r in read_jsonl(tmp_path / "w.jsonl")] == ["left", "tie"]


def test_judgment_record_needs_both_orders_to_agree():
    assert judgment_record("p", "j", 0.9, 0.8)["winner"] == "synthetic"
    assert judgment_record("p", "j", 0.1, 0.3)["winner"] == "original"
    always_left = judgment_record("p", "j", 0.9, 0.2)  # picks A whatever is shown there
    assert always_left["winner"] == "tie" and always_left["picked_left"] == [True, True]
    assert position_bias(pd.DataFrame([always_left])) == 1.0


def test_side_by_side_keeps_both_images_uncropped():
    canvas = side_by_side(Image.new("RGB", (200, 100), "red"), Image.new("RGB", (50, 100), "blue"), size=100, gap=4)
    assert canvas.size == (100, 100)
    px = np.asarray(canvas)
    assert (px[50, 10] == [255, 0, 0]).all() and (px[50, 75] == [0, 0, 255]).all()


@pytest.fixture(scope="module")
def judge(tiny):
    tiny("llava")
    return LlavaJudge("tiny:llava", device="cpu")


def test_judge_logprobs_match_unbatched_forward(judge, pairs):
    img = side_by_side(Image.open(pairs["synthetic"][0]), Image.open(pairs["original"][0]))
    prompt = judge.prompt(pairs["caption"][0])
    batched = judge.answer_logprobs([img, img], [prompt, prompt])
    for j, answer in enumerate((" A", " B")):  # reference: one forward of prompt+answer, no padding
        full = judge.processor(images=img, text=prompt + answer, return_tensors="pt")
        n_prompt = judge.processor(images=img, text=prompt, return_tensors="pt")["input_ids"].shape[1]
        with torch.no_grad():
            logp = torch.log_softmax(judge.model(**full).logits[0].float(), -1)
        ids = full["input_ids"][0]
        expected = sum(logp[t - 1, ids[t]].item() for t in range(n_prompt, len(ids)))
        assert batched[0, j] == pytest.approx(expected, abs=1e-4)
        assert batched[1, j] == pytest.approx(expected, abs=1e-4)


def test_judge_swapping_roles_mirrors_the_verdict(judge, pairs):
    row = pairs.iloc[0]
    a = judge.judge("p", row["caption"], row["synthetic"], row["original"])
    b = judge.judge("p", row["caption"], row["original"], row["synthetic"])  # same images, roles swapped
    assert a["p_synthetic_left"] == pytest.approx(1 - b["p_synthetic_right"], abs=1e-5)
    assert a["p_synthetic_right"] == pytest.approx(1 - b["p_synthetic_left"], abs=1e-5)
    mirror = {"synthetic": "original", "original": "synthetic", "tie": "tie"}
    assert b["winner"] == mirror[a["winner"]]


def test_run_judge_appends_and_resumes(judge, pairs, tmp_path):
    out = tmp_path / "judge.jsonl"
    first = run_judge(judge, pairs.head(2), out)
    assert len(first) == 2
    again = run_judge(judge, pairs.head(3), out)  # only the new pair is judged
    assert len(again) == 3 and len(read_jsonl(out)) == 3
    assert set(again["winner"]) <= {"synthetic", "original", "tie"}
    rates = win_rates(load_judgments([out])).iloc[0]
    assert rates["n"] == 3 and rates["left_pick_rate"] == pytest.approx(position_bias(again))
