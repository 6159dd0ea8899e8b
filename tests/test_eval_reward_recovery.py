"""Reward-recovery metrics: Spearman with user bootstrap, quantile calibration, AUC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtrec_ray.eval.reward_recovery import (
    CALIBRATION_TAUS,
    bootstrap_spearman,
    coverage,
    fit_rescaling,
    quantiles_at,
    rating_auc,
)
from mtrec_ray.models.quantile import quantile_levels


def test_quantiles_at_interpolates_midpoints():
    q = np.array([[0.0, 1.0, 2.0, 3.0]])  # levels .125 .375 .625 .875
    out = quantiles_at(q, np.array([0.125, 0.25, 0.5, 0.875, 0.95]))
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.5, 3.0, 3.0]])
    np.testing.assert_allclose(quantiles_at(np.array([[2.0]]), np.array([0.1, 0.9])), [[2.0, 2.0]])


def test_calibrated_quantiles_cover_and_points_do_not():
    rng = np.random.default_rng(0)
    n, big = 4000, 16
    mean = rng.normal(size=n)
    sd = np.exp(rng.normal(scale=0.3, size=n))
    levels = quantile_levels(big).numpy()
    q = mean[:, None] + sd[:, None] * stats.norm.ppf(levels)[None, :]
    # the model's units differ from satisfaction's by a monotone affine map
    real_valid = 1.0 + 2.0 * (mean + sd * rng.normal(size=n))
    real_test = 1.0 + 2.0 * (mean + sd * rng.normal(size=n))
    resc = fit_rescaling(q, real_valid)
    assert resc.b == pytest.approx(2.0, rel=0.1) and resc.c == pytest.approx(2.0, rel=0.15)
    cov, err = coverage(q, real_test, resc)
    assert cov.shape == CALIBRATION_TAUS.shape and np.all(np.diff(cov) > 0)
    assert err < 0.03
    point = mean[:, None]
    _, err_point = coverage(point, real_test, fit_rescaling(point, real_valid))
    assert err_point > 0.15


def test_bootstrap_spearman_resamples_users():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(200, 5))
    score = truth + rng.normal(size=(200, 5))
    users = np.repeat(np.arange(40), 5)
    s, (lo, hi) = bootstrap_spearman(score, truth, users, n_boot=100)
    assert s == pytest.approx(stats.spearmanr(score.ravel(), truth.ravel()).statistic)
    assert lo < s < hi and hi - lo < 0.2


def test_rating_auc_known_values():
    rating = np.array([5, 4, 1, 2, 3])
    assert rating_auc(np.array([0.9, 0.8, 0.1, 0.2, 0.5]), rating) == 1.0
    assert rating_auc(np.array([0.1, 0.2, 0.9, 0.8, 0.5]), rating) == 0.0
    assert rating_auc(np.zeros(5), rating) == 0.5  # ties count half
    assert np.isnan(rating_auc(np.zeros(2), np.array([5, 4])))
