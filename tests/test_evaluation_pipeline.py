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
    for rel in ("mmbench/mmbench_dev_20230712.tsv", "gqa/llava_gqa_testdev_balanced.jsonl",
                "gqa/data/images/n7251.jpg"):
        assert (again / rel).read_bytes() == (fixtures / rel).read_bytes(), rel


def test_every_benchmark_reads_its_files(fixtures):
    splits = {name: get_benchmark(name).questions(fixtures, CFG) for name in
              ("gqa", "scienceqa_img", "textvqa", "pope", "mme", "mmbench", "vqav2", "vizwiz")}
    assert set(splits["pope"]) == {"adversarial", "popular", "random"}
    assert [q.qid for q in splits["scienceqa_img"]["test"]] == ["101", "102", "103"]  # no-image problem dropped
    mmbench = {q.qid: q for q in splits["mmbench"]["dev"]}
    assert sorted(mmbench, key=int) == ["0", "1", "2", "1000000", "1000001", "1000002", "2000000", "2000002",
                                        "3000000"]  # every TSV row once: the circular copies are rows
    assert set(splits["vqav2"]) == {"val", "test-dev"}
    assert len(splits["mme"]["test"]) == 10
    for name, by_split in splits.items():
        for qs in by_split.values():
            img = qs[0].load_image()
            assert img.mode == "RGB" and img.size[0] > 0, name
    gqa_q = splits["gqa"]["testdev_balanced"][0]
    assert gqa_q.text.count("Answer the question using a single word or phrase.") == 1
    assert mmbench["1"].text.startswith("Look at the picture.\nWhich shape")
    assert mmbench["1000001"].text.splitlines()[2:4] == ["A. square", "B. triangle"]  # rotated copy
    assert mmbench["2"].text.startswith("How many circles")  # an empty hint is no hint
    tv = splits["textvqa"]["val"]
    assert [q.qid for q in tv][:2] == ["0054c91397f2fe05/0", "0054c91397f2fe05/1"]  # image id repeated in the file
    assert "Reference OCR token: STOP" in tv[0].text
    no_ocr = get_benchmark("textvqa").questions(fixtures, EvaluationConfig(textvqa_ocr=False))["val"][0]
    assert no_ocr.text == "what does the sign say?\nAnswer the question using a single word or phrase."
    assert splits["vqav2"]["val"][0].text == "What color is the circle?\n" \
        "Answer the question using a single word or phrase."


def _score(fixtures, name, split, answers, cfg=CFG):
    return {s.metric: s.value for s in get_benchmark(name).score(fixtures, split, answers, cfg)}


