"""rbmlib.cd: likelihood gradient, CD_n as a KL difference, learning as a work protocol.

Every exact quantity is compared with an independent computation (finite
differences of the exact log-likelihood, brute-force joint tables, matrix powers
of the visible chain) to ~1e-10, and the work bookkeeping of a real training run
is checked against energies recomputed by other code paths (first law).
"""
from __future__ import annotations

import numpy as np
import pytest

import rbmlib
from rbmlib import cd, exact

from conftest import all_states, brute_log_weights, logsumexp


def bars_and_stripes(n):
    pats = set()
    for k in range(2 ** n):
        row = [(k >> i) & 1 for i in range(n)]
        img = np.array([row] * n)
        pats.add(tuple(img.ravel()))
        pats.add(tuple(img.T.ravel()))
    return np.array(sorted(pats), dtype=np.uint8)


def random_data(nv, n, seed):
    return (np.random.default_rng(seed).random((n, nv)) < 0.4).astype(np.uint8)


def brute_visible(rbm, beta):
    """p(v) from the brute-force joint table of the test fixtures."""
    lw = brute_log_weights(rbm, beta)
    p = np.exp(lw - logsumexp(lw))
    return p.sum(1), p


def kl(p, q):
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


# ----------------------------------------------------------------------------
# gradient
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("nv,nh,scale,beta", [(3, 2, 0.5, 1.0), (4, 3, 2.0, 1.0), (2, 4, 1.0, 0.7), (5, 2, 3.0, 1.5)])
def test_gradient_matches_finite_differences(nv, nh, scale, beta):
    rbm = rbmlib.RBM.random(nv, nh, scale=scale, seed=nv + 10 * nh)
    data = random_data(nv, 7, seed=nh)
    g = cd.log_likelihood_gradient(rbm, data, beta)
    fd = cd.finite_difference_gradient(rbm, data, beta, step=1e-3)
    for x, y in zip(g, fd):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-8)


@pytest.mark.parametrize("nv,nh", [(3, 5), (5, 3), (4, 4)])
def test_model_statistics_against_joint_table(nv, nh):
    """Both enumeration branches (smaller layer visible or hidden) against the brute-force joint table."""
    rbm = rbmlib.RBM.random(nv, nh, scale=1.5, seed=3)
    beta = 0.8
    _, P = brute_visible(rbm, beta)
    V, H = all_states(nv), all_states(nh)
    vh = np.einsum("ab,ai,bj->ij", P, V, H)
    m = cd.model_statistics(rbm, beta)
    np.testing.assert_allclose(m.W, vh, atol=1e-12)
    np.testing.assert_allclose(m.a, P.sum(1) @ V, atol=1e-12)
    np.testing.assert_allclose(m.b, P.sum(0) @ H, atol=1e-12)


def test_data_statistics_weighted_by_model_give_model_statistics():
    """<v p(h|v)^T> over v ~ p_lambda(v) is <v h^T>_model: the gradient vanishes when p_D = p_lambda."""
    rbm = rbmlib.RBM.random(3, 2, scale=1.0, seed=0)
    pv, _ = brute_visible(rbm, 1.0)
    d = cd.data_statistics(rbm, all_states(3), 1.0)
    assert d.W.shape == (3, 2) and d.a.shape == (3,) and d.b.shape == (2,)
    V = all_states(3)
    P = np.asarray(rbm.p_h_given_v(V), np.float64)
    m = cd.model_statistics(rbm)
    np.testing.assert_allclose((V * pv[:, None]).T @ P, m.W, atol=1e-12)
    np.testing.assert_allclose(pv @ P, m.b, atol=1e-12)


def test_gradient_agrees_with_training_module():
    training = pytest.importorskip("rbmlib.training")
    rbm = rbmlib.RBM.random(5, 3, scale=1.0, seed=8)
    data = random_data(5, 9, seed=2)
    g = cd.log_likelihood_gradient(rbm, data, 1.3)
    t = training.exact_gradient(rbm, data, 1.3)
    for x, y in zip(g, t):
        np.testing.assert_allclose(x, y, atol=1e-12)


def test_gradient_ascent_increases_likelihood_and_opposite_sign_decreases():
    rbm = rbmlib.RBM.random(4, 3, scale=0.5, seed=1)
    data = bars_and_stripes(2)
    L0 = cd.mean_log_likelihood(rbm, data)
    g = cd.log_likelihood_gradient(rbm, data)
    for sign, expect in ((+1, 1), (-1, -1)):
        r = rbmlib.RBM(rbm.W + sign * 1e-2 * g.W, rbm.a + sign * 1e-2 * g.a, rbm.b + sign * 1e-2 * g.b)
        assert np.sign(cd.mean_log_likelihood(r, data) - L0) == expect


