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


# ----------------------------------------------------------------------------------------------------
# the enumeration kernel (rbmlib.kernels.enumeration): plain-arithmetic exp / log / log1p, the sum of
# softplus as one log of a product tree, and bits that do not depend on the CPU's vector width
# ----------------------------------------------------------------------------------------------------
def _ulps(value, ref):
    """|value - ref| in units of the last place of ref rounded to float64 (ref in long double)."""
    spacing = np.abs(np.spacing(np.asarray(ref, dtype=np.float64))).astype(np.longdouble)
    return np.abs((np.asarray(value, dtype=np.longdouble) - ref) / spacing).astype(np.float64)


# long double is 80-bit on x86-64 Linux: a reference with 11 more bits. Elsewhere it may be float64:
# then NumPy's own float64 functions are the reference and the bounds widen by their ~1 ulp.
_LD = np.finfo(np.longdouble).nmant >= 60
_SLACK = 0.0 if _LD else 1.0


def test_enumeration_log_and_log1p_match_numpy():
    import numba

    from rbmlib.kernels import enumeration as en

    @numba.njit
    def apply(f, x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = f(x[i])
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([np.exp(rng.uniform(-744, 709, 100_000)), rng.uniform(0.5, 2, 50_000),
                        5e-324 * rng.integers(1, 2 ** 40, 10_000), [5e-324, 2.2250738585072014e-308, 1.0, 2.0,
                                                                    np.finfo(np.float64).max]])
    assert _ulps(apply(en.log, x), np.log(x.astype(np.longdouble))).max() <= 1.0 + _SLACK
    y = np.concatenate([np.exp(rng.uniform(-744, 709, 100_000)), rng.uniform(0, 4, 50_000),
                        [0.0, 5e-324, 1e-17, 2.0 ** -53, 1.0, 2.0 ** 53, np.finfo(np.float64).max]])
    assert _ulps(apply(en.log1p, y), np.log1p(y.astype(np.longdouble))).max() <= 1.5 + _SLACK
    assert en.log(0.0) == -np.inf and en.log(np.inf) == np.inf
    assert np.isnan(en.log(-1.0)) and np.isnan(en.log(np.nan)) and np.isnan(en.log1p(-0.5))
    assert en.log1p(0.0) == 0.0 and en.log1p(1e-300) == 1e-300


def test_enumeration_exp_and_sigmoid_match_long_double():
    import numba

    from rbmlib.kernels import enumeration as en

    @numba.njit
    def ratios(a):
        out = np.empty((a.shape[0], 2))
        for i in range(a.shape[0]):
            out[i, 0], out[i, 1] = en.exp_ratio(a[i])
        return out

    @numba.njit
    def sigmoids(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = en.sigmoid_ratio(x[i])
        return out

    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(0, 1, 200_000), rng.uniform(0, en.A_MAX, 200_000), [0.0, np.log(2) / 2, 1.0]])
    nd = ratios(a)
    assert np.all(nd[:, 1] >= 1.65) and np.all(nd[:, 1] <= 2.38) and np.all(nd[:, 0] <= nd[:, 1])
    t = nd[:, 0].astype(np.longdouble) / nd[:, 1].astype(np.longdouble)    # the quotient, unrounded
    assert _ulps(t, np.exp(-a.astype(np.longdouble))).max() <= 2.5 + _SLACK
    x = np.concatenate([rng.uniform(-40, 40, 200_000), rng.uniform(-en.A_MAX, en.A_MAX, 100_000), [0.0, -0.0]])
    assert _ulps(sigmoids(x), 1 / (1 + np.exp(-x.astype(np.longdouble)))).max() <= 3.0 + _SLACK
    # beyond A_MAX the argument is clamped: exp(-350) = 1e-152 stands for anything smaller
    n_big, d_big = en.exp_ratio(1e4)
    assert n_big / d_big == pytest.approx(np.exp(-en.A_MAX), rel=1e-15)


@pytest.mark.parametrize("n, scale, shift", [(1, 3.0, 0.0), (7, 1.0, -1.0), (30, 0.3, 0.0), (784, 5.0, -2.0),
                                             (784, 50.0, 0.0), (784, 1e-3, 0.0), (1000, 3.0, 1.0),
                                             (2000, 1.0, 0.0), (5, 400.0, 0.0), (900, 0.0, 0.0)])
def test_softplus_sum_matches_long_double(n, scale, shift):
    """The sum of softplus of a state (max terms + one log of the product tree per chunk) to ~1e-16 relative,
    also over several chunks (n > CHUNK: 1000, 2000, and all factors = 2 at x = 0, where the product is largest)."""
    from rbmlib.kernels import enumeration as en

    x = np.random.default_rng(n).normal(shift, scale, n)
    ref = np.sum(np.logaddexp(np.longdouble(0), x.astype(np.longdouble)))
    got = en.softplus_sum(x)
    assert abs(got - ref) <= (4e-16 if _LD else 2e-15) * abs(ref)


