"""Typed, validated configuration: one pydantic model per stage, loaded from ``configs/<profile>.yaml``.

A profile YAML has one section per stage (``curation``, ``synthesis``, ``selection``, ``training``,
``evaluation``, ``figures``) plus a few project-wide keys. A profile may start from another with
``extends: <profile>``. Overrides (``stage.key=value``, value parsed as YAML) come from the CLI
(``--set``) or from a notebook's ``overrides`` parameter.

Every problem (unknown key, wrong type, malformed override) raises :class:`ConfigError` whose
message is one line naming the file or override and the key.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from synthvlm_repro.curation.config import CurationConfig
from synthvlm_repro.evaluation.config import EvaluationConfig
from synthvlm_repro.figures.config import FiguresConfig
from synthvlm_repro.paths import find_project_root
from synthvlm_repro.selection.config import SelectionConfig
from synthvlm_repro.synthesis.config import SynthesisConfig
from synthvlm_repro.toy.config import ToyConfig
from synthvlm_repro.training.config import LLAVA_KEY_ALIASES, TrainingConfig

#: Devices a profile may name (torch device strings the kit runs on).
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class ConfigError(ValueError):
    """A configuration problem, described in one line."""


class ProjectConfig(BaseModel):
    """The whole kit's configuration for one profile."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    profile: str = "custom"
    description: str = ""
    seed: int = 0
    device: str = "auto"  # "auto" picks cuda when available, else cpu; or cpu, cuda, cuda:N, mps
    tiny_models: bool = False  # True: profile uses the offline tiny random models ("smoke run" marks)
    curation: CurationConfig = CurationConfig()
    synthesis: SynthesisConfig = SynthesisConfig()
    selection: SelectionConfig = SelectionConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    figures: FiguresConfig = FiguresConfig()
    toy: ToyConfig | None = None  # the toy experiment (configs/toy.yaml, notebook 07)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError("must be auto, cpu, cuda, cuda:<index> or mps")
        return value

    def resolved_device(self) -> str:
        """The torch device string this run uses."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def configs_dir() -> Path:
    """The ``configs/`` folder of the project (``$SYNTHVLM_CONFIGS`` overrides)."""
    env = os.environ.get("SYNTHVLM_CONFIGS")
    return Path(env) if env else find_project_root() / "configs"


def profile_path(profile: str | os.PathLike) -> Path:
    """Path of a profile: a name in ``configs/`` or a path to a YAML file."""
    if not isinstance(profile, (str, os.PathLike)):
        raise ConfigError(f"profile must be a name or a YAML path, got {type(profile).__name__} {profile!r}")
    p = Path(profile)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise ConfigError(f"{p}: profile file not found")
        if not p.is_file():
            raise ConfigError(f"{p}: profile path is not a file")
        return p
    candidate = configs_dir() / f"{profile}.yaml"
    if not candidate.exists():
        known = sorted(x.stem for x in configs_dir().glob("*.yaml"))
        raise ConfigError(f"{candidate}: no profile named {profile!r} (known: {', '.join(known)})")
    return candidate


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the
    last silently, so a pasted second ``steps:`` would quietly win)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # unhashable key: PyYAML raises its own error below
                continue
        return super().construct_mapping(node, deep)


def load_yaml_text(text: str):
    """YAML text parsed safely, with duplicate mapping keys refused."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path}:{where} invalid YAML: {problem}") from None
    except (UnicodeDecodeError, OSError) as e:
        raise ConfigError(f"{path}: cannot read the profile ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of stage sections")
    _rename_llava_keys(data, str(path))
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(f"{path}: extends: must be a profile name or a YAML path, got {parent!r}")
    parent_path = profile_path(parent)
    if parent_path.resolve() in seen:
        raise ConfigError(f"{path}: extends: cycle through {parent_path}")
    return _deep_merge(_read_yaml(parent_path, seen + (path.resolve(),)), data)


def _rename_llava_keys(data: dict, source: str) -> None:
    """Rename LLaVA's ``training.stage1``-style keys to the kit's ``training.phase1`` ones in place, so a
    profile written with either spelling merges with ``extends`` and ``--set`` in the other."""
    section = data.get("training")
    if not isinstance(section, dict):
        return
    for old, new in LLAVA_KEY_ALIASES.items():
        if old in section:
            if new in section:
                raise ConfigError(f"{source}: training.{old} is another name of training.{new}; give only one")
            section[new] = section.pop(old)


def _canonical_key(key: str) -> str:
    """``training.stage1.x`` -> ``training.phase1.x`` (LLaVA's names of the training phases)."""
    parts = key.split(".")
    if len(parts) > 1 and parts[0] == "training" and parts[1] in LLAVA_KEY_ALIASES:
        parts[1] = LLAVA_KEY_ALIASES[parts[1]]
    return ".".join(parts)


def _deep_merge(base: dict, top: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _shown(text: object) -> str:
    """``text`` as it can appear in a one-line message (escaped when it holds newlines or other controls)."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(_shown(x) for x in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    given = repr(first.get("input"))
    if len(given) > 200:
        given = given[:200] + "..."
    msg = " ".join(first["msg"].lower().split())  # a validator's message may span lines
    return f"{key}: {msg} (got {given})"


def _validate(data: dict, source: str) -> ProjectConfig:
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_describe(e)}") from None


def parse_overrides(overrides: Iterable[str] | Mapping[str, Any] | None) -> list[tuple[str, str, Any]]:
    """Normalise overrides to ``(label, dotted_key, value)``; string values are parsed as YAML."""
    if not overrides:
        return []
    items: list[tuple[str, str, Any]] = []
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            items.append((f"override {_shown(key)}={value!r}", str(key), value))
        return items
    if isinstance(overrides, str):
        overrides = [overrides]
    for text in overrides:
        if "=" not in text:
            raise ConfigError(f"override {text!r}: expected stage.key=value")
        key, raw = text.split("=", 1)
        try:
            value = load_yaml_text(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        items.append((f"override {text!r}", key.strip(), value))
    return items


def _set_dotted(data: dict, key: str, value: Any, label: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{label}: {_shown(key)}: {_shown(part)} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(
    profile: str | os.PathLike = "smoke",
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
) -> ProjectConfig:
    """Load and validate a profile, then apply overrides (each validated and named on error)."""
    path = profile_path(profile)
    data = _read_yaml(path)
    data.setdefault("profile", Path(profile).stem)
    _validate(data, str(path))
    for label, key, value in parse_overrides(overrides):
        _set_dotted(data, _canonical_key(key), value, label)
        _rename_llava_keys(data, label)
        _validate(data, label)
    return _validate(data, str(path))


def dump_config(cfg: ProjectConfig) -> str:
    """The effective configuration as YAML (recorded next to every run's outputs)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
