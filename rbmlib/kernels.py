"""Numba kernels of the block Gibbs sampler (the hot path of the library).

Nothing here validates its inputs: :mod:`rbmlib.sampling` does that and is the
public interface. This module documents the algorithms and the exact,
reproducible order of every floating-point operation.

Random streams
--------------
Every chain owns ``N_LANES = 4`` independent xoshiro256** generators (Blackman &
Vigna 2018), stored as one row of a ``(n_chains, 4 * N_LANES)`` uint64 array
(words ``s0[0:4], s1[0:4], s2[0:4], s3[0:4]``). Lane ``l`` of the chain with
global index ``g`` is seeded with four consecutive SplitMix64 outputs started at
``x0 = mix64(mix64(seed + GOLDEN) ^ (N_LANES * g + l))``; ``mix64`` is a bijection,
so for one seed no two lanes of any chains start from the same SplitMix64 state.
Because a chain's draws depend only on ``(seed, g)``, results are bit-for-bit
identical for any number of threads and any split of the chains into shards.
The four lanes advance together, which lets the compiler run them as one SIMD
vector. A block of ``m`` 64-bit words is produced as ``ceil(m / 4)`` lane steps
(``out[4 k + l]`` = lane ``l`` at step ``k``); surplus words are discarded.

Uniforms and Bernoulli draws
----------------------------
* float64 models: one uniform per 64-bit word, ``r = ((w >> 11) + 1/2) 2**-53``.
* float32 models: two uniforms per word (its low and high 32-bit halves, in that
  order), ``r = (float32(u32 >> 1) + 1/2) 2**-31``, computed in float32.
  The 31 bits resolve probabilities down to ``2**-31`` (see below, only the
  small tail probability ever is compared), far finer than float32's
  ``2**-24`` relative precision of the fields.
* A unit with (inverse-temperature-scaled) field ``x`` is switched on with
  probability ``sigmoid(x)``. With ``e = exp(-|x|)`` (never overflows) the tail
  probability is ``q = e / (1 + e) <= 1/2`` and the draw is
  ``on = (r (1 + e) < e) XOR (x > 0)``: ``r < q`` for ``x <= 0``, and
  ``r >= sigmoid(-x)`` (i.e. ``1 - r < sigmoid(x)``) for ``x > 0``. Both tails are
  therefore resolved to the uniform's granularity near 0 (``2**-53`` / ``2**-31``)
  instead of ``2**-24`` near 1.
* ``exp`` is evaluated by :func:`_exp_neg`, a Cody-Waite range reduction plus the
  Cephes polynomial (float32, ~1 ulp) or Pade approximant (float64, ~1 ulp), with
  ``2**n`` built by bit manipulation. It uses only IEEE +, -, *, /, floor and
  integer ops, so LLVM vectorises the draw loop (no SVML needed) and the result
  is the same on every x86-64 machine.

Fields
------
States are binary and sparse (MNIST-like models have ~13 % of units on), so the
field on the hidden layer is ``b + sum_{i: v_i = 1} W[i, :]``: the active units of
the chain are listed (branch-free compaction) and their rows of ``W`` (shape
``(n_visible, n_hidden)``) are added, in increasing unit order, into the field;
the visible field uses the rows of ``WT = W.T`` (C-contiguous copy). Each
element of a field is therefore the left-to-right sum
``((bias + W[i1]) + W[i2]) + ...`` in the model's dtype, whatever the loop
tiling: every loop transformation used here keeps that order per element, so
results never depend on blocking, thread count or SIMD width.
Fields are computed at inverse temperature 1 and multiplied by ``beta`` (cast
to the model's dtype) just before the draw.

No ``fastmath``: reassociation and FMA contraction would make the bits depend
on the CPU's vector width and instruction set, and notebooks compare printed
samples across machines. The elementwise loops vectorise without it.
``error_model="numpy"`` drops the Python division-by-zero check (no denominator
here can be zero), without which the float64 exp would not vectorise; callers
of :func:`_bernoulli` / :func:`_exp_neg` in other modules should use it too.

Energies (``record_energy``) reuse the field of the last half-sweep:
``E = -h.(v W + b) - a.v`` after an h-update, ``E = -v.(W h + a) - b.h`` after a
v-update, accumulated in float64 from the dtype-valued field (for float32 models
the relative error is therefore ~1e-7 of ``sum |terms|``).
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["N_LANES", "seed_streams", "init_states", "run_chains", "chain_energies"]

#: Number of xoshiro256** lanes per chain; the RNG state has 4 * N_LANES words
#: (fixed: _xoshiro_fill is written out for four lanes).
N_LANES = 4
#: Chains processed together by one task of the parallel loop (the size does not
#: change any result; it only sets how work is handed to threads).
BLOCK = 32

_U = np.uint64
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

ORDER_CODES = {"hv": 0, "vh": 1, "h": 2, "v": 3}


# ----------------------------------------------------------------------------
# bit casts (compile to a no-op register reinterpretation; vectorisable)
# ----------------------------------------------------------------------------
@intrinsic
def _bits_to_f32(typingctx, x):
    if not isinstance(x, types.Integer) or x.bitwidth != 32:
        return None
    sig = types.float32(x)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _bits_to_f64(typingctx, x):
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None
    sig = types.float64(x)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# ----------------------------------------------------------------------------
# SplitMix64 and xoshiro256** (4 lanes)
# ----------------------------------------------------------------------------
@nb.njit(cache=True, error_model="numpy")
def _mix64(z):
    z = (z ^ (z >> _U(30))) * _M1
    z = (z ^ (z >> _U(27))) * _M2
    return z ^ (z >> _U(31))


@nb.njit(cache=True, error_model="numpy")
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@nb.njit(cache=True, parallel=True, error_model="numpy")
def seed_streams(seed, chain_offset, n_chains):
    """RNG state of chains ``chain_offset .. chain_offset + n_chains - 1``.

    Parameters: seed and chain_offset as uint64. Returns uint64 array
    ``(n_chains, 4 * N_LANES)``.
    """
    S = np.empty((n_chains, 4 * N_LANES), dtype=np.uint64)
    key = _mix64(seed + _GOLDEN)
    for c in nb.prange(n_chains):
        g = chain_offset + _U(c)
        for l in range(N_LANES):
            x = _mix64(key ^ (g * _U(N_LANES) + _U(l)))
            nz = _U(0)
            for w in range(4):
                x += _GOLDEN
                o = _mix64(x)
                S[c, w * N_LANES + l] = o
                nz |= o
            if nz == _U(0):  # all-zero state is the one forbidden state of xoshiro
                S[c, l] = _GOLDEN
    return S


@nb.njit(cache=True, error_model="numpy")
def _xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256** step: (output, new state)."""
    out = _rotl(s1 * _U(5), 7) * _U(9)
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return out, s0, s1, s2, s3


