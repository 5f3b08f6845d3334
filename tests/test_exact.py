"""rbmlib.exact against brute-force enumeration written independently in the tests."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import BETAS, all_states, brute_log_weights, logsumexp

import rbmlib
from rbmlib import RBM, exact


def _norm_rows(x):
    m = x.max(axis=1, keepdims=True)
    p = np.exp(x - m)
    return p / p.sum(axis=1, keepdims=True)


def test_states_order():
    s = exact.states(3)
    assert s.shape == (8, 3) and s.dtype == np.uint8
    np.testing.assert_array_equal(s, all_states(3))
    assert exact.states(0).shape == (1, 0)


@pytest.mark.parametrize("beta", BETAS)
def test_log_partition(tiny_rbm, beta):
    ref = logsumexp(brute_log_weights(tiny_rbm, beta))
    got = exact.log_partition(tiny_rbm, beta)
    assert abs(got - ref) <= 1e-10 * max(1.0, abs(ref))
    # enumerating either layer gives the same answer
    for layer in ("visible", "hidden"):
        lw = exact.layer_log_weights(tiny_rbm, layer, beta)
        assert abs(logsumexp(lw) - ref) <= 1e-10 * max(1.0, abs(ref))


@pytest.mark.parametrize("beta", BETAS)
def test_layer_marginals_and_joint(tiny_rbm, beta):
    lw = brute_log_weights(tiny_rbm, beta)
    P = np.exp(lw - logsumexp(lw))
    np.testing.assert_allclose(exact.joint_distribution(tiny_rbm, beta), P, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(exact.marginal_visible(tiny_rbm, beta), P.sum(1), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(exact.marginal_hidden(tiny_rbm, beta), P.sum(0), rtol=1e-10, atol=1e-300)
    # hidden log weights = -beta F(h)
    H = all_states(tiny_rbm.n_hidden)
    np.testing.assert_allclose(exact.layer_log_weights(tiny_rbm, "hidden", beta),
                               -beta * tiny_rbm.hidden_free_energy(H, beta), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("beta", BETAS)
def test_mean_energy_and_log_likelihood(tiny_rbm, beta):
    lw = brute_log_weights(tiny_rbm, beta)
    P = np.exp(lw - logsumexp(lw))
    E = -lw / beta
    ref = float((P * E).sum())
    got = exact.mean_energy(tiny_rbm, beta)
    assert abs(got - ref) <= 1e-9 * max(1.0, np.abs(E).max())
    V = all_states(tiny_rbm.n_visible)
    pv = P.sum(1)
    ll = exact.log_likelihood(tiny_rbm, V, beta)
    mask = pv > 1e-250
    np.testing.assert_allclose(np.exp(ll[mask]), pv[mask], rtol=1e-9)


def test_mean_energy_is_minus_dlogz_dbeta():
    rbm = RBM.random(30, 6, scale=0.3, seed=4)
    eps = 1e-5
    d = (exact.log_partition(rbm, 1 + eps) - exact.log_partition(rbm, 1 - eps)) / (2 * eps)
    assert abs(exact.mean_energy(rbm, 1.0) + d) < 1e-6


@pytest.mark.parametrize("beta", BETAS)
def test_conditional_matrices(tiny_rbm, beta):
    lw = brute_log_weights(tiny_rbm, beta)
    np.testing.assert_allclose(exact.conditional_hidden(tiny_rbm, beta), _norm_rows(lw), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(exact.conditional_visible(tiny_rbm, beta), _norm_rows(lw.T), rtol=1e-9, atol=1e-300)


def _brute_transition(rbm, beta, kernel):
    """Transition matrix from explicit loops over (v,h) -> (v',h')."""
    lw = brute_log_weights(rbm, beta)
    ph_v = _norm_rows(lw)     # [v, h]
    pv_h = _norm_rows(lw.T)   # [h, v]
    Nv, Nh = lw.shape
    T = np.zeros((Nv * Nh, Nv * Nh))
    for v in range(Nv):
        for h in range(Nh):
            for v2 in range(Nv):
                for h2 in range(Nh):
                    if kernel == "h":
                        t = ph_v[v, h2] * (v2 == v)
                    elif kernel == "v":
                        t = pv_h[h, v2] * (h2 == h)
                    elif kernel == "hv":  # h' ~ p(.|v), then v' ~ p(.|h')
                        t = ph_v[v, h2] * pv_h[h2, v2]
                    else:                 # 'vh': v' ~ p(.|h), then h' ~ p(.|v')
                        t = pv_h[h, v2] * ph_v[v2, h2]
                    T[v * Nh + h, v2 * Nh + h2] = t
    return T


@pytest.mark.parametrize("kernel", ["h", "v", "hv", "vh"])
@pytest.mark.parametrize("beta", [0.5, 2.0])
@pytest.mark.parametrize("size,scale", [((2, 3), 1.0), ((3, 2), 30.0), ((1, 1), 0.1)])
def test_transition_matrices(kernel, beta, size, scale):
    rbm = RBM.random(*size, scale=scale, seed=7)
    T = exact.transition_matrix(rbm, kernel, beta)
    np.testing.assert_allclose(T, _brute_transition(rbm, beta, kernel), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-12)
    p = exact.joint_distribution(rbm, beta).ravel()
    assert exact.stationarity_violation(T, p) < 1e-12
    T3 = exact.transition_matrix(rbm, kernel, beta, n_sweeps=3)
    np.testing.assert_allclose(T3, T @ T @ T, atol=1e-13)


def test_detailed_balance_structure():
    """The facts the later chapters rely on, checked once here at the library level."""
    rbm = RBM.random(4, 3, scale=1.0, seed=1)
    p = exact.joint_distribution(rbm, 0.7).ravel()
    Th, Tv = exact.transition_matrix(rbm, "h", 0.7), exact.transition_matrix(rbm, "v", 0.7)
    Thv, Tvh = exact.transition_matrix(rbm, "hv", 0.7), exact.transition_matrix(rbm, "vh", 0.7)
    assert exact.detailed_balance_violation(Th, p) < 1e-15
    assert exact.detailed_balance_violation(Tv, p) < 1e-15
    assert exact.detailed_balance_violation(Thv, p) > 1e-5     # the block sweep is NOT reversible
    np.testing.assert_allclose(exact.reversed_kernel(Thv, p), Tvh, atol=1e-14)
    pv = exact.marginal_visible(rbm, 0.7)
    ph = exact.marginal_hidden(rbm, 0.7)
    assert exact.detailed_balance_violation(exact.visible_chain(rbm, 0.7), pv) < 1e-15
    assert exact.detailed_balance_violation(exact.hidden_chain(rbm, 0.7), ph) < 1e-15
    np.testing.assert_allclose(exact.visible_chain(rbm, 0.7, n_sweeps=2),
                               exact.visible_chain(rbm, 0.7) @ exact.visible_chain(rbm, 0.7), atol=1e-14)


def test_gray_code_thread_independence():
    """log Z does not depend on the number of numba threads (blocks combined in a fixed order)."""
    import numba

    rbm = RBM.random(50, 14, scale=0.5, seed=2)
    n0 = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = exact.log_partition(rbm)
        numba.set_num_threads(n0)
        many = exact.log_partition(rbm)
    finally:
        numba.set_num_threads(n0)
    assert one == many


def test_float32_model_enumerates_in_float64():
    r = RBM.random(10, 5, scale=1.0, seed=0)
    assert abs(exact.log_partition(r.astype(np.float32)) - exact.log_partition(r)) < 1e-4


def test_enumeration_limits():
    big = RBM.random(40, 35, scale=0.01)
    with pytest.raises(exact.EnumerationTooLarge, match=r"2\*\*35 states.*rbmlib.ais"):
        exact.log_partition(big)
    with pytest.raises(exact.EnumerationTooLarge, match="joint states"):
        exact.transition_matrix(RBM.random(8, 6), "hv")
    with pytest.raises(exact.EnumerationTooLarge):
        exact.joint_distribution(RBM.random(20, 10))
    with pytest.raises(ValueError, match="kernel must be"):
        exact.transition_matrix(RBM.random(2, 2), "xy")
    with pytest.raises(ValueError, match="n_sweeps"):
        exact.transition_matrix(RBM.random(2, 2), "hv", n_sweeps=0)
    with pytest.raises(ValueError, match="beta"):
        exact.log_partition(RBM.random(2, 2), beta=-1)
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        exact.log_partition(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="layer"):
        exact.layer_log_weights(RBM.random(2, 2), "middle")


def test_chain_diagnostic_errors():
    with pytest.raises(ValueError, match="square"):
        exact.detailed_balance_violation(np.ones((2, 3)), np.ones(2) / 2)
    with pytest.raises(ValueError, match="strictly positive"):
        exact.reversed_kernel(np.eye(2), np.array([1.0, 0.0]))


def test_top_level_exports():
    assert rbmlib.exact is exact and rbmlib.RBM is RBM


# ----------------------------------------------------------------------------
# exact equilibrium samples
# ----------------------------------------------------------------------------
def _joint_index(v, h):
    kv = v.astype(np.int64) @ (1 << np.arange(v.shape[1] - 1, -1, -1))
    kh = h.astype(np.int64) @ (1 << np.arange(h.shape[1] - 1, -1, -1))
    return kv * 2 ** h.shape[1] + kh


@pytest.mark.parametrize("shape, beta", [((3, 4), 1.0), ((5, 2), 0.7), ((9, 4), 1.0), ((3, 10), 1.3)])
def test_equilibrium_sample_chi_square(shape, beta):
    """Joint-table route (n_visible + n_hidden <= 12) and smaller-layer route: both follow p_beta(v, h)."""

    rbm = RBM.random(*shape, scale=1.0, seed=8)
    n = 40000
    v, h = exact.equilibrium_sample(rbm, n, beta=beta, seed=2)
    assert v.dtype == np.uint8 and v.shape == (n, shape[0]) and h.shape == (n, shape[1])
    P = exact.joint_distribution(rbm, beta, max_units=14).ravel()
    obs = np.bincount(_joint_index(v, h), minlength=P.size)
    assert rbmlib.stats.chisquare_merged(obs, P * n, merge="pool").pvalue > 1e-3
    # given the smaller layer's log weights, the layer route is taken even for tiny models
    layer = "hidden" if shape[1] <= shape[0] else "visible"
    lw = exact.layer_log_weights(rbm, layer, beta)
    v2, h2 = exact.equilibrium_sample(rbm, n, beta=beta, seed=2, layer_log_weights=lw)
    obs2 = np.bincount(_joint_index(v2, h2), minlength=P.size)
    assert rbmlib.stats.chisquare_merged(obs2, P * n, merge="pool").pvalue > 1e-3
    if sum(shape) > exact.MAX_JOINT_UNITS:          # same route: the same draws
        np.testing.assert_array_equal(v2, v)
        np.testing.assert_array_equal(h2, h)
    with pytest.raises(ValueError, match="layer_log_weights"):
        exact.equilibrium_sample(rbm, 5, layer_log_weights=lw[:-1])


def test_layer_table_is_cached_and_limited():
    rbm = RBM.random(6, 3, scale=0.5, seed=1)
    t = exact.layer_table(rbm, 0.8)
    assert t.layer == "hidden" and t.log_weights.shape == (8,)
    assert t.log_z == pytest.approx(exact.log_partition(rbm, 0.8), abs=1e-12)
    assert t.mean_energy == pytest.approx(exact.mean_energy(rbm, 0.8), abs=1e-12)
    assert exact.layer_table(rbm, 0.8) is t
    with pytest.raises(exact.EnumerationTooLarge, match="at most 24 units"):
        exact.layer_table(RBM(np.zeros((30, 30)), np.zeros(30), np.zeros(30)))
    with pytest.raises(ValueError, match="seed"):
        exact.equilibrium_sample(rbm, 3, seed=-1)
