"""rbmlib.tempering: exact invariance of the swap move, exact joints at every beta, reproducibility, errors.

Exact checks build the transition matrices of the tempering step on the product
space of K replicas of a tiny RBM (enumerating all ``(2**(nv+nh))**K`` states)
and verify that the swap move and the full step (one Gibbs sweep at each beta,
then a swap round of either parity) leave ``prod_k p_{beta_k}`` invariant, with
detailed balance for the swap. The acceptance probability in those matrices is
the kernel's own function (:func:`rbmlib.tempering.swap_log_acceptance`); that
the numba swap round accepts with that probability is a binomial test.

Statistical checks compare the sampled joint at every beta with the exact joint
by Pearson's chi-square at ALPHA = 1e-4 per assertion (as tests/test_sampling.py,
whose helper pools cells of expected count < 5), with fixed seeds. The bimodal
model is a "ferromagnetic" RBM whose two modes plain Gibbs sampling does not
connect within the run (asserted: its chi-square fails by far), while tempering
from the same start reproduces the joint at every beta.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats

import rbmlib
from rbmlib import RBM, exact, kernels
from rbmlib import tempering as tp

from test_sampling import chi2_pvalue, joint_counts

ALPHA = 1e-4


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def joint_energies(rbm):
    """E(v, h) of every joint state (index k_v 2**nh + k_h, unit 0 most significant), float64."""
    nv, nh = rbm.n_visible, rbm.n_hidden
    V = (np.arange(2 ** nv)[:, None] >> np.arange(nv - 1, -1, -1)) & 1
    H = (np.arange(2 ** nh)[:, None] >> np.arange(nh - 1, -1, -1)) & 1
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.W, rbm.a, rbm.b))
    E = -(V @ W @ H.T) - (V @ a)[:, None] - (H @ b)[None, :]
    return E.ravel()


def product_law(rbm, betas):
    """prod_k p_{beta_k} on the product space, flattened (state at beta_0 most significant)."""
    p = np.ones(1)
    for beta in betas:
        p = np.kron(p, exact.joint_distribution(rbm, beta).ravel())
    return p


def swap_matrix(rbm, betas, parity):
    """Exact transition matrix of one swap round of the given parity on the product space."""
    E = joint_energies(rbm)
    M, K = E.size, len(betas)
    shape = (M,) * K
    n = M ** K
    S = np.eye(n)
    for k in range(parity, K - 1, 2):
        P = np.zeros((n, n))
        for x in range(n):
            s = list(np.unravel_index(x, shape))
            la = tp.swap_log_acceptance(betas[k], betas[k + 1], E[s[k]], E[s[k + 1]])
            acc = np.exp(la)
            s[k], s[k + 1] = s[k + 1], s[k]
            y = np.ravel_multi_index(tuple(s), shape)
            P[x, y] += acc
            P[x, x] += 1.0 - acc
        S = S @ P
    return S


def sweep_matrix(rbm, betas):
    """One block Gibbs sweep 'hv' of every replica at its own beta: kron of the exact kernels."""
    G = np.ones((1, 1))
    for beta in betas:
        G = np.kron(G, exact.transition_matrix(rbm, "hv", beta))
    return G


def bimodal_rbm(nv=8, w=6.0, tilt=0.5, dtype=np.float64):
    """One hidden unit coupled to all visible units: modes 'all off' and 'mostly on' (tilted by `tilt`)."""
    W = np.full((nv, 1), w)
    a = np.full(nv, -w / 2)
    b = np.array([-w * nv / 2 + tilt])
    return RBM(W, a, b).astype(dtype)


# ----------------------------------------------------------------------------
# exact invariance on the product space
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("nv,nh,betas,scale", [
    (2, 2, [0.4, 1.0], 2.0),          # 256 product states
    (1, 2, [0.2, 0.6, 1.0], 3.0),     # 512: both parities differ
    (1, 1, [0.3, 0.5, 0.8, 1.3], 4.0),  # 256: two pairs in the even round
])
def test_swap_and_full_step_leave_product_law_invariant_exactly(nv, nh, betas, scale):
    rbm = RBM.random(nv, nh, scale=scale, seed=7 * nv + nh)
    pi = product_law(rbm, betas)
    G = sweep_matrix(rbm, betas)
    for parity in (0, 1):
        S = swap_matrix(rbm, betas, parity)
        np.testing.assert_allclose(S.sum(1), 1.0, atol=1e-13)
        assert np.max(np.abs(pi @ S - pi)) < 1e-14
        flow = pi[:, None] * S                                   # detailed balance of the swap
        assert np.max(np.abs(flow - flow.T)) < 1e-15
        assert np.max(np.abs(pi @ (G @ S) - pi)) < 1e-14
    # and the swaps do move something (the test is not vacuous)
    assert np.max(np.abs(swap_matrix(rbm, betas, 0) - np.eye(len(pi)))) > 1e-3


def test_tempering_step_converges_to_product_law_exactly():
    """p0 (G S0 G S1)^n -> prod_k p_{beta_k}: the law sampled by the chi-square test below is the equilibrium."""
    rbm = RBM.random(2, 1, scale=3.0, seed=5)
    betas = [0.2, 0.5, 1.0]
    pi = product_law(rbm, betas)
    G = sweep_matrix(rbm, betas)
    step = G @ swap_matrix(rbm, betas, 0) @ G @ swap_matrix(rbm, betas, 1)
    p0 = np.full(len(pi), 1.0 / len(pi))
    p = p0 @ np.linalg.matrix_power(step, 20)                  # 40 sweeps
    assert np.max(np.abs(p - pi)) < 1e-9


def test_swap_round_accepts_with_the_metropolis_probability():
    """The numba swap round against exp(swap_log_acceptance), by a binomial test per pair."""
    n, betas = 20000, np.array([0.3, 0.5, 0.9, 1.0])
    E = np.tile(np.array([2.0, -1.0, 1.5, -3.0]), (n, 1))       # energy of replica r (= position r initially)
    pos = np.tile(np.arange(4, dtype=np.int64), (n, 1))
    rat = pos.copy()
    S = kernels.seed_streams(np.uint64(3), np.uint64(tp.SWAP_STREAM_OFFSET), n)
    z = lambda *s: np.zeros(s, np.int64)
    att, acc = z(n, 3), z(n, 3)
    tp._swap_round(E, betas, pos, rat, S, 0, False, 1, att, acc, np.zeros((n, 4), np.int8), np.full((n, 4), -1),
                   z(n), z(n), z(n, 4), z(n, 4))
    assert att[:, 0].sum() == n and att[:, 2].sum() == n and att[:, 1].sum() == 0     # even pairs only
    for k in (0, 2):
        p = np.exp(tp.swap_log_acceptance(betas[k], betas[k + 1], E[0, k], E[0, k + 1]))
        assert 0.05 < p < 0.95
        assert stats.binomtest(int(acc[:, k].sum()), n, p).pvalue > ALPHA
    # the permutation and its inverse stay consistent
    assert np.all(np.take_along_axis(rat, pos, axis=1) == np.arange(4))
    swapped = acc[:, 0] == 1
    assert np.all(pos[swapped, 0] == 1) and np.all(pos[~swapped, 0] == 0)


# ----------------------------------------------------------------------------
# sampled joints at every beta
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_samples_match_exact_joint_at_every_beta(dtype):
    rbm = RBM.random(3, 2, scale=2.0, seed=11).astype(dtype)
    betas = [0.25, 0.5, 0.75, 1.0]
    v, h = tp.sample(rbm, betas, 8000, 60, seed=1)
    assert v.shape == (4, 8000, 3) and h.shape == (4, 8000, 2) and v.dtype == np.uint8
    for k, beta in enumerate(betas):
        p = exact.joint_distribution(rbm, beta).ravel()
        assert chi2_pvalue(joint_counts(v[k], h[k]), p) > ALPHA, beta


def test_exact_2x1_case_matches_at_every_beta():
    rbm = RBM.random(2, 1, scale=3.0, seed=5)
    betas = [0.2, 0.5, 1.0]
    v, h = tp.sample(rbm, betas, 10000, 40, seed=2)
    for k, beta in enumerate(betas):
        assert chi2_pvalue(joint_counts(v[k], h[k]), exact.joint_distribution(rbm, beta).ravel()) > ALPHA


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bimodal_model_tempering_mixes_where_gibbs_does_not(dtype):
    rbm = bimodal_rbm(dtype=dtype)
    betas = tp.geometric_ladder(0.08, 1.0, 6)
    n, sweeps = 3000, 200
    zeros = np.zeros(rbm.n_visible, np.uint8)                  # every replica starts in the 'off' mode
    pt = tp.Tempering(rbm, betas, n, seed=4, v0=zeros)
    pt.run(sweeps)
    v, h = pt.state()
    p1 = exact.joint_distribution(rbm, 1.0).ravel()
    p_on = p1.reshape(2 ** rbm.n_visible, 2)[:, 1].sum()
    assert 0.5 < p_on < 0.8                                      # two modes, both heavy
    for k, beta in enumerate(betas):
        assert chi2_pvalue(joint_counts(v[k], h[k]), exact.joint_distribution(rbm, beta).ravel()) > ALPHA, beta
    vg, hg = rbmlib.sample(rbm, n, sweeps, seed=4, v0=zeros)       # plain Gibbs: stuck in the 'off' mode
    assert hg.mean() < 0.25                                      # vs p_on > 0.5 at equilibrium
    assert chi2_pvalue(joint_counts(vg, hg), p1) < 1e-12
    s = pt.summary()
    assert pt.round_trips > 0 and np.all(np.array(s["acceptance"]) > 0.2)


# ----------------------------------------------------------------------------
# round trips and ladders
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("K", [2, 3, 5])
def test_round_trips_of_the_deterministic_zigzag(K):
    """A zero model accepts every swap: under DEO each replica zig-zags, a round trip takes exactly 2K sweeps."""
    rbm = RBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
    pt = tp.Tempering(rbm, np.linspace(0.5, 1.0, K), 5, seed=0)
    pt.run(20 * K)
    assert np.all(pt.acceptance == 1.0)
    assert pt.round_trips > 0 and pt.round_trip_time == 2 * K
    assert pt.summary()["predicted_round_trip_sweeps_deo"] == 2 * K
    f = pt.flux
    assert f[0] == 1.0 and f[-1] == 0.0 and np.all(np.diff(f) <= 0)


def test_ladders():
    b = tp.geometric_ladder(0.1, 1.0, 5)
    assert b[0] == 0.1 and b[-1] == 1.0 and np.allclose(b[1:] / b[:-1], 10 ** 0.25)
    same = tp.adapt_ladder(b, np.full(4, 0.3))
    np.testing.assert_allclose(same, b, rtol=1e-12)
    rej = np.array([0.05, 0.1, 0.4, 0.85])
    new = tp.adapt_ladder(b, rej, n=8)
    assert new.size == 8 and new[0] == 0.1 and new[-1] == 1.0
    lam = tp.communication_barrier(b, rej)["cumulative"]
    np.testing.assert_allclose(np.interp(new, b, lam), np.linspace(0, rej.sum(), 8), atol=1e-12)
    assert tp.communication_barrier(b, rej)["Lambda"] == pytest.approx(1.4)


# ----------------------------------------------------------------------------
# reproducibility
# ----------------------------------------------------------------------------
def _snapshot(pt):
    v, h = pt.state()
    return [v, h, pt.position, pt.swap_state, pt.chains.rng_state] + [pt.stats[k] for k in tp._STAT_KEYS]


def _run(rbm, betas, n, sweeps, **kw):
    pt = tp.Tempering(rbm, betas, n, seed=9, **kw)
    pt.run(sweeps)
    return pt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bit_identical_for_any_thread_count(dtype):
    rbm = RBM.random(20, 10, scale=0.5, seed=2).astype(dtype)
    betas = tp.geometric_ladder(0.3, 1.0, 4)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _snapshot(_run(rbm, betas, 70, 50))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _snapshot(_run(rbm, betas, 70, 50))
    finally:
        numba.set_num_threads(old)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("scheme", ["deo", "seo"])
def test_ensembles_split_in_two_calls_reproduce_one_call(scheme):
    rbm = RBM.random(12, 6, scale=0.8, seed=3)
    betas = [0.3, 0.6, 1.0]
    v0 = (np.random.default_rng(0).random((10, 12)) < 0.3).astype(np.uint8)
    whole = _run(rbm, betas, 10, 40, v0=v0, scheme=scheme)
    a = _run(rbm, betas, 6, 40, v0=v0[:6], scheme=scheme)
    b = _run(rbm, betas, 4, 40, v0=v0[6:], ensemble_offset=6, scheme=scheme)
    vw, hw = whole.state()
    va, ha = a.state()
    vb, hb = b.state()
    np.testing.assert_array_equal(vw, np.concatenate([va, vb], axis=1))
    np.testing.assert_array_equal(hw, np.concatenate([ha, hb], axis=1))
    for k in tp._STAT_KEYS:
        np.testing.assert_array_equal(whole.stats[k], np.concatenate([a.stats[k], b.stats[k]]))
    assert whole.round_trips == a.round_trips + b.round_trips
    np.testing.assert_array_equal(whole.position, np.concatenate([a.position, b.position]))
    # and tempering really differs from independent chains: swaps happened
    assert whole.stats["accepted"].sum() > 0


def test_split_runs_and_save_load_continue_bit_for_bit(tmp_path):
    rbm = RBM.random(10, 5, scale=1.0, seed=4).astype(np.float32)
    betas = [0.4, 0.7, 1.0]
    ref = _run(rbm, betas, 8, 64, swap_every=3)
    pt = _run(rbm, betas, 8, 32, swap_every=3)
    pt.save(tmp_path / "pt.npz")
    pt.run(32)
    back = tp.Tempering.load(tmp_path / "pt.npz", rbm)
    E = back.run(32, record_energy=[-1, 0])
    for x, y, z in zip(_snapshot(ref), _snapshot(pt), _snapshot(back)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert back.n_sweeps == 64 and back.n_rounds == ref.n_rounds == 64 // 3
    assert E.shape == (2, 8, 32)
    np.testing.assert_allclose(E[:, :, -1], back.energies()[[-1, 0]], rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="another model"):
        tp.Tempering.load(tmp_path / "pt.npz", RBM.random(10, 5, seed=5))


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    rbm = RBM.random(4, 3, seed=0)
    with pytest.raises(ValueError, match="not sorted"):
        tp.Tempering(rbm, [1.0, 0.5], 3)
    with pytest.raises(ValueError, match="repeated"):
        tp.Tempering(rbm, [0.5, 0.5, 1.0], 3)
    with pytest.raises(ValueError, match="finite and > 0"):
        tp.Tempering(rbm, [0.0, 1.0], 3)
    with pytest.raises(ValueError, match="finite and > 0"):
        tp.Tempering(rbm, [-0.5, 1.0], 3)
    with pytest.raises(ValueError, match="finite and > 0"):
        tp.Tempering(rbm, [0.5, np.nan], 3)
    with pytest.raises(ValueError, match="finite and > 0"):
        tp.Tempering(rbm, [0.5, np.inf], 3)
    with pytest.raises(ValueError, match="at least two"):
        tp.Tempering(rbm, [1.0], 3)
    with pytest.raises(ValueError, match="single number"):
        tp.sample(rbm, 1.0, 3, 5)
    with pytest.raises(ValueError, match="one-dimensional"):
        tp.Tempering(rbm, [[0.5, 1.0]], 3)
    with pytest.raises(ValueError, match="n_chains must be an integer >= 1"):
        tp.Tempering(rbm, [0.5, 1.0], 0)
    with pytest.raises(TypeError, match="n_chains"):
        tp.Tempering(rbm, [0.5, 1.0], 2.5)
    with pytest.raises(ValueError, match="n_sweeps"):
        tp.sample(rbm, [0.5, 1.0], 2, -1)
    with pytest.raises(ValueError, match=r"\(n_chains, n_visible\)"):
        tp.Tempering(rbm, [0.5, 1.0], 3, v0=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(K, n_chains, n_visible\)"):
        tp.Tempering(rbm, [0.5, 1.0], 3, v0=np.zeros((3, 3, 4)))
    with pytest.raises(ValueError, match="visible units"):
        tp.Tempering(rbm, [0.5, 1.0], 3, v0=np.zeros(5))
    with pytest.raises(ValueError, match="swap_every"):
        tp.Tempering(rbm, [0.5, 1.0], 3, swap_every=0)
    with pytest.raises(ValueError, match="scheme"):
        tp.Tempering(rbm, [0.5, 1.0], 3, scheme="random")
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        tp.Tempering(np.zeros((4, 3)), [0.5, 1.0], 3)
    pt = tp.Tempering(rbm, [0.5, 1.0], 3)
    with pytest.raises(ValueError, match="record_energy"):
        pt.run(2, record_energy=[5])
    with pytest.raises(ValueError, match="beta_min must be < beta_max"):
        tp.geometric_ladder(1.0, 0.5, 4)
    with pytest.raises(ValueError, match="shape"):
        tp.adapt_ladder([0.5, 1.0], [0.1, 0.2])


# ----------------------------------------------------------------------------
# command line (rbmlib/cli/equilibrate.py, 'rbmlib equilibrate'; driven here through add_cli)
# ----------------------------------------------------------------------------
def _cli(argv):
    import argparse
    parser = argparse.ArgumentParser()
    from rbmlib.cli import equilibrate
    equilibrate.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_equilibrate_command_certifies_and_resumes(tmp_path):
    rbm = RBM.random(6, 3, scale=1.0, seed=8)
    rbm.save(tmp_path / "m.npz")
    model = str(tmp_path / "m.npz")
    ref = exact.mean_energy(rbm, 1.0)
    argv = ["equilibrate", "--model", model, "--ensembles", "300", "--K", "3", "--beta-min", "0.4",
            "--sweeps", "60", "--burn-in", "20", "--seed", "5", "--shard-size", "128", "--certify-sweeps", "20",
            "--reference-energy", str(ref), "0", "--checkpoint-dir", str(tmp_path / "ck"),
            "--out", str(tmp_path / "start.npz")]
    assert _cli(argv) == 0
    with np.load(tmp_path / "start.npz") as z:
        v1, meta = z["v"], __import__("json").loads(str(z["meta"]))
    assert v1.shape == (300, 6) and meta["certificate"]["passed"] and meta["reference_is_independent"]
    assert len(meta["acceptance"]) == 2 and meta["round_trips"] > 0
    # resumed from the checkpoint (all shards loaded) with another shard size: same start ensemble
    again = [x if x != "128" else "100" for x in argv[:-1]] + [str(tmp_path / "again.npz")]
    assert _cli(again) == 0
    with np.load(tmp_path / "again.npz") as z:
        np.testing.assert_array_equal(z["v"], v1)
    with pytest.raises(ValueError, match="exists"):
        _cli(argv)
    # several snapshots per ensemble: the first is the single-snapshot start, the rest come later
    snap = argv[:-2] + ["--snapshots", "3", "--spacing", "7", "--checkpoint-dir", str(tmp_path / "ck3"),
                        "--out", str(tmp_path / "snap.npz")]
    snap.remove("--checkpoint-dir"), snap.remove(str(tmp_path / "ck"))
    assert _cli(snap) == 0
    with np.load(tmp_path / "snap.npz") as z:
        assert z["v"].shape == (900, 6)
        np.testing.assert_array_equal(z["v"][::3], v1)
