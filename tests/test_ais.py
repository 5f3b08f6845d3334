"""rbmlib.ais: exact identities on tiny models, samplers against the exact path ensemble, BAR, errors.

Statistical tests state their criterion up front: a z-score |z| < 3 (two-sided
p = 0.0027 under the null) or a chi-square goodness of fit at alpha = 1e-3.
Every random input is seeded, so each test is deterministic.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math

import numba
import numpy as np
import pytest
from conftest import all_states, logsumexp
from scipy import stats

import rbmlib
from rbmlib import RBM, ais, datasets, exact

Z_MAX = 3.0      # |z| criterion for estimates with a (delta-method or exact) standard error
ALPHA = 1e-3     # chi-square significance


def _tiny(nv=3, nh=2, scale=1.0, seed=0):
    return RBM.random(nv, nh, scale=scale, seed=seed)


# ----------------------------------------------------------------------------
# schedules and the base model
# ----------------------------------------------------------------------------
def test_salakhutdinov_schedule():
    s = ais.make_schedule()
    assert s.shape == (14501,) and s[0] == 0.0 and s[-1] == 1.0
    assert s[500] == 0.5 and s[4500] == 0.9
    d = np.diff(s)
    np.testing.assert_allclose(d[:500], 0.5 / 500, rtol=1e-9)
    np.testing.assert_allclose(d[500:4500], 0.4 / 4000, rtol=1e-9)
    np.testing.assert_allclose(d[4500:], 0.1 / 10000, rtol=1e-9)
    np.testing.assert_array_equal(ais._check_schedule("salakhutdinov"), s)
    for k in (3, 29, 145, 1450):
        t = ais.make_schedule(k)
        assert t.size == k + 1 and t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
        assert {0.5, 0.9} <= set(t.tolist())
    np.testing.assert_array_equal(ais.make_schedule(4, "linear"), [0, 0.25, 0.5, 0.75, 1])


def test_base_model_exact():
    rng = np.random.default_rng(1)
    X = (rng.random((50, 4)) < [0.0, 0.3, 0.9, 1.0]).astype(np.uint8)
    a = ais.base_rate_biases(X)
    p = (X.mean(0) + 0.05) / 1.1
    np.testing.assert_allclose(a, np.log(p / (1 - p)), rtol=1e-14)
    base = RBM(np.zeros((4, 3)), a, np.zeros(3))
    assert abs(ais.base_log_partition(a, 3) - exact.log_partition(base)) < 1e-12
    # the intermediate model at beta = 0 is the base model, at beta = 1 the target
    rbm = _tiny(4, 3)
    assert ais.intermediate_rbm(rbm, 0.0, a) == base
    assert ais.intermediate_rbm(rbm, 1.0, a) == rbm


# ----------------------------------------------------------------------------
# exact references: Jarzynski, Crooks, second law (enumeration, ~1e-12)
# ----------------------------------------------------------------------------
SCHEDULES = [[0.0, 1.0], [0.0, 0.5, 1.0], ais.make_schedule(7, "linear"), ais.make_schedule(40)]


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: f"K{len(s) - 1}")
@pytest.mark.parametrize("scale", [0.5, 2.0])
@pytest.mark.parametrize("base", ["uniform", "biases"])
def test_exact_jarzynski_and_reverse(sched, scale, base):
    rbm = _tiny(3, 2, scale=scale, seed=7)
    b = None if base == "uniform" else np.array([-1.0, 0.3, 2.0])
    m = ais.exact_weight_moments(rbm, sched, b)
    # E[w] = Z_B / Z_A (not Z_B), E[log w] <= log E[w] (second law / Jensen)
    assert abs(m["log_z_base"] + m["log_mean_w"] - m["log_z"]) < 1e-12
    assert m["mean_log_w"] <= m["log_mean_w"] + 1e-12
    assert m["rel_var"] >= -1e-12
    r = ais.exact_reverse_weights(rbm, sched, b)
    assert abs(r["log_mean_w_equilibrium"] - (r["log_z_base"] - r["log_z"])) < 1e-12
    # RAISE: E[p_hat(v)] = p_ann(v), the likelihood of the annealing model
    np.testing.assert_allclose(r["log_p_ann_from_weights"], r["log_p_ann"], atol=1e-12)
    assert abs(logsumexp(r["log_p_ann"])) < 1e-12


def test_exact_reverse_single_step_is_exact_ratio():
    # with K = 1 the annealing model is p_A T_1 and the weight is f_A / f_B after one sweep of p_B
    rbm = _tiny(2, 2, seed=3)
    r = ais.exact_reverse_weights(rbm, [0.0, 1.0])
    T = exact.visible_chain(rbm)
    V = all_states(2)
    logfA = 2 * math.log(2.0) + 0 * V.sum(1)
    logfB = -rbm.free_energy(V)
    want = np.log(T @ np.exp(logfA - logfB))
    np.testing.assert_allclose(r["log_mean_w"], want, atol=1e-13)


def _brute_paths(rbm, betas, aA):
    """Path probabilities and works by explicit loops over every state (independent of rbmlib.ais)."""
    nv, nh = rbm.n_visible, rbm.n_hidden
    V, H = all_states(nv), all_states(nh)
    W, a, b = rbm.W, rbm.a, rbm.b

    def logf(k, v):
        bk = betas[k]
        return (1 - bk) * aA @ v + bk * a @ v + np.sum(np.logaddexp(0, bk * (v @ W + b)))

    def T(k, v, u):  # visible chain of a block sweep of p_k: sum_h p_k(h|v) p_k(u|h)
        bk = betas[k]
        tot = 0.0
        for h in H:
            ph = np.prod(np.where(h == 1, 1 / (1 + np.exp(-bk * (v @ W + b))), 1 / (1 + np.exp(bk * (v @ W + b)))))
            fu = bk * (W @ h + a) + (1 - bk) * aA
            pu = np.prod(np.where(u == 1, 1 / (1 + np.exp(-fu)), 1 / (1 + np.exp(fu))))
            tot += ph * pu
        return tot

    K = len(betas) - 1
    lz0 = logsumexp(np.array([logf(0, v) for v in V]))
    lzK = logsumexp(np.array([logf(K, v) for v in V]))
    out = []
    for path in itertools.product(range(len(V)), repeat=K):
        xs = [V[i] for i in path]
        pf = math.exp(logf(0, xs[0]) - lz0)
        pr = math.exp(logf(K, xs[-1]) - lzK)
        for k in range(1, K):
            pf *= T(k, xs[k - 1], xs[k])
            pr *= T(k, xs[k], xs[k - 1])
        w = -sum(logf(k, xs[k - 1]) - logf(k - 1, xs[k - 1]) for k in range(1, K + 1))
        out.append((pf, pr, w))
    return np.array(out), lz0 - lzK


def test_exact_path_ensemble_against_brute_force():
    rbm = _tiny(2, 2, scale=1.5, seed=11)
    aA = np.array([0.4, -0.8])
    betas = [0.0, 0.3, 0.8, 1.0]
    pe = ais.exact_path_ensemble(rbm, betas, aA)
    ref, dF = _brute_paths(rbm, betas, aA)
    np.testing.assert_allclose(pe["p_forward"], ref[:, 0], rtol=1e-12)
    np.testing.assert_allclose(pe["p_reverse"], ref[:, 1], rtol=1e-12)
    np.testing.assert_allclose(pe["work"], ref[:, 2], atol=1e-12)
    assert abs(pe["delta_f"] - dF) < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_crooks_pathwise(seed):
    rbm = _tiny(3, 2, scale=2.0, seed=seed)
    pe = ais.exact_path_ensemble(rbm, [0.0, 0.2, 0.6, 1.0], np.array([0.5, -1.0, 0.0]))
    assert abs(pe["p_forward"].sum() - 1) < 1e-12 and abs(pe["p_reverse"].sum() - 1) < 1e-12
    # P_F[path] / P_R[reversed path] = exp(W_F - Delta F), path by path
    lhs = np.log(pe["p_forward"]) - np.log(pe["p_reverse"])
    assert np.max(np.abs(lhs - (pe["work"] - pe["delta_f"]))) < 1e-11
    # Jarzynski from the path ensemble
    assert abs(logsumexp(np.log(pe["p_forward"]) - pe["work"]) + pe["delta_f"]) < 1e-12


# ----------------------------------------------------------------------------
# samplers against the exact path ensemble (chi-square on the work distribution)
# ----------------------------------------------------------------------------
def _chi2_works(sampled, work, prob):
    """Chi-square of sampled works against the exact atoms (work values, probabilities)."""
    key = np.round(work, 8)
    atoms, inv = np.unique(key, return_inverse=True)
    p = np.bincount(inv, weights=prob)
    idx = np.searchsorted(atoms, np.round(sampled, 8))
    assert np.all(idx < atoms.size) and np.all(np.abs(atoms[idx] - sampled) < 1e-7), "sampled work off the exact atoms"
    obs = np.bincount(idx, minlength=atoms.size).astype(float)
    exp_ = p * sampled.size
    # merge atoms with small expected counts into one bin
    small = exp_ < 5
    o = np.append(obs[~small], obs[small].sum())
    e = np.append(exp_[~small], exp_[small].sum())
    if e[-1] == 0:
        o, e = o[:-1], e[:-1]
    return stats.chisquare(o, e).pvalue


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_reverse_work_distributions(seed):
    rbm = _tiny(3, 2, scale=2.0, seed=5)
    aA = np.array([0.5, -1.0, 0.0])
    betas = [0.0, 0.25, 0.6, 1.0]
    pe = ais.exact_path_ensemble(rbm, betas, aA)
    n = 40000
    fwd = ais.log_partition(rbm, n_runs=n, schedule=betas, base=aA, seed=seed)
    assert _chi2_works(fwd.works, pe["work"], pe["p_forward"]) > ALPHA
    rev = ais.reverse_log_partition(rbm, n_runs=n, schedule=betas, base=aA, seed=seed)
    assert _chi2_works(rev.works, -pe["work"], pe["p_reverse"]) > ALPHA


# ----------------------------------------------------------------------------
# estimators against exact log Z
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("K", [10, 100])
def test_mean_weight_unbiased_exact_variance(seed, K):
    """Sample mean of w against the exact E[w] with the exact standard error."""
    rbm = _tiny(4, 3, scale=1.5, seed=2)
    sched = ais.make_schedule(K)
    m = ais.exact_weight_moments(rbm, sched)
    res = ais.log_partition(rbm, n_runs=5000, schedule=sched, seed=seed)
    w = np.exp(res.log_weights - m["log_mean_w"])       # E[w] = 1 in these units
    z = (w.mean() - 1.0) / math.sqrt(m["rel_var"] / w.size)
    assert abs(z) < Z_MAX


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sched", [100, 300, "lin100"])
def test_forward_reverse_bar_agree_with_exact(seed, sched):
    """|z| < 3 for each estimator. The delta-method error of forward / reverse AIS assumes a
    well-behaved weight distribution: these schedules give an effective sample size of
    more than 10 % of the runs (asserted). With much faster schedules (e.g. 30 steps here,
    ESS ~ 10 %, down to 2 %) the stated error is too small (see chapter 6)."""
    rbm = RBM.random(40, 10, scale=0.3, seed=4)
    rng = np.random.default_rng(9)
    data = (rng.random((200, 40)) < 0.3).astype(np.uint8)
    betas = ais.make_schedule(100, "linear") if sched == "lin100" else ais.make_schedule(sched)
    lz = exact.log_partition(rbm)
    fwd = ais.log_partition(rbm, n_runs=300, schedule=betas, base=data, seed=seed)
    rev = ais.reverse_log_partition(rbm, n_runs=300, schedule=betas, base=data, seed=seed)
    b = ais.bar(fwd, rev)
    for est in (fwd, rev, b):
        assert abs(est.log_z - lz) < Z_MAX * est.log_z_std, (est, lz)
    assert fwd.n_runs == 300 and fwd.n_steps == betas.size - 1 and fwd.ess > 30
    assert fwd.log_z_bounds[0] < fwd.log_z < fwd.log_z_bounds[1]


def test_jensen_bias_forward_low_reverse_high():
    """With few runs and a fast schedule, log mean w is biased low (forward) / high (reverse)."""
    rbm = RBM.random(12, 6, scale=1.0, seed=1)
    lz = exact.log_partition(rbm)
    sched = ais.make_schedule(5, "linear")
    m = ais.exact_weight_moments(rbm, sched)
    assert m["rel_var"] > 1.0                     # a hard problem: large weight variance
    f = [ais.log_partition(rbm, n_runs=4, schedule=sched, seed=s).log_z - lz for s in range(300)]
    r = [ais.reverse_log_partition(rbm, n_runs=4, schedule=sched, seed=s).log_z - lz for s in range(300)]
    # one-sided t-tests at alpha = 1e-3 of the mean error over 300 independent repetitions
    assert stats.ttest_1samp(f, 0.0, alternative="less").pvalue < ALPHA
    assert stats.ttest_1samp(r, 0.0, alternative="greater").pvalue < ALPHA


def test_raise_unbiased_for_annealing_model():
    rbm = _tiny(4, 3, scale=1.5, seed=2)
    sched = ais.make_schedule(20)
    ex = ais.exact_reverse_weights(rbm, sched)
    V = exact.states(4)
    pts = [0, 5, 10, 15]
    res = ais.reverse_log_likelihood(rbm, V[pts], n_chains=4000, schedule=sched, seed=3)
    for i, k in enumerate(pts):
        w = np.exp(res.log_weights[i] - ex["log_mean_w"][k])    # exact mean 1
        z = (w.mean() - 1.0) / (w.std(ddof=1) / math.sqrt(w.size))
        assert abs(z) < Z_MAX
    # per-point value is -F(v) - log Z_A + log mean w
    want = -rbm.free_energy(V[pts]) - res.log_z_base + np.log(np.mean(np.exp(res.log_weights), axis=1))
    np.testing.assert_allclose(res.per_point, want, atol=1e-10)
    assert res.n_steps == 20 and res.mean_std > 0


def test_raise_bound_on_data():
    """Mean RAISE estimate lies below the exact mean log-likelihood (one-sided, alpha = 1e-3)."""
    rbm = RBM.random(30, 8, scale=0.8, seed=6)
    data = exact_samples_data = exact.equilibrium_sample(rbm, 400, seed=1)[0]
    exact_ll = exact.log_likelihood(rbm, exact_samples_data).mean()
    res = ais.reverse_log_likelihood(rbm, data, schedule=ais.make_schedule(3), seed=0)
    t = (res.mean - exact_ll) / res.mean_std
    assert t < 0 and stats.norm.cdf(t) < ALPHA
    ll = ais.average_log_likelihood(rbm, data, exact.log_partition(rbm))
    assert abs(ll.mean - exact_ll) < 1e-10 and ll.std_log_z == 0 and ll.n_points == 400


# ----------------------------------------------------------------------------
# BAR on synthetic Crooks-consistent works
# ----------------------------------------------------------------------------
def test_bar_gaussian_works():
    dF, sig = 3.0, 1.5
    ests, stds = [], []
    for s in range(200):
        rng = np.random.default_rng(s)
        wf = rng.normal(dF + sig ** 2 / 2, sig, 300)
        wr = rng.normal(-dF + sig ** 2 / 2, sig, 200)
        r = ais.bar(wf, wr)
        ests.append(r.delta_f)
        stds.append(r.delta_f_std)
        assert r.log_z is None and r.n_forward == 300 and r.n_reverse == 200
    ests = np.array(ests)
    assert abs(ests[0] - dF) < Z_MAX * stds[0]
    # unbiased (t-test, alpha = 1e-3) and the stated error matches the spread over 200 repetitions
    assert stats.ttest_1samp(ests, dF).pvalue > ALPHA
    ratio = ests.std(ddof=1) / np.mean(stds)
    assert 0.8 < ratio < 1.2


def test_bar_zero_free_energy_symmetric():
    rng = np.random.default_rng(0)
    w = rng.normal(0.5, 1.0, 1000)
    r = ais.bar(w, w)
    assert abs(r.delta_f) < 1e-10


# ----------------------------------------------------------------------------
# reproducibility
# ----------------------------------------------------------------------------
def test_streams_per_run_and_thread_count():
    rbm = RBM.random(20, 7, scale=1.0, seed=3)
    sched = ais.make_schedule(30)
    a = ais.log_partition(rbm, n_runs=9, schedule=sched, seed=5)
    b = ais.log_partition(rbm, n_runs=4, schedule=sched, seed=5)
    np.testing.assert_array_equal(a.log_weights[:4], b.log_weights)   # run r depends on (seed, r) only
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = ais.log_partition(rbm, n_runs=9, schedule=sched, seed=5)
        d = ais.reverse_log_partition(rbm, n_runs=9, schedule=sched, seed=5)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a.log_weights, c.log_weights)
    np.testing.assert_array_equal(ais.reverse_log_partition(rbm, n_runs=9, schedule=sched, seed=5).log_weights,
                                  d.log_weights)
    assert not np.array_equal(ais.log_partition(rbm, n_runs=9, schedule=sched, seed=6).log_weights, a.log_weights)
    # forward and reverse runs use different streams
    assert a.log_weights[0] != -d.log_weights[0]
    assert a.works.tolist() == (-a.log_weights).tolist()


def test_float32_model_keeps_its_fields_in_float32():
    # as the sampler: a float32 model's fields are float32 sums, everything else float64, so its weights
    # equal those of the same parameters in float64 to the fields' rounding (same draws, same seed)
    rbm = RBM.random(10, 4, scale=1.0, seed=3)
    a = ais.log_partition(rbm, n_runs=5, schedule=10, seed=0)
    b = ais.log_partition(rbm.astype(np.float32).astype(np.float64), n_runs=5, schedule=10, seed=0)
    c = ais.log_partition(rbm.astype(np.float32), n_runs=5, schedule=10, seed=0)
    np.testing.assert_allclose(c.log_weights, b.log_weights, rtol=0, atol=1e-5)
    assert not np.array_equal(c.log_weights, b.log_weights)
    assert np.all(np.isfinite(a.log_weights))


# ----------------------------------------------------------------------------
# input errors
# ----------------------------------------------------------------------------
def test_errors():
    rbm = _tiny(3, 2)
    with pytest.raises(ValueError, match="start at beta = 0"):
        ais.log_partition(rbm, schedule=[0.1, 1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        ais.log_partition(rbm, schedule=[0.0, 0.6, 0.5, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        ais.log_partition(rbm, schedule=[0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="salakhutdinov"):
        ais.log_partition(rbm, schedule="fast")
    with pytest.raises(ValueError, match="n_runs"):
        ais.log_partition(rbm, n_runs=0)
    with pytest.raises(ValueError, match="seed"):
        ais.log_partition(rbm, seed=-1)
    with pytest.raises(ValueError, match="visible biases must have shape"):
        ais.log_partition(rbm, base=np.zeros(4))
    with pytest.raises(ValueError, match="columns"):
        ais.log_partition(rbm, base=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="binary"):
        ais.log_partition(rbm, base=np.full((5, 3), 0.5))
    with pytest.raises(ValueError, match="binary"):
        ais.reverse_log_likelihood(rbm, np.full((2, 3), 2))
    with pytest.raises(ValueError, match="units on its last axis"):
        ais.reverse_log_partition(rbm, v_start=np.zeros((2, 4)))
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        ais.log_partition("model")
    with pytest.raises(ValueError, match="at most 24 units"):
        ais.reverse_log_partition(RBM(np.zeros((30, 30)), np.zeros(30), np.zeros(30)), n_runs=2, schedule=3)
    with pytest.raises(ValueError, match="NaN"):
        ais.bar([0.0, np.nan], [1.0, 2.0])
    with pytest.raises(TypeError, match="mix"):
        ais.bar(ais.log_partition(rbm, n_runs=2, schedule=3), [1.0, 2.0])
    f = ais.log_partition(rbm, n_runs=3, schedule=3)
    r = ais.reverse_log_partition(rbm, n_runs=3, schedule=4)
    with pytest.raises(ValueError, match="share"):
        ais.bar(f, r)
    with pytest.raises(ValueError, match="first result must be forward"):
        ais.bar(r, f)
    with pytest.raises(ValueError, match="finite"):
        ais.average_log_likelihood(rbm, np.zeros((2, 3)), np.inf)
    with pytest.raises(ValueError, match="n_steps >= 3"):
        ais.log_partition(rbm, schedule=2)
    with pytest.raises(exact.EnumerationTooLarge):
        ais.exact_path_ensemble(rbm, ais.make_schedule(30, "linear"))


# ----------------------------------------------------------------------------
# command line and the paper-scale record
# ----------------------------------------------------------------------------
def test_cli_paper_scale_record(tmp_path):
    # a model near its base-rate model (as a trained one is, roughly), so that 20 steps suffice
    rng = np.random.default_rng(0)
    a = ais.base_rate_biases(datasets.load_mnist("embedded", "train"))
    rbm = RBM(0.05 * rng.standard_normal((784, 5)), a, np.zeros(5))
    path = rbm.save(tmp_path / "m.npz", name="test-784x5")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    from rbmlib.cli import ais as ais_command
    ais_command.add_cli(sub)
    out = tmp_path / "res.json"
    args = parser.parse_args(["ais", "--model", str(path), "--runs", "20", "--schedule", "20",
                              "--heldout-points", "3", "--out", str(out)])
    assert args.func(args) == 0
    rec = json.loads(out.read_text())
    assert rec["model_fingerprint"] == rbm.fingerprint() and rec["n_runs"] == 20 and rec["n_steps"] == 20
    assert len(rec["forward"]["log_weights"]) == 20 and rec["raise"]["n_points"] == 3
    assert rec["data"]["n_heldout"] == 2000 and "machine" in rec and "wall_s" in rec["forward"]
    # exact log Z of this 784 x 5 model: the record's forward estimate is consistent with it
    lz = exact.log_partition(rbm)
    assert abs(rec["forward"]["log_z"] - lz) < Z_MAX * rec["forward"]["log_z_std"]
    want = ais.average_log_likelihood(rbm, datasets.load_mnist("embedded", "heldout"),
                                      rec["forward"]["log_z"])
    assert abs(rec["heldout_ll"]["mean"] - want.mean) < 1e-9