@nb.njit(cache=True, error_model="numpy")
def _xoshiro_fill(s, out, n_words):
    """Write ``n_words`` (rounded up to a multiple of N_LANES) outputs into ``out``.

    The state of the four lanes is held in local variables (registers) for the
    whole block; lane ``l``'s words are ``s[l], s[4 + l], s[8 + l], s[12 + l]``.
    """
    a0, a1, a2, a3 = s[0], s[4], s[8], s[12]
    b0, b1, b2, b3 = s[1], s[5], s[9], s[13]
    c0, c1, c2, c3 = s[2], s[6], s[10], s[14]
    d0, d1, d2, d3 = s[3], s[7], s[11], s[15]
    n_steps = (n_words + N_LANES - 1) // N_LANES
    for k in range(n_steps):
        oa, a0, a1, a2, a3 = _xoshiro_step(a0, a1, a2, a3)
        ob, b0, b1, b2, b3 = _xoshiro_step(b0, b1, b2, b3)
        oc, c0, c1, c2, c3 = _xoshiro_step(c0, c1, c2, c3)
        od, d0, d1, d2, d3 = _xoshiro_step(d0, d1, d2, d3)
        out[4 * k] = oa
        out[4 * k + 1] = ob
        out[4 * k + 2] = oc
        out[4 * k + 3] = od
    s[0], s[4], s[8], s[12] = a0, a1, a2, a3
    s[1], s[5], s[9], s[13] = b0, b1, b2, b3
    s[2], s[6], s[10], s[14] = c0, c1, c2, c3
    s[3], s[7], s[11], s[15] = d0, d1, d2, d3


# ----------------------------------------------------------------------------
# dtype-generic scalar pieces (resolved at compile time with @overload)
# ----------------------------------------------------------------------------
def _exp_neg(y):
    """exp(y) for y <= 0 (inputs below the underflow threshold are clamped)."""


