"""Stage 01 end to end: the funnel on the shipped sample, dedup, the judge's parsing, model steps on the
tiny models (with resume), outputs, CLI and notebook."""

import json
import shutil

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthvlm_repro.config import load_config
from synthvlm_repro.curation.dedup import dedup_key, exact_duplicates, near_duplicates
from synthvlm_repro.curation.judge import JUDGE_PROMPT, judge_keeps, parse_verdict
from synthvlm_repro.curation.pipeline import curate
from synthvlm_repro.curation.readers import CaptionInputError
from synthvlm_repro.paths import RunPaths
from synthvlm_repro.sample_data import expected_bad_ids, sample_data_dir

RULES_ONLY = ["curation.perplexity_max=null", "curation.clip_min=null", "curation.itm_min=null",
              "curation.judge_mode=off", "curation.max_captions=null"]


def run(tmp_path, overrides=(), name="run"):
    cfg = load_config("smoke", list(overrides))
    paths = RunPaths.for_run(tmp_path / name)
    return curate(cfg.curation, paths, "cpu", cfg.seed, progress=False), paths


@pytest.fixture(scope="module")
def rules_only(tmp_path_factory):
    return run(tmp_path_factory.mktemp("rules"), RULES_ONLY)


def test_sample_funnel_drops_the_deliberately_bad_captions(rules_only):
    result, paths = rules_only
    rejected = {r["id"]: r for r in result.rejected.to_pylist()}
    expected_reason = {"repetitive": {"char_rep_ratio", "word_rep_ratio"},
                       "special_chars": {"alnum_ratio", "special_char_ratio"},
                       "flagged_words": {"flagged_words_ratio"},
                       "exact_duplicate": {"exact_dedup"}, "near_duplicate": {"near_dedup"}}
    for cid, category in expected_bad_ids().items():
        if category in expected_reason:
            assert rejected[cid]["reason"] in expected_reason[category], (cid, category)
    assert rejected["sv-0130"]["duplicate_of"] == "sv-0065"   # the earlier copy is the one kept
    assert rejected["sv-0030"]["detail"].startswith("flagged_words_ratio")
    # Nothing lost: every source row is either curated or rejected, once.
    curated_ids = result.curated.column("id").to_pylist()
    assert len(curated_ids) + len(rejected) == 256 and not set(curated_ids) & set(rejected)


def test_funnel_counts_chain_and_survivors_respect_thresholds(rules_only):
    result, paths = rules_only
    steps = result.funnel
    assert [s["step"] for s in steps] == ["read", "normalize", "alnum_ratio", "char_rep_ratio", "flagged_words_ratio",
                                          "special_char_ratio", "word_rep_ratio", "exact_dedup", "near_dedup"]
    for prev, cur in zip(steps, steps[1:]):
        assert cur["kept"] == prev["kept"] - cur["dropped"]
    assert steps[-1]["kept"] == len(result.curated)
    assert json.loads(paths.funnel_json.read_text()) == steps
    cur = result.curated.to_pandas()
    assert (cur.alnum_ratio >= 0.6).all() and (cur.char_rep_ratio <= 0.09373663).all()
    assert (cur.flagged_words_ratio == 0).all() and cur.special_char_ratio.between(0.16534802, 0.42023757).all()
    assert any("perplexity" in s for s in result.skipped) and any("judge" in s for s in result.skipped)


def test_outputs_follow_the_readme_contract(rules_only):
    result, paths = rules_only
    records = json.loads(paths.caption_json.read_text())
    curated = pq.read_table(paths.curated_parquet)
    assert [r["id"] for r in records] == curated.column("id").to_pylist()
    assert {"id", "caption", "image", "alnum_ratio", "special_char_ratio", "word_rep_ratio"} <= set(curated.column_names)
    with_images = [r for r in records if "image" in r]
    assert with_images and all(set(r) == {"id", "caption", "image"} for r in with_images)
    assert all((sample_data_dir() / "images").samefile(Path(r["image"]).parent)
               for r in with_images)
    rejected = pq.read_table(paths.rejected_parquet)
    assert {"id", "caption", "reason", "detail"} <= set(rejected.column_names)


def test_processes_and_chunking_do_not_change_the_result(tmp_path, rules_only):
    result, _ = rules_only
    other, _ = run(tmp_path, RULES_ONLY + ["curation.num_proc=2", "curation.chunk_rows=37"])
    assert other.curated.equals(result.curated)
    assert other.rejected.equals(result.rejected)
    assert other.funnel == result.funnel


