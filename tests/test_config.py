"""Profiles load into typed stage configs; every mistake is a one-line error naming file/override and key."""

import pytest

from synthvlm_repro.config import ConfigError, ProjectConfig, dump_config, load_config


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_shipped_profiles_load(profile):
    cfg = load_config(profile)
    assert isinstance(cfg, ProjectConfig) and cfg.profile == profile


def test_paper_profile_holds_the_papers_settings():
    s = load_config("paper")
    assert s.synthesis.model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert s.synthesis.refiner == "stabilityai/stable-diffusion-xl-refiner-1.0"
    assert (s.synthesis.steps, s.synthesis.width, s.synthesis.height) == (60, 1024, 1024)
    assert (s.synthesis.guidance_scale, s.synthesis.high_noise_frac) == (20.0, 0.8)
    assert (s.selection.clip_model, s.selection.clip_pretrained) == ("ViT-B-32", "openai")
    assert (s.selection.ssim_weight, s.selection.top_k) == (0.5, 100_000)
    assert s.training.language_model == "lmsys/vicuna-7b-v1.5"


def test_smoke_profile_is_small_and_offline():
    s = load_config("smoke")
    assert s.tiny_models and s.device == "cpu"
    assert 64 <= s.synthesis.width <= 128 and 2 <= s.synthesis.steps <= 4
    assert all(m.startswith("tiny:") for m in (s.synthesis.model, s.selection.clip_model,
                                                s.training.vision_tower, s.training.language_model))


def test_overrides_from_list_and_mapping():
    assert load_config("smoke", ["synthesis.steps=3", "selection.ssim_weight=0"]).synthesis.steps == 3
    assert load_config("smoke", {"synthesis.negative_prompt": "blurry"}).synthesis.negative_prompt == "blurry"
    assert load_config("smoke", ["synthesis.refiner=null"]).synthesis.refiner is None


def _one_line(err: ConfigError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("extends: smoke\nsynthesis:\n  stepz: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    assert _one_line(e.value) == f"{bad}: synthesis.stepz: unknown key"


def test_wrong_type_in_yaml_names_file_and_key(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("synthesis:\n  steps: many\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    text = _one_line(e.value)
    assert text.startswith(f"{bad}: synthesis.steps:") and "'many'" in text


def test_unknown_section_and_bad_override():
    with pytest.raises(ConfigError, match=r"^override 'synthesys.steps=3': synthesys: unknown key$"):
        load_config("smoke", ["synthesys.steps=3"])
    with pytest.raises(ConfigError, match=r"^override 'synthesis.steps=x': synthesis.steps: .*'x'"):
        load_config("smoke", ["synthesis.steps=x"])
    with pytest.raises(ConfigError, match="expected stage.key=value"):
        load_config("smoke", ["steps"])


def test_unknown_profile_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no profile named 'nope'"):
        load_config("nope")
    bad = tmp_path / "broken.yaml"
    bad.write_text("synthesis: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        _one_line(load_config(bad))


def test_extends_merges_sections(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: paper\nsynthesis:\n  steps: 30\n")
    cfg = load_config(mine)
    assert cfg.synthesis.steps == 30 and cfg.synthesis.width == 1024 and cfg.profile == "mine"


def test_dump_round_trips(tmp_path):
    cfg = load_config("smoke", ["synthesis.steps=2"])
    out = tmp_path / "effective.yaml"
    out.write_text(dump_config(cfg))
    assert load_config(out) == cfg.model_copy(update={"profile": cfg.profile})


def test_cli_reports_bad_override_in_one_line(capsys):
    from synthvlm_repro.cli import main

    assert main(["config", "--set", "synthesis.nope=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: override 'synthesis.nope=1': synthesis.nope: unknown key"
