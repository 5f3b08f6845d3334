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
The four lanes advance together as one 4 x 64-bit SIMD vector (written in LLVM
IR, :func:`_xoshiro_fill_simd`). A block of ``m`` 64-bit words is produced as ``ceil(m / 4)`` lane steps
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
  is the same on every x86-64 machine. :func:`_bernoulli_block` draws four
  quarters of a layer interleaved statement by statement (:func:`_exp_neg4`),
  which hides the latency of the exp's dependency chain; every element's
  arithmetic is unchanged.

Fields
------
States are binary and sparse (MNIST-like models have 13-25 % of units on), so the
field on the hidden layer is ``b + sum_{i: v_i = 1} W[i, :]`` and the field on the
visible layer ``a + sum_{j: h_j = 1} WT[j, :]`` (``WT = W.T``, rows stored
contiguously and 64-byte aligned). Each chain keeps its two fields between
sweeps, with the state each belongs to, and brings them up to date in one of two
ways (:func:`_update_field`):

* **from scratch** (:func:`_field`): the active units are listed (branch-free
  compaction) and their rows added, in increasing unit order, to the bias. Each
  element is the left-to-right sum ``((bias + W[i1]) + W[i2]) + ...`` in the
  model's dtype;
* **by flips** (:func:`_add_flips`): from the field of the previous state, add
  the rows of the units that switched on (increasing order), then subtract the
  rows of those that switched off (increasing order). At equilibrium in a trained
  MNIST model only ~8 % of visible and ~15 % of hidden units flip per sweep, against
  ~15-25 % on, so this reads about half the rows.

The k-th update of a field (k = 0, 1, ... counted since the chains were created or
their model was set) is from scratch when ``k % REFRESH == 0`` or when more units
flipped than are on; otherwise by flips. So rounding errors never accumulate over
more than ``REFRESH - 1`` updates: a field carries at most ``~REFRESH`` times the
rounding error of a single left-to-right sum (float32: ~1e-6 relative to
``|bias| + sum |rows|``; float64: ~1e-15), far below any statistical error.
The choice depends only on the chain's own states and the update count, and
every loop transformation used keeps the per-element order, so results never
depend on blocking, thread count, SIMD width or sharding.
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

__all__ = ["N_LANES", "REFRESH", "SAMPLER_VERSION", "seed_streams", "init_states", "run_chains",
           "chain_energies", "exp_neg"]

#: Number of xoshiro256** lanes per chain; the RNG state has 4 * N_LANES words
#: (fixed: _xoshiro_fill works on one 4 x 64-bit vector per state word).
N_LANES = 4
#: Version of the sampler's arithmetic: it changes whenever the states produced
#: for a given model, seed and protocol change (2: fields kept between sweeps and
#: updated by flips). Checkpoints record it, so a run is never resumed across versions.
SAMPLER_VERSION = 2
#: A field is recomputed from scratch at every REFRESH-th update (counted since
#: the chains were created or their model set) and updated from the units that
#: flipped in between.
REFRESH = 16
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


