"""rbmlib.thermo: first law, exact Crooks / Jarzynski / second law, estimators and their errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import all_states
from scipy import stats

import rbmlib
from rbmlib import exact, plotting, thermo, widgets
from rbmlib.thermo import Protocol


def _pair(nv=3, nh=2, scale=1.0, seeds=(1, 2)):
    return (rbmlib.RBM.random(nv, nh, scale=scale, seed=seeds[0]),
            rbmlib.RBM.random(nv, nh, scale=scale, seed=seeds[1]))


# ----------------------------------------------------------------------------
# independent brute force: Gibbs kernels by explicit loops, all paths enumerated
# ----------------------------------------------------------------------------
def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _brute_kernel(rbm, order, beta):
    """Joint-space kernel of one sweep, built unit by unit from the conditionals."""
    V, H = all_states(rbm.n_visible), all_states(rbm.n_hidden)
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.W, rbm.a, rbm.b))
    nV, nH = len(V), len(H)

    def p_h(v, h):
        out = 1.0
        for j in range(len(h)):
            q = _sig(beta * (v @ W[:, j] + b[j]))
            out *= q if h[j] else 1 - q
        return out

    def p_v(h, v):
        out = 1.0
        for i in range(len(v)):
            q = _sig(beta * (W[i] @ h + a[i]))
            out *= q if v[i] else 1 - q
        return out

    Th = np.zeros((nV * nH, nV * nH))
    Tv = np.zeros((nV * nH, nV * nH))
    for iv, v in enumerate(V):
        for ih, h in enumerate(H):
            for jh, h2 in enumerate(H):
                Th[iv * nH + ih, iv * nH + jh] = p_h(v, h2)
            for jv, v2 in enumerate(V):
                Tv[iv * nH + ih, jv * nH + ih] = p_v(h, v2)
    return {"h": Th, "v": Tv, "hv": Th @ Tv, "vh": Tv @ Th}[order]


def _brute_energy(rbm):
    V, H = all_states(rbm.n_visible), all_states(rbm.n_hidden)
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.W, rbm.a, rbm.b))
    return np.array([-(v @ W @ h + a @ v + b @ h) for v in V for h in H])


def _brute_work_paths(protocol, beta, order):
    """(work, probability) of every path s_0 .. s_{K-1} (the last sweep does not change W)."""
    E = [_brute_energy(m) for m in protocol.models]
    T = [_brute_kernel(m, order, beta) for m in protocol.models[1:]]
    lw = -beta * E[0]
    p0 = np.exp(lw - lw.max())
    p0 /= p0.sum()
    K = protocol.n_steps
    S = len(p0)
    ws, ps = [], []
    for path in itertools.product(range(S), repeat=K):
        p = p0[path[0]]
        for k in range(1, K):
            p *= T[k - 1][path[k - 1], path[k]]
        w = sum(E[k][path[k - 1]] - E[k - 1][path[k - 1]] for k in range(1, K + 1))
        ws.append(w)
        ps.append(p)
    return np.array(ws), np.array(ps)


def _atomize(w, p, tol=1e-9):
    o = np.argsort(w)
    w, p = w[o], p[o]
    new = np.r_[True, np.diff(w) > tol]
    lab = np.cumsum(new) - 1
    return w[new], np.bincount(lab, weights=p)


# ----------------------------------------------------------------------------
# protocols
# ----------------------------------------------------------------------------
def test_protocol_linear_and_reversed():
    A, B = _pair()
    P = Protocol.linear(A, B, 4)
    assert P.n_steps == 4 and len(P) == 5
    assert P.start == A and P.end == B
    np.testing.assert_allclose(P.models[2].W, 0.5 * (A.W + B.W), rtol=0, atol=1e-15)
    R = P.reversed()
    assert R.start == B and R.end == A and R.n_steps == 4
    T = Protocol.temperature(A, [1.0, 0.5])
    np.testing.assert_allclose(T.end.W, 0.5 * A.W)


def test_reversed_order():
    assert thermo.reversed_order("hv") == "vh"
    assert thermo.reversed_order("vh") == "hv"
    assert thermo.reversed_order("h") == "h"
    assert thermo.reversed_order("v") == "v"
    with pytest.raises(ValueError, match="order must be one of"):
        thermo.reversed_order("hvh")


def test_reversed_kernel_is_opposite_order():
    """The fact behind the reverse dynamics: reversal of T_hv w.r.t. p is T_vh."""
    A, _ = _pair()
    p = exact.joint_distribution(A, 0.7).ravel()
    Thv = exact.transition_matrix(A, "hv", 0.7)
    Tvh = exact.transition_matrix(A, "vh", 0.7)
    assert np.max(np.abs(exact.reversed_kernel(Thv, p) - Tvh)) < 1e-13
    assert exact.detailed_balance_violation(Thv, p) > 1e-4


# ----------------------------------------------------------------------------
# first law
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["hv", "vh", "h", "v"])
def test_first_law_every_trajectory(order):
    A, B = _pair(5, 3, scale=2.0)
    P = Protocol.linear(A, B, 7)
    r = thermo.run_protocol(P, 3000, beta=0.9, seed=4, order=order, n_sweeps_per_step=2)
    scale = max(1.0, np.max(np.abs(r.initial_energy)), np.max(np.abs(r.final_energy)))
    # round-off only: a relative 1e-12 per step is far above float64 noise and far below physics
    assert r.first_law_violation <= 1e-12 * scale * (P.n_steps + 1)
    assert r.work.shape == r.heat.shape == r.delta_energy.shape == (3000,)
    # Delta E is recomputed from the states, not from the increments
    np.testing.assert_array_equal(r.delta_energy, r.final_energy - r.initial_energy)
    assert np.std(r.heat) > 0 and np.std(r.work) > 0


def test_first_law_visible_space_and_larger_model():
    A, B = _pair(40, 6, scale=0.3)
    P = Protocol.linear(A, B, 5)
    for space in ("joint", "visible"):
        r = thermo.run_protocol(P, 500, seed=1, space=space)
        scale = max(1.0, np.max(np.abs(r.initial_energy)), np.max(np.abs(r.final_energy)))
        assert r.first_law_violation <= 1e-12 * scale * (P.n_steps + 1)
    # visible free energies: initial energies equal F_beta(v) of the start states
    v0, _ = exact.equilibrium_sample(A, 500, seed=1)
    np.testing.assert_allclose(r.initial_energy, A.free_energy(v0), rtol=1e-12, atol=1e-12)


def test_first_law_float32_model_to_float32_precision():
    A, B = (rbmlib.RBM.random(40, 6, scale=0.3, seed=s, dtype=np.float32) for s in (1, 2))
    P = Protocol.linear(A, B, 5)
    r = thermo.run_protocol(P, 1000, seed=1)
    scale = max(1.0, np.max(np.abs(r.initial_energy)), np.max(np.abs(r.final_energy)))
    # fields are float32 (eps 1.2e-7); Delta E is evaluated by a different summation than the increments
    assert r.first_law_violation <= 64 * np.finfo(np.float32).eps * scale * (P.n_steps + 1)
    r64 = thermo.run_protocol(Protocol([m.astype(np.float64) for m in P.models]), 1000, seed=1)
    assert r64.first_law_violation <= 1e-12 * scale * (P.n_steps + 1)


def test_run_protocol_zero_sweeps_is_instant_switch():
    A, B = _pair()
    r = thermo.run_protocol(Protocol.linear(A, B, 5), 2000, seed=3, n_sweeps_per_step=0)
    assert np.all(r.heat == 0.0)
    v0, h0 = exact.equilibrium_sample(A, 2000, seed=3)
    np.testing.assert_allclose(r.work, B.energy(v0, h0) - A.energy(v0, h0), atol=1e-12)


def test_run_protocol_explicit_start_and_reproducible():
    A, B = _pair()
    P = Protocol.linear(A, B, 3)
    v0, h0 = exact.equilibrium_sample(A, 100, seed=9)
    r1 = thermo.run_protocol(P, 100, seed=2, start=(v0, h0))
    r2 = thermo.run_protocol(P, 100, seed=2, start=(v0, h0))
    np.testing.assert_array_equal(r1.work, r2.work)
    np.testing.assert_allclose(r1.initial_energy, A.energy(v0, h0), atol=1e-13)


# ----------------------------------------------------------------------------
# exact Crooks on tiny models (to 1e-10), against an independent brute force
# ----------------------------------------------------------------------------
def test_exact_work_distribution_matches_brute_force_paths():
    A, B = _pair(2, 2, scale=1.5)
    P = Protocol.linear(A, B, 3, schedule=[0.0, 0.3, 0.55, 1.0])
    wd = thermo.exact_work_distribution(P, beta=0.8, order="hv")
    w_ref, p_ref = _atomize(*_brute_work_paths(P, 0.8, "hv"))
    np.testing.assert_allclose(wd.values, w_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(wd.probs, p_ref, rtol=1e-11, atol=0)
    assert abs(wd.probs.sum() - 1) < 1e-13


@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("order", ["hv", "vh", "h", "v"])
def test_exact_crooks_with_reversed_dynamics(K, order):
    A, B = _pair(3, 2, scale=1.0)
    beta = 0.8
    P = Protocol.linear(A, B, K)
    dF = thermo.free_energy_difference(P, beta)
    F = thermo.exact_work_distribution(P, beta=beta, order=order)
    R = thermo.exact_work_distribution(P.reversed(), beta=beta, order=thermo.reversed_order(order))
    c = thermo.crooks_exact(F, R, beta=beta, delta_f=dF)
    assert c.support_mismatch == 0
    assert c.max_abs_error < 1e-10
    assert c.total_variation < 1e-12


def test_exact_crooks_fails_with_same_order_reverse():
    A, B = _pair(3, 2, scale=1.0)
    P = Protocol.linear(A, B, 3)
    dF = thermo.free_energy_difference(P, 0.8)
    F = thermo.exact_work_distribution(P, beta=0.8, order="hv")
    R = thermo.exact_work_distribution(P.reversed(), beta=0.8, order="hv")
    c = thermo.crooks_exact(F, R, beta=0.8, delta_f=dF)
    assert c.max_abs_error > 1e-2 and c.total_variation > 1e-3
    # with K = 1 the dynamics never acts on the work: both reverse processes agree
    P1 = Protocol.linear(A, B, 1)
    R1 = thermo.exact_work_distribution(P1.reversed(), beta=0.8, order="hv")
    c1 = thermo.crooks_exact(thermo.exact_work_distribution(P1, beta=0.8), R1, beta=0.8, delta_f=dF)
    assert c1.max_abs_error < 1e-10


def test_exact_crooks_visible_space_same_order():
    A, B = _pair(3, 2, scale=1.2)
    P = Protocol.linear(A, B, 3)
    dF = thermo.free_energy_difference(P, 1.3)
    F = thermo.exact_work_distribution(P, beta=1.3, space="visible")
    R = thermo.exact_work_distribution(P.reversed(), beta=1.3, space="visible")
    assert thermo.crooks_exact(F, R, beta=1.3, delta_f=dF).max_abs_error < 1e-10


def test_exact_crooks_generating_function_long_protocol():
    A, B = _pair(3, 2, scale=1.0)
    beta, K = 0.8, 40
    P = Protocol.linear(A, B, K)
    dF = thermo.free_energy_difference(P, beta)
    u = np.linspace(-1.0, 2.0, 13)
    lf = thermo.exact_work_log_mgf(P, u, beta=beta, order="hv")
    lr = thermo.exact_work_log_mgf(P.reversed(), beta - u, beta=beta, order="vh")
    assert np.max(np.abs(lf + beta * dF - lr)) < 1e-10
    lr_wrong = thermo.exact_work_log_mgf(P.reversed(), beta - u, beta=beta, order="hv")
    assert np.max(np.abs(lf + beta * dF - lr_wrong)) > 1e-8  # far above round-off (1e-15)
    # small K: the MGF equals the expectation over the atoms
    P3 = Protocol.linear(A, B, 3)
    wd = thermo.exact_work_distribution(P3, beta=beta)
    ref = np.log([wd.expectation(lambda w, uu=uu: np.exp(-uu * w)) for uu in u])
    np.testing.assert_allclose(thermo.exact_work_log_mgf(P3, u, beta=beta), ref, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------
# exact Jarzynski, second law, first law in the mean, Clausius
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["hv", "vh"])
@pytest.mark.parametrize("K", [1, 5, 60])
def test_exact_jarzynski_second_law_clausius(order, K):
    A, B = _pair(3, 2, scale=1.0)
    beta = 0.8
    P = Protocol.linear(A, B, K)
    ep = thermo.exact_process(P, beta=beta, order=order, n_sweeps_per_step=2)
    assert abs(ep.jarzynski_average * math.exp(beta * ep.delta_f) - 1) < 1e-12
    assert ep.dissipated_work > 0
    assert abs(ep.mean_delta_energy - ep.mean_work - ep.mean_heat) < 1e-12
    lhs = ep.entropy_end - ep.entropy_start - beta * ep.mean_heat
    rhs = beta * ep.dissipated_work - ep.kl_end
    assert abs(lhs - rhs) < 1e-11 and rhs > 0
    # equilibrium entropy: S = log Z + beta <E>
    st = thermo.equilibrium_stats(A, beta)
    assert abs(st.entropy - ep.entropy_start) < 1e-12
    assert abs(st.log_z - exact.log_partition(A, beta)) < 1e-12
    assert abs(st.mean_energy - exact.mean_energy(A, beta)) < 1e-12


def test_exact_process_moments_match_atoms():
    A, B = _pair(2, 2, scale=1.5)
    P = Protocol.linear(A, B, 3)
    ep = thermo.exact_process(P, beta=0.6)
    wd = thermo.exact_work_distribution(P, beta=0.6)
    assert abs(ep.mean_work - wd.mean()) < 1e-12
    assert abs(ep.var_work - wd.expectation(lambda w: (w - wd.mean()) ** 2)) < 1e-12


def test_quasistatic_limit_clausius():
    """Temperature protocol: Delta S - <Q> -> 0 like 1/K (k_B T = 1 units)."""
    A, _ = _pair(3, 2, scale=1.0)
    gaps = []
    for K in (10, 100, 1000):
        P = Protocol.temperature(A, np.linspace(1.0, 0.5, K + 1))
        ep = thermo.exact_process(P, n_sweeps_per_step=1)
        gaps.append(ep.entropy_eq_end - ep.entropy_start - ep.mean_heat)
    assert abs(gaps[2]) < abs(gaps[1]) < abs(gaps[0])
    assert 5 < gaps[1] / gaps[2] < 20


# ----------------------------------------------------------------------------
# sampling agrees with the exact distribution
# ----------------------------------------------------------------------------
def test_sampled_work_matches_exact_atoms():
    A, B = _pair(2, 2, scale=1.5)
    P = Protocol.linear(A, B, 3)
    wd = thermo.exact_work_distribution(P, beta=0.8, order="hv")
    r = thermo.run_protocol(P, 40000, beta=0.8, seed=11, order="hv")
    idx = np.clip(np.searchsorted(wd.values, r.work - 1e-9), 0, wd.values.size - 1)
    assert np.max(np.abs(wd.values[idx] - r.work)) < 1e-9
    counts = np.bincount(idx, minlength=wd.values.size)
    expected = wd.probs * r.n_chains
    big = expected >= 5
    obs = np.r_[counts[big], counts[~big].sum()]
    exp_ = np.r_[expected[big], expected[~big].sum()]
    assert stats.chisquare(obs, exp_).pvalue > 1e-3


def test_equilibrium_sample_tiny_and_layer_paths():
    A = rbmlib.RBM.random(3, 2, scale=1.0, seed=5)
    v, h = exact.equilibrium_sample(A, 50000, beta=1.4, seed=1)
    k = (v @ (1 << np.arange(2, -1, -1))) * 4 + h @ (1 << np.arange(1, -1, -1))
    p = exact.joint_distribution(A, 1.4).ravel()
    assert stats.chisquare(np.bincount(k, minlength=32), p * 50000).pvalue > 1e-3
    # 10 x 4 > 12 units: the hidden marginal + conditional path
    M = rbmlib.RBM.random(10, 4, scale=0.5, seed=2)
    v, h = exact.equilibrium_sample(M, 40000, seed=3)
    ph = exact.marginal_hidden(M)
    kh = h @ (1 << np.arange(3, -1, -1))
    assert stats.chisquare(np.bincount(kh, minlength=16), ph * 40000).pvalue > 1e-3
    H = exact.states(4).astype(float)
    mean_v = ph @ rbmlib.sigmoid(H @ M.W.T + M.a)
    se = np.sqrt(mean_v * (1 - mean_v) / 40000)
    assert np.all(np.abs(v.mean(0) - mean_v) < 4.5 * se)
    # reproducible
    v2, h2 = exact.equilibrium_sample(M, 40000, seed=3)
    np.testing.assert_array_equal(v, v2)


def test_entropy_chain_rule_matches_gibbs_entropy():
    for nv, nh in ((3, 2), (2, 4)):
        M = rbmlib.RBM.random(nv, nh, scale=1.5, seed=nv + nh)
        for beta in (0.5, 2.0):
            ref = rbmlib.stats.entropy(exact.joint_distribution(M, beta))
            st = thermo.equilibrium_stats(M, beta)
            assert abs(st.entropy - ref) < 1e-12
            cr = thermo.entropy_chain_rule(M, beta, n_samples=50000, seed=1)
            assert cr.layer == ("hidden" if nh <= nv else "visible")
            assert abs(cr.entropy - ref) < 4.5 * cr.entropy_stderr
            # the exact layer term: entropy of the enumerated marginal
            pl = exact.marginal_hidden(M, beta) if cr.layer == "hidden" else exact.marginal_visible(M, beta)
            assert abs(cr.entropy_layer - rbmlib.stats.entropy(pl)) < 1e-12


# ----------------------------------------------------------------------------
# estimators with known answers
# ----------------------------------------------------------------------------
def test_jarzynski_gaussian_known_answer():
    rng = np.random.default_rng(0)
    beta, mu, sigma = 1.0, 2.0, 1.0
    w = mu + sigma * rng.standard_normal(400_000)
    true_df = mu - beta * sigma ** 2 / 2
    est = thermo.jarzynski(w, beta, n_bootstrap=50, seed=1)
    assert abs(est.delta_f - true_df) < 4 * est.stderr
    assert 0.7 < est.stderr_bootstrap / est.stderr < 1.3
    assert est.mean_work > est.delta_f
    est2 = thermo.jarzynski(w, beta, n_bootstrap=50, seed=1)
    assert est2.stderr_bootstrap == est.stderr_bootstrap
    # beta scaling: with beta = 2 the answer is mu - beta sigma^2 / 2 again
    est_b = thermo.jarzynski(w, 2.0)
    assert abs(est_b.delta_f - (mu - 2.0 * sigma ** 2 / 2)) < 5 * est_b.stderr


def test_jarzynski_constant_work_is_exact():
    est = thermo.jarzynski(np.full(10, 3.25), 2.0)
    assert est.delta_f == pytest.approx(3.25, abs=1e-14)
    assert est.stderr == 0.0 and est.ess == pytest.approx(10.0)


def test_jarzynski_bias_grows_with_dissipation():
    rng = np.random.default_rng(3)
    out = []
    for sigma in (0.5, 2.0):
        w = 1.0 + sigma * rng.standard_normal(200_000)
        b = thermo.jarzynski_bias(w, 1.0, 1.0 - sigma ** 2 / 2, 100)
        out.append(b)
    assert abs(out[0].bias) < 4 * out[0].bias_stderr + 0.01
    assert out[1].bias > 10 * out[1].bias_stderr  # strongly biased upwards
    assert out[1].bias > out[0].bias
    # leading-order prediction for the mildly dissipative case
    assert abs(out[0].bias - out[0].bias_delta_method) < 4 * out[0].bias_stderr


def test_crooks_test_gaussian_and_detects_wrong_delta_f():
    rng = np.random.default_rng(7)
    beta, mu, sigma = 1.0, 1.0, 1.2
    dF = mu - beta * sigma ** 2 / 2
    wf = mu + sigma * rng.standard_normal(200_000)
    # Crooks: P_R(-W) is Gaussian with mean mu - beta sigma^2, so W_R has mean -(mu - beta sigma^2)
    wr = -(mu - beta * sigma ** 2) + sigma * rng.standard_normal(200_000)
    t = thermo.crooks_test(wf, wr, beta=beta, delta_f=dF, bins=30)
    assert t.p_value > 1e-3 and t.dof >= 10
    assert abs(t.delta_f_crossing - dF) < 4 * t.delta_f_crossing_err
    assert abs(t.slope - beta) < 4 * t.slope_err
    bad = thermo.crooks_test(wf, wr, beta=beta, delta_f=dF + 0.2, bins=30)
    assert bad.p_value < 1e-6


def test_plots_and_explorer_build():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    A, B = _pair()
    make = lambda K: Protocol.linear(A, B, K)  # noqa: E731
    ax = plotting.plot_work_histograms(np.r_[0.0, 1.0, 2.0], -np.r_[0.5, 1.5, 2.5], delta_f=1.0, bins=4)
    assert len(ax.patches) == 8
    w = widgets.work_explorer(make, n_chains=50, max_steps=5, max_sweeps=2)
    slider = w.children[0].children[0]
    slider.value = 3          # redraws from fresh runs without error
    assert slider.max == 5
    plt.close("all")
    with pytest.raises(TypeError, match="callable"):
        widgets.work_explorer(42)


# ----------------------------------------------------------------------------
# errors for bad input
# ----------------------------------------------------------------------------
def test_bad_protocols():
    A, B = _pair()
    with pytest.raises(ValueError, match="at least two models"):
        Protocol([A])
    with pytest.raises(TypeError, match="must be an rbmlib.RBM"):
        Protocol([A, "B"])
    with pytest.raises(ValueError, match="same layer sizes"):
        Protocol([A, rbmlib.RBM.random(3, 3)])
    with pytest.raises(ValueError, match="same layer sizes"):
        Protocol.linear(A, rbmlib.RBM.random(2, 2), 3)
    with pytest.raises(ValueError, match="n_steps"):
        Protocol.linear(A, B, 0)
    with pytest.raises(ValueError, match="schedule"):
        Protocol.linear(A, B, 2, schedule=[0.0, 0.7, 0.5])
    with pytest.raises(ValueError, match="schedule"):
        Protocol.linear(A, B, 2, schedule=[0.0, 1.0])
    with pytest.raises(ValueError, match="finite values > 0"):
        Protocol.temperature(A, [1.0, -0.5])
    with pytest.raises(ValueError, match="at least 2"):
        Protocol.temperature(A, [1.0])
    with pytest.raises(TypeError, match="Protocol"):
        thermo.run_protocol([A, B], 10)


def test_bad_run_arguments():
    A, B = _pair()
    P = Protocol.linear(A, B, 2)
    with pytest.raises(ValueError, match="order must be one of"):
        thermo.run_protocol(P, 10, order="hh")
    with pytest.raises(ValueError, match="space='visible' needs order='hv'"):
        thermo.run_protocol(P, 10, order="vh", space="visible")
    with pytest.raises(ValueError, match="space must be"):
        thermo.run_protocol(P, 10, space="hidden")
    with pytest.raises(ValueError, match="n_chains"):
        thermo.run_protocol(P, 0)
    with pytest.raises(ValueError, match="beta"):
        thermo.run_protocol(P, 10, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        thermo.run_protocol(P, 10, beta=float("nan"))
    with pytest.raises(ValueError, match="n_sweeps_per_step"):
        thermo.run_protocol(P, 10, n_sweeps_per_step=-1)
    with pytest.raises(ValueError, match="start must be"):
        thermo.run_protocol(P, 10, start="random")
    with pytest.raises(ValueError, match="one state per chain"):
        thermo.run_protocol(P, 10, start=(np.zeros((5, 3)), np.zeros((5, 2))))
    with pytest.raises(ValueError, match="binary"):
        thermo.run_protocol(P, 2, start=(np.full((2, 3), 0.5), np.zeros((2, 2))))


def test_bad_exact_and_estimator_arguments():
    big = Protocol.linear(rbmlib.RBM.random(10, 4), rbmlib.RBM.random(10, 4, seed=1), 2)
    with pytest.raises(exact.EnumerationTooLarge, match="run_protocol"):
        thermo.exact_work_distribution(big)
    A, B = _pair()
    with pytest.raises(exact.EnumerationTooLarge, match="max_atoms"):
        thermo.exact_work_distribution(Protocol.linear(A, B, 6), max_atoms=1000)
    with pytest.raises(ValueError, match="NaN or inf"):
        thermo.jarzynski(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="at least 2"):
        thermo.jarzynski(np.array([1.0]))
    with pytest.raises(ValueError, match="beta"):
        thermo.jarzynski(np.array([1.0, 2.0]), beta=-1.0)
    with pytest.raises(ValueError, match="2 batches"):
        thermo.jarzynski_bias(np.arange(10.0), 1.0, 0.0, 6)
    with pytest.raises(ValueError, match="do not overlap"):
        thermo.crooks_test(np.arange(10.0), np.arange(10.0) + 100, beta=1.0, delta_f=0.0)
    with pytest.raises(exact.EnumerationTooLarge, match="24"):
        thermo.equilibrium_stats(rbmlib.RBM.random(30, 30))
    with pytest.raises(TypeError, match="WorkDistribution"):
        thermo.crooks_exact([1.0], [1.0], beta=1.0, delta_f=0.0)