# ----------------------------------------------------------------------------
# distributions and CD_n
# ----------------------------------------------------------------------------
def test_empirical_distribution_entropy_kl():
    data = np.array([[0, 1], [0, 1], [1, 1], [0, 0]])
    p = cd.empirical_distribution(data)
    np.testing.assert_allclose(p, [0.25, 0.5, 0.0, 0.25])
    assert rbmlib.stats.entropy(p) == pytest.approx(-(2 * 0.25 * np.log(0.25) + 0.5 * np.log(0.5)))


@pytest.mark.parametrize("nv,nh,scale", [(4, 3, 1.0), (5, 2, 3.0), (3, 4, 0.3)])
def test_cd_decomposition_against_brute_force(nv, nh, scale):
    rbm = rbmlib.RBM.random(nv, nh, scale=scale, seed=nv * nh)
    data = random_data(nv, 6, seed=nv)
    beta = 1.2
    pv, P = brute_visible(rbm, beta)
    V, H = all_states(nv), all_states(nh)
    Ph = P / P.sum(1, keepdims=True)                  # p(h|v)
    Pv = (P / P.sum(0, keepdims=True)).T             # p(v|h)
    K = Ph @ Pv
    pD = np.zeros(2 ** nv)
    for row in data:
        pD[int("".join(map(str, row)), 2)] += 1 / len(data)
    ns = np.arange(0, 12)
    dec = cd.cd_decomposition(rbm, data, ns, beta)
    for i, n in enumerate(ns):
        pn = pD @ np.linalg.matrix_power(K, n)
        assert dec.kl_n[i] == pytest.approx(kl(pn, pv), abs=1e-12)
        # F(v) - F_eq = -log p(v) / beta
        assert dec.mean_F_n[i] - dec.F_eq == pytest.approx(-(pn @ np.log(pv)) / beta, abs=1e-10)
    assert dec.kl_data == pytest.approx(kl(pD, pv), abs=1e-12)
    assert dec.cd[0] == pytest.approx(0.0, abs=1e-14)
    assert dec.identity_error < 1e-12
    assert np.all(np.diff(dec.cd) >= -1e-14)          # CD_n grows with n
    assert np.all(dec.cd >= -1e-14) and np.all(dec.cd <= dec.kl_data + 1e-14)


def test_cd_limit_is_kl_data():
    rbm = rbmlib.RBM.random(4, 3, scale=1.0, seed=5)
    data = random_data(4, 5, seed=1)
    dec = cd.cd_decomposition(rbm, data, [0, 400], 1.0)
    assert dec.kl_n[-1] < 1e-12
    assert dec.cd[-1] == pytest.approx(dec.kl_data, abs=1e-12)


def test_relax_and_distribution_input():
    rbm = rbmlib.RBM.random(3, 2, scale=1.0, seed=2)
    pD = cd.empirical_distribution(random_data(3, 4, seed=0), 3)
    R = cd.relax(rbm, pD, 5)
    assert R.shape == (6, 8)
    np.testing.assert_allclose(R.sum(1), 1.0, atol=1e-14)
    K = exact.visible_chain(rbm)
    np.testing.assert_allclose(R[5], pD @ np.linalg.matrix_power(K, 5), atol=1e-14)
    # p_D given as a distribution gives the same decomposition as the data
    a = cd.cd_decomposition(rbm, pD, [1, 3])
    b = cd.cd_decomposition(rbm, random_data(3, 4, seed=0), [1, 3])
    np.testing.assert_allclose(a.cd, b.cd, atol=1e-15)


def test_half_sweep_kl_chain_rule_and_monotonicity():
    rbm = rbmlib.RBM.random(4, 3, scale=2.0, seed=11)
    data = random_data(4, 5, seed=3)
    out = cd.half_sweep_kl(rbm, data, 15)
    np.testing.assert_allclose(out["kl_v"], out["kl_joint_vh"], atol=1e-12)
    np.testing.assert_allclose(out["kl_h"], out["kl_joint_hv"], atol=1e-12)
    assert out["interleaved"].shape == (31,)
    assert np.all(np.diff(out["interleaved"]) <= 1e-14)