def test_oracle_and_wrong_answers_score_as_expected(fixtures, caplog):
    gqa = {"201307251": "Red.", "201307252": "square", "201307253": "yes", "201307254": "yes"}
    assert _score(fixtures, "gqa", "testdev_balanced", gqa)["accuracy"] == 75.0
    sqa = {"101": "B", "102": "A. square", "103": "The answer is A, clearly"}  # the official regex reads A
    assert _score(fixtures, "scienceqa_img", "test", sqa)["accuracy"] == pytest.approx(200 / 3)
    tv = {"0054c91397f2fe05/0": "Stop", "0054c91397f2fe05/1": "gold", "00685bc495504d61/2": "twenty-four",
          "00a8a7bd3b7a2ec1/3": "open"}
    # gold: 3 of 10 humans -> 0.9; "twenty-four" -> "twenty 4", as one human's "twenty four" -> 0.3;
    # open: 2 of 10 -> 0.6
    assert _score(fixtures, "textvqa", "val", tv)["vqa_accuracy"] == pytest.approx((1 + 0.9 + 0.3 + 0.6) / 4 * 100)
    pope = get_benchmark("pope").questions(fixtures, CFG)["random"]
    truth = [json.loads(l)["label"] for l in (fixtures / "pope/coco/coco_pope_random.json").read_text().splitlines()]
    assert pope[0].qid != "1"  # LLaVA's ids run across the categories; labels pair by position
    oracle = {q.qid: ("Yes, there is." if t == "yes" else "There is no such thing.") for q, t in zip(pope, truth)}
    m = _score(fixtures, "pope", "random", oracle)
    assert m["accuracy"] == 100.0 and m["f1"] == 100.0 and m["yes_ratio"] == 0.5
    no_yes = _score(fixtures, "pope", "random", {q.qid: "No" for q in pope})
    assert no_yes["precision"] == 0.0 and "undefined" in caplog.text  # eval_pope.py would divide by zero
    mme_qs = get_benchmark("mme").questions(fixtures, CFG)["test"]
    mme = {q.qid: ("Yes" if q.qid.endswith("/0") else "No") for q in mme_qs}
    mme["count/000000044279/1"] = "Yes"  # one wrong answer: count acc 75, acc+ 50
    scores = {(s.split, s.metric): s.value for s in get_benchmark("mme").score(fixtures, "test", mme, CFG)}
    assert scores[("test/count", "acc")] == 75.0 and scores[("test/count", "acc_plus")] == 50.0
    assert scores[("test", "perception")] == pytest.approx(200 + 125 + 200)
    assert scores[("test", "cognition")] == 200.0
    vqa = {"262148000": "Red", "262148001": "one", "393225000": "Yes"}
    # the humans disagree on the first two (normalised), agree on "yes" (compared as uploaded: "yes")
    assert _score(fixtures, "vqav2", "val", vqa)["vqa_accuracy"] == pytest.approx((1 + 1 + 1) / 3 * 100)


def test_mmbench_circular_needs_every_copy(fixtures):
    qs = get_benchmark("mmbench").questions(fixtures, CFG)["dev"]
    gt = {"0": "red", "1": "square", "2": "two"}
    answers = {}
    for q in qs:
        lines = [l for l in q.text.splitlines() if len(l) > 2 and l[1:3] == ". "]
        answers[q.qid] = next(l[0] for l in lines if l[3:] == gt[str(int(q.qid) % 1_000_000)])
    assert _score(fixtures, "mmbench", "dev", answers)["accuracy_circular"] == 100.0
    answers["2000000"] = "Z"  # question 0 fails one circular copy only
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
    from synthvlm_repro.evaluation.run import COLUMNS
    from synthvlm_repro.evaluation.stage import run
    from synthvlm_repro.run_context import prepare_run

    over = ["evaluation.benchmarks=[gqa,vqav2,vizwiz]", "evaluation.mmlu=false", "evaluation.batch_size=2"]
    ctx = prepare_run("smoke", tmp_path / "run", over)
    df = run(ctx).tables["results"]
    assert list(df.columns) == COLUMNS
    csv_rows = ctx.paths.results_csv.read_text().splitlines()
    assert csv_rows[0] == ",".join(COLUMNS) and len(csv_rows) == len(df) + 1
    assert json.loads(ctx.paths.results_json.read_text()) == df.to_dict("records")
    assert set(zip(df.benchmark, df.split)) == {("gqa", "testdev_balanced"), ("vqav2", "val"),
                                                 ("vqav2", "test-dev"), ("vizwiz", "test")}
    assert (df.model == "tiny:llava").all()  # no stage-04 checkpoint in this run dir: the smoke fallback
    sub = json.loads((ctx.paths.evaluation / "submissions" / "vqav2_test-dev.json").read_text())
    assert [s["question_id"] for s in sub] == [262144000, 262144001, 262145000]  # all of test2015, as LLaVA's
    assert sub[2]["answer"] == "" and all(isinstance(s["answer"], str) for s in sub)  # converter writes
    viz = json.loads((ctx.paths.evaluation / "submissions" / "vizwiz_test.json").read_text())
    assert [s["image"] for s in viz] == ["VizWiz_test_00000000.jpg", "VizWiz_test_00000001.jpg"]
    ctx2 = prepare_run("smoke", tmp_path / "run", over + ["evaluation.default_max_new_tokens=3"])
    from synthvlm_repro.evaluation.run import answer

    with pytest.raises(ValueError, match="default_max_new_tokens"):
        answer(ctx2)


