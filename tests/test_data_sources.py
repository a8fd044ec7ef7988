"""``synthvlm-repro data``: the registry, fetch through a real (pre-populated) HF cache offline, check on a
fixture tree, and the profile it writes."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from synthvlm_repro.cli import main
from synthvlm_repro.config import ProjectConfig, load_config
from synthvlm_repro.data_sources.check import SourceCheck, check_sources, profile_overrides, write_profile
from synthvlm_repro.data_sources.fetch import MANIFEST, FetchError, extract_zip, fetch
from synthvlm_repro.data_sources.registry import SOURCES
from synthvlm_repro.path_policy import PathPolicyError
from tests.data_fixtures import INSTRUCT_IMAGES, hf_cache_with_hub_sources, jpeg_bytes, write_data_tree

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_tree(tmp_path_factory):
    return write_data_tree(tmp_path_factory.mktemp("data") / "root")


def test_registry_describes_every_input_and_fills_real_config_keys(tmp_path):
    for s in SOURCES:
        assert s.what and s.origin and s.size and s.licence and s.stages, s.name
        assert s.fetchable or s.manual, f"{s.name}: neither on the hub nor with manual steps"
    # every key the registry fills must be a key of the typed config (validated, not just spelled right)
    every = profile_overrides([SourceCheck(s.name, "ok", tmp_path, "") for s in SOURCES], tmp_path)
    cfg = ProjectConfig.model_validate(every)
    assert cfg.training.phase2_data == str(tmp_path / "llava_v1_5_mix665k.json")
    assert cfg.curation.image_root == str(tmp_path / "LLaVA-Pretrain" / "images")


def test_list_names_every_source_with_its_config_key(capsys, tmp_path):
    assert main(["data", "list", "--steps", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for s in SOURCES:
        assert s.name in out
        for key in s.fills:
            assert key in out
    assert f"unzip train2017.zip -d {tmp_path}/coco" in out  # manual steps name the real data root


def test_fetch_offline_resolves_from_the_hf_cache_and_places_files(tmp_path):
    """The CLI in a fresh process with HF_HOME pointing at a populated cache and HF_HUB_OFFLINE=1."""
    hf_home = tmp_path / "hf"
    hf_cache_with_hub_sources(hf_home / "hub")
    root = tmp_path / "data"
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-m", "synthvlm_repro.cli", "data", "fetch", "--data-root", str(root),
           "llava-pretrain-captions", "llava-pretrain-images", "mmlu"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    caption_json = root / "LLaVA-Pretrain" / "blip_laion_cc_sbu_558k.json"
    blob = next((hf_home / "hub" / "datasets--liuhaotian--LLaVA-Pretrain" / "snapshots").rglob(caption_json.name))
    assert os.path.samefile(caption_json, blob.resolve())  # a hard link to the cache blob, no second copy
    assert len(json.loads(caption_json.read_text())) == 3
    assert (root / "LLaVA-Pretrain" / "images" / "00000" / "000000002.jpg").read_bytes() == jpeg_bytes(2)
    assert len(list((root / "mmlu" / "data" / "test").glob("*_test.csv"))) == 57
    assert (root / "mmlu" / "data" / "dev" / "anatomy_dev.csv").read_text().count("\n") == 5
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["LLaVA-Pretrain/blip_laion_cc_sbu_558k.json"]["digest"] == f"sha256:{blob.resolve().name}"

    again = subprocess.run(cmd, env=env, capture_output=True, text=True)  # idempotent: everything is in place
    assert again.returncode == 0, again.stderr
    results = {r.name: r for r in check_sources(root, ["llava-pretrain-captions", "llava-pretrain-images", "mmlu"],
                                                checksums=True)}
    assert results["llava-pretrain-images"].status == "ok", results["llava-pretrain-images"]
    assert results["llava-pretrain-captions"].status == "warn"  # 3 rows, not 558,128
    assert results["mmlu"].status == "warn" and results["mmlu"].summary == "57 subjects, 342 questions"
    # the evaluation stage's own reader takes the converted files
    from synthvlm_repro.evaluation.mmlu import convert_hendrycks_csv

    jsonl = convert_hendrycks_csv(root / "mmlu" / "data", tmp_path / "jsonl")
    first = json.loads((jsonl / "test" / "anatomy.jsonl").read_text().splitlines()[0])
    assert first["question"] == "anatomy question 0, with a comma" and first["choices"] == ["1", "2", "3", "4"]


def test_fetch_not_cached_offline_is_one_line_error(tmp_path, monkeypatch):
    with pytest.raises(FetchError, match=r"liuhaotian/LLaVA-Instruct-150K/llava_v1_5_mix665k.json: not in the HF cache"):
        fetch("llava-instruct-665k", tmp_path / "data", cache_dir=tmp_path / "empty-cache")
    assert main(["data", "fetch", "--data-root", str(tmp_path), "coco-train2017"]) == 1  # manual: steps, exit 1


def test_checksums_catch_a_placed_file_that_changed(tmp_path):
    hf_cache_with_hub_sources(tmp_path / "hub")
    root = tmp_path / "data"
    fetch("llava-pretrain-captions", root, cache_dir=tmp_path / "hub", log=lambda *_: None)
    placed = root / "LLaVA-Pretrain" / "blip_laion_cc_sbu_558k.json"
    text = placed.read_text()
    placed.unlink()  # break the hard link, then write a different file of the same length
    placed.write_text(text.replace("number 1", "number 7"))
    (result,) = check_sources(root, ["llava-pretrain-captions"], checksums=True)
    assert result.status == "fail" and any("checksum mismatch" in d for d in result.details)


def test_extract_zip_resumes_and_refuses_members_that_leave_the_folder(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("images/a/1.jpg", b"one")
        zf.writestr("images/a/2.jpg", b"two")
    target = tmp_path / "out" / "images"
    (target / "a").mkdir(parents=True)
    (target / "a" / "1.jpg").write_bytes(b"one")  # left by an interrupted run
    assert extract_zip(good, target) == 2
    assert (target / "a" / "2.jpg").read_bytes() == b"two"  # the wrapping images/ level is not repeated
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.jpg", b"x")
    with pytest.raises(PathPolicyError, match="leaves its folder"):
        extract_zip(bad, tmp_path / "out2")
    assert not (tmp_path / "escape.jpg").exists()


def test_check_on_a_fixture_tree_writes_a_profile_the_kit_loads(data_tree, tmp_path, capsys):
    out = tmp_path / "paper-data.yaml"
    code = main(["data", "check", "--data-root", str(data_tree), "--write-profile", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = {r.name: r for r in check_sources(data_tree)}
    assert all(r.present for r in results.values()), printed
    assert results["coco-train2017"].status == "ok"
    assert "1 of 1 images" in results["ocr-vqa-images"].summary
    assert results["llava-eval"].status == "ok", results["llava-eval"].details
    cfg = load_config(out)
    assert cfg.curation.source == str(data_tree / "LLaVA-Pretrain" / "blip_laion_cc_sbu_558k.json")
    assert cfg.curation.image_root == str(data_tree / "LLaVA-Pretrain" / "images")
    assert cfg.curation.kenlm_model == str(data_tree / "datajuicer" / "en.arpa.bin")
    assert cfg.training.phase2_image_folder == str(data_tree)
    assert cfg.evaluation.data_dir == str(data_tree / "eval")
    assert cfg.synthesis.steps == 60  # extends: paper


def test_check_names_the_missing_images_and_exits_1(tmp_path):
    root = write_data_tree(tmp_path / "root")
    (root / INSTRUCT_IMAGES[0]).unlink()
    (root / "eval" / "pope" / "coco" / "coco_pope_random.json").unlink()
    results = {r.name: r for r in check_sources(root, ["coco-train2017", "gqa-images", "llava-eval"])}
    coco = results["coco-train2017"]
    assert coco.status == "fail" and coco.details == [f"missing: {INSTRUCT_IMAGES[0]}"]
    assert results["gqa-images"].status == "ok"
    assert results["llava-eval"].status == "fail"
    assert any("pope: answer file missing: pope/coco/coco_pope_random.json" in d for d in results["llava-eval"].details)
    out = tmp_path / "p.yaml"
    assert main(["data", "check", "--data-root", str(root), "--write-profile", str(out)]) == 1
    assert load_config(out).training.phase2_data.endswith("llava_v1_5_mix665k.json")  # the JSON itself is fine


def test_empty_root_is_all_missing_and_the_profile_only_extends_paper(tmp_path):
    results = check_sources(tmp_path)
    assert {r.status for r in results} == {"missing"}
    out = write_profile(results, tmp_path, tmp_path / "p.yaml")
    assert load_config(out).model_dump() == load_config("paper").model_dump() | {"profile": "p"}
