"""Stage 05 on real files and the tiny llava-hf model: fixtures in LLaVA's formats, scoring from
answer files, batch-size invariance, resume, shards, MMLU through lm-eval, the results table, CLI."""

import json

import pytest

from synthvlm_repro.evaluation import inference
from synthvlm_repro.evaluation.benchmarks import BenchmarkDataError, get_benchmark
from synthvlm_repro.evaluation.config import EvaluationConfig
from synthvlm_repro.evaluation.fixtures import write_fixtures


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("eval") / "fixtures")


@pytest.fixture(scope="module")
def llava(tiny):
    return inference.load_llava(str(tiny("llava")), "cpu", "fp32")


CFG = EvaluationConfig()


def test_fixture_files_are_deterministic(fixtures, tmp_path):
    again = write_fixtures(tmp_path / "again", benchmarks=("mmbench", "gqa"), mmlu=False)
    for rel in ("mmbench/mmbench_dev_20230712.tsv", "gqa/llava_gqa_testdev_balanced.jsonl", "gqa/images/ng1.jpg"):
        assert (again / rel).read_bytes() == (fixtures / rel).read_bytes(), rel


def test_every_benchmark_reads_its_files(fixtures):
    splits = {name: get_benchmark(name).questions(fixtures, CFG) for name in
              ("gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz")}
    assert set(splits["pope"]) == {"adversarial", "popular", "random"}
    assert [q.qid for q in splits["scienceqa_img"]["test"]] == ["101", "102", "103"]  # no-image problem dropped
    assert len(splits["mmbench"]["dev"]) == 4 + 2 + 3  # one question per option rotation
    assert set(splits["vqav2"]) == {"val", "test-dev"}
    assert len(splits["mme"]["test"]) == 8
    for name, by_split in splits.items():
        for qs in by_split.values():
            img = qs[0].load_image()
            assert img.mode == "RGB" and img.size[0] > 0, name
    gqa_q = splits["gqa"]["testdev_balanced"][0]
    assert gqa_q.text.count("Answer the question using a single word or phrase.") == 1
    assert splits["mmbench"]["dev"][4].text.startswith("Look at the picture.\nWhich shape")
    assert splits["mmbench"]["dev"][6].text.startswith("How many circles")  # a "nan" hint is no hint
    assert "Reference OCR token: STOP" in splits["textvqa"]["val"][0].text
    no_ocr = get_benchmark("textvqa").questions(fixtures, EvaluationConfig(textvqa_ocr=False))["val"][0]
    assert no_ocr.text == "What does the sign say?\nAnswer the question using a single word or phrase."


def _score(fixtures, name, split, answers, cfg=CFG):
    return {s.metric: s.value for s in get_benchmark(name).score(fixtures, split, answers, cfg)}


def test_oracle_and_wrong_answers_score_as_expected(fixtures):
    gqa = {"g1": "Red.", "g2": "square", "g3": "yes", "g4": "yes"}
    assert _score(fixtures, "gqa", "testdev_balanced", gqa)["accuracy"] == 75.0
    sqa = {"101": "B", "102": "A. square", "103": "The answer is A."}
    assert _score(fixtures, "scienceqa_img", "test", sqa)["accuracy"] == pytest.approx(200 / 3)
    tv = {"34602": "Stop", "34603": "twenty-four", "34604": "open"}
    # "twenty-four" -> "twenty four": 1 of 10 annotators -> 1/3 on 9 subsets, 0 on one
    expected = (1 + 0.3 + (8 * 2 / 3 + 2 * 1 / 3) / 10) / 3 * 100
    assert _score(fixtures, "textvqa", "val", tv)["vqa_accuracy"] == pytest.approx(expected)
    pope = get_benchmark("pope").questions(fixtures, CFG)["random"]
    truth = [json.loads(l)["label"] for l in (fixtures / "pope/coco/coco_pope_random.json").read_text().splitlines()]
    oracle = {q.qid: ("Yes, there is." if t == "yes" else "There is no such thing.") for q, t in zip(pope, truth)}
    m = _score(fixtures, "pope", "random", oracle)
    assert m["accuracy"] == 100.0 and m["f1"] == 100.0 and m["yes_ratio"] == 0.5
    mme_qs = get_benchmark("mme").questions(fixtures, CFG)["test"]
    mme = {q.qid: ("Yes" if q.qid.endswith("/0") else "No") for q in mme_qs}
    mme["count/c1/1"] = "Yes"  # one wrong answer: count acc 75, acc+ 50
    scores = {(s.split, s.metric): s.value for s in get_benchmark("mme").score(fixtures, "test", mme, CFG)}
    assert scores[("test/count", "acc")] == 75.0 and scores[("test/count", "acc_plus")] == 50.0
    assert scores[("test", "perception")] == pytest.approx(200 + 125)
    assert scores[("test", "cognition")] == 200.0


