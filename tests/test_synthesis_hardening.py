"""Stage 02 against bad manifests (issue 16): ``regenerate`` never writes outside ``--out``."""

import pandas as pd
import pytest

from synthvlm_repro.path_policy import PathPolicyError
from synthvlm_repro.synthesis.regenerate import regenerate


def _manifest(tmp_path, bad_path):
    rows = [dict(caption_id="a", candidate=0, path="synthesis/images/00/a_0.jpg", status="ok", settings_hash="h"),
            dict(caption_id="b", candidate=1, path=bad_path, status="ok", settings_hash="h")]
    path = tmp_path / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("bad_path", ["../x.jpg", "synthesis/../../x.jpg", "/tmp/x.jpg", None])
def test_regenerate_refuses_manifest_paths_outside_out(tmp_path, bad_path):
    manifest = _manifest(tmp_path, bad_path)
    out = tmp_path / "out" / "copy"
    with pytest.raises(PathPolicyError) as err:
        regenerate(manifest, out, progress=False)
    message = str(err.value)
    assert "\n" not in message and "manifest.parquet: row 1 (caption_id 'b' candidate 1)" in message
    assert "nothing written" in message
    assert not (tmp_path / "out" / "x.jpg").exists() and not out.exists()  # refused before rendering anything


def test_cli_regenerate_with_an_escaping_path_is_a_one_line_error(tmp_path, capsys):
    from synthvlm_repro.cli import main

    manifest = _manifest(tmp_path, "../x.jpg")
    assert main(["synthesis", "regenerate", "--manifest", str(manifest), "--out", str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "'../x.jpg' leaves its folder" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.jpg").exists()
