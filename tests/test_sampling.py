"""rbmlib.sample / rbmlib.sampling.Chains: exactness, statistics, reproducibility, errors.

Statistical tests compare empirical counts with exact probabilities from
:mod:`rbmlib.exact` (enumeration) by Pearson's chi-square test
(``scipy.stats.chisquare``) or exact binomial tests. The file makes about 150
such assertions; each is made at significance ``ALPHA = 1e-4`` so that a correct
sampler fails one of them with probability below ~1.5 % (family-wise, Bonferroni).
(At 1e-3 per assertion that rate would be ~14 %: one 'hv' one-step check did
fail at p = 5.7e-4; 300 further seeds gave uniform p-values and 1e6 chains showed
no deviation, max |z| = 2.4 over the 32 cells.) Every test uses fixed seeds, so
the outcome is deterministic; the significance level states how surprising a
failure would be for a correct sampler. Cells with expected count below 5 are pooled before the chi-square test
(its usual validity condition); cells of exact probability 0 must stay empty.

Where the exact distribution after ``n`` sweeps is needed it is computed exactly
as ``p0 T^n`` (``p0`` = the uniform start of :class:`Chains`), so no burn-in
approximation enters the test; that ``p0 T^n`` equals the equilibrium to 1e-9 is
asserted separately.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats

import rbmlib
from rbmlib import RBM, exact, kernels
from rbmlib.sampling import Chains, sample

ALPHA = 1e-4
DTYPES = [np.float64, np.float32]
MASK64 = (1 << 64) - 1


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def joint_index(v, h):
    """Joint state index k_v * 2**nh + k_h (unit 0 most significant), as in rbmlib.exact."""
    nv, nh = v.shape[1], h.shape[1]
    kv = v.astype(np.int64) @ (1 << np.arange(nv - 1, -1, -1))
    kh = h.astype(np.int64) @ (1 << np.arange(nh - 1, -1, -1))
    return kv * (1 << nh) + kh


def chi2_pvalue(counts, probs):
    """Pearson chi-square p-value of counts against probs; cells of expected count < 5 are pooled."""
    counts = np.asarray(counts, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    assert abs(probs.sum() - 1.0) < 1e-9
    zero = probs <= 0.0
    assert counts[zero].sum() == 0, "samples in states of probability 0"
    counts, probs = counts[~zero], probs[~zero]
    n = counts.sum()
    exp_ = n * probs
    order = np.argsort(exp_)
    e_sorted, c_sorted = exp_[order], counts[order]
    # pool the smallest cells until the pooled cell reaches 5
    cut = 0
    pooled = 0.0
    while cut < len(e_sorted) and pooled < 5.0 and e_sorted[cut] < 5.0:
        pooled += e_sorted[cut]
        cut += 1
    if cut > 0:
        e_final = np.concatenate([[e_sorted[:cut].sum()], e_sorted[cut:]])
        c_final = np.concatenate([[c_sorted[:cut].sum()], c_sorted[cut:]])
    else:
        e_final, c_final = e_sorted, c_sorted
    if len(e_final) < 2:
        return 1.0
    return float(stats.chisquare(c_final, e_final * (c_final.sum() / e_final.sum())).pvalue)


def joint_counts(v, h):
    nv, nh = v.shape[1], h.shape[1]
    return np.bincount(joint_index(v, h), minlength=1 << (nv + nh))


def uniform_start(rbm):
    n = 1 << (rbm.n_visible + rbm.n_hidden)
    return np.full(n, 1.0 / n)


def evolve(p, rbm, order, betas):
    """Exact distribution after one sweep of `order` at each beta in betas."""
    cache = {}
    for beta in betas:
        if beta not in cache:
            cache[beta] = exact.transition_matrix(rbm, order, beta)
        p = p @ cache[beta]
    return p


TINY = {
    "3x2": RBM.random(3, 2, scale=1.0, seed=32),
    "4x3": RBM.random(4, 3, scale=0.8, seed=43),
}


# ----------------------------------------------------------------------------
# a pure-Python reference of the random streams and of one half-sweep
# ----------------------------------------------------------------------------
def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class RefStream:
    """xoshiro256** x 4 lanes of one chain, seeded as documented in rbmlib.kernels."""

    def __init__(self, seed, g):
        key = _mix64((seed + 0x9E3779B97F4A7C15) & MASK64)
        self.lanes = []
        for lane in range(4):
            x = _mix64(key ^ ((4 * g + lane) & MASK64))
            st = []
            for _ in range(4):
                x = (x + 0x9E3779B97F4A7C15) & MASK64
                st.append(_mix64(x))
            self.lanes.append(st)

    def state_row(self):
        return np.array([self.lanes[l][w] for w in range(4) for l in range(4)], dtype=np.uint64)

    def _step(self, st):
        s0, s1, s2, s3 = st
        out = (_rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        st[:] = [s0, s1, s2, s3]
        return out

    def words(self, n):
        out = []
        for _ in range((n + 3) // 4):
            for lane in range(4):
                out.append(self._step(self.lanes[lane]))
        return out[:n]


def ref_half_update_f64(stream, field, beta):
    """One layer drawn as documented: float64 uniforms, two-tailed comparison."""
    import math
    words = stream.words(len(field))
    out = np.empty(len(field), dtype=np.uint8)
    for j, x0 in enumerate(field):
        r = ((words[j] >> 11) + 0.5) * 2.0 ** -53
        x = beta * x0
        e = math.exp(-abs(x))
        out[j] = (r * (1.0 + e) < e) != (x > 0.0)
    return out


def test_streams_match_reference_xoshiro256starstar():
    S = kernels.seed_streams(np.uint64(12345), np.uint64(7), 3)
    for c in range(3):
        ref = RefStream(12345, 7 + c)
        np.testing.assert_array_equal(S[c], ref.state_row())
        out = np.empty(12, dtype=np.uint64)
        kernels.xoshiro_fill(S[c], out, 10)          # rounded up to 12 words (3 lane steps)
        np.testing.assert_array_equal(out, np.array(ref.words(12), dtype=np.uint64))
        np.testing.assert_array_equal(S[c], ref.state_row())


def test_random_start_and_half_sweep_match_reference_bit_for_bit():
    """Whole pipeline of one chain in float64 (words -> uniforms -> draws) against pure Python."""
    rbm = RBM.random(70, 9, scale=0.7, seed=5)
    seed, offset = 99, 3
    ch = Chains(rbm, 4, seed=seed, chain_offset=offset)
    v_start, h_start = ch.v.copy(), ch.h.copy()
    ch.run(1, beta=0.8, order="h")
    W, b = np.asarray(rbm.W), np.asarray(rbm.b)
    for c in range(4):
        ref = RefStream(seed, offset + c)
        wv = ref.words(2)                               # 70 visible units: bits of 2 words
        v = np.array([(wv[i // 64] >> (i % 64)) & 1 for i in range(70)], dtype=np.uint8)
        wh = ref.words(1)
        h = np.array([(wh[0] >> j) & 1 for j in range(9)], dtype=np.uint8)
        np.testing.assert_array_equal(v_start[c], v)
        np.testing.assert_array_equal(h_start[c], h)
        field = b.copy()
        for i in np.flatnonzero(v):                     # same summation order as the kernel
            field = field + W[i]
        np.testing.assert_array_equal(ch.h[c], ref_half_update_f64(ref, field, 0.8))
        np.testing.assert_array_equal(ch.rng_state[c], ref.state_row())


# ----------------------------------------------------------------------------
# statistics against exact enumeration
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("order", ["hv", "vh"])
def test_equilibrium_joint_distribution(dtype, name, beta, order):
    rbm = TINY[name]
    n_sweeps, n_chains = 40, 50000
    p_eq = exact.joint_distribution(rbm, beta).ravel()
    p_n = evolve(uniform_start(rbm), rbm, order, [beta] * n_sweeps)
    assert np.max(np.abs(p_n - p_eq)) < 1e-9            # 40 sweeps are past burn-in exactly
    ch = Chains(rbm.astype(dtype), n_chains, seed=11)
    ch.run(n_sweeps, beta=beta, order=order)
    assert chi2_pvalue(joint_counts(ch.v, ch.h), p_eq) > ALPHA


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel", ["h", "v", "hv", "vh"])
@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_one_step_matches_transition_matrix(dtype, kernel, beta):
    rbm = RBM.random(3, 2, scale=1.5, seed=7)
    T = exact.transition_matrix(rbm, kernel, beta)
    V, H = exact.states(3), exact.states(2)
    for s in (0, 13, 30):
        v0, h0 = V[s // 4], H[s % 4]
        ch = Chains(rbm.astype(dtype), 200000, seed=s, v0=v0, h0=h0)
        ch.run(1, beta=beta, order=kernel)
        assert chi2_pvalue(joint_counts(ch.v, ch.h), T[s]) > ALPHA, (kernel, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bernoulli_tails(dtype):
    """P(h_j = 1) = sigmoid(beta x_j) down to ~1e-6 in both tails (exact binomial tests)."""
    fields = np.array([-14.0, -10.0, -5.0, -0.3, 0.0, 0.3, 5.0, 10.0, 14.0])
    per, n_chains, beta = 400, 2500, 0.9
    b = np.repeat(fields / beta, per)
    rbm = RBM(np.zeros((1, b.size)), np.zeros(1), b, dtype=dtype)
    ch = Chains(rbm, n_chains, seed=3)
    ch.run(1, beta=beta, order="h")
    ones = ch.h.reshape(n_chains, len(fields), per).sum(axis=(0, 2))
    n = n_chains * per
    for x, k in zip(fields, ones):
        p = float(rbmlib.sigmoid(np.float64(x)))
        assert stats.binomtest(int(k), n, p).pvalue > ALPHA, (x, k, n * p)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_extreme_fields_are_deterministic(dtype):
    b = np.array([-1e4, -200.0, -90.0, 90.0, 200.0, 1e4])
    rbm = RBM(np.zeros((2, 6)), np.array([-800.0, 800.0]), b, dtype=dtype)
    ch = Chains(rbm, 500, seed=1)
    ch.run(3, beta=1.0)
    assert np.all(ch.h == (b > 0)) and np.all(ch.v == np.array([0, 1]))


def _exp_neg_grid(y):
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = kernels.exp_neg(y[i])
    return out


_exp_neg_grid_jit = numba.njit(cache=True)(_exp_neg_grid)


@pytest.mark.parametrize("dtype,ulps,ymin", [(np.float32, 2, -87.0), (np.float64, 2, -708.0)])
def test_vectorised_exp_accuracy(dtype, ulps, ymin):
    """Cephes-style exp: within 2 ulp of the correctly rounded value on [ymin, 0]."""
    y = np.concatenate([np.linspace(ymin, 0.0, 200001), -np.logspace(-12, 0, 2001)]).astype(dtype)
    got = _exp_neg_grid_jit(y).astype(np.float64)
    ref = np.exp(y.astype(np.float64))
    ulp = np.spacing(ref.astype(dtype)).astype(np.float64)
    assert np.max(np.abs(got - ref) / ulp) <= ulps
    # below the clamp the result is the (tiny) value at the clamp, never inf/NaN
    low = _exp_neg_grid_jit(np.array([ymin - 1.0, -1e30, -np.inf], dtype=dtype))
    assert np.all(np.isfinite(low)) and np.all(low <= np.exp(ymin) * 1.0001)


# ----------------------------------------------------------------------------
# reproducibility: threads, shards
# ----------------------------------------------------------------------------
def _protocol(rbm, n, offset=0, v0=None, seed=5):
    ch = Chains(rbm, n, seed=seed, v0=v0, chain_offset=offset)
    bc = 0.5 + (np.arange(offset, offset + n) % 7) / 4.0
    E1 = ch.run(4, beta=np.linspace(0.3, 1.2, 4), beta_chain=bc, record_energy=True)
    E2 = ch.run(2, order="vh", record_energy=True)
    ch.run(1, order="h")
    ch.run(1, order="v", beta=1.7)
    return ch.v.copy(), ch.h.copy(), np.hstack([E1, E2]), ch.rng_state.copy()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bit_identical_across_thread_counts(dtype):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 numba threads (NUMBA_NUM_THREADS >= 2)")
    rbm = RBM.random(50, 30, scale=0.4, seed=2, dtype=dtype)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _protocol(rbm, 150)
        numba.set_num_threads(2)
        two = _protocol(rbm, 150)
    finally:
        numba.set_num_threads(old)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("given_v0", [False, True])
def test_shards_reproduce_the_whole_run(dtype, given_v0):
    rbm = RBM.random(50, 30, scale=0.4, seed=3, dtype=dtype)
    n = 150
    v0 = (np.random.default_rng(0).random((n, 50)) < 0.3) if given_v0 else None
    whole = _protocol(rbm, n, v0=v0)
    parts = []
    for lo, hi in ((0, 37), (37, 100), (100, 150)):
        parts.append(_protocol(rbm, hi - lo, offset=lo, v0=None if v0 is None else v0[lo:hi]))
    for k in range(4):
        np.testing.assert_array_equal(whole[k], np.concatenate([p[k] for p in parts]))


def test_same_seed_same_result_different_seed_different():
    rbm = RBM.random(20, 10, seed=0)
    v1, h1 = sample(rbm, 50, 5, seed=1)
    v2, h2 = sample(rbm, 50, 5, seed=1)
    v3, _ = sample(rbm, 50, 5, seed=2)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(h1, h2)
    assert not np.array_equal(v1, v3)
    # chains are not copies of each other
    assert len({row.tobytes() for row in v1}) > 40


# ----------------------------------------------------------------------------
# energies
# ----------------------------------------------------------------------------
def _energy_tolerance(rbm, v, h):
    """Rounding bound of a field computed in rbm.dtype then dotted in float64.

    Each field element is a left-to-right sum of at most n+1 terms, so its
    error is at most n * eps * (sum of |terms|) (standard recursive-summation
    bound, eps = machine epsilon of rbm.dtype); summed over the units, the
    energy error is at most n * eps * S, S = |v| |W| |h| + |a| v + |b| h.
    The float64 reference adds its own error of the same form with eps64.
    """
    W, a, b = (np.abs(np.asarray(x, np.float64)) for x in (rbm.W, rbm.a, rbm.b))
    vf, hf = v.astype(np.float64), h.astype(np.float64)
    S = np.sum((vf @ W) * hf, axis=1) + vf @ a + hf @ b
    n = max(rbm.n_visible, rbm.n_hidden) + 2
    eps = np.finfo(rbm.dtype).eps
    return n * (eps + np.finfo(np.float64).eps) * S + 1e-300


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("order", ["hv", "vh", "h", "v"])
def test_recorded_energy_equals_energy_of_states(dtype, order):
    rbm = RBM.random(60, 40, scale=0.3, bias_scale=1.0, seed=4, dtype=dtype)
    ref_model = rbm.astype(np.float64)
    ch = Chains(rbm, 80, seed=2)
    ch2 = ch.copy()
    rec = []
    for t in range(4):
        E = ch.run(1, beta=0.7 + 0.2 * t, order=order, record_energy=True)
        assert E.shape == (80, 1) and E.dtype == np.float64
        exact_e = ref_model.energy(ch.v, ch.h)
        tol = _energy_tolerance(rbm, ch.v, ch.h)
        assert np.all(np.abs(E[:, 0] - exact_e) <= tol)
        assert np.all(np.abs(ch.energy() - exact_e) <= tol)
        rec.append(E[:, 0])
    # recording a run at once gives the same bits as sweep by sweep
    E_all = ch2.run(4, beta=0.7 + 0.2 * np.arange(4), order=order, record_energy=True)
    np.testing.assert_array_equal(E_all, np.column_stack(rec))
    np.testing.assert_array_equal(ch2.v, ch.v)
    # recording does not change the dynamics
    ch3 = ch2.copy()
    ch2.run(3, order=order)
    ch3.run(3, order=order, record_energy=True)
    np.testing.assert_array_equal(ch2.v, ch3.v)
    np.testing.assert_array_equal(ch2.h, ch3.h)


def test_energy_float64_agrees_to_1e12():
    rbm = RBM.random(30, 20, scale=1.0, seed=9)
    ch = Chains(rbm, 40, seed=0)
    E = ch.run(2, record_energy=True)[:, -1]
    ref = rbm.energy(ch.v, ch.h)
    assert np.max(np.abs(E - ref)) < 1e-12 * max(1.0, np.max(np.abs(ref)))
    assert ch.run(0, record_energy=True).shape == (40, 0)


# ----------------------------------------------------------------------------
# fields kept between sweeps: updated by flips, recomputed every REFRESH updates
# ----------------------------------------------------------------------------
def _ref_update(rows, bias, field, snap, src, k):
    """The documented field update (rbmlib.kernels), in plain NumPy scalars of the model dtype."""
    rows = np.asarray(rows)
    on = np.flatnonzero((src == 1) & (snap == 0))
    off = np.flatnonzero((src == 0) & (snap == 1))
    if k % kernels.REFRESH != 0 and len(on) + len(off) <= int(src.sum()):
        out = field.copy()
        for i in on:                                   # added in increasing order ...
            out = out + rows[i]
        for i in off:                                  # ... then subtracted in increasing order
            out = out - rows[i]
        return out
    out = bias.copy()
    for i in np.flatnonzero(src):
        out = out + rows[i]
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("order", ["hv", "vh"])
def test_kept_fields_follow_the_documented_updates_bit_for_bit(dtype, order):
    """Every update of the kept fields, by flips or from scratch, reproduced in NumPy."""
    rbm = RBM.random(40, 24, scale=0.5, bias_scale=0.5, seed=11, dtype=dtype)
    W, WT, a, b = np.asarray(rbm.W), np.ascontiguousarray(rbm.W.T), np.asarray(rbm.a), np.asarray(rbm.b)
    ch = Chains(rbm, 6, seed=5)
    n_flip = n_scratch = 0
    prev = None
    for t in range(2 * kernels.REFRESH + 3):
        ch.run(1, order=order, beta=0.9)
        f = ch._fields
        k = t                                          # one update of each field per sweep
        if prev is not None:
            for c in range(ch.n_chains):
                exp_h = _ref_update(W, b, prev["FH"][c], prev["VS"][c], f["VS"][c], k)
                exp_v = _ref_update(WT, a, prev["FV"][c], prev["HS"][c], f["HS"][c], k)
                np.testing.assert_array_equal(f["FH"][c], exp_h)
                np.testing.assert_array_equal(f["FV"][c], exp_v)
                flips = int(np.sum(f["VS"][c] != prev["VS"][c]))
                by_flips = k % kernels.REFRESH != 0 and flips <= int(f["VS"][c].sum())
                n_flip += by_flips
                n_scratch += not by_flips
        prev = {key: (x.copy() if isinstance(x, np.ndarray) else x) for key, x in f.items()}
    assert n_flip > 50 and n_scratch >= 2 * ch.n_chains     # both paths exercised


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_kept_fields_stay_within_the_rounding_bound(dtype):
    """After up to REFRESH - 1 updates by flips a field is still a rounding error away from exact.

    Bound: each update adds or subtracts at most n_src rows and every partial
    sum is bounded by M = |bias| + sum_i |row_i|, so after at most REFRESH updates
    the error is below REFRESH * n_src * eps * M (eps of the model dtype).
    """
    rbm = RBM.random(120, 80, scale=0.3, bias_scale=1.0, seed=3, dtype=dtype)
    W64 = np.asarray(rbm.W, dtype=np.float64)
    a64, b64 = np.asarray(rbm.a, dtype=np.float64), np.asarray(rbm.b, dtype=np.float64)
    eps = np.finfo(dtype).eps
    Mh = np.abs(b64) + np.abs(W64).sum(axis=0)
    Mv = np.abs(a64) + np.abs(W64).sum(axis=1)
    ch = Chains(rbm, 64, seed=1)
    worst = 0.0
    for t in range(3 * kernels.REFRESH):
        ch.run(1)
        f = ch._fields
        err_h = np.abs(f["FH"] - (f["VS"] @ W64 + b64)) / (kernels.REFRESH * 120 * eps * Mh)
        err_v = np.abs(f["FV"] - (f["HS"] @ W64.T + a64)) / (kernels.REFRESH * 80 * eps * Mv)
        worst = max(worst, err_h.max(), err_v.max())
    assert worst <= 1.0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("order", ["hv", "vh", "h", "v"])
def test_split_runs_equal_one_run(dtype, order):
    """run(a) + run(b) == run(a + b) across REFRESH boundaries, and copies continue identically."""
    rbm = RBM.random(30, 20, scale=0.5, seed=8, dtype=dtype)
    one = Chains(rbm, 40, seed=9)
    split = one.copy()
    one.run(2 * kernels.REFRESH + 5, order=order)
    for n in (3, kernels.REFRESH, 1, kernels.REFRESH + 1):
        split.run(n, order=order)
    np.testing.assert_array_equal(one.v, split.v)
    np.testing.assert_array_equal(one.h, split.h)
    np.testing.assert_array_equal(one.rng_state, split.rng_state)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rebuilt_chains_continue_exactly_at_a_recomputation(dtype):
    """Chains rebuilt from saved (v, h, rng_state) match the original where the original recomputes."""
    rbm = RBM.random(30, 20, scale=0.5, seed=8, dtype=dtype)
    orig = Chains(rbm, 40, seed=2)
    orig.run(kernels.REFRESH)                       # the next update of both fields is from scratch
    rebuilt = Chains(rbm, 40, seed=2, v0=orig.v, h0=orig.h)
    rebuilt.rng_state[:] = orig.rng_state
    orig.run(7)
    rebuilt.run(7)
    np.testing.assert_array_equal(orig.v, rebuilt.v)
    np.testing.assert_array_equal(orig.h, rebuilt.h)


# ----------------------------------------------------------------------------
# per-chain beta, schedules, set_model, copy, sample(n_sweeps=0)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_beta_chain_equals_separate_runs_and_exact(dtype):
    rbm = TINY["3x2"].astype(dtype)
    betas, k = [0.5, 1.0, 2.0], 15000
    bc = np.repeat(betas, k)
    ch = Chains(rbm, 3 * k, seed=8)
    ch.run(40, beta_chain=bc)
    for g, beta in enumerate(betas):
        part = Chains(rbm, k, seed=8, chain_offset=g * k)
        part.run(40, beta=beta)
        np.testing.assert_array_equal(part.v, ch.v[g * k:(g + 1) * k])
        np.testing.assert_array_equal(part.h, ch.h[g * k:(g + 1) * k])
        p_eq = exact.joint_distribution(TINY["3x2"], beta).ravel()
        assert chi2_pvalue(joint_counts(part.v, part.h), p_eq) > ALPHA, beta


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("order", ["hv", "vh"])
def test_beta_schedule_exact_nonequilibrium_distribution(dtype, order):
    """A 5-sweep annealing schedule from the uniform start: counts vs p0 T(b1)...T(b5)."""
    rbm = TINY["4x3"]
    schedule = np.array([0.2, 0.6, 1.0, 1.6, 2.5])
    ch = Chains(rbm.astype(dtype), 30000, seed=21)
    c2 = ch.copy()
    ch.run(len(schedule), beta=schedule, order=order)
    p = evolve(uniform_start(rbm), rbm, order, schedule)
    assert chi2_pvalue(joint_counts(ch.v, ch.h), p) > ALPHA
    for b in schedule:                                  # same bits as one sweep at a time
        c2.run(1, beta=float(b), order=order)
    np.testing.assert_array_equal(c2.v, ch.v)
    np.testing.assert_array_equal(c2.h, ch.h)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_set_model(dtype):
    A = TINY["3x2"]
    B = RBM.random(3, 2, scale=1.2, seed=99)
    ch = Chains(A.astype(dtype), 30000, seed=4)
    ch.run(2)
    snapshot = ch.copy()
    ch.set_model(B.astype(dtype))
    assert ch.rbm == B.astype(dtype)
    ch.run(2)
    p = evolve(evolve(uniform_start(A), A, "hv", [1.0, 1.0]), B, "hv", [1.0, 1.0])
    assert chi2_pvalue(joint_counts(ch.v, ch.h), p) > ALPHA
    # same as fresh chains of B started in the snapshot's states with its streams
    fresh = Chains(B.astype(dtype), 30000, seed=4, v0=snapshot.v, h0=snapshot.h)
    fresh.rng_state[:] = snapshot.rng_state
    fresh.run(2)
    np.testing.assert_array_equal(fresh.v, ch.v)
    np.testing.assert_array_equal(fresh.h, ch.h)
    with pytest.raises(ValueError, match="same layer sizes"):
        ch.set_model(RBM.random(2, 3))
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        ch.set_model(np.zeros((3, 2)))


def test_copy_is_independent():
    rbm = RBM.random(10, 6, seed=1)
    a = Chains(rbm, 30, seed=3)
    b = a.copy()
    v_before = b.v.copy()
    a.run(3)
    np.testing.assert_array_equal(b.v, v_before)        # b untouched by a's run
    b.run(3)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(a.rng_state, b.rng_state)
    assert a.v is not b.v and a.rng_state is not b.rng_state


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sample_zero_sweeps(dtype):
    rbm = TINY["4x3"].astype(dtype)
    v0 = np.array([1, 0, 1, 1], dtype=np.uint8)
    v, h = sample(rbm, 20000, 0, beta=1.3, seed=6, v0=v0)
    assert v.dtype == np.uint8 and h.dtype == np.uint8
    np.testing.assert_array_equal(v, np.broadcast_to(v0, v.shape))
    # h is the first half of a sweep: the h of a one-sweep run with the same streams
    _, h1 = sample(rbm, 20000, 1, beta=1.3, seed=6, v0=v0)
    np.testing.assert_array_equal(h, h1)
    ph = exact.conditional_hidden(TINY["4x3"], 1.3)[0b1011]
    kh = h.astype(np.int64) @ (1 << np.arange(2, -1, -1))
    assert chi2_pvalue(np.bincount(kh, minlength=8), ph) > ALPHA


def test_sample_shapes_and_v0_forms():
    rbm = RBM.random(5, 3, seed=0)
    v, h = sample(rbm, 7, 2)
    assert v.shape == (7, 5) and h.shape == (7, 3) and v.dtype == np.uint8 and h.dtype == np.uint8
    v0 = np.random.default_rng(1).integers(0, 2, (7, 5))
    for form in (v0, v0.astype(bool), v0.astype(np.float32), v0.astype(np.uint8)):
        vv, hh = sample(rbm, 7, 2, v0=form, seed=4)
        vr, hr = sample(rbm, 7, 2, v0=v0, seed=4)
        np.testing.assert_array_equal(vv, vr)
        np.testing.assert_array_equal(hh, hr)
    np.testing.assert_array_equal(v0, v0.astype(np.int64))   # caller's v0 is not modified
    assert rbmlib.sample is sample


def test_state_attributes_can_be_set():
    rbm = RBM.random(5, 3, seed=0)
    ch = Chains(rbm, 4)
    ch.v = np.ones((4, 5), dtype=bool)                    # converted on the next run
    ch.run(1, order="h")
    assert ch.v.dtype == np.uint8 and np.all(ch.v == 1)
    ch.v[0, 0] = 3
    with pytest.raises(ValueError, match="other than 0 and 1"):
        ch.run(1)


# ----------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    rbm = RBM.random(4, 3, seed=0)
    with pytest.raises(ValueError, match="n_chains must be an integer >= 1"):
        sample(rbm, 0, 1)
    with pytest.raises(TypeError, match="n_chains"):
        sample(rbm, 2.5, 1)
    with pytest.raises(ValueError, match="n_sweeps"):
        sample(rbm, 3, -1)
    with pytest.raises(ValueError, match="4 units but the model has 4|has 3 units"):
        sample(rbm, 3, 1, v0=np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(4,\) or \(n_chains, 4\)"):
        sample(rbm, 3, 1, v0=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="transposed"):
        sample(rbm, 3, 1, v0=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="binary"):
        sample(rbm, 3, 1, v0=np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="binary"):
        sample(rbm, 3, 1, v0=np.array([0, 1, 0.5, 0]))
    with pytest.raises(ValueError, match="binary"):
        sample(rbm, 3, 1, v0=np.array([0, 1, 2, 0], dtype=np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        sample(rbm, 3, 1, v0=np.array([0, 1, np.nan, 0]))
    for beta in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="beta"):
            sample(rbm, 3, 1, beta=beta)
    with pytest.raises(ValueError, match="n_sweeps"):
        sample(rbm, 3, 2, beta=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="beta"):
        sample(rbm, 3, 2, beta=np.array([1.0, -2.0]))
    with pytest.raises(ValueError, match="seed"):
        sample(rbm, 3, 1, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        sample(rbm, 3, 1, seed=1.5)
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        sample(np.zeros((4, 3)), 3, 1)
    ch = Chains(rbm, 3)
    with pytest.raises(ValueError, match="order"):
        ch.run(1, order="hh")
    with pytest.raises(ValueError, match="beta_chain"):
        ch.run(1, beta_chain=np.ones(4))
    with pytest.raises(ValueError, match="beta_chain"):
        ch.run(1, beta_chain=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(TypeError, match="beta_chain"):
        ch.run(1, beta_chain=2.0)
    with pytest.raises(ValueError, match="chain_offset"):
        Chains(rbm, 3, chain_offset=-1)
    with pytest.raises(ValueError, match="h0"):
        Chains(rbm, 3, h0=np.zeros(4))
    with pytest.raises(TypeError, match="record_energy"):
        ch.run(1, record_energy="yes")
