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


def test_stage06_draws_the_toy_arms_or_says_why_not(tmp_path):
    from synthvlm_repro.figures.build import build_figures
    from synthvlm_repro.run_context import prepare_run

    ctx = prepare_run("toy", tmp_path / "run", [f"figures.output_dir={tmp_path / 'figures'}"])
    [skipped] = build_figures(ctx, only=["toy_arms"])
    assert skipped.status == "skipped" and "no toy experiment" in skipped.reason
    (ctx.paths.root / "toy_experiment").mkdir()
    _table(5.0).to_csv(ctx.paths.root / "toy_experiment" / "runs.csv", index=False)
    [made] = build_figures(ctx, only=["toy_arms"])
    assert made.status == "made", made.reason
    assert (tmp_path / "figures" / "toy_arms.png").stat().st_size > 10_000
    per_arm = made.table.set_index("arm")
    assert per_arm.loc["clip+ssim", "gqa"] == pytest.approx(55.0)
    assert per_arm.loc["random", "gqa_ci95"] == pytest.approx(4.303 * 0.5 / 3 ** 0.5, abs=0.1)