@intrinsic
def _xoshiro_fill_simd(typingctx, s, out, n_words):
    """The four lanes as one ``<4 x i64>`` vector per state word (see :func:`_xoshiro_fill`).

    Written in LLVM IR because the scalar form is not vectorised by LLVM; the
    operations are the xoshiro256** step of Blackman & Vigna, lane by lane.
    """
    ok = (isinstance(s, types.Array) and isinstance(out, types.Array) and s.dtype == types.uint64
          and out.dtype == types.uint64 and s.ndim == 1 and out.ndim == 1 and s.layout == "C"
          and out.layout == "C" and isinstance(n_words, types.Integer))
    if not ok:
        return None
    sig = types.void(s, out, n_words)

    def codegen(context, builder, signature, args):
        sty, oty, nty = signature.args
        sp = context.make_array(sty)(context, builder, args[0]).data
        op = context.make_array(oty)(context, builder, args[1]).data
        i64 = ir.IntType(64)
        v4 = ir.VectorType(i64, 4)
        v4p = v4.as_pointer()

        def at(ptr, off):
            return builder.bitcast(builder.gep(ptr, [off]), v4p)

        def splat(c):
            return ir.Constant(v4, [c] * 4)

        def rotl(x, k):
            return builder.or_(builder.shl(x, splat(k)), builder.lshr(x, splat(64 - k)))

        state = [builder.load(at(sp, ir.Constant(i64, 4 * w)), align=8) for w in range(4)]
        n = context.cast(builder, args[2], nty, types.int64)
        n_steps = builder.ashr(builder.add(n, ir.Constant(i64, 3)), ir.Constant(i64, 2))
        pre = builder.block
        head = builder.append_basic_block("xoshiro.head")
        body = builder.append_basic_block("xoshiro.body")
        done = builder.append_basic_block("xoshiro.done")
        builder.branch(head)
        builder.position_at_end(head)
        k = builder.phi(i64)
        k.add_incoming(ir.Constant(i64, 0), pre)
        phis = []
        for v in state:
            ph = builder.phi(v4)
            ph.add_incoming(v, pre)
            phis.append(ph)
        builder.cbranch(builder.icmp_signed("<", k, n_steps), body, done)
        builder.position_at_end(body)
        s0, s1, s2, s3 = phis
        o = builder.mul(rotl(builder.mul(s1, splat(5)), 7), splat(9))
        t = builder.shl(s1, splat(17))
        s2 = builder.xor(s2, s0)
        s3 = builder.xor(s3, s1)
        s1 = builder.xor(s1, s2)
        s0 = builder.xor(s0, s3)
        s2 = builder.xor(s2, t)
        s3 = rotl(s3, 45)
        builder.store(o, at(op, builder.mul(k, ir.Constant(i64, 4))), align=8)
        k.add_incoming(builder.add(k, ir.Constant(i64, 1)), builder.block)
        for ph, v in zip(phis, (s0, s1, s2, s3)):
            ph.add_incoming(v, builder.block)
        builder.branch(head)
        builder.position_at_end(done)
        for w, ph in enumerate(phis):
            builder.store(ph, at(sp, ir.Constant(i64, 4 * w)), align=8)
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(cache=True, error_model="numpy")
def _xoshiro_fill(s, out, n_words):
    """Write ``n_words`` (rounded up to a multiple of N_LANES) outputs into ``out``.

    ``s`` is the chain's state row (16 words, C-contiguous); lane ``l``'s words are
    ``s[l], s[4 + l], s[8 + l], s[12 + l]``. The four lanes advance as one SIMD
    vector (:func:`_xoshiro_fill_simd`); ``tests/test_sampling.py`` checks it word
    for word against a pure-Python xoshiro256**.
    """
    _xoshiro_fill_simd(s, out, n_words)


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


#: Public name of the plain-arithmetic ``exp(y)``, ``y <= 0`` (float32 or float64, callable from
#: numba code): the same bits on every x86-64 machine, unlike libm's or numpy's SIMD ``exp``.
exp_neg = _exp_neg


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


def _exp_neg4(y0, y1, y2, y3):
    """:func:`_exp_neg` of four arguments, statement by statement interleaved.

    Each result is bit-identical to ``_exp_neg(y_k)``: the same operations in the
    same order per element. Interleaving four independent dependency chains lets
    the CPU overlap them (a single chain is latency-bound: ~1.35x slower).
    """