@overload(_exp_neg)
def _exp_neg_ol(y):
    if isinstance(y, types.Float) and y.bitwidth == 32:
        def impl(y):
            # Cephes expf; y clamped so that 2**n stays a normal number
            y = max(y, np.float32(-87.0))
            n = np.floor(y * np.float32(1.44269504088896341) + np.float32(0.5))
            f = y - n * np.float32(0.693359375)
            f = f - n * np.float32(-2.12194440e-4)
            p = np.float32(1.9875691500e-4)
            p = p * f + np.float32(1.3981999507e-3)
            p = p * f + np.float32(8.3334519073e-3)
            p = p * f + np.float32(4.1665795894e-2)
            p = p * f + np.float32(1.6666665459e-1)
            p = p * f + np.float32(5.0000001201e-1)
            p = p * (f * f) + f + np.float32(1.0)
            scale = _bits_to_f32(np.int32((np.int64(np.int32(n)) + 127) << 23))
            return p * scale
        return impl
    if isinstance(y, types.Float) and y.bitwidth == 64:
        def impl(y):
            # Cephes exp (Pade approximant)
            y = max(y, -708.0)
            n = np.floor(y * 1.4426950408889634073599 + 0.5)
            f = y - n * 6.93145751953125e-1
            f = f - n * 1.42860682030941723212e-6
            ff = f * f
            px = ((1.26177193074810590878e-4 * ff + 3.02994407707441961300e-2) * ff
                  + 9.99999999999999999910e-1) * f
            qx = (((3.00198505138664455042e-6 * ff + 2.52448340349684104192e-3) * ff
                   + 2.27265548208155028766e-1) * ff + 2.00000000000000000009e0)
            p = 1.0 + 2.0 * (px / (qx - px))
            scale = _bits_to_f64((np.int64(np.int32(n)) + 1023) << 52)
            return p * scale
        return impl
    return None


def _bernoulli(x, r):
    """1 with probability sigmoid(x) given a uniform r in (0, 1] (see module docstring)."""


@overload(_bernoulli)
def _bernoulli_ol(x, r):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        def impl(x, r):
            e = _exp_neg(-abs(x))
            return np.uint8((r * (np.float32(1.0) + e) < e) != (x > np.float32(0.0)))
        return impl
    if isinstance(x, types.Float) and x.bitwidth == 64:
        def impl(x, r):
            e = _exp_neg(-abs(x))
            return np.uint8((r * (1.0 + e) < e) != (x > 0.0))
        return impl
    return None


def _words_per_unit_den(field):
    """Units served by one 64-bit word for this dtype (2 for float32, 1 for float64)."""


@overload(_words_per_unit_den)
def _words_per_unit_den_ol(field):
    if field.dtype == types.float32:
        return lambda field: 2
    return lambda field: 1


def _uniforms(words, r, n):
    """Fill r[0:n] with uniforms in (0, 1] from the 64-bit words (see module docstring)."""


@overload(_uniforms)
def _uniforms_ol(words, r, n):
    if r.dtype == types.float32:
        def impl(words, r, n):
            u32 = words.view(np.uint32)
            for j in range(n):
                k = np.int32(u32[j] >> np.uint32(1))
                r[j] = (np.float32(k) + np.float32(0.5)) * np.float32(4.656612873077393e-10)
        return impl

    def impl64(words, r, n):
        for j in range(n):
            r[j] = (np.float64(np.int64(words[j] >> _U(11))) + 0.5) * 1.1102230246251565e-16
    return impl64


# ----------------------------------------------------------------------------
# half-sweeps
# ----------------------------------------------------------------------------
@nb.njit(cache=True, error_model="numpy")
def _field(rows, bias, src, idx, field):
    """field = bias + sum of rows[i] over the active units i of src.

    Per element the sum is strictly left to right in increasing i,
    ``((bias + row_i1) + row_i2) + ...``; rows are consumed four at a time
    (one pass over ``field`` per four rows) without changing that order.
    """
    n_src = src.shape[0]
    n_dst = field.shape[0]
    k = 0
    for i in range(n_src):          # branch-free list of the active units
        idx[k] = i
        k += np.int64(src[i])
    for j in range(n_dst):
        field[j] = bias[j]
    m = 0
    while m + 4 <= k:
        r0 = rows[idx[m]]
        r1 = rows[idx[m + 1]]
        r2 = rows[idx[m + 2]]
        r3 = rows[idx[m + 3]]
        for j in range(n_dst):
            field[j] = (((field[j] + r0[j]) + r1[j]) + r2[j]) + r3[j]
        m += 4
    while m < k:
        r0 = rows[idx[m]]
        for j in range(n_dst):
            field[j] += r0[j]
        m += 1