def test_entropy_production_equals_cd_and_ift():
    rbm = rbmlib.RBM.random(4, 2, scale=1.5, seed=4)
    data = random_data(4, 5, seed=2)
    pD = cd.empirical_distribution(data, 4)
    dec = cd.cd_decomposition(rbm, data, [1, 2, 7])
    for i, n in enumerate([1, 2, 7]):
        ep = cd.relaxation_entropy_production(rbm, pD, n)
        assert ep["mean"] == pytest.approx(dec.cd[i], abs=1e-12)
        assert ep["ift"] == pytest.approx(ep["reverse_support_mass"], abs=1e-12)
        assert ep["ift"] < 1.0                        # empirical p_D: not every state is in its support
    full = np.full(16, 1 / 16)
    ep = cd.relaxation_entropy_production(rbm, full, 3)
    assert ep["ift"] == pytest.approx(1.0, abs=1e-12)


def test_quench_relaxation_dissipated_work_is_kl():
    rbm = rbmlib.RBM.random(5, 3, scale=1.0, seed=9)
    data = random_data(5, 8, seed=4)
    q = cd.quench_relaxation(rbm, data, [1, 3, 200])
    assert q["beta_dissipated_work"] == pytest.approx(q["kl_data"], abs=1e-12)
    np.testing.assert_allclose(q["entropy_production"] + q["kl_n"], q["kl_data"], atol=1e-12)
    dec = cd.cd_decomposition(rbm, data, [1])
    assert q["naive"] - q["kl_data"] == pytest.approx(dec.entropy_data, abs=1e-12)


# ----------------------------------------------------------------------------
# exact learning dynamics
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ml", "cd", "pcd"])
def test_exact_learning_run_identities(method):
    rbm = rbmlib.RBM.random(4, 3, scale=0.3, seed=2)
    data = bars_and_stripes(2)
    run = cd.exact_learning_run(rbm, data, method=method, k=2, learning_rate=0.3, n_steps=60, keep_models=True)
    assert run.work.shape == (60,) and run.log_likelihood.shape == (61,) and len(run.models) == 61
    assert run.first_law_error() < 1e-12
    assert run.jump_identity_error() < 1e-12
    assert run.likelihood_identity_error() < 1e-12
    lhs = run.work_linear_model - run.work_linear_data
    np.testing.assert_allclose(lhs, run.dtheta_sq / (run.learning_rate * run.beta), rtol=1e-10, atol=1e-15)
    assert np.all(run.entropy_production >= -1e-14)
    # log-likelihood of model t, recomputed independently
    t = 37
    assert run.log_likelihood[t] == pytest.approx(cd.mean_log_likelihood(run.models[t], data), abs=1e-10)
    if method == "cd":
        # the sweeps from the data produce exactly CD_k of the current model
        np.testing.assert_allclose(run.entropy_production, run.cd_k[:-1], atol=1e-12)
    if method == "pcd":
        terms = run.second_law_terms()
        assert abs(terms["residual"]) < 1e-12
        assert terms["entropy_production"] >= 0
    if method == "ml":
        assert np.all(np.diff(run.log_likelihood) > 0)  # small steps of exact gradient ascent
        # dissipated work of each switch from equilibrium is KL(p_t || p_{t+1}) >= 0
        assert np.all(run.beta * (run.work - run.delta_F_eq) >= -1e-14)


def test_exact_learning_run_pcd_from_equilibrium_obeys_second_law():
    rbm = rbmlib.RBM.random(4, 3, scale=0.3, seed=6)
    data = bars_and_stripes(2)
    run = cd.exact_learning_run(rbm, data, method="pcd", k=1, learning_rate=0.5, n_steps=40,
                                chains0=exact.marginal_visible(rbm))
    assert run.kl_chain_before[0] < 1e-14
    assert run.beta * (run.work.sum() - (run.F_eq[-1] - run.F_eq[0])) >= 0


def test_exact_learning_run_validation():
    rbm = rbmlib.RBM.random(3, 2, seed=0)
    data = random_data(3, 4, seed=0)
    with pytest.raises(ValueError, match="method"):
        cd.exact_learning_run(rbm, data, method="sgd")
    with pytest.raises(ValueError, match="learning_rate"):
        cd.exact_learning_run(rbm, data, learning_rate=-1.0)
    with pytest.raises(ValueError, match="k must"):
        cd.exact_learning_run(rbm, data, k=0)
    with pytest.raises(ValueError, match="sum to 1"):
        cd.exact_learning_run(rbm, data, chains0=np.ones(8))
    with pytest.raises(ValueError, match="second_law_terms"):
        cd.exact_learning_run(rbm, data, method="cd", n_steps=2).second_law_terms()


# ----------------------------------------------------------------------------
# the ledger on real training runs
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def training():
    return pytest.importorskip("rbmlib.training")


