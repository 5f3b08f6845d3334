"""rbmlib.exact.total_variation and entropy_production against independent definitions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import entropy as kl_divergence

import rbmlib
from rbmlib import exact


# --------------------------------------------------------------- total variation
def _tv_by_events(p, q):
    """max_A |p(A) - q(A)| over all 2**n events A: the definition, not the L1 formula."""
    n = len(p)
    best = 0.0
    for mask in itertools.product([False, True], repeat=n):
        m = np.array(mask)
        best = max(best, abs(float(p[m].sum() - q[m].sum())))
    return best


def test_total_variation_equals_the_largest_event_difference():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.full(6, 0.3))
        tv = exact.total_variation(p, q)
        assert isinstance(tv, float)
        assert abs(tv - _tv_by_events(p, q)) < 1e-14
        assert abs(tv - exact.total_variation(q, p)) < 1e-15
        assert 0.0 <= tv <= 1.0


def test_total_variation_extremes():
    assert exact.total_variation([0.25, 0.75], [0.25, 0.75]) == 0.0
    assert exact.total_variation([1.0, 0.0, 0.0], [0.0, 0.5, 0.5]) == 1.0
    assert exact.total_variation([0.5, 0.5], [0.75, 0.25]) == pytest.approx(0.25, abs=1e-15)


def test_total_variation_rows_of_a_kernel_against_equilibrium():
    rbm = rbmlib.RBM.random(2, 1, scale=2.0, seed=3)          # 8 joint states: 2**8 events per row
    p = exact.joint_distribution(rbm, 1.0).ravel()
    for n in (1, 3, 10):
        Tn = exact.transition_matrix(rbm, "hv", 1.0, n_sweeps=n)
        d = exact.total_variation(Tn, p)
        assert d.shape == (p.size,)
        np.testing.assert_allclose(d, [_tv_by_events(row, p) for row in Tn], atol=1e-14)
    # the chain converges: distance after many sweeps is round-off
    assert exact.total_variation(exact.transition_matrix(rbm, "hv", 1.0, n_sweeps=200), p).max() < 1e-12
    # stacks on both sides broadcast
    P = np.stack([p, p[::-1]])
    assert exact.total_variation(P[:, None, :], P[None, :, :]).shape == (2, 2)


@pytest.mark.parametrize("p, q, match", [
    ([0.5, 0.5], [0.2, 0.3, 0.5], "broadcastable"),
    ([0.5, 0.6], [0.5, 0.5], "sum to 1"),
    ([1.5, -0.5], [0.5, 0.5], "negative"),
    ([np.nan, 1.0], [0.5, 0.5], "NaN"),
    (0.5, 0.5, "probability vector"),
])
def test_total_variation_rejects_bad_input(p, q, match):
    with pytest.raises(ValueError, match=match):
        exact.total_variation(p, q)


# ------------------------------------------------------------ entropy production
def _sigma_brute(T, p):
    """The defining double sum, term by term."""
    total = 0.0
    n = len(p)
    for s in range(n):
        for t in range(n):
            f, g = p[s] * T[s, t], p[t] * T[t, s]
            if f > 0:
                total += f * np.log(f / g)
    return total


def test_entropy_production_of_a_driven_three_state_cycle():
    # clockwise with probability q, anticlockwise 1 - q, uniform p: sigma = (2q - 1) log(q / (1 - q))
    for q in (0.5, 0.6, 0.9, 0.99):
        T = np.array([[0, q, 1 - q], [1 - q, 0, q], [q, 1 - q, 0]])
        p = np.full(3, 1 / 3)
        assert abs(exact.entropy_production(T, p) - (2 * q - 1) * np.log(q / (1 - q))) < 1e-14
    # a deterministic cycle has transitions without a reverse
    T = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert exact.entropy_production(T, np.full(3, 1 / 3)) == np.inf


@pytest.mark.parametrize("shape, scale, beta", [((3, 2), 1.0, 1.0), ((2, 3), 3.0, 0.5), ((4, 3), 1.0, 2.0)])
def test_entropy_production_of_gibbs_kernels(shape, scale, beta):
    rbm = rbmlib.RBM.random(*shape, scale=scale, seed=shape[0] * 10 + shape[1])
    p = exact.joint_distribution(rbm, beta).ravel()
    T = {k: exact.transition_matrix(rbm, k, beta) for k in ("h", "v", "hv", "vh")}
    # reversible kernels: zero (half-updates, the visible chain)
    for k in ("h", "v"):
        assert exact.entropy_production(T[k], p) < 1e-12
    assert exact.entropy_production(exact.visible_chain(rbm, beta), exact.marginal_visible(rbm, beta)) < 1e-12
    # the sweep: positive, equal to the defining sum and to KL(F || F^T) computed by scipy
    sig = exact.entropy_production(T["hv"], p)
    assert sig > 1e-6
    assert abs(sig - _sigma_brute(T["hv"], p)) < 1e-12
    F = p[:, None] * T["hv"]
    assert abs(sig - kl_divergence(F.ravel(), F.T.ravel())) < 1e-12
    # the reverse sweep has the same entropy production (its flux is the transpose)
    assert abs(exact.entropy_production(T["vh"], p) - sig) < 1e-12
    # consistent with the flux-difference diagnostic: both vanish or neither
    assert exact.detailed_balance_violation(T["hv"], p) > 1e-9


def test_entropy_production_is_non_negative_off_stationarity():
    rng = np.random.default_rng(1)
    for _ in range(10):
        T = rng.dirichlet(np.ones(5), size=5)
        p = rng.dirichlet(np.ones(5))           # not stationary for T
        sig = exact.entropy_production(T, p)
        assert sig >= 0.0
        assert abs(sig - _sigma_brute(T, p)) < 1e-12


@pytest.mark.parametrize("T, p, match", [
    (np.eye(2), np.array([0.5, 0.3, 0.2]), "square"),
    (np.array([[1.5, -0.5], [0.0, 1.0]]), np.array([0.5, 0.5]), "negative"),
    (np.eye(2), np.array([np.nan, 1.0]), "NaN"),
])
def test_entropy_production_rejects_bad_input(T, p, match):
    with pytest.raises(ValueError, match=match):
        exact.entropy_production(T, p)
