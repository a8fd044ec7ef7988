"""The path policy refuses data paths that leave their folder."""

import os
from pathlib import Path

import pytest

from synthvlm_repro.path_policy import PathPolicyError, is_within, resolve_within


def test_relative_path_inside_root_resolves(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_within(tmp_path, "a/x.jpg") == (tmp_path / "a" / "x.jpg").resolve()


@pytest.mark.parametrize("value", ["../x.jpg", "a/../../x.jpg", "/etc/passwd", None, float("nan"), "", "  ", 3, "a\x00b"])
def test_bad_values_are_refused_with_one_line(tmp_path, value):
    with pytest.raises(PathPolicyError) as err:
        resolve_within(tmp_path, value, what="image")
    assert "\n" not in str(err.value) and "image" in str(err.value)


def test_absolute_allowed_only_when_asked(tmp_path):
    assert resolve_within(tmp_path, "/etc/passwd", allow_absolute=True) == Path(os.path.realpath("/etc/passwd"))


def test_symlink_out_of_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(PathPolicyError):
        resolve_within(root, "link/x.jpg")
    assert not is_within(root, root / "link" / "x.jpg")
    assert is_within(root, root / "y.jpg")
