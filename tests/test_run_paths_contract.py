"""``RunPaths`` is the whole run-dir contract: no module builds a run-dir path by hand, and reading a
path never creates a directory."""

import ast
import inspect
from pathlib import Path

import pytest

import synthvlm_repro
from synthvlm_repro.paths import RunPaths

PACKAGE = Path(synthvlm_repro.__file__).resolve().parent
#: Variables that hold a run dir where no ``RunPaths`` is at hand.
RUN_DIR_NAMES = {"run_dir", "run_root"}


def _is_paths(node: ast.AST) -> bool:
    """``paths`` or ``<anything>.paths`` (a ``RunPaths`` by the package's naming)."""
    return (isinstance(node, ast.Name) and node.id == "paths") or \
        (isinstance(node, ast.Attribute) and node.attr == "paths")


def _is_run_dir_path(node: ast.AST) -> bool:
    """An expression that is a run-dir path: ``x.root``, ``paths.<property>``, ``paths.<method>(...)``,
    or a variable named like a run dir."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr == "root" or _is_paths(node.value)
    return isinstance(node, ast.Name) and node.id in RUN_DIR_NAMES


#: Files inside an artifact whose layout belongs to another format, not to the run dir: a saved
#: transformers checkpoint's ``config.json``, the benchmark fixtures' layout marker.
FOREIGN_LAYOUT_FILES = {"config.json", "README.txt"}


def _is_literal_name(node: ast.AST) -> bool:
    """A literal file or folder name: ``"final"`` or ``f"{name}.parquet"``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value not in FOREIGN_LAYOUT_FILES
    return isinstance(node, ast.JoinedStr)


def _aliases(tree: ast.AST) -> set[str]:
    """Local names bound to a run-dir path (``evaluation = ctx.paths.evaluation``), so a join through an
    alias is caught too."""
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_run_dir_path(node.value)
            for t in node.targets if isinstance(t, ast.Name)}


def hand_built_run_paths(source: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every run-dir path built by hand in ``source``: ``<run-dir path> / "name"``
    (also through a local alias of one) or ``<run-dir path>.joinpath(...)``."""
    found = []
    tree = ast.parse(source)
    aliases = _aliases(tree)
    for node in ast.walk(tree):
        left = getattr(node, "left", None)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_literal_name(node.right) \
                and (_is_run_dir_path(left) or (isinstance(left, ast.Name) and left.id in aliases)):
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "joinpath" and _is_run_dir_path(node.func.value):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_module_builds_run_dir_paths_by_hand():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "paths.py":
            continue
        for line, code in hand_built_run_paths(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {code}")
    assert not offenders, "run-dir paths built by hand (add a RunPaths property or method):\n" + "\n".join(offenders)


@pytest.mark.parametrize("code", [
    'ctx.paths.root / "captions"',
    'paths.root / "selection" / "quality"',
    'self.paths.root.joinpath("preference")',
    'ctx.paths.selection / "score_parts" / fingerprint',
    'paths.training_phase_dir(2) / "final"',
    'paths.figures / "training_loss"',
    'ctx.paths.evaluation / f"{name}.json"',
    'run_dir / "synthesis" / "launch.log"',
])
def test_the_check_finds_hand_built_paths(code):
    assert hand_built_run_paths(f"x = {code}\n"), code


@pytest.mark.parametrize("code", [
    "paths.results_csv",
    'paths.figure("training_loss")',
    "paths.root / rel",  # a path read from an artifact, relative to the run dir
    'self.out / "benchmarks_table"',  # figures.output_dir, outside the run dir
    'data_root(ctx) / "mmlu" / "data"',  # benchmark files, outside the run dir
])
def test_the_check_leaves_named_paths_alone(code):
    assert not hand_built_run_paths(f"x = {code}\n"), code


def test_the_check_follows_a_local_alias_of_a_run_dir_path():
    assert hand_built_run_paths('evaluation = ctx.paths.evaluation\nx = evaluation / "submissions"\n')
    assert not hand_built_run_paths('final = paths.training_final_dir(1)\nok = (final / "config.json").exists()\n')


def test_the_check_catches_a_reintroduced_case_in_real_source():
    """Undo one replacement in a real module: the check must flag exactly that line."""
    source = (PACKAGE / "evaluation" / "run.py").read_text(encoding="utf-8")
    assert "ctx.paths.evaluation_answers" in source and not hand_built_run_paths(source)
    reverted = source.replace("ctx.paths.evaluation_answers", 'ctx.paths.evaluation / "answers"', 1)
    found = hand_built_run_paths(reverted)
    assert [code for _, code in found] == ["ctx.paths.evaluation / 'answers'"]


def _sample_argument(parameter: inspect.Parameter):
    return 1 if parameter.annotation in (int, "int") else "x"


def _read_everything(paths: RunPaths) -> list[Path]:
    """Every property and every path method of ``paths`` (methods called with sample arguments)."""
    read = []
    for name, member in inspect.getmembers(RunPaths):
        if name.startswith("_") or name in ("for_run", "root"):
            continue
        if isinstance(member, property):
            read.append(getattr(paths, name))
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters.values())[1:]
            value = getattr(paths, name)(*[_sample_argument(p) for p in params])
            read.append(value.root if isinstance(value, RunPaths) else value)
    return read


def test_reading_every_path_creates_no_directory(tmp_path):
    root = tmp_path / "run"
    read = _read_everything(RunPaths(root))
    assert len(read) > 40 and all(isinstance(p, Path) and root in p.parents for p in read)
    assert not root.exists()
    assert RunPaths(root).training_phase_dir(2) == root / "training" / "phase2"


def test_for_run_creates_only_the_root(tmp_path):
    paths = RunPaths.for_run(tmp_path / "run")
    _read_everything(paths)
    assert paths.root.is_dir() and list(paths.root.iterdir()) == []


def test_training_phase_dir_refuses_other_phases(tmp_path):
    with pytest.raises(ValueError, match="training phase must be 1 or 2"):
        RunPaths(tmp_path).training_phase_dir(3)
