"""sspd.evaluate.metrics against hand-computed values and scipy.stats."""
import numpy as np
import pytest
import scipy.stats

from sspd.evaluate import metrics as M

PRED = np.array([72.0, 80.0, 65.0, 90.0])
TRUE = np.array([70.0, 82.0, 65.0, 86.0])
# errors e = [2, -2, 0, 4]


def test_hand_computed_values():
    assert M.me(PRED, TRUE) == pytest.approx(1.0)
    assert M.mae(PRED, TRUE) == pytest.approx(2.0)
    assert M.rmse(PRED, TRUE) == pytest.approx(np.sqrt(24 / 4))
    # SD with 1/(n-1): deviations from ME = [1, -3, -1, 3] -> 20/3
    assert M.sd(PRED, TRUE) == pytest.approx(np.sqrt(20 / 3))
    assert M.mape(PRED, TRUE) == pytest.approx(100 / 4 * (2 / 70 + 2 / 82 + 0 + 4 / 86))
    # SE of MAE: |e| = [2, 2, 0, 4], sd(ddof=1) = sqrt(8/3)
    assert M.mae_se(PRED, TRUE) == pytest.approx(np.sqrt(8 / 3) / 2)


def test_pearson_matches_scipy_and_ccc_formula():
    rng = np.random.default_rng(3)
    t = rng.uniform(50, 120, 40)
    p = t + rng.normal(3, 5, 40)
    assert M.pearson_r(p, t) == pytest.approx(scipy.stats.pearsonr(p, t)[0], abs=1e-12)
    # Lin's CCC with 1/n moments, written out by hand
    sxy = np.mean((p - p.mean()) * (t - t.mean()))
    expected = 2 * sxy / (np.var(p) + np.var(t) + (p.mean() - t.mean()) ** 2)
    assert M.ccc(p, t) == pytest.approx(expected)
    assert M.ccc(t, t) == pytest.approx(1.0)
    # a constant offset keeps r = 1 but lowers CCC
    assert M.pearson_r(t + 10, t) == pytest.approx(1.0) and M.ccc(t + 10, t) < 0.9


def test_bland_altman_limits_no_sqrt2():
    ba = M.bland_altman(PRED, TRUE)
    sd = np.sqrt(20 / 3)
    assert ba["bias"] == pytest.approx(1.0) and ba["n"] == 4
    assert ba["loa_low"] == pytest.approx(1 - 1.96 * sd)
    assert ba["loa_high"] == pytest.approx(1 + 1.96 * sd)
    assert np.allclose(ba["mean"], (PRED + TRUE) / 2) and np.allclose(ba["diff"], PRED - TRUE)


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    t = rng.uniform(55, 110, 60)
    p = t + rng.normal(0.5, 4, 60)
    s = M.summarize(p, t, n_boot=300, seed=1)
    assert s["n"] == 60 and s["resample_unit"] == "unit"
    for name, m in s["metrics"].items():
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
    assert s["metrics"]["MAE"]["ci_high"] - s["metrics"]["MAE"]["ci_low"] > 0
    assert M.summarize(p, t, n_boot=300, seed=1) == s                 # reproducible
    assert M.summarize(p, t, n_boot=300, seed=2)["metrics"]["MAE"] != s["metrics"]["MAE"]


def test_group_bootstrap_resamples_subjects():
    # 3 subjects x 20 windows; subject errors are constant within subject (+5, 0, -5)
    t = np.full(60, 70.0)
    p = t + np.repeat([5.0, 0.0, -5.0], 20)
    groups = np.repeat(["a", "b", "c"], 20)
    lo, hi = M.bootstrap_ci(M.me, p, t, groups=groups, n_boot=500, seed=0)
    s = M.summarize(p, t, groups=groups, n_boot=200, seed=0)
    assert s["n_groups"] == 3 and s["resample_unit"] == "group"
    assert lo <= -2.0 and hi >= 2.0            # wide: only 3 independent subjects
    lo_u, hi_u = M.bootstrap_ci(M.me, p, t, n_boot=500, seed=0)
    assert hi_u - lo_u < hi - lo               # resampling windows understates the uncertainty


def test_invalid_inputs():
    with pytest.raises(ValueError, match="same length"):
        M.mae([1, 2], [1])
    with pytest.raises(ValueError, match="NaN"):
        M.mae([1, np.nan], [1, 2])


def test_paired_change_is_the_mean_difference_with_a_paired_ci_and_its_sign():
    rng = np.random.default_rng(0)
    b = rng.uniform(1, 10, 12)
    worse = M.paired_change(b + 2.0 + rng.normal(0, 0.1, 12), b, n_boot=300)
    assert worse["change"] == pytest.approx(2.0, abs=0.1) and worse["sign"] == 1
    assert 1.8 < worse["change_lo"] < worse["change"] < worse["change_hi"] < 2.2   # pairing removes b's spread
    assert M.paired_change(b - 2.0, b, n_boot=100)["sign"] == -1
    assert M.paired_change(b + rng.normal(0, 1, 12), b, n_boot=300)["sign"] == 0
