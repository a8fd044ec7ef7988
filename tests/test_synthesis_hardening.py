"""Stage 02 against bad manifests (issue 16): ``regenerate`` never writes outside ``--out``."""

import pandas as pd
import pytest

from synthvlm_repro.path_policy import PathPolicyError
from synthvlm_repro.synthesis.regenerate import regenerate


def _manifest(tmp_path, bad_path):
    """A complete manifest (the smoke settings, tiny SDXL) of two images, the second with ``bad_path``."""
    from synthvlm_repro.config import load_config
    from synthvlm_repro.synthesis.regenerate import CONFIG_COLUMNS

    settings = {k: v for k, v in load_config("smoke").synthesis.model_dump().items() if k in CONFIG_COLUMNS}
    common = dict(status="ok", settings_hash="h", batch=0, retried_with_upcast=False, model_revision=None,
                  refiner_revision=None, **settings)
    rows = [dict(caption_id="a", candidate=0, caption="a red car", seed=0, path="synthesis/images/00/a_0.jpg",
                 **common),
            dict(caption_id="b", candidate=1, caption="a blue boat", seed=1, path=bad_path, **common)]
    path = tmp_path / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("bad_path", ["../x.jpg", "synthesis/../../x.jpg", "ABSOLUTE", None])
def test_regenerate_refuses_manifest_paths_outside_out(tmp_path, bad_path):
    if bad_path == "ABSOLUTE":
        bad_path = str(tmp_path / "out" / "x.jpg")
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