@pytest.mark.parametrize("space", ["visible", "joint"])
def test_ledger_first_law_pcd(training, space):
    data = np.repeat(bars_and_stripes(3), 3, axis=0)
    led = cd.LearningLedger(method="pcd", space=space, keep_models=True)
    final = training.train((9, 4), data, method="pcd", k=2, epochs=3, batch_size=7, learning_rate=0.2,
                           seed=3, callback=led, callback_every="batch", progress=False)
    h = led.history()
    n_updates = 3 * -(-len(data) // 7)
    assert h["work"].shape == (n_updates,) and len(led.models) == n_updates + 1
    assert np.array_equal(led.models[-1].W, final.W) and np.array_equal(led.models[-1].b, final.b)
    # first law per chain against energies recomputed by other code (sampler kernel / RBM.free_energy)
    assert led.first_law_residual() < 1e-10
    # plain SGD: the update does |dtheta|^2 / (eta beta) more work on the chains than on the data
    lhs = h["work_linear_model"] - h["work_linear_data"]
    np.testing.assert_allclose(lhs, h["dtheta_sq"] / h["learning_rate"], rtol=1e-9, atol=1e-14)
    assert np.all(h["work_linear_self"] > 0)
    # chain-mean work and heat add up to the change of the mean energy
    e_start = led.energy_start.mean()
    e_end = e_start + h["work"].sum() + h["heat"].sum()
    assert e_end == pytest.approx(h["energy_after"][-1], abs=1e-9)


def test_ledger_cd_heat_is_relaxation_from_data(training):
    data = np.repeat(bars_and_stripes(3), 2, axis=0)
    seen = []

    class Spy(cd.LearningLedger):
        def __call__(self, step):
            seen.append((step.v_data.copy(), step.chains.v.copy(), step.rbm_before))
            super().__call__(step)

    led = Spy(method="cd")
    training.train((9, 4), data, method="cd", k=1, epochs=1, batch_size=10, learning_rate=0.1, seed=0,
                   callback=led, callback_every="batch", progress=False)
    h = led.history()
    for t, (vd, vk, rb) in enumerate(seen):
        assert h["heat"][t] == pytest.approx(np.mean(rb.free_energy(vk) - rb.free_energy(vd)), abs=1e-12)


def test_ledger_errors(training):
    with pytest.raises(ValueError, match="space='visible'"):
        cd.LearningLedger(method="cd", space="joint")
    with pytest.raises(ValueError, match="method"):
        cd.LearningLedger(method="ml")
    with pytest.raises(ValueError, match="space"):
        cd.LearningLedger(space="hidden")
    data = bars_and_stripes(3)
    led = cd.LearningLedger(method="pcd")
    with pytest.raises(ValueError, match="callback_every='batch'"):
        training.train((9, 3), data, method="pcd", epochs=1, batch_size=7, seed=0, callback=led,
                       callback_every="epoch", progress=False)
    led = cd.LearningLedger(method="pcd")
    training.train((9, 3), data, method="pcd", epochs=1, batch_size=7, seed=0, callback=led,
                   callback_every="batch", progress=False)
    with pytest.raises(ValueError, match="one ledger per training run"):
        training.train((9, 3), data, method="pcd", epochs=1, batch_size=7, seed=1, callback=led,
                       callback_every="batch", progress=False)
    with pytest.raises(ValueError, match="PCD ledger"):
        cd.LearningLedger(method="cd").first_law_residual()


# ----------------------------------------------------------------------------
# input validation
# ----------------------------------------------------------------------------
def test_bad_inputs():
    rbm = rbmlib.RBM.random(3, 2, seed=0)
    with pytest.raises(ValueError, match="binary"):
        cd.data_statistics(rbm, [[0, 2, 1]])
    with pytest.raises(ValueError, match="units"):
        cd.log_likelihood_gradient(rbm, [[0, 1]])
    with pytest.raises(ValueError, match="beta"):
        cd.cd_decomposition(rbm, [[0, 1, 1]], 2, beta=0.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        cd.cd_decomposition(rbm, [[0, 1, 1]], [-1])
    with pytest.raises(ValueError, match="empty"):
        cd.empirical_distribution(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        cd.cd_decomposition("not a model", [[0, 1, 1]], 1)
    big = rbmlib.RBM.random(20, 2, seed=0)
    with pytest.raises(exact.EnumerationTooLarge, match="n_visible"):
        cd.cd_decomposition(big, np.zeros((1, 20)), 1)
    with pytest.raises(exact.EnumerationTooLarge):
        cd.model_statistics(rbmlib.RBM.random(30, 30, seed=0), max_units=10)
    with pytest.raises(ValueError, match="step"):
        cd.finite_difference_gradient(rbm, [[0, 1, 1]], step=2.0)
    with pytest.raises(ValueError, match="shape"):
        cd.relax(rbm, np.ones(4) / 4, 2)