def test_limit_keeps_whole_mme_pairs_and_mmbench_circular_groups(tmp_path):
    from synthvlm_repro.evaluation.run import benchmark_questions
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("smoke", tmp_path / "run", ["evaluation.limit=1"])
    assert [q.qid for q in benchmark_questions(ctx, "mmbench")["dev"]] == ["0", "1000000", "2000000", "3000000"]
    mme = [q.qid for q in benchmark_questions(ctx, "mme")["test"]]
    assert mme == ["artwork/10002/0", "artwork/10002/1"]
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
    assert "--num-shards" not in text  # one sharding spelling across stages: --shard I/N
    for opt in ("--profile", "--run-dir", "--set", "--shard", "--with-mmlu", "--out",
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
    for shard in ("0/2", "1/2"):
        assert main(["evaluate", "answer", "--shard", shard, *common]) == 0
    assert main(["evaluate", "score", *common]) == 0
    out = capsys.readouterr().out
    assert "shard 1/2: gqa/testdev_balanced=1" in out
    rows = json.loads((tmp_path / "run" / "evaluation" / "results.json").read_text())
    assert {(r["benchmark"], r["metric"]) for r in rows} >= {("gqa", "accuracy"), ("mme", "perception")}
    assert [r["n"] for r in rows if r["benchmark"] == "gqa"] == [2]
    assert main(["evaluate", "score", "--run-dir", str(tmp_path / "elsewhere")]) == 2  # no answers: one-line error
    assert "no answer" in capsys.readouterr().err


def test_cli_evaluates_every_benchmark_on_the_real_layout_fixtures(tmp_path, capsys):
    import pandas as pd

    from synthvlm_repro.cli import main

    run_dir = tmp_path / "run"
    assert main(["evaluate", "all", "--run-dir", str(run_dir), "--set", "evaluation.mmlu=false",
                 "--set", "evaluation.default_max_new_tokens=3"]) == 0
    rows = json.loads((run_dir / "evaluation" / "results.json").read_text())
    got = {(r["benchmark"], r["split"], r["metric"]): r["n"] for r in rows}
    assert got[("textvqa", "val", "vqa_accuracy")] == 4 and got[("gqa", "testdev_balanced", "accuracy")] == 4
    assert got[("mmbench", "dev", "accuracy_circular")] == 3 and got[("mmbench", "dev", "accuracy_single")] == 3
    assert got[("scienceqa_img", "test", "accuracy")] == 3 and got[("vqav2", "val", "vqa_accuracy")] == 3
    assert {s for b, s, _ in got if b == "pope"} == {"adversarial", "popular", "random"}
    subs = run_dir / "evaluation" / "submissions"
    table = pd.read_excel(subs / "mmbench_dev.xlsx", engine="openpyxl")
    assert list(table.columns) == ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"]
    assert len(table) == 9 and table["prediction"].notna().all()
    assert len(json.loads((subs / "vqav2_test-dev.json").read_text())) == 3
    assert sorted(p.name for p in subs.iterdir()) == ["mmbench_dev.xlsx", "vizwiz_test.json", "vqav2_test-dev.json"]
    assert got[("vqav2", "test-dev", "submission_rows")] == 2  # n: answered (test-dev); rows: all of test2015
    assert len(json.loads((subs / "vizwiz_test.json").read_text())) == 2
    assert "mmbench/dev: upload file" in capsys.readouterr().out


def test_fixture_folder_of_an_older_layout_is_rewritten(tmp_path):
    from synthvlm_repro.evaluation.run import data_root
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("smoke", tmp_path / "run", [])
    old = ctx.paths.evaluation / "fixtures"
    old.mkdir(parents=True)
    (old / "README.txt").write_text("Tiny benchmark fixtures (an earlier layout)\n")
    assert (data_root(ctx) / "gqa" / "data" / "testdev_balanced_questions.json").exists()
