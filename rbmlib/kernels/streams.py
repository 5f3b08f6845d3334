"""Random streams: SplitMix64-seeded xoshiro256** (4 lanes per chain) and uniforms from its words.

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

Uniforms (:func:`uniforms`, in ``(0, 1]``):

* float64 models: one uniform per 64-bit word, ``r = ((w >> 11) + 1/2) 2**-53``.
* float32 models: two uniforms per word (its low and high 32-bit halves, in that
  order), ``r = (float32(u32 >> 1) + 1/2) 2**-31``, computed in float32.
  The 31 bits resolve probabilities down to ``2**-31`` (see below, only the
  small tail probability ever is compared), far finer than float32's
  ``2**-24`` relative precision of the fields (see :mod:`rbmlib.kernels.draws`).
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["N_LANES", "seed_streams", "xoshiro_fill", "uniforms", "units_per_word"]

#: Number of xoshiro256** lanes per chain; the RNG state has 4 * N_LANES words
#: (fixed: xoshiro_fill works on one 4 x 64-bit vector per state word).
N_LANES = 4

_U = np.uint64
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


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
    """The four lanes as one ``<4 x i64>`` vector per state word (see :func:`xoshiro_fill`).

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
def xoshiro_fill(s, out, n_words):
    """Write ``n_words`` (rounded up to a multiple of N_LANES) outputs into ``out``.

    ``s`` is the chain's state row (16 words, C-contiguous); lane ``l``'s words are
    ``s[l], s[4 + l], s[8 + l], s[12 + l]``. The four lanes advance as one SIMD
    vector (:func:`_xoshiro_fill_simd`); ``tests/test_sampling.py`` checks it word
    for word against a pure-Python xoshiro256**.
    """
    _xoshiro_fill_simd(s, out, n_words)


def units_per_word(field):
    """Units served by one 64-bit word for this dtype (2 for float32, 1 for float64)."""


@overload(units_per_word)
def _units_per_word_ol(field):
    if field.dtype == types.float32:
        return lambda field: 2
    return lambda field: 1


def uniforms(words, r, n):
    """Fill r[0:n] with uniforms in (0, 1] from the 64-bit words (see module docstring)."""


@overload(uniforms)
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
