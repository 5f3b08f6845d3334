"""Gray-code enumeration of one layer of an RBM: exp, log and log1p in plain arithmetic, products in a fixed tree.

:mod:`rbmlib.exact` sums the larger layer analytically and enumerates the ``2**n`` states
``s`` of the smaller one. With ``field = c_large + s . WT`` (one row added or subtracted
per Gray-code step, in float64) and ``x_l = beta * field_l``, each state has

* log weight ``lw(s) = beta * (c_small . s) + sum_l softplus(x_l)``,
* conditional mean energy ``<E|s> = -c_small . s - sum_l field_l * sigmoid(x_l)``.

That is ``2**n_small * n_large`` terms (8.2e8 for a 784 x 20 model). This module evaluates them
as cheaply as it can while keeping the library's promise: the same bits on every x86-64
machine, at any SIMD width and for any number of threads.

The sum of softplus as one logarithm
    ``softplus(x) = max(x, 0) + log(1 + t)`` with ``t = exp(-|x|)`` in ``(0, 1]``, so

        ``sum_l softplus(x_l) = sum_l max(x_l, 0) + log prod_l (1 + t_l)``.

    ``t = N / D`` comes from Cephes' ``exp``: ``|x| = n ln2 + g`` (``|g| <= ln2 / 2``, ``n``
    rounded to nearest with the ``1.5 * 2**52`` trick), Pade form ``exp(-g) = (Q - P) / (Q + P)``,
    ``N = 2**-n (Q - P)``, ``D = Q + P`` (``D`` in ``[1.65, 2.38]``). A product of factors
    ``1 + U / V`` is kept as the pair ``(U, V)``: one factor is ``(N, D)``, and two combine as
    ``U = (Ua Vb + Ub Va) + Ua Ub``, ``V = Va Vb`` -- only products and sums of positive numbers,
    no division, and ``U`` keeps its relative accuracy however small ``t`` is (it never forms
    ``1 + t``). The ``n_large`` factors are combined in a fixed pairwise tree (element ``i`` with
    ``i + ceil(k / 2)`` while ``k > 1`` elements remain), in chunks of at most :data:`CHUNK`
    elements so that ``U + V <= 4.76**CHUNK`` stays below ``2**1024``; each chunk ends with one
    ``log1p(U / V)``. The ``max(x, 0)`` (and, for the energy, ``field * sigmoid(x)``) are summed
    in the same tree. Per element this is about 35 arithmetic instructions and no division,
    against ~65 and one division for a softplus evaluated to the ulp, and every loop is a plain
    elementwise loop that LLVM vectorises.
No libm
    Only IEEE ``+ - * /``, ``abs``, ``min``, ``max`` and integer bit operations (no ``floor``, libm
    or SVML, whose results differ between CPUs), no ``fastmath`` (no reassociation, no FMA
    contraction): the vector width only decides how many elements run side by side, and every
    element, every tree node and every sum gets the same operations in the same order. The
    per-chunk :func:`log1p` and :func:`log` are fdlibm's algorithms; the sigmoid of the energy
    is ``D / (N + D)`` (``x > 0``) or ``N / (N + D)``. Against long double (tests/test_exact.py):
    ``N / D`` within 2.5 ulp of ``exp(-a)``, :func:`log` 1 ulp, :func:`log1p` 1.5 ulp, the sigmoid
    3 ulp.
Range
    ``exp(-|x|)`` is evaluated at ``min(|x|, 350)``: a unit with ``beta * field < -350`` contributes
    ``exp(-350) = 1.0e-152`` instead of ``exp(beta * field)``, so that no product in the tree
    is subnormal (subnormals are slow on Intel CPUs, and flushed to zero where a library has
    set FTZ/DAZ, which would change bits). ``inf`` fields give ``inf`` log weights (the caller
    reports the overflow).
Accuracy
    Each factor, product and sum is rounded once, so the log of a chunk's product has an absolute
    error of a few ``1e-16`` times the depth of the tree (about 9 for 392 elements) and the
    ``max(x, 0)`` sum the usual pairwise-summation error: the log weights of the 784 x 20
    reference model (near 200) come out within 3e-14 of a long-double evaluation (the previous
    kernel, a sequential sum of 784 softplus values from libm: up to 5e-13).
Blocks
    The states are enumerated in blocks of consecutive Gray codes, one block per task of a
    parallel loop; each block keeps its largest log weight ``m`` and its sums
    ``sum exp(lw - m)`` (with :func:`~rbmlib.kernels.draws.exp_neg`), and :func:`gray_combine`
    adds the blocks in block order: the result does not depend on the number of threads or on
    how the blocks were split into calls.

Work per state and unit: about 28 floating-point operations in two elementwise passes (update
the field and reduce the argument; evaluate ``N`` and ``D``) and one node of the tree (7), no
division; ``benchmarks/bench_exact.py`` and ``benchmarks/README.md`` give the measured rates and
what bounds them.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .draws import bits_to_f64, exp_neg, f64_to_bits

__all__ = ["CHUNK", "A_MAX", "log", "log1p", "exp_ratio", "sigmoid_ratio", "softplus_sum", "gray_blocks",
           "gray_combine"]

#: Largest chunk of the larger layer whose factors ``1 + t`` are multiplied before a log:
#: ``prod (D (1 + t)) <= 4.752**448 = 2**1007`` stays finite.
CHUNK = 448
#: ``exp(-a)`` is evaluated at ``min(a, A_MAX)`` (``exp(-350) = 1.0e-152``: no product of two factors
#: is subnormal).
A_MAX = 350.0


# Cephes exp (Pade form) and fdlibm log constants
_LOG2E = 1.4426950408889634073599
_C1 = 6.93145751953125e-1               # ln 2 = _C1 + _C2, _C1 with 11 significant bits (n * _C1 exact)
_C2 = 1.42860682030941723212e-6
_P0 = 1.26177193074810590878e-4
_P1 = 3.02994407707441961300e-2
_P2 = 9.99999999999999999910e-1
_Q0 = 3.00198505138664455042e-6
_Q1 = 2.52448340349684104192e-3
_Q2 = 2.27265548208155028766e-1
_Q3 = 2.00000000000000000009e0
_ROUND = 6755399441055744.0            # 1.5 * 2**52: (r + _ROUND) - _ROUND rounds r to an integer
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10

#: The constants of the elementwise passes, in the order they are unpacked. The kernels take them as
#: a run-time array: numba's JIT addresses compile-time constants with a 64-bit ``movabs`` and a
#: broadcast each, inside the loop; passed at run time, LLVM broadcasts them once before the loop
#: (and reloads spilled ones as memory operands), about a third fewer instructions. Same values,
#: same bits.
_CONSTANTS = np.array([_LOG2E, _C1, _C2, _P0, _P1, _P2, _Q0, _Q1, _Q2, _Q3, _ROUND, A_MAX])


@nb.njit(cache=True, inline="always")
def _unpack(arr):
    """The tuple of :data:`_CONSTANTS` from its array (values unknown to the compiler)."""
    return (arr[0], arr[1], arr[2], arr[3], arr[4], arr[5], arr[6], arr[7], arr[8], arr[9], arr[10], arr[11])


@nb.njit(cache=True, inline="always", error_model="numpy")
def _reduce(a, c):
    """Range reduction of ``exp(-a)``, ``a >= 0``: ``min(a, A_MAX) = n ln2 + g``, ``|g| <= ln2 / 2``.

    ``n = round(a / ln2)`` (ties to even) by adding ``1.5 * 2**52``: returns ``g`` and ``r``, whose
    low bits hold ``n``. Cody-Waite: ``n * c1`` is exact, ``c1 + c2 = ln 2`` to 2**-75.
    """
    m = min(a, c[11])
    r = m * c[0] + c[10]
    n = r - c[10]
    return (m - n * c[1]) - n * c[2], r


@nb.njit(cache=True, inline="always", error_model="numpy")
def _exp_nd(g, r, c):
    """``exp(-a) = N / D`` from :func:`_reduce`'s ``(g, r)``: ``N = 2**-n (Q - P)``, ``D = Q + P``.

    Cephes' Pade form ``exp(-g) = (Q(g) - P(g)) / (Q(g) + P(g))``, ``P`` odd and ``Q`` even, their
    polynomials in ``g**2`` evaluated in Estrin's order (a shorter dependency chain than Horner's).
    """
    gg = g * g
    g4 = gg * gg
    px = (c[3] * g4 + (c[4] * gg + c[5])) * g
    qx = (c[6] * gg + c[7]) * g4 + (c[8] * gg + c[9])
    scale = bits_to_f64((1023 - f64_to_bits(r)) << 52)     # 2**-n (the bits of 1.5 * 2**52 vanish in the shift)
    return (qx - px) * scale, qx + px


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sigmoid_nd(x, num, den):
    """``sigmoid(x)`` from ``exp(-|x|) = num / den``: ``den / (num + den)`` for ``x > 0``, else ``num / (num + den)``."""
    return (den if x > 0.0 else num) / (num + den)


@nb.njit(cache=True, error_model="numpy")
def log(x):
    """Natural log of a float64 in plain arithmetic (fdlibm's ``__ieee754_log``, below 1 ulp).

    ``log(0) = -inf``, ``log(x < 0) = NaN``, ``log(inf) = inf``, NaN for NaN; subnormals are scaled first.
    """
    if not (x > 0.0):
        return -np.inf if x == 0.0 else np.nan
    if x == np.inf:
        return x
    k = 0
    if x < 2.2250738585072014e-308:
        x *= 18014398509481984.0          # 2**54
        k = -54
    hx = f64_to_bits(x)
    k += (hx >> 52) - 1023
    m = bits_to_f64((hx & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)    # mantissa in [1, 2)
    if m > 1.4142135623730951:
        m *= 0.5
        k += 1
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    R = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    dk = float(k)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)


@nb.njit(cache=True, error_model="numpy")
def log1p(x):
    """``log(1 + x)`` of a float64 ``x >= 0`` in plain arithmetic (about 1 ulp); NaN below 0 or for NaN.

    ``u = 1 + x`` rounded, ``c = x - (u - 1)`` its rounding error (both exact for ``x >= 0``), and
    ``log1p(x) = log(u) + c / u`` (Kahan); ``x`` itself when ``u == 1``.
    """
    if not (x >= 0.0):
        return np.nan
    u = 1.0 + x
    if u == 1.0:
        return x
    return log(u) + (x - (u - 1.0)) / u


@nb.njit(cache=True, error_model="numpy")
def exp_ratio(a):
    """``(N, D)`` with ``N / D = exp(-min(a, A_MAX))`` for ``a >= 0``, as the enumeration computes it (for tests)."""
    c = _unpack(_CONSTANTS)
    g, r = _reduce(a, c)
    return _exp_nd(g, r, c)


@nb.njit(cache=True, error_model="numpy")
def sigmoid_ratio(x):
    """``sigmoid(x)`` as the enumeration's energy computes it (for tests)."""
    num, den = exp_ratio(abs(x))
    return _sigmoid_nd(x, num, den)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _tree(U, V, X, k):
    """Multiply the factors ``1 + U[i] / V[i]`` and add the ``X[i]``, ``i < k``, in the fixed pairwise tree.

    Element ``i`` absorbs element ``i + h``, ``h = ceil(k / 2)``, for ``i < k - h``, until one is left
    (in place). Returns ``(U, V, X)`` of the whole product / sum.
    """
    while k > 1:
        h = (k + 1) // 2
        for i in range(k - h):
            ua = U[i]
            va = V[i]
            ub = U[i + h]
            vb = V[i + h]
            U[i] = (ua * vb + ub * va) + ua * ub
            V[i] = va * vb
            X[i] = X[i] + X[i + h]
        k = h
    return U[0], V[0], X[0]


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sum_tree(E, k):
    """``sum(E[:k])`` in the fixed pairwise tree of :func:`_tree` (in place)."""
    while k > 1:
        h = (k + 1) // 2
        for i in range(k - h):
            E[i] = E[i] + E[i + h]
        k = h
    return E[0]


@nb.njit(cache=True, inline="always", error_model="numpy")
def _state(field, row, beta, U, V, X, E, want_energy, c):
    """``field += row``; returns ``(sum_l softplus(beta * field_l), sum_l field_l * sigmoid(beta * field_l))``.

    Two elementwise passes (the argument reduction, then ``N, D`` and the energy terms: two short
    dependency chains keep more iterations in flight than one long one), then per chunk the tree
    and one ``log1p``. ``U, V, X, E``: scratch of the field's length. The energy sum is 0 unless
    ``want_energy``.
    """
    n = field.shape[0]
    for i in range(n):
        f = field[i] + row[i]
        field[i] = f
        x = beta * f
        U[i], V[i] = _reduce(abs(x), c)          # (g, r) until the next pass
        X[i] = max(x, 0.0)
    if want_energy:
        for i in range(n):
            f = field[i]
            x = beta * f
            num, den = _exp_nd(U[i], V[i], c)
            U[i] = num
            V[i] = den
            E[i] = f * _sigmoid_nd(x, num, den)
    else:
        for i in range(n):
            U[i], V[i] = _exp_nd(U[i], V[i], c)
    n_chunks = (n + CHUNK - 1) // CHUNK
    size = (n + n_chunks - 1) // n_chunks                     # equal chunks (784: 2 x 392)
    total = 0.0
    energy = 0.0
    for j0 in range(0, n, size):
        j1 = min(j0 + size, n)
        u, v, xs = _tree(U[j0:j1], V[j0:j1], X[j0:j1], j1 - j0)
        total += xs + log1p(u / v)
        if want_energy:
            energy += _sum_tree(E[j0:j1], j1 - j0)
    return total, energy


@nb.njit(cache=True, error_model="numpy")
def softplus_sum(x):
    """``sum_i log(1 + exp(x[i]))`` of a float64 array as the enumeration computes a state's sum (for tests)."""
    n = x.shape[0]
    field = x.copy()
    total, _ = _state(field, np.zeros(n), 1.0, np.empty(n), np.empty(n), np.empty(n), np.empty(n), False,
                      _unpack(_CONSTANTS))
    return total


@nb.njit(cache=True, error_model="numpy")
def _gray_block(WT, WTneg, zero, c_small, c_large, beta, start, stop, field, U, V, X, E, out_logw, want_logw,
                want_energy, c):
    """Enumerate the Gray codes ``g(k) = k ^ (k >> 1)`` for ``k`` in ``[start, stop)``.

    ``WT`` (n_small, n_large): couplings, rows = units of the smaller layer, unit ``u`` is bit
    ``n_small - 1 - u`` of the code; ``WTneg = -WT``; ``zero``: n_large zeros. ``field``, ``U``,
    ``V``, ``X``, ``E``: scratch of length n_large. Returns ``(m, s, se)``: the block's largest log
    weight, ``sum exp(lw - m)`` and ``sum exp(lw - m) <E|s>``, summed in ``k`` order.
    """
    n_small = WT.shape[0]
    n_large = WT.shape[1]
    # the field of the first state from scratch: bias + rows of its units, lowest bit first
    g = start ^ (start >> 1)
    for l in range(n_large):
        field[l] = c_large[l]
    lin = 0.0
    for p in range(n_small):
        if (g >> p) & 1:
            u = n_small - 1 - p
            lin += c_small[u]
            for l in range(n_large):
                field[l] += WT[u, l]
    m = -np.inf
    s = 0.0
    se = 0.0
    for k in range(start, stop):
        if k > start:
            # the bit flipped between g(k - 1) and g(k) is the lowest set bit of k
            p = 0
            kk = k
            while (kk & 1) == 0:
                kk >>= 1
                p += 1
            u = n_small - 1 - p
            g = k ^ (k >> 1)
            if (g >> p) & 1:
                lin += c_small[u]
                total, energy = _state(field, WT[u], beta, U, V, X, E, want_energy, c)
            else:
                lin -= c_small[u]                                  # field - W == field + (-W), bit for bit
                total, energy = _state(field, WTneg[u], beta, U, V, X, E, want_energy, c)
        else:
            total, energy = _state(field, zero, beta, U, V, X, E, want_energy, c)    # field + 0 == field
        lw = beta * lin + total
        if want_logw:
            out_logw[g] = lw
        if lw > m:
            if m > -np.inf:
                scale = exp_neg(m - lw)
                s *= scale
                se *= scale
            m = lw
        w = exp_neg(lw - m)
        s += w
        if want_energy:
            se += w * (-lin - energy)
    return m, s, se


@nb.njit(cache=True, parallel=True, error_model="numpy")
def _gray_blocks(WT, c_small, c_large, beta, block, ib0, ib1, ms, ss, ses, out_logw, want_logw, want_energy,
                 constants):
    n_large = WT.shape[1]
    WTneg = -WT
    zero = np.zeros(n_large)
    c = _unpack(constants)
    for ib in nb.prange(ib0, ib1):
        field = np.empty(n_large)
        U = np.empty(n_large)
        V = np.empty(n_large)
        X = np.empty(n_large)
        E = np.empty(n_large)
        m, s, se = _gray_block(WT, WTneg, zero, c_small, c_large, beta, ib * block, (ib + 1) * block, field, U, V,
                               X, E, out_logw, want_logw, want_energy, c)
        ms[ib] = m
        ss[ib] = s
        ses[ib] = se


def gray_blocks(WT, c_small, c_large, beta, block, ib0, ib1, ms, ss, ses, out_logw, want_logw, want_energy):
    """Blocks ``ib0 .. ib1 - 1`` of ``block`` Gray codes each, in parallel: fills ``ms, ss, ses[ib]``.

    ``WT`` (n_small, n_large) float64, C-contiguous: rows are the units of the smaller layer;
    ``c_small``, ``c_large``: the biases (float64); ``beta`` a float. Block ``ib`` holds the codes
    ``k`` in ``[ib * block, (ib + 1) * block)``; ``ms[ib]``, ``ss[ib]``, ``ses[ib]`` receive its
    largest log weight ``m``, ``sum exp(lw - m)`` and ``sum exp(lw - m) <E|s>`` (0 unless
    ``want_energy``). With ``want_logw``, ``out_logw[g]`` (length ``2**n_small``) receives the log
    weight of state ``g``.
    """
    _gray_blocks(WT, c_small, c_large, float(beta), block, ib0, ib1, ms, ss, ses, out_logw, bool(want_logw),
                 bool(want_energy), _CONSTANTS)


@nb.njit(cache=True, error_model="numpy")
def gray_combine(ms, ss, ses):
    """``(log Z, <E>)`` from the blocks' ``(m, s, se)``, added in block order (any thread count, any chunking)."""
    M = ms.max()
    S = 0.0
    SE = 0.0
    for ib in range(ms.shape[0]):
        f = exp_neg(ms[ib] - M)
        S += ss[ib] * f
        SE += ses[ib] * f
    return M + log(S), SE / S