def test_bad_rows_fail_clearly_or_are_quarantined_and_old_outputs_survive(tmp_path):
    good = [{"id": "a", "caption": "A small red boat floats on a calm lake, near some trees."},
            {"id": "b", "caption": "A tall lighthouse stands on rocks by the grey sea, at dusk."}]
    src = tmp_path / "pool.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in good) + "\n")
    _, paths = run(tmp_path, RULES_ONLY + [f"curation.source={src}"])
    before = paths.caption_json.read_bytes()
    src.write_text(src.read_text() + json.dumps({"id": "a", "caption": "duplicate id"}) + "\n")
    with pytest.raises(CaptionInputError, match=r"pool.jsonl: row 2 \(id 'a'\): duplicate id"):
        run(tmp_path, RULES_ONLY + [f"curation.source={src}"])
    assert paths.caption_json.read_bytes() == before
    result, _ = run(tmp_path, RULES_ONLY + [f"curation.source={src}", "curation.skip_bad_rows=true"])
    bad = result.rejected.to_pylist()
    assert [(r["row"], r["reason"]) for r in bad] == [(2, "bad_row")] and "duplicate id" in bad[0]["detail"]
    assert result.funnel[0] == {"step": "read", "kept": 2, "dropped": 1}


def test_a_pool_where_everything_is_dropped_still_writes_every_output(tmp_path):
    src = tmp_path / "pool.csv"
    src.write_text("id,caption\nx,!!!! ????\ny,shit happens to this fucking car in the rain\n")
    result, paths = run(tmp_path, [f"curation.source={src}", "curation.judge_mode=filter"])
    assert len(result.curated) == 0 and json.loads(paths.caption_json.read_text()) == []
    assert result.rejected.column("reason").to_pylist() == ["alnum_ratio", "flagged_words_ratio"]
    assert any(s.startswith("judge: no captions left") for s in result.skipped)
    assert pq.read_table(paths.curated_parquet).num_rows == 0


def test_normalisation_is_applied_and_a_caption_emptied_by_it_is_rejected(tmp_path):
    src = tmp_path / "pool.jsonl"
    rows = [{"id": "ok", "caption": "A “quoted” sign—painted on an old brick wall, next to a door."},
            {"id": "gone", "caption": "\x07\x08"}]
    src.write_text("\n".join(json.dumps(r) for r in rows))
    result, _ = run(tmp_path, RULES_ONLY + [f"curation.source={src}"])
    assert result.curated.column("caption").to_pylist() == [
        'A "quoted" sign - painted on an old brick wall, next to a door.']
    assert result.curated.column("caption_raw").to_pylist() == [rows[0]["caption"]]
    assert result.rejected.to_pylist()[0]["reason"] == "normalize"
    assert result.funnel[1] == {"step": "normalize", "kept": 1, "dropped": 1}


def test_dedup_keeps_the_earliest_and_normalises_text():
    assert dedup_key("A  Dog!") == dedup_key("a dog") == "a dog"
    assert exact_duplicates(["x", "y", "z"], ["A dog!", "a cat", "a  DOG"]) == [None, None, "x"]
    base = "a small red fishing boat returns to the harbor at dusk followed by a cloud of seagulls and lights"
    caps = ["an unrelated caption about mountains under snow", base, base + " glowing", base.replace("red", "blue")]
    dup = near_duplicates(["m", "p", "q", "r"], caps, threshold=0.7, progress=False)
    assert dup == [None, None, "p", "p"]
    assert near_duplicates(["m", "p", "q", "r"], caps, threshold=0.7, progress=False) == dup  # seeded


@pytest.mark.parametrize("answer, verdict", [
    ("Yes", "yes"), ("yes.", "yes"), ("**YES**", "yes"), ("Answer: Yes, it is detailed.", "yes"),
    ("No", "no"), ("no!", "no"), ("I would say no.", "no"), ("Yesterday", "unparsed"), ("", "unparsed"),
    ("Nope", "unparsed"), ("Sure", "unparsed"),
])
def test_judge_verdict_parsing(answer, verdict):
    assert parse_verdict(answer) == verdict


def test_only_yes_passes_the_judge_unless_record_only():
    verdicts = ["yes", "no", "unparsed", "yes"]
    assert judge_keeps(verdicts).tolist() == [True, False, False, True]
    assert judge_keeps(verdicts, record_only=True).tolist() == [True] * 4


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory):
    """Six captions, three with the kit's drawn images."""
    folder = tmp_path_factory.mktemp("pool")
    (folder / "img").mkdir()
    for name in ("stop_sign.png", "snowman.png", "sailboat.png"):  # image paths are relative to the pool
        shutil.copy(sample_data_dir() / "images" / name, folder / "img" / name)
    records = [
        {"id": "p1", "caption": "A red octagonal stop sign with the word STOP in white letters.",
         "image": "img/stop_sign.png"},
        {"id": "p2", "caption": "A snowman with a carrot nose and a black hat, in a snowy field.",
         "image": "img/snowman.png"},
        {"id": "p3", "caption": "A small sailboat on blue water, with a white sail and a red hull.",
         "image": "img/sailboat.png"},
        {"id": "p4", "caption": "A freight train winds through a canyon of red rock, under a clear sky."},
        {"id": "p5", "caption": "An old stone bridge crosses a quiet river, lined with autumn trees."},
        {"id": "p6", "caption": "A bowl of ramen with a soft egg, green onions and slices of pork."},
    ]
    src = folder / "pool.json"
    src.write_text(json.dumps(records))
    return src