@nb.njit(cache=True, error_model="numpy")
def _draw(field, beta, s, words, r, dst):
    """dst[j] ~ Bernoulli(sigmoid(beta * field[j])) from the chain's stream s."""
    n = dst.shape[0]
    den = _words_per_unit_den(field)
    _xoshiro_fill(s, words, (n + den - 1) // den)
    _uniforms(words, r, n)
    for j in range(n):
        dst[j] = _bernoulli(beta * field[j], r[j])


@nb.njit(cache=True, error_model="numpy")
def _dot_f64(x, s):
    acc = 0.0
    for j in range(x.shape[0]):
        if s[j]:
            acc += np.float64(x[j])
    return acc


@nb.njit(cache=True, parallel=True, error_model="numpy")
def run_chains(W, WT, a, b, V, H, S, betas, beta_chain, order, E, record):
    """Run every chain for ``len(betas)`` sweeps, in place.

    Parameters
    ----------
    W : (nv, nh) C-contiguous, WT : (nh, nv) C-contiguous, a : (nv,), b : (nh,)
        Model in float32 or float64 (all the same dtype).
    V : uint8 (n_chains, nv), H : uint8 (n_chains, nh)
        States, overwritten.
    S : uint64 (n_chains, 4 * N_LANES)
        RNG states, advanced.
    betas : float64 (n_sweeps,), beta_chain : float64 (n_chains,)
        Chain c at sweep t uses inverse temperature betas[t] * beta_chain[c]
        (product in float64, then cast to the model's dtype).
    order : int
        0 'hv', 1 'vh', 2 'h', 3 'v'.
    E : float64 (n_chains, n_sweeps) if record else (1, 1)
        Energies after each sweep (written only if record).
    """
    n_chains = V.shape[0]
    nv, nh = W.shape
    n_sweeps = betas.shape[0]
    n_max = max(nv, nh)
    n_blocks = (n_chains + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        idx = np.empty(n_max, dtype=np.int64)
        fh = np.empty(nh, dtype=W.dtype)
        fv = np.empty(nv, dtype=W.dtype)
        r = np.empty(n_max, dtype=W.dtype)
        words = np.empty(n_max + N_LANES, dtype=np.uint64)
        bcast = np.empty(1, dtype=W.dtype)
        for c in range(blk * BLOCK, min(n_chains, (blk + 1) * BLOCK)):
            v = V[c]
            h = H[c]
            s = S[c]
            for t in range(n_sweeps):
                bcast[0] = betas[t] * beta_chain[c]
                beta = bcast[0]
                last_h = False
                if order == 0 or order == 2:      # 'hv' / 'h': hidden first
                    _field(W, b, v, idx, fh)
                    _draw(fh, beta, s, words, r, h)
                    last_h = True
                if order != 2:                    # every order but 'h' has a v half
                    _field(WT, a, h, idx, fv)
                    _draw(fv, beta, s, words, r, v)
                    last_h = False
                if order == 1:                    # 'vh': hidden second
                    _field(W, b, v, idx, fh)
                    _draw(fh, beta, s, words, r, h)
                    last_h = True
                if record:
                    if last_h:
                        E[c, t] = -_dot_f64(fh, h) - _dot_f64(a, v)
                    else:
                        E[c, t] = -_dot_f64(fv, v) - _dot_f64(b, h)


@nb.njit(cache=True, parallel=True, error_model="numpy")
def init_states(S, V, H, random_v, random_h):
    """Draw each unit of V (if random_v) and of H (if random_h) on with probability 1/2.

    Unit i takes bit (i mod 64) of 64-bit word i // 64 of the chain's stream; V is
    drawn before H. S is advanced.
    """
    n_chains, nv = V.shape
    nh = H.shape[1]
    n_max = max(nv, nh)
    n_blocks = (n_chains + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        words = np.empty(n_max // 64 + 1 + N_LANES, dtype=np.uint64)
        for c in range(blk * BLOCK, min(n_chains, (blk + 1) * BLOCK)):
            if random_v:
                _xoshiro_fill(S[c], words, (nv + 63) // 64)
                for i in range(nv):
                    V[c, i] = np.uint8((words[i >> 6] >> _U(i & 63)) & _U(1))
            if random_h:
                _xoshiro_fill(S[c], words, (nh + 63) // 64)
                for j in range(nh):
                    H[c, j] = np.uint8((words[j >> 6] >> _U(j & 63)) & _U(1))


@nb.njit(cache=True, parallel=True, error_model="numpy")
def chain_energies(W, a, b, V, H):
    """E(v, h) of every chain, float64 (n_chains,); field v W + b in the model dtype."""
    n_chains, nv = V.shape
    nh = H.shape[1]
    out = np.empty(n_chains)
    n_blocks = (n_chains + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        idx = np.empty(nv, dtype=np.int64)
        fh = np.empty(nh, dtype=W.dtype)
        for c in range(blk * BLOCK, min(n_chains, (blk + 1) * BLOCK)):
            _field(W, b, V[c], idx, fh)
            out[c] = -_dot_f64(fh, H[c]) - _dot_f64(a, V[c])
    return out
