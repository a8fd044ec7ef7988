"""``synthvlm-repro doctor``: green on smoke, red with specific reasons on paper offline, data rows green on a
fixture tree through the profile ``data check`` writes, and the GPU/disk/estimate arithmetic."""

from pathlib import Path

import pytest

from synthvlm_repro.cli import main
from synthvlm_repro.config import load_config
from synthvlm_repro.data_sources.check import check_sources, write_profile
from synthvlm_repro.doctor.checks import check_disk, estimates
from synthvlm_repro.doctor.probes import Gpu, resolve_model
from synthvlm_repro.doctor.report import run_doctor
from synthvlm_repro.paths import RunPaths
from tests.data_fixtures import populate_hf_cache, write_data_tree

H200 = Gpu("NVIDIA H200", 139.8)


def details(report, status="block"):
    return [f"{r.stage} {r.aspect} {r.detail}" for r in report.rows if r.status == status]


def test_smoke_profile_is_green(tmp_path, capsys):
    report = run_doctor("smoke", run_dir=tmp_path / "run", gpus=[])
    assert report.ok, report.problems()
    assert main(["doctor", "--profile", "smoke", "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "verdict: ready" in out and "01 curation" in out
    assert not (tmp_path / "run").exists()  # the doctor creates nothing


def test_paper_profile_offline_without_gpu_is_red_with_reasons(tmp_path):
    report = run_doctor("paper", run_dir=tmp_path / "run", gpus=[], cache_dir=tmp_path / "empty-hf-cache")
    assert not report.ok
    blocked = "\n".join(details(report))
    assert "01 models curation.judge_model=meta-llama/Meta-Llama-3-70B-Instruct: not in the HF cache" in blocked
    assert "02 models synthesis.model=stabilityai/stable-diffusion-xl-base-1.0: not in the HF cache" in blocked
    assert "01 data curation.source captions.json: file not found" in blocked
    assert "05 data evaluation.data_dir not set" in blocked
    assert "04 gpu no CUDA GPU" in blocked
    table = report.table()
    assert list(table["gpu"]) == ["BLOCK"] * 6
    assert main(["doctor", "--profile", "paper", "--run-dir", str(tmp_path / "run")]) == 1


def test_data_rows_go_green_with_a_fixture_tree_and_the_checked_profile(tmp_path):
    root = write_data_tree(tmp_path / "data")
    profile = write_profile(check_sources(root), root, tmp_path / "paper-data.yaml")
    report = run_doctor(profile, run_dir=tmp_path / "run", gpus=[])
    data_rows = [r for r in report.rows if r.aspect == "data"]
    assert data_rows and all(r.status == "ok" for r in data_rows), [r for r in data_rows if r.status != "ok"]
    assert list(report.table()["data"]) == ["ok"] * 6
    assert not report.ok  # still red: no GPU and no cached models here


def test_gpu_memory_against_the_configured_batches(tmp_path):
    run = tmp_path / "run"
    gpu = {r.stage: r for r in run_doctor("paper", run_dir=run, gpus=[H200] * 8).rows if r.aspect == "gpu"}
    assert all(r.status == "ok" for r in gpu.values()), gpu
    one = {r.stage: r for r in run_doctor("paper", run_dir=run, gpus=[H200]).rows if r.aspect == "gpu"}
    assert one["01"].status == "block" and "over 1 GPU" in one["01"].detail  # the 70B judge needs ~145 GiB
    small = {r.stage: r for r in run_doctor("paper", run_dir=run, gpus=[Gpu("T4", 15.0)] * 8).rows
             if r.aspect == "gpu"}
    assert small["02"].status == "block" and small["03"].status == "ok"
    assert small["04"].status == "block" and "needs ≈" in small["04"].detail
    # a smaller stage-1 batch needs less memory
    bs8 = run_doctor("paper", ["training.phase1.per_device_batch_size=8"], run_dir=run, gpus=[Gpu("A100", 40.0)] * 8)
    bs64 = run_doctor("paper", ["training.phase1.per_device_batch_size=64"], run_dir=run, gpus=[Gpu("A100", 40.0)] * 8)
    assert [r.status for r in bs8.rows if r.stage == "04" and r.aspect == "gpu"] == ["ok"]
    assert [r.status for r in bs64.rows if r.stage == "04" and r.aspect == "gpu"] == ["block"]


def test_estimates_follow_the_bench_figures(tmp_path):
    cfg = load_config("paper")
    paths = RunPaths(tmp_path)
    ests, basis = estimates(cfg, paths, captions=100_000)
    by = {e.stage: e for e in ests}
    assert by["02"].gpu_hours == "61.7 H200-h"  # RESULTS.md: ≈ 61 GPU-hours per 100K images at repeat 1
    assert by["02"].disk_bytes == pytest.approx(100_000 * 1024 * 1024 * 0.375)
    five = {e.stage: e for e in estimates(load_config("paper", ["synthesis.repeat=5"]), paths, 100_000)[0]}
    assert five["02"].gpu_hours == "308.6 H200-h"  # RESULTS.md: ≈ 307 at repeat 5
    assert by["04"].gpu_hours.startswith("1.6 H200-h")  # 100K at 17.74 samples/s: RESULTS.md's 1.57 h
    _, default_basis = estimates(cfg, paths)
    assert "paper's 1M" in default_basis
    rows = check_disk(cfg, paths, ests, (tmp_path, 10 * 10**9))
    status = {r.stage: r.status for r in rows}
    assert status["01"] == "ok" and status["02"] == "block" and status["04"] == "block"


def test_model_resolution_through_the_hf_cache(tmp_path, tiny):
    cache = tmp_path / "hub"
    populate_hf_cache(cache, "lmsys/vicuna-7b-v1.5", {"config.json": b"{}", "model.safetensors": b"x" * 64},
                      repo_type="model")
    populate_hf_cache(cache, "org/partial", {"config.json": b"{}"}, repo_type="model")
    assert resolve_model("lmsys/vicuna-7b-v1.5", cache).status == "ok"
    partial = resolve_model("org/partial", cache)
    assert partial.status == "block" and "no weight files" in partial.detail
    assert resolve_model("tiny:vicuna", cache).status == "ok"
    assert resolve_model("tiny:nope", cache).status == "block"
    assert resolve_model(str(tmp_path / "missing-dir"), cache).status == "block"
    assert resolve_model(str(Path(tiny("vicuna"))), cache).status == "ok"


def test_known_open_clip_table_matches_open_clip():
    open_clip = pytest.importorskip("open_clip")
    from synthvlm_repro.doctor.probes import KNOWN_OPEN_CLIP

    for (model, tag), cfg in KNOWN_OPEN_CLIP.items():
        assert open_clip.get_pretrained_cfg(model, tag)["hf_hub"] == cfg["hf_hub"]


def test_stage_01_runs_the_doctor_first_on_real_profiles_only(tmp_path):
    from synthvlm_repro.curation.stage import doctor_preflight, wants_preflight
    from synthvlm_repro.curation.switches import switch_overrides
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.runtime.distributed import Shard

    paper = prepare_run("paper", tmp_path / "run", switch_overrides(["judge"], {}))  # as notebook 01 builds it
    report = doctor_preflight(paper)
    assert not report.ok
    assert not any("curation.judge_model" in r.detail for r in report.rows)  # the notebook's switches apply
    assert wants_preflight(paper) and not wants_preflight(paper, Shard(0, 2)) and not wants_preflight(paper, merge=True)
    assert not wants_preflight(prepare_run("smoke", tmp_path / "smoke"))


def test_synthesis_memory_follows_its_batch_size(tmp_path):
    gpus = [Gpu("L40S", 44.4)] * 8
    rows = {bs: [r for r in run_doctor("paper", [f"synthesis.batch_size={bs}"], run_dir=tmp_path, gpus=gpus).rows
                 if r.stage == "02" and r.aspect == "gpu"][0] for bs in (8, 32)}
    assert rows[8].status == "ok" and rows[32].status == "block"
    assert "batch 32 at 1024x1024" in rows[32].detail