def test_mmbench_circular_needs_every_rotation(fixtures):
    qs = get_benchmark("mmbench").questions(fixtures, CFG)["dev"]
    gt = {"0": "red", "1": "square", "2": "two"}
    answers = {}
    for q in qs:
        lines = [l for l in q.text.splitlines() if len(l) > 2 and l[1:3] == ". "]
        answers[q.qid] = next(l[0] for l in lines if l[3:] == gt[q.qid.split("/")[0]])
    assert _score(fixtures, "mmbench", "dev", answers)["accuracy_circular"] == 100.0
    answers["0/r2"] = "Z"  # question 0 fails one rotation only
    m = _score(fixtures, "mmbench", "dev", answers)
    assert m["accuracy_circular"] == pytest.approx(200 / 3) and m["accuracy_single"] == 100.0


def test_bad_rows_name_file_and_line(tmp_path):
    d = tmp_path / "gqa"
    d.mkdir()
    (d / "llava_gqa_testdev_balanced.jsonl").write_text('{"question_id": "a", "image": "x.jpg", "text": "q"}\n{oops\n')
    with pytest.raises(BenchmarkDataError, match=r"llava_gqa_testdev_balanced.jsonl:2: invalid JSON"):
        get_benchmark("gqa").questions(tmp_path, CFG)
    (d / "llava_gqa_testdev_balanced.jsonl").write_text('{"question_id": "a", "text": "q"}\n')
    with pytest.raises(BenchmarkDataError, match="row 1: missing field 'image'"):
        get_benchmark("gqa").questions(tmp_path, CFG)


def test_batched_left_padded_answers_equal_batch_size_one(fixtures, llava):
    model, processor = llava
    qs = (get_benchmark("mmbench").questions(fixtures, CFG)["dev"][:5]
          + get_benchmark("textvqa").questions(fixtures, CFG)["val"]
          + get_benchmark("gqa").questions(fixtures, CFG)["testdev_balanced"][:2])
    lengths = {len(processor.tokenizer(inference.question_prompt(q.text)).input_ids) for q in qs}
    assert len(lengths) > 3  # prompts of different lengths, so the batch really is padded
    one = [inference.generate_batch(model, processor, [q], 8)[0][0] for q in qs]
    batched = []
    for i in range(0, len(qs), 5):
        batched += inference.generate_batch(model, processor, qs[i:i + 5], 8)[0]
    assert batched == one
    assert processor.tokenizer.padding_side == "left"


def test_prompt_ids_match_llavas_piecewise_tokenisation(fixtures, llava):
    _, processor = llava
    for name in ("gqa", "mmbench", "textvqa"):
        q = next(iter(get_benchmark(name).questions(fixtures, CFG).values()))[0]
        assert inference.check_tokenization(processor, q), name
    ids = inference.piecewise_ids(processor.tokenizer, "a <image> b", 3)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert ids[0] == processor.tokenizer.bos_token_id and ids.count(image_id) == 3


