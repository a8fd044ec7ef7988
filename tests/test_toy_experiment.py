"""The toy experiment's statistics: per-arm intervals, the paired contrast and the plain-words verdict."""

import pandas as pd
import pytest

from synthvlm_repro.toy.experiment import contrast, interval, summary, verdict


def _table(gap: float) -> pd.DataFrame:
    rows = []
    for seed, noise in enumerate((0.0, 0.5, -0.5)):
        for arm, base in (("clip+ssim", 50 + gap), ("random", 50.0)):
            rows.append({"arm": arm, "seed": seed, "gqa": base + noise, "pope": base - noise, "mmbench": base,
                         "precision": base, "precision_all": base, **{f"precision_{k}": base for k in
                                                                      ("shape", "colour", "size", "position")}})
    return pd.DataFrame(rows)


def test_interval_is_the_t_interval():
    mean, half = interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / 3 ** 0.5, rel=1e-3)


def test_contrast_pairs_seeds_and_says_whether_it_held():
    c = contrast(_table(5.0)).set_index("metric")
    assert c.loc["gqa", "difference"] == pytest.approx(5.0) and c.loc["gqa", "held"]
    assert "HELD" in verdict(_table(5.0))
    flat = contrast(_table(0.0)).set_index("metric")
    assert not flat["held"].any()
    assert "NOT SHOWN" in verdict(_table(0.0))
    assert set(summary(_table(1.0))["arm"]) == {"clip+ssim", "random"}