@overload(_exp_neg4, inline="always")
def _exp_neg4_ol(y0, y1, y2, y3):
    if isinstance(y0, types.Float) and y0.bitwidth == 32:
        def impl(y0, y1, y2, y3):
            c = np.float32
            y0 = max(y0, c(-87.0))
            y1 = max(y1, c(-87.0))
            y2 = max(y2, c(-87.0))
            y3 = max(y3, c(-87.0))
            n0 = np.floor(y0 * c(1.44269504088896341) + c(0.5))
            n1 = np.floor(y1 * c(1.44269504088896341) + c(0.5))
            n2 = np.floor(y2 * c(1.44269504088896341) + c(0.5))
            n3 = np.floor(y3 * c(1.44269504088896341) + c(0.5))
            f0 = (y0 - n0 * c(0.693359375)) - n0 * c(-2.12194440e-4)
            f1 = (y1 - n1 * c(0.693359375)) - n1 * c(-2.12194440e-4)
            f2 = (y2 - n2 * c(0.693359375)) - n2 * c(-2.12194440e-4)
            f3 = (y3 - n3 * c(0.693359375)) - n3 * c(-2.12194440e-4)
            p0 = c(1.9875691500e-4) * f0 + c(1.3981999507e-3)
            p1 = c(1.9875691500e-4) * f1 + c(1.3981999507e-3)
            p2 = c(1.9875691500e-4) * f2 + c(1.3981999507e-3)
            p3 = c(1.9875691500e-4) * f3 + c(1.3981999507e-3)
            p0 = p0 * f0 + c(8.3334519073e-3)
            p1 = p1 * f1 + c(8.3334519073e-3)
            p2 = p2 * f2 + c(8.3334519073e-3)
            p3 = p3 * f3 + c(8.3334519073e-3)
            p0 = p0 * f0 + c(4.1665795894e-2)
            p1 = p1 * f1 + c(4.1665795894e-2)
            p2 = p2 * f2 + c(4.1665795894e-2)
            p3 = p3 * f3 + c(4.1665795894e-2)
            p0 = p0 * f0 + c(1.6666665459e-1)
            p1 = p1 * f1 + c(1.6666665459e-1)
            p2 = p2 * f2 + c(1.6666665459e-1)
            p3 = p3 * f3 + c(1.6666665459e-1)
            p0 = p0 * f0 + c(5.0000001201e-1)
            p1 = p1 * f1 + c(5.0000001201e-1)
            p2 = p2 * f2 + c(5.0000001201e-1)
            p3 = p3 * f3 + c(5.0000001201e-1)
            p0 = p0 * (f0 * f0) + f0 + c(1.0)
            p1 = p1 * (f1 * f1) + f1 + c(1.0)
            p2 = p2 * (f2 * f2) + f2 + c(1.0)
            p3 = p3 * (f3 * f3) + f3 + c(1.0)
            return (p0 * _bits_to_f32(np.int32((np.int64(np.int32(n0)) + 127) << 23)),
                    p1 * _bits_to_f32(np.int32((np.int64(np.int32(n1)) + 127) << 23)),
                    p2 * _bits_to_f32(np.int32((np.int64(np.int32(n2)) + 127) << 23)),
                    p3 * _bits_to_f32(np.int32((np.int64(np.int32(n3)) + 127) << 23)))
        return impl
    if isinstance(y0, types.Float) and y0.bitwidth == 64:
        def impl(y0, y1, y2, y3):
            y0 = max(y0, -708.0)
            y1 = max(y1, -708.0)
            y2 = max(y2, -708.0)
            y3 = max(y3, -708.0)
            n0 = np.floor(y0 * 1.4426950408889634073599 + 0.5)
            n1 = np.floor(y1 * 1.4426950408889634073599 + 0.5)
            n2 = np.floor(y2 * 1.4426950408889634073599 + 0.5)
            n3 = np.floor(y3 * 1.4426950408889634073599 + 0.5)
            f0 = (y0 - n0 * 6.93145751953125e-1) - n0 * 1.42860682030941723212e-6
            f1 = (y1 - n1 * 6.93145751953125e-1) - n1 * 1.42860682030941723212e-6
            f2 = (y2 - n2 * 6.93145751953125e-1) - n2 * 1.42860682030941723212e-6
            f3 = (y3 - n3 * 6.93145751953125e-1) - n3 * 1.42860682030941723212e-6
            g0 = f0 * f0
            g1 = f1 * f1
            g2 = f2 * f2
            g3 = f3 * f3
            a0 = ((1.26177193074810590878e-4 * g0 + 3.02994407707441961300e-2) * g0 + 9.99999999999999999910e-1) * f0
            a1 = ((1.26177193074810590878e-4 * g1 + 3.02994407707441961300e-2) * g1 + 9.99999999999999999910e-1) * f1
            a2 = ((1.26177193074810590878e-4 * g2 + 3.02994407707441961300e-2) * g2 + 9.99999999999999999910e-1) * f2
            a3 = ((1.26177193074810590878e-4 * g3 + 3.02994407707441961300e-2) * g3 + 9.99999999999999999910e-1) * f3
            b0 = (((3.00198505138664455042e-6 * g0 + 2.52448340349684104192e-3) * g0
                   + 2.27265548208155028766e-1) * g0 + 2.00000000000000000009e0)
            b1 = (((3.00198505138664455042e-6 * g1 + 2.52448340349684104192e-3) * g1
                   + 2.27265548208155028766e-1) * g1 + 2.00000000000000000009e0)
            b2 = (((3.00198505138664455042e-6 * g2 + 2.52448340349684104192e-3) * g2
                   + 2.27265548208155028766e-1) * g2 + 2.00000000000000000009e0)
            b3 = (((3.00198505138664455042e-6 * g3 + 2.52448340349684104192e-3) * g3
                   + 2.27265548208155028766e-1) * g3 + 2.00000000000000000009e0)
            return ((1.0 + 2.0 * (a0 / (b0 - a0))) * _bits_to_f64((np.int64(np.int32(n0)) + 1023) << 52),
                    (1.0 + 2.0 * (a1 / (b1 - a1))) * _bits_to_f64((np.int64(np.int32(n1)) + 1023) << 52),
                    (1.0 + 2.0 * (a2 / (b2 - a2))) * _bits_to_f64((np.int64(np.int32(n2)) + 1023) << 52),
                    (1.0 + 2.0 * (a3 / (b3 - a3))) * _bits_to_f64((np.int64(np.int32(n3)) + 1023) << 52))
        return impl
    return None