def test_answers_resume_after_a_torn_line_and_shards_merge(fixtures, llava, tmp_path):
    model, processor = llava
    qs = get_benchmark("gqa").questions(fixtures, CFG)["testdev_balanced"]
    full = inference.answer_questions(model, processor, qs, tmp_path / "full.jsonl", 6, batch_size=2)
    # a crash after two answers and half a line
    part = tmp_path / "answers"
    path = inference.shard_path(part, "gqa", "testdev_balanced", 0, 1)
    path.parent.mkdir(parents=True)
    lines = (tmp_path / "full.jsonl").read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][:10])
    assert len(inference.read_answers(path)) == 2 and path.read_text() == "".join(lines[:2])
    calls = []
    real = inference.generate_batch
    inference.generate_batch = lambda m, p, batch, *a: calls.append(len(batch)) or real(m, p, batch, *a)
    try:
        inference.answer_questions(model, processor, qs, path, 6, batch_size=1)
    finally:
        inference.generate_batch = real
    assert calls == [1, 1]  # only the two missing questions were answered
    merged = inference.merge_shards(part, "gqa", "testdev_balanced", qs)
    assert merged == {k: v["text"] for k, v in full.items()}
    # two shards give the same merged file, in question order
    two = tmp_path / "two"
    for rank in (0, 1):
        inference.answer_questions(model, processor, inference.shard_of(qs, rank, 2),
                                   inference.shard_path(two, "gqa", "testdev_balanced", rank, 2), 6)
    assert inference.merge_shards(two, "gqa", "testdev_balanced", qs) == merged
    assert (two / "gqa/testdev_balanced.jsonl").read_text() == (part / "gqa/testdev_balanced.jsonl").read_text()
    inference.shard_path(two, "gqa", "testdev_balanced", 1, 2).unlink()
    with pytest.raises(FileNotFoundError, match="2 of 4 testdev_balanced questions have no answer"):
        inference.merge_shards(two, "gqa", "testdev_balanced", qs)