def test_softplus_sum_tiny_terms_and_special_values():
    from rbmlib.kernels import enumeration as en

    # every term tiny: the product tree keeps t = exp(x) to its relative accuracy (no 1 + t rounding)
    x = np.random.default_rng(3).uniform(-60, -40, 784)
    ref = np.sum(np.logaddexp(np.longdouble(0), x.astype(np.longdouble)))
    assert abs(en.softplus_sum(x) - ref) <= 1e-15 * ref
    # below -A_MAX a term is exp(-A_MAX) = 1e-152: an absolute error below 1e-151 per unit
    assert en.softplus_sum(np.full(10, -1e4)) == pytest.approx(10 * np.exp(-en.A_MAX), rel=1e-14)
    assert en.softplus_sum(np.array([np.inf, 1.0])) == np.inf
    assert np.isnan(en.softplus_sum(np.array([np.nan, 1.0])))
    assert en.softplus_sum(np.array([-np.inf, 0.0])) == pytest.approx(np.log(2), rel=1e-15)


def test_log_partition_with_a_layer_larger_than_a_chunk():
    """A 1000-unit visible layer (3 chunks of the product tree) against long-double sums over the 32 hidden states."""
    from rbmlib.kernels import enumeration as en

    rbm = RBM.random(1000, 5, scale=0.2, bias_scale=0.5, seed=4)
    assert rbm.n_visible > en.CHUNK
    W, a, b = (np.asarray(p, dtype=np.longdouble) for p in (rbm.W, rbm.a, rbm.b))
    H = exact.states(5).astype(np.longdouble)
    for beta in (0.5, 1.0, 2.0):
        x = beta * (H @ W.T + a)                                                      # (32, 1000)
        lw = beta * (H @ b) + np.sum(np.logaddexp(np.longdouble(0), x), axis=1)
        m = lw.max()
        ref_logz = m + np.log(np.sum(np.exp(lw - m)))
        p = np.exp(lw - ref_logz)
        ref_e = np.sum(p * (-(H @ b) - np.sum((H @ W.T + a) / (1 + np.exp(-x)), axis=1)))
        assert abs(exact.log_partition(rbm, beta) - ref_logz) <= 1e-14 * abs(ref_logz)
        assert abs(exact.mean_energy(rbm, beta) - ref_e) <= 1e-13 * abs(ref_e)
        assert np.max(np.abs(exact.layer_log_weights(rbm, "hidden", beta) - lw)) <= 1e-14 * np.abs(lw).max()


def test_gray_code_chunking_bit_identical(monkeypatch):
    """The blocks' sums are combined in block order: any split of the blocks into numba calls gives the same bits."""
    rbm = RBM.random(40, 15, scale=0.5, seed=5)
    whole = (exact.log_partition(rbm, 0.9), exact.mean_energy(rbm, 0.9), exact.layer_log_weights(rbm, "hidden", 0.9))
    monkeypatch.setattr(exact, "_CHUNK_WORK", 1)              # one block per thread per call
    pieces = (exact.log_partition(rbm, 0.9), exact.mean_energy(rbm, 0.9), exact.layer_log_weights(rbm, "hidden", 0.9))
    assert whole[0] == pieces[0] and whole[1] == pieces[1]
    np.testing.assert_array_equal(whole[2], pieces[2])


def _simd_case():
    import hashlib

    out = []
    for shape, betas in (((40, 12), (0.3, 1.0, 3.0)), ((1000, 5), (1.0,)), ((9, 30), (1.0,))):
        rbm = RBM.random(*shape, scale=0.5, bias_scale=0.5, seed=6)
        for beta in betas:
            layer = "hidden" if shape[1] <= shape[0] else "visible"
            out.append([exact.log_partition(rbm, beta).hex(), exact.mean_energy(rbm, beta).hex(),
                        hashlib.sha256(exact.layer_log_weights(rbm, layer, beta).tobytes()).hexdigest()])
    return out


_SIMD_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_exact import _simd_case
print(json.dumps(_simd_case()))
"""


def _host_features_without(prefixes):
    from llvmlite import binding as llvm

    llvm.initialize_native_target()
    feats = llvm.get_host_cpu_features().flatten().split(",")
    return ",".join(("-" + f[1:]) if prefixes and f[:1] == "+" and f[1:].startswith(prefixes) else f
                    for f in feats if f)


@pytest.mark.slow
def test_enumeration_bit_identical_across_simd_widths(tmp_path):
    """The same bits at every vector width: numba compiling for this CPU (LLVM's tuning picks 256-bit vectors on
    AVX2 and on most AVX-512 CPUs), for a generic CPU with this CPU's features (512-bit vectors where AVX-512 is
    there, as in ``make test-portable``) and for this CPU without any AVX (SSE, 128-bit). Every element's
    arithmetic is fixed and the sums and products have a fixed order, so the width cannot change a bit."""
    import json
    import os
    import platform
    import subprocess
    import sys

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86-64 only: the feature sets below are x86 ones")
    host = _simd_case()                         # compiled for this CPU, in this process
    script = _SIMD_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    for name, drop in (("generic", ()), ("sse-only", ("avx", "fma", "f16c", "vaes", "vpclmulqdq", "gfni", "amx"))):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / name), NUMBA_CPU_NAME="generic",
                   NUMBA_CPU_FEATURES=_host_features_without(drop))
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == host, f"{name}: other bits than this CPU's"
