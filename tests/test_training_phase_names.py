"""LLaVA's training "stage 1 / stage 2" are training *phases* here; LLaVA's key names still load."""

import pytest

from synthvlm_repro.config import ConfigError, load_config


def _profile(tmp_path, training_yaml: str):
    path = tmp_path / "p.yaml"
    path.write_text("extends: smoke\ntraining:\n" + training_yaml)
    return path


def test_llava_stage_keys_load_as_phase_keys(tmp_path):
    cfg = load_config(_profile(tmp_path, "  run_stage2: false\n  stage2_data: x.json\n  stage2_image_folder: imgs\n"
                                         "  stage1: {max_steps: 7}\n  stage2: {learning_rate: 3.0e-5}\n")).training
    assert (cfg.run_phase2, cfg.phase2_data, cfg.phase2_image_folder) == (False, "x.json", "imgs")
    assert cfg.phase1.max_steps == 7 and cfg.phase2.learning_rate == 3e-5
    assert cfg.phase1.per_device_batch_size == 4  # smoke's phase1 keys merged with the child's stage1 keys


@pytest.mark.parametrize("key", ["training.phase1.max_steps", "training.stage1.max_steps"])
def test_overrides_in_either_spelling_reach_either_profile_spelling(tmp_path, key):
    legacy = _profile(tmp_path, "  stage1: {save_steps: 5}\n")
    for profile in ("smoke", legacy):
        cfg = load_config(profile, [f"{key}=9"]).training
        assert cfg.phase1.max_steps == 9
    assert load_config(legacy, [f"{key}=9"]).training.phase1.save_steps == 5  # the rest of the section stays


def test_both_spellings_in_one_profile_is_a_one_line_error(tmp_path):
    path = _profile(tmp_path, "  stage1: {max_steps: 7}\n  phase1: {max_steps: 8}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: training\.stage1 is another name of training\.phase1") as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_the_effective_config_names_phases(tmp_path):
    dumped = load_config(_profile(tmp_path, "  stage1: {max_steps: 7}\n")).model_dump()["training"]
    assert {"phase1", "phase2", "run_phase2", "phase2_data"} <= set(dumped)
    assert not {k for k in dumped if "stage" in k}


def test_training_cli_takes_phase():
    import argparse

    from synthvlm_repro.training.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert parser.parse_args(["train", "--phase", "2"]).phase == "2"
    assert parser.parse_args(["finetune"]).phase == "2"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--stage", "2"])
