"""Issue 16: config values that used to be silently wrong are one-line ConfigErrors at load."""

import pytest

from synthvlm_repro.config import ConfigError, load_config


def _one_line_error(*args) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(*args)
    text = str(e.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("override", [
    "selection.ssim_weight=nan", "selection.ssim_weight=.nan", "curation.clip_min=nan", "curation.clip_min=.inf",
    "synthesis.guidance_scale=-.inf", "training.phase1.learning_rate=nan", "synthesis.grid_guidance=[5.0, .nan]",
])
def test_config_refuses_nan_and_inf(override):
    key = override.split("=")[0]
    assert f"{key}: input should be a finite number" in _one_line_error("smoke", [override]).replace(
        ".1: input", ": input")


@pytest.mark.parametrize("override", [
    "synthesis.limit=-1", "synthesis.limit=0", "curation.max_captions=-5", "evaluation.limit=-1",
    "training.phase1.max_samples=-1", "curation.alnum_min=1.5", "curation.clip_min=-2", "curation.itm_min=2",
    "training.phase2.per_device_batch_size=0", "training.phase1.warmup_ratio=-0.1",
])
def test_config_refuses_out_of_range_values(override):
    key = override.split("=")[0]
    assert _one_line_error("smoke", [override]).startswith(f"override {override!r}: {key}: input should be")


@pytest.mark.parametrize("device", ["tpu9", "cuda:x", "gpu", "cuda:-1", "CPU"])
def test_config_refuses_unknown_device(device):
    assert "device: value error, must be auto, cpu, cuda, cuda:<index> or mps" in _one_line_error(
        "smoke", [f"device={device}"])
    assert _one_line_error("smoke", ["device=cuda:"]).startswith("override 'device=cuda:': device: ")


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_config_accepts_known_devices(device):
    assert load_config("smoke", [f"device={device}"]).device == device


def test_config_refuses_duplicate_yaml_keys(tmp_path):
    bad = tmp_path / "dup.yaml"
    bad.write_text("extends: smoke\nsynthesis:\n  steps: 3\n  width: 64\n  steps: 4\n")
    assert _one_line_error(bad) == f"{bad}: line 5 invalid YAML: duplicate key 'steps' (first on line 3)"
    top = tmp_path / "dup_top.yaml"
    top.write_text("seed: 1\nseed: 2\n")
    assert "duplicate key 'seed'" in _one_line_error(top)


def test_config_refuses_duplicate_keys_in_an_override():
    assert load_config("smoke", ["figures.tsne_datasets={x: a.json}"]).figures.tsne_datasets == {"x": "a.json"}
    # the duplicate makes the value invalid YAML, so it stays a string, which the dict field refuses
    assert "figures.tsne_datasets" in _one_line_error("smoke", ["figures.tsne_datasets={x: a.json, x: b.json}"])


@pytest.mark.parametrize("extends", ["123", "[smoke]", "{a: 1}", "''", "true"])
def test_config_extends_must_be_a_profile_name(tmp_path, extends):
    bad = tmp_path / "ext.yaml"
    bad.write_text(f"extends: {extends}\n")
    text = _one_line_error(bad)
    assert text.startswith(f"{bad}: extends: must be a profile name or a YAML path, got ")


def test_config_profile_path_that_is_a_directory(tmp_path):
    folder = tmp_path / "x.yaml"
    folder.mkdir()
    assert _one_line_error(folder) == f"{folder}: profile path is not a file"


def test_config_profile_that_is_not_utf8(tmp_path):
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("description: caf\xe9\n".encode("latin-1"))
    assert _one_line_error(bad).startswith(f"{bad}: cannot read the profile")


def test_config_override_key_with_a_newline_is_shown_escaped():
    # found by tests/test_fuzz_inputs.py: the raw key used to split the message over two lines
    assert _one_line_error("smoke", {"\n": 0.0}) == r"override '\n'=0.0: '\n': unknown key"