def _one(x):
    """1 in the dtype of x."""


@overload(_one, inline="always")
def _one_ol(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(1.0)
    return lambda x: 1.0


@nb.njit(cache=True, error_model="numpy")
def _bernoulli_block(field, beta, r, dst):
    """dst[j] = _bernoulli(beta * field[j], r[j]) for every j, four quarters interleaved.

    Element ``j`` is processed together with ``j + q``, ``j + 2q``, ``j + 3q``
    (``q = n // 4``); every element's arithmetic is exactly that of :func:`_bernoulli`.
    """
    n = dst.shape[0]
    q = n // 4
    one = _one(beta)
    zero = one - one
    for j in range(q):
        x0 = beta * field[j]
        x1 = beta * field[j + q]
        x2 = beta * field[j + 2 * q]
        x3 = beta * field[j + 3 * q]
        e0, e1, e2, e3 = _exp_neg4(-abs(x0), -abs(x1), -abs(x2), -abs(x3))
        dst[j] = np.uint8((r[j] * (one + e0) < e0) != (x0 > zero))
        dst[j + q] = np.uint8((r[j + q] * (one + e1) < e1) != (x1 > zero))
        dst[j + 2 * q] = np.uint8((r[j + 2 * q] * (one + e2) < e2) != (x2 > zero))
        dst[j + 3 * q] = np.uint8((r[j + 3 * q] * (one + e3) < e3) != (x3 > zero))
    for j in range(4 * q, n):
        dst[j] = _bernoulli(beta * field[j], r[j])


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
@nb.njit(inline="always")
def _plus(x, y):
    return x + y


@nb.njit(inline="always")
def _minus(x, y):
    return x - y


def _accumulate(rows, idx, k, field, subtract):
    """field[j] += rows[idx[m], j] (``-=`` if ``subtract``) for m = 0 .. k-1, left to right per element.

    ``subtract`` must be a literal ``True`` / ``False`` at the call site: it selects
    the operation when the kernel is compiled (a function passed as an argument
    instead would stop numba from caching every kernel that uses it). Rows are
    consumed four at a time (one pass over ``field`` per four rows) without
    changing the per-element order.
    """


@overload(_accumulate, prefer_literal=True)
def _accumulate_ol(rows, idx, k, field, subtract):
    if not isinstance(subtract, types.BooleanLiteral):
        return None
    op = _minus if subtract.literal_value else _plus

    def impl(rows, idx, k, field, subtract):
        n_dst = field.shape[0]
        m = 0
        while m + 4 <= k:
            r0 = rows[idx[m]]
            r1 = rows[idx[m + 1]]
            r2 = rows[idx[m + 2]]
            r3 = rows[idx[m + 3]]
            for j in range(n_dst):
                field[j] = op(op(op(op(field[j], r0[j]), r1[j]), r2[j]), r3[j])
            m += 4
        while m < k:
            r0 = rows[idx[m]]
            for j in range(n_dst):
                field[j] = op(field[j], r0[j])
            m += 1
    return impl


@nb.njit(cache=True, error_model="numpy")
def _field(rows, bias, src, idx, field):
    """field = bias + sum of rows[i] over the active units i of src.

    Per element the sum is strictly left to right in increasing i,
    ``((bias + row_i1) + row_i2) + ...``.
    """
    n_src = src.shape[0]
    k = 0
    for i in range(n_src):          # branch-free list of the active units
        idx[k] = i
        k += np.int64(src[i])
    for j in range(field.shape[0]):
        field[j] = bias[j]
    _accumulate(rows, idx, k, field, False)


@nb.njit(cache=True, error_model="numpy")
def _add_flips(rows, on, k_on, off, k_off, field):
    """field += rows[on[0:k_on]] (in that order), then -= rows[off[0:k_off]] (in that order)."""
    _accumulate(rows, on, k_on, field, False)
    _accumulate(rows, off, k_off, field, True)


@nb.njit(cache=True, error_model="numpy")
def _update_field(rows, bias, src, snap, on, off, field, scratch):
    """Bring ``field`` to ``bias + sum_{i: src_i = 1} rows[i]`` (see module docstring).

    ``snap`` holds the source state the current ``field`` belongs to and is set
    to ``src``. With ``scratch`` the field is recomputed by :func:`_field`;
    otherwise the rows of the units that switched on are added and those that
    switched off subtracted, unless that is more rows than recomputing takes.
    """
    n_src = src.shape[0]
    if not scratch:
        n_flip = 0                      # count first (vectorised): listing is only worth it
        n_act = 0                       # when the flip update will be used
        for i in range(n_src):
            x = np.int32(src[i])
            n_flip += x ^ np.int32(snap[i])
            n_act += x
        if n_flip <= n_act:
            k_on = 0
            k_off = 0
            for i in range(n_src):      # branch-free lists of the flipped units
                x = np.int64(src[i])
                y = np.int64(snap[i])
                on[k_on] = i
                k_on += x & (1 - y)
                off[k_off] = i
                k_off += y & (1 - x)
                snap[i] = src[i]
            _add_flips(rows, on, k_on, off, k_off, field)
            return
    for i in range(n_src):
        snap[i] = src[i]
    _field(rows, bias, src, on, field)


@nb.njit(cache=True, error_model="numpy")
def _draw(field, beta, s, words, r, dst):
    """dst[j] ~ Bernoulli(sigmoid(beta * field[j])) from the chain's stream s."""
    n = dst.shape[0]
    den = _words_per_unit_den(field)
    _xoshiro_fill(s, words, (n + den - 1) // den)
    _uniforms(words, r, n)
    _bernoulli_block(field, beta, r, dst)


@nb.njit(cache=True, error_model="numpy")
def _dot_f64(x, s):
    acc = 0.0
    for j in range(x.shape[0]):
        if s[j]:
            acc += np.float64(x[j])
    return acc


@nb.njit(cache=True, parallel=True, error_model="numpy")
def run_chains(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h, n_upd_v, betas, beta_chain, order, E, record):
    """Run every chain for ``len(betas)`` sweeps, in place.

    Parameters
    ----------
    W : (nv, >= nh) C-contiguous, WT : (nh, >= nv) C-contiguous, a : (nv,), b : (nh,)
        Model in float32 or float64 (all the same dtype). Rows may be padded
        (only their first nh / nv entries are read); see
        :func:`rbmlib.sampling._model_arrays`.
    V : uint8 (n_chains, nv), H : uint8 (n_chains, nh)
        States, overwritten.
    S : uint64 (n_chains, 4 * N_LANES)
        RNG states, advanced.
    FH : (n_chains, nh), FV : (n_chains, nv), model dtype
        Fields ``v W + b`` and ``W h + a`` of the visible / hidden states kept in
        ``VS`` (uint8, (n_chains, nv)) / ``HS`` (uint8, (n_chains, nh)); updated.
    n_upd_h, n_upd_v : int
        Updates of FH / FV made since they were last invalidated: the k-th update
        (k = 0, 1, ...) recomputes the field from scratch if ``k % REFRESH == 0``
        (so always when the count is 0, i.e. when FH / FV / VS / HS hold nothing).
    betas : float64 (n_sweeps,), beta_chain : float64 (n_chains,)
        Chain c at sweep t uses inverse temperature betas[t] * beta_chain[c]
        (product in float64, then cast to the model's dtype).
    order : int
        0 'hv', 1 'vh', 2 'h', 3 'v'.
    E : float64 (n_chains, n_sweeps) if record else (1, 1)
        Energies after each sweep (written only if record).
    """
    n_chains = V.shape[0]
    nv = V.shape[1]
    nh = H.shape[1]
    n_sweeps = betas.shape[0]
    n_max = max(nv, nh)
    n_blocks = (n_chains + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        on = np.empty(n_max, dtype=np.int64)
        off = np.empty(n_max, dtype=np.int64)
        r = np.empty(n_max, dtype=W.dtype)
        words = np.empty(n_max + N_LANES, dtype=np.uint64)
        bcast = np.empty(1, dtype=W.dtype)
        for c in range(blk * BLOCK, min(n_chains, (blk + 1) * BLOCK)):
            v = V[c]
            h = H[c]
            s = S[c]
            fh = FH[c]
            fv = FV[c]
            kh = n_upd_h
            kv = n_upd_v
            for t in range(n_sweeps):
                bcast[0] = betas[t] * beta_chain[c]
                beta = bcast[0]
                last_h = False
                if order == 0 or order == 2:      # 'hv' / 'h': hidden first
                    _update_field(W, b, v, VS[c], on, off, fh, kh % REFRESH == 0)
                    kh += 1
                    _draw(fh, beta, s, words, r, h)
                    last_h = True
                if order != 2:                    # every order but 'h' has a v half
                    _update_field(WT, a, h, HS[c], on, off, fv, kv % REFRESH == 0)
                    kv += 1
                    _draw(fv, beta, s, words, r, v)
                    last_h = False
                if order == 1:                    # 'vh': hidden second
                    _update_field(W, b, v, VS[c], on, off, fh, kh % REFRESH == 0)
                    kh += 1
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