def test_extracted_language_model_matches_llava_text_path(tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    from synthvlm_repro.evaluation.mmlu import extract_language_model

    out = extract_language_model(str(tiny("llava")), tmp_path / "lm")
    lm = AutoModelForCausalLM.from_pretrained(out).eval()
    llava = LlavaForConditionalGeneration.from_pretrained(tiny("llava")).eval()
    ids = torch.tensor([[1, 40, 50, 60, 70]])
    with torch.no_grad():
        assert torch.allclose(lm(ids).logits, llava(input_ids=ids).logits, atol=1e-5)


def test_mmlu_through_lm_eval_on_local_tasks(fixtures, tiny, tmp_path):
    from synthvlm_repro.evaluation.mmlu import extract_language_model, run_mmlu

    lm = extract_language_model(str(tiny("llava")), tmp_path / "lm")
    res = run_mmlu(lm, fixtures / "mmlu" / "data", tmp_path / "mmlu", num_fewshot=2)
    assert len(res["subjects"]) == 57 and all(v["n"] == 1 for v in res["subjects"].values())
    assert res["categories"]["all"]["n"] == 57
    for cat, v in res["categories"].items():  # the kit's size-weighted aggregation equals lm-eval's groups
        assert v["acc"] == pytest.approx(res["lm_eval_groups"][cat]), cat
    assert res["num_fewshot"] == 2
    task = (tmp_path / "mmlu" / "tasks" / "synthvlm_mmlu_anatomy.yaml").read_text()
    assert "dataset_path: json" in task and "first_n" in task
    first = json.loads((tmp_path / "mmlu/jsonl/test/anatomy.jsonl").read_text().splitlines()[0])
    assert set(first) == {"question", "subject", "choices", "answer"} and len(first["choices"]) == 4


def test_run_writes_tidy_results_and_submissions(tmp_path):
    from synthvlm_repro.evaluation.run import COLUMNS, run_evaluation
    from synthvlm_repro.run_context import prepare_run

    over = ["evaluation.benchmarks=[gqa,vqav2,vizwiz]", "evaluation.mmlu=false", "evaluation.batch_size=2"]
    ctx = prepare_run("smoke", tmp_path / "run", over)
    df = run_evaluation(ctx)
    assert list(df.columns) == COLUMNS
    csv_rows = ctx.paths.results_csv.read_text().splitlines()
    assert csv_rows[0] == ",".join(COLUMNS) and len(csv_rows) == len(df) + 1
    assert json.loads(ctx.paths.results_json.read_text()) == df.to_dict("records")
    assert set(zip(df.benchmark, df.split)) == {("gqa", "testdev_balanced"), ("vqav2", "val"),
                                                 ("vqav2", "test-dev"), ("vizwiz", "test")}
    assert (df.model == "tiny:llava").all()  # no stage-04 checkpoint in this run dir: the smoke fallback
    sub = json.loads((ctx.paths.evaluation / "submissions" / "vqav2_test-dev.json").read_text())
    assert [s["question_id"] for s in sub] == [1000, 1001] and all(isinstance(s["answer"], str) for s in sub)
    viz = json.loads((ctx.paths.evaluation / "submissions" / "vizwiz_test.json").read_text())
    assert [s["image"] for s in viz] == ["VizWiz_test_00000000.jpg", "VizWiz_test_00000001.jpg"]
    ctx2 = prepare_run("smoke", tmp_path / "run", over + ["evaluation.default_max_new_tokens=3"])
    from synthvlm_repro.evaluation.run import answer

    with pytest.raises(ValueError, match="default_max_new_tokens"):
        answer(ctx2)


def test_limit_keeps_whole_mme_pairs_and_mmbench_rotations(tmp_path):
    from synthvlm_repro.evaluation.run import benchmark_questions
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("smoke", tmp_path / "run", ["evaluation.limit=1"])
    assert [q.qid for q in benchmark_questions(ctx, "mmbench")["dev"]] == ["0/r0", "0/r1", "0/r2", "0/r3"]
    mme = [q.qid for q in benchmark_questions(ctx, "mme")["test"]]
    assert mme == ["commonsense_reasoning/r1/0", "commonsense_reasoning/r1/1"]
    assert len(benchmark_questions(ctx, "pope")["random"]) == 1


def test_paper_profile_without_data_dir_is_a_clear_error(tmp_path):
    from synthvlm_repro.evaluation.run import data_root
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("paper", tmp_path / "run", [])
    with pytest.raises(ValueError, match="set data_dir"):
        data_root(ctx)


def test_cli_help_documents_every_option(capsys):
    from synthvlm_repro.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--help"])
    text = capsys.readouterr().out
    for opt in ("--profile", "--run-dir", "--set", "--shard", "--num-shards", "--with-mmlu", "--out",
                "--lmms-tasks", "--lmms-limit", "answer", "score", "mmlu", "fixtures", "lmms-eval"):
        assert opt in text, opt


def test_lmms_bridge_command_and_missing_results(tmp_path):
    from synthvlm_repro.evaluation.lmms_bridge import find_results, lmms_eval_command

    cmd = lmms_eval_command("/ckpt", "gqa,pope", tmp_path, limit=8)
    assert cmd[1:] == ["-m", "lmms_eval", "--model", "llava_hf", "--model_args", "pretrained=/ckpt", "--tasks",
                       "gqa,pope", "--batch_size", "1", "--output_path", str(tmp_path), "--limit", "8"]
    with pytest.raises(RuntimeError, match="no results file"):
        find_results(tmp_path)
    (tmp_path / "m" ).mkdir()
    (tmp_path / "m" / "2026_results.json").write_text("{}")
    assert find_results(tmp_path).name == "2026_results.json"


def test_finished_rerun_loads_no_model(tmp_path, monkeypatch):
    from synthvlm_repro.evaluation import run
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("smoke", tmp_path / "run", ["evaluation.benchmarks=[gqa]", "evaluation.mmlu=false"])
    first = run.answer(ctx)
    monkeypatch.setattr(inference, "load_llava", lambda *a: pytest.fail("model loaded on a finished rerun"))
    assert run.answer(ctx) == first == {"gqa": {"testdev_balanced": 4}}


def test_cli_answers_in_shards_then_scores(tmp_path, capsys):
    from synthvlm_repro.cli import main

    common = ["--run-dir", str(tmp_path / "run"), "--set", "evaluation.benchmarks=[gqa,mme]",
              "--set", "evaluation.limit=2"]
    for shard in ("0", "1"):
        assert main(["evaluate", "answer", "--shard", shard, "--num-shards", "2", *common]) == 0
    assert main(["evaluate", "score", *common]) == 0
    out = capsys.readouterr().out
    assert "shard 1/2: gqa/testdev_balanced=1" in out
    rows = json.loads((tmp_path / "run" / "evaluation" / "results.json").read_text())
    assert {(r["benchmark"], r["metric"]) for r in rows} >= {("gqa", "accuracy"), ("mme", "perception")}
    assert [r["n"] for r in rows if r["benchmark"] == "gqa"] == [2]
    assert main(["evaluate", "score", "--run-dir", str(tmp_path / "elsewhere")]) == 2  # no answers: one-line error
    assert "no answer" in capsys.readouterr().err
