"""rbmlib.stats against direct formulas and scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rbmlib import stats


def test_logsumexp_and_logmeanexp():
    x = np.array([1000.0, 1000.0 + math.log(3.0), -np.inf])
    assert stats.logsumexp(x) == pytest.approx(1000.0 + math.log(4.0), rel=1e-15)
    assert stats.logmeanexp(x) == pytest.approx(1000.0 + math.log(4.0 / 3.0), rel=1e-15)
    assert stats.logsumexp([-np.inf, -np.inf]) == -np.inf
    X = np.log(np.arange(1.0, 7.0)).reshape(2, 3)
    np.testing.assert_allclose(stats.logmeanexp(X, axis=1), np.log([2.0, 5.0]), rtol=1e-15)
    with pytest.raises(ValueError, match="empty"):
        stats.logmeanexp([])


def test_entropy_and_kl_divergence():
    p = np.array([0.25, 0.5, 0.0, 0.25])
    assert stats.entropy(p) == pytest.approx(-(2 * 0.25 * np.log(0.25) + 0.5 * np.log(0.5)), rel=1e-15)
    assert stats.entropy(p.reshape(2, 2)) == stats.entropy(p)
    assert stats.kl_divergence(p, p) == 0.0
    assert stats.kl_divergence(p, [0.5, 0.5, 0.0, 0.0]) == np.inf
    assert stats.kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3))
    with pytest.raises(ValueError, match="same shape"):
        stats.kl_divergence([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="probabilities"):
        stats.entropy([0.5, -0.1, 0.6])


def test_chisquare_merged_adjacent_and_pool():
    obs = np.array([1, 2, 30, 40, 25, 1, 1])
    exp = np.array([2.0, 2.0, 28.0, 41.0, 25.0, 1.0, 1.0])
    t = stats.chisquare_merged(obs, exp, merge="adjacent")
    # adjacent from the left: [1+2+30], [40], [25+1+1] (the remainder joins the last group)
    want = sps.chisquare([33, 40, 27], [32.0, 41.0, 27.0])
    assert t.n_bins == 3 and t.dof == 2
    assert t.statistic == pytest.approx(want.statistic) and t.pvalue == pytest.approx(want.pvalue)
    p = stats.chisquare_merged(obs, exp, merge="pool")
    want = sps.chisquare([30, 40, 25, 5], [28.0, 41.0, 25.0, 6.0])
    assert p.n_bins == 4 and p.statistic == pytest.approx(want.statistic)
    go, ge = stats.merge_adjacent_bins(obs, exp)
    assert go.sum() == obs.sum() and ge.sum() == exp.sum()
    with pytest.raises(ValueError, match="merge"):
        stats.chisquare_merged(obs, exp, merge="nearest")
    with pytest.raises(ValueError, match="too few"):
        stats.chisquare_merged([1, 1], [1.0, 1.0])


def test_homogeneity_and_symmetry():
    a = np.array([0, 3, 40, 55, 38, 2, 0])
    t = stats.homogeneity(a, a)
    assert t.statistic == 0 and t.pvalue == 1.0 and t.dof == t.n_bins - 1
    rng = np.random.default_rng(0)
    x, y = rng.multinomial(4000, [0.1, 0.2, 0.4, 0.3]), rng.multinomial(3000, [0.1, 0.2, 0.4, 0.3])
    t = stats.homogeneity(x, y)
    want = sps.chi2_contingency(np.array([x, y]), correction=False)
    assert t.statistic == pytest.approx(want.statistic) and t.pvalue == pytest.approx(want.pvalue)
    with pytest.raises(ValueError, match="same bins"):
        stats.homogeneity(np.ones(4, np.int64), np.ones(5, np.int64))
    C = np.array([[0, 50, 30], [60, 0, 20], [30, 22, 0]])
    s = stats.symmetry_test(C)
    assert s.dof == 3
    assert s.statistic == pytest.approx(10 ** 2 / 110 + 0 + 2 ** 2 / 42)


def test_autocorrelation_of_an_ar1_chain():
    rng = np.random.default_rng(1)
    phi, n_chains, T = 0.8, 200, 2000
    x = np.empty((n_chains, T))
    x[:, 0] = rng.standard_normal(n_chains) / math.sqrt(1 - phi ** 2)
    for t in range(1, T):
        x[:, t] = phi * x[:, t - 1] + rng.standard_normal(n_chains)
    rho = stats.autocorrelation(x, 5)
    np.testing.assert_allclose(rho, phi ** np.arange(6), atol=0.01)
    tau_true = (1 + phi) / (1 - phi)
    tau, lo, hi = stats.integrated_time_chain_means(x)
    assert lo < tau_true < hi
    tau_w, M, se = stats.integrated_time_window(x)
    assert abs(tau_w - tau_true) < 4 * se and M >= 5 * tau_w
    with pytest.raises(ValueError, match="max_lag"):
        stats.autocorrelation(x, T)