MODEL_STEPS = ["curation.perplexity_max=1000000", "curation.clip_min=-1.0", "curation.itm_min=0.0",
               "curation.judge_mode=filter", "curation.special_min=null", "curation.max_captions=null"]


def test_model_steps_on_tiny_models_score_filter_and_resume(tmp_path, small_pool):
    overrides = MODEL_STEPS + [f"curation.source={small_pool}"]
    result, paths = run(tmp_path, overrides)
    steps = [s["step"] for s in result.funnel]
    assert steps[-5:] == ["perplexity", "blank", "clip_similarity", "itm_score", "judge"]
    everything = {r["id"]: r for r in result.curated.to_pylist() + result.rejected.to_pylist()}
    assert all(everything[f"p{i}"]["perplexity"] > 1 for i in range(1, 7))
    for i in range(1, 7):  # only captions with an image get image-text scores
        scored = everything[f"p{i}"]["clip_similarity"] == everything[f"p{i}"]["clip_similarity"]
        assert scored == (i <= 3)
        if i <= 3:
            assert -1 <= everything[f"p{i}"]["clip_similarity"] <= 1 and 0 <= everything[f"p{i}"]["itm_score"] <= 1
    # Only "yes" passes; the raw answer is kept for every judged caption.
    for row in result.curated.to_pylist():
        assert row["judge_verdict"] == "yes"
    for row in result.rejected.to_pylist():
        assert row["reason"] == "judge" and row["judge_verdict"] != "yes" and row["judge_answer"] is not None
    assert result.funnel[-1]["kept"] == len(result.curated)

    # Resume: scores come from captions/cache, so a planted value survives a rerun.
    part = next((paths.captions / "cache").glob("perplexity-*/part-*.parquet"))
    planted = pq.read_table(part).to_pandas()
    planted.loc[planted.id == "p4", "perplexity"] = 123.5
    pq.write_table(pa.Table.from_pandas(planted, preserve_index=False), part)
    again, _ = run(tmp_path, overrides)
    rows = {r["id"]: r for r in again.curated.to_pylist() + again.rejected.to_pylist()}
    assert rows["p4"]["perplexity"] == 123.5


def test_judge_prompt_uses_the_chat_template_and_the_paper_prompt():
    from synthvlm_repro.curation.judge import CaptionJudge

    judge = CaptionJudge("tiny:judge-lm", "cpu", max_new_tokens=3)
    prompt = judge.prompt("A red car.")
    assert JUDGE_PROMPT in prompt and prompt.rstrip().endswith("assistant<|end_header_id|>")
    assert "<|start_header_id|>user<|end_header_id|>" in prompt and "Prompt: A red car." in prompt
    answers = judge(["A red car.", "A dog running on a beach at sunset."])
    assert [set(a) for a in answers] == [{"judge_answer", "judge_verdict", "judge_truncated"}] * 2


def test_missing_image_is_named(tmp_path):
    src = tmp_path / "pool.json"
    src.write_text(json.dumps([{"id": "x", "caption": "A red octagonal stop sign with white letters, on a pole.",
                                "image": "nowhere.png"}]))
    with pytest.raises(FileNotFoundError, match=r"nowhere.png: image of caption x not found"):
        run(tmp_path, MODEL_STEPS + [f"curation.source={src}", "curation.judge_mode=off",
                                     "curation.perplexity_max=null"])


def test_cli_curate(tmp_path, capsys):
    from synthvlm_repro.cli import main

    code = main(["curate", "--run-dir", str(tmp_path / "cli"), "--quiet", "--max-captions", "5",
                 *[x for o in RULES_ONLY[:-1] for x in ("--set", o)]])
    assert code == 0
    out = capsys.readouterr().out
    assert "special_char_ratio" in out and "kept" in out
    assert len(json.loads((tmp_path / "cli" / "captions" / "captions.json").read_text())) == 5
    assert (tmp_path / "cli" / "figures" / "curation_funnel.png").exists()


@pytest.mark.slow
def test_notebook_under_papermill(smoke_run):
    paths, record = smoke_run
    nb = next(n for n in record.notebooks if n.notebook.startswith("01_"))
    assert nb.status == "ok", nb.error
    funnel = json.loads(paths.funnel_json.read_text())
    assert funnel[-1]["step"] == "max_captions" and 24 <= funnel[-1]["kept"] <= 40
    assert [s["step"] for s in funnel][-4:-1] == ["clip_similarity", "itm_score", "judge"]
    assert len(json.loads(paths.caption_json.read_text())) == funnel[-1]["kept"]
    for name in ("curation_funnel", "curation_stat_histograms"):
        assert (paths.figures / f"{name}.png").exists() and (paths.figures / f"{name}.pdf").exists()
