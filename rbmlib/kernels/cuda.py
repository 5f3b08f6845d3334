"""GPU backend of the block Gibbs sampler (numba-cuda): the CPU sampler's states, bit for bit.

``Chains(rbm, n, seed=s, backend='cuda')`` and ``rbmlib.sample(..., backend='cuda')``
(:mod:`rbmlib.sampling`, whose :class:`~rbmlib.sampling.CudaChains` holds the chains on the
GPU and shards ``sample``) run the chains with the kernels of this module. This module is
numerics only, like the rest of :mod:`rbmlib.kernels`: device kernels, launch wrappers on
plain (device or host) arrays, memory and shard sizing, and the checks of availability with
their error messages; it validates nothing and knows no model or chains object. Install the
optional extra, ``pip install 'rbmlib[cuda]'`` (numba-cuda and the CUDA compiler
libraries, for CUDA 12 drivers; ``rbmlib[cuda13]`` for CUDA 13 drivers), on a machine
with an NVIDIA GPU and its driver. Without a GPU the kernels run in numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before Python starts; slow, for tiny models
and tests): ``tests/test_cuda.py`` compares them bit for bit with the CPU there.

What is the same as on the CPU
------------------------------
Everything that decides a state: chain ``c`` of ``Chains(rbm, n, seed=s,
chain_offset=o)`` has the stream of ``(s, o + c)`` (the generator states are seeded, and
random initial states drawn, on the CPU by :func:`rbmlib.kernels.seed_streams` and
:func:`rbmlib.kernels.init_states`); on the GPU each of its four xoshiro256** lanes is
advanced by one thread (lane ``l`` by thread ``l`` of the chain's block), which writes
word ``4 k + l`` of the block's buffer exactly as the CPU's SIMD vector does; uniforms,
the plain-arithmetic ``exp`` (:func:`rbmlib.kernels.exp_neg`), the Bernoulli rule and the
fields use the CPU's operations in the CPU's order:

* one block of ``threads`` threads per chain; element ``j`` of a field is owned by thread
  ``j mod threads``, which adds the rows of the active units (from scratch: to the bias)
  or of the units that switched on, then subtracts those that switched off, each in
  increasing unit order, exactly as :func:`rbmlib.kernels.update_field`. The active and
  flipped units are found from 32-bit masks built in shared memory and visited in
  increasing order (find-first-set), so the thread count changes no result;
* the choice between recomputing and updating by flips uses the same counts and the same
  update counter (``REFRESH``);
* recorded energies are the CPU's float64 sums, accumulated in the same order by one
  thread each (``-h.(v W + b)`` and ``-a.v``, or ``-v.(W h + a)`` and ``-b.h``).

FMA contraction. NVVM (numba-cuda's compiler) contracts ``a * b + c`` into one fused
multiply-add by default, and numba-cuda 0.30 passes no option to stop it (``fastmath=False``
does not: NVVM's ``-fma`` flag stays at its default 1; NVIDIA/numba-cuda issue 118). A fused
operation rounds once where the CPU rounds twice, so every floating-point product here is
written ``_fmul32(a, b)`` / ``_fmul64(a, b)``: libdevice's ``__nv_fmul_rn`` / ``__nv_dmul_rn``,
i.e. PTX ``mul.rn.f32`` / ``mul.rn.f64``. NVVM does not fuse these intrinsics, and ptxas fuses
only a multiply and an add that both lack a rounding modifier (PTX ISA, ``mul``: "mul/add
sequences with no rounding modifiers may be optimized to use fused-multiply-add"), so the
products round as on the CPU. Sums of rows are plain adds (nothing to contract); divisions
(float64 exp only) are IEEE ``div.rn``; no fast-math, no flush to zero (numba-cuda's defaults
with ``fastmath=False``). ``floor``, ``max``, ``abs``, integer-float conversions (round to
nearest, as on the CPU) and the bit casts are exact. The PTX of the kernels (numba-cuda 0.30.4,
NVVM 13, sm_90) has no ``fma``/``mad``, no unrounded ``mul`` and no ``.ftz``:
``tests/test_cuda.py::test_cuda_ptx_has_no_fma`` checks it whenever NVVM is installed.

What the simulator proves. Under ``NUMBA_ENABLE_CUDASIM=1`` numba runs these kernels as
Python on NumPy scalars (float32 operations round to float32), one Python thread per GPU
thread, with ``_fmul32`` / ``_fmul64`` plain products. A bit-for-bit match with the CPU there
proves the algorithm, the per-element order and the stream layout; that the hardware rounds
each product and sum the same way rests on the argument above, and ``benchmarks/gpu_check.py``
checks it on a real GPU.

Memory. Device arrays per chain: the states and their kept copies ``2 (nv + nh)`` bytes, the
two fields ``(nv + nh) itemsize``, the generator state 128 bytes and the chain's inverse
temperature factor 8 bytes (7.8 kB for a float32 784 x 500 model); recorded energies
``8 n_sweeps`` per chain, computed in pieces of sweeps when they would not fit
(:func:`run_sweeps`). A ``Chains`` that does not fit raises :class:`MemoryError` saying how
many chains fit (:func:`check_chains_fit`, :func:`too_many_chains`); ``sample`` splits the
chains into shards that fit (:func:`shard_chains`; same bits: a chain's stream depends on its
global index only).

Also here: :func:`energies_f64` (behind :meth:`rbmlib.sampling.CudaChains.energies_float64`),
the float64 energies of :func:`rbmlib.xft.energies` in that function's summation order (bit for
bit), computed where the states are; and :func:`ais_weights` (behind ``backend='cuda'`` of
:mod:`rbmlib.ais`): forward and reverse AIS runs, one block per run, the CPU kernels' log-weights
bit for bit (the weight's ``exp`` and its one ``log`` per 512 hidden units are plain arithmetic
on both, :func:`_exp_neg64` and :func:`_log64`; the product of the factors and the sums run on
one thread in the CPU's order).
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np

_INSTALL = ("pip install 'rbmlib[cuda]' (numba-cuda with the CUDA 12 compiler libraries; "
            "'rbmlib[cuda13]' for a CUDA 13 driver)")

if importlib.util.find_spec("numba_cuda") is None:
    raise ImportError(
        "backend='cuda' needs rbmlib's optional GPU extra (numba-cuda), which is not installed: "
        f"{_INSTALL}, on a machine with an NVIDIA GPU and its driver. Without a GPU use backend='cpu' "
        "(the same results); numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, for tests) needs numba-cuda too.")

from numba import cuda  # noqa: E402  (after the check: numba.cuda without numba-cuda is numba's deprecated built-in target)
from numba import types as _types  # noqa: E402

from . import N_LANES, ORDER_CODES, REFRESH  # noqa: E402

__all__ = ["SIMULATOR", "THREADS_PER_CHAIN", "SHARD_CHAINS", "MEMORY_FRACTION", "ENERGY_CHUNK",
           "CudaUnavailableError", "require_device", "threads_per_chain",
           "device_bytes_per_chain", "free_memory", "chains_that_fit", "check_chains_fit", "shard_chains",
           "is_out_of_memory", "too_many_chains",
           "run_chains", "run_sweeps", "chain_energies", "energies_f64", "ais_bytes_per_run", "ais_weights",
           "to_device", "device_array", "device_copy"]

#: True when numba's CUDA simulator is active (``NUMBA_ENABLE_CUDASIM=1`` before numba.cuda was imported).
SIMULATOR = bool(cuda.config.ENABLE_CUDASIM)

#: Threads per chain (one block per chain). ``None``: :func:`threads_per_chain` picks it. Any
#: value >= 4 gives the same bits; it only changes the speed.
THREADS_PER_CHAIN = None

#: Most chains per shard of ``sample(..., backend='cuda')`` (:func:`shard_chains`; ``None``: as many as fit in the GPU's free memory).
SHARD_CHAINS = None

#: Fraction of the free device memory that a ``Chains`` or a shard may take.
MEMORY_FRACTION = 0.8

_SHARED_LIMIT = 48 * 1024      # bytes of dynamic shared memory a block may use without opting in

assert N_LANES == 4            # the kernels give lane l of the stream to thread l

# ----------------------------------------------------------------------------
# primitives that differ between the hardware and the simulator
# ----------------------------------------------------------------------------
_U1 = np.uint32(1)
_U5 = np.uint64(5)
_U7 = np.uint64(7)
_U9 = np.uint64(9)
_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U19 = np.uint64(19)
_U32 = np.uint64(32)
_U45 = np.uint64(45)
_U57 = np.uint64(57)
_LO32 = np.uint64(0xFFFFFFFF)
_T_U64 = _types.uint64          # shared-array element types (numba types: the simulator needs them too)
_T_F64 = _types.float64

if SIMULATOR:
    _MASK64 = (1 << 64) - 1

    @cuda.jit(device=True)
    def _wmul(a, b):
        """uint64 product modulo 2**64 (NumPy scalars would warn on the overflow)."""
        return np.uint64((int(a) * int(b)) & _MASK64)

    @cuda.jit(device=True)
    def _fmul32(a, b):
        return a * b

    @cuda.jit(device=True)
    def _fmul64(a, b):
        return a * b

    @cuda.jit(device=True)
    def _floor32(x):
        return np.floor(x)

    @cuda.jit(device=True)
    def _floor64(x):
        return np.floor(x)

    @cuda.jit(device=True)
    def _i32_as_f32(k):
        return np.int32(k).view(np.float32)

    @cuda.jit(device=True)
    def _i64_as_f64(k):
        return np.int64(k).view(np.float64)

    @cuda.jit(device=True)
    def _f64_as_i64(x):
        return np.float64(x).view(np.int64)
else:
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def _wmul(a, b):
        """uint64 product modulo 2**64."""
        return a * b

    @cuda.jit(device=True)
    def _fmul32(a, b):
        """a * b rounded to float32, never fused with an addition (PTX mul.rn.f32)."""
        return libdevice.fmul_rn(a, b)

    @cuda.jit(device=True)
    def _fmul64(a, b):
        """a * b rounded to float64, never fused with an addition (PTX mul.rn.f64)."""
        return libdevice.dmul_rn(a, b)

    @cuda.jit(device=True)
    def _floor32(x):
        return libdevice.floorf(x)

    @cuda.jit(device=True)
    def _floor64(x):
        return libdevice.floor(x)

    @cuda.jit(device=True)
    def _i32_as_f32(k):
        return libdevice.int_as_float(k)

    @cuda.jit(device=True)
    def _i64_as_f64(k):
        return libdevice.longlong_as_double(k)

    @cuda.jit(device=True)
    def _f64_as_i64(x):
        return libdevice.double_as_longlong(x)


# ----------------------------------------------------------------------------
# exp, uniforms and Bernoulli draws (rbmlib.kernels.draws / streams, operation for operation)
# ----------------------------------------------------------------------------
@cuda.jit(device=True)
def _exp_neg32(y):
    y = max(y, np.float32(-87.0))
    n = _floor32(_fmul32(y, np.float32(1.44269504088896341)) + np.float32(0.5))
    f = y - _fmul32(n, np.float32(0.693359375))
    f = f - _fmul32(n, np.float32(-2.12194440e-4))
    p = np.float32(1.9875691500e-4)
    p = _fmul32(p, f) + np.float32(1.3981999507e-3)
    p = _fmul32(p, f) + np.float32(8.3334519073e-3)
    p = _fmul32(p, f) + np.float32(4.1665795894e-2)
    p = _fmul32(p, f) + np.float32(1.6666665459e-1)
    p = _fmul32(p, f) + np.float32(5.0000001201e-1)
    p = _fmul32(p, _fmul32(f, f)) + f + np.float32(1.0)
    scale = _i32_as_f32(np.int32((np.int64(np.int32(n)) + 127) << 23))
    return _fmul32(p, scale)


@cuda.jit(device=True)
def _exp_neg64(y):
    y = max(y, -708.0)
    n = _floor64(_fmul64(y, 1.4426950408889634073599) + 0.5)
    f = y - _fmul64(n, 6.93145751953125e-1)
    f = f - _fmul64(n, 1.42860682030941723212e-6)
    ff = _fmul64(f, f)
    px = _fmul64(_fmul64(_fmul64(1.26177193074810590878e-4, ff) + 3.02994407707441961300e-2, ff)
                 + 9.99999999999999999910e-1, f)
    qx = (_fmul64(_fmul64(_fmul64(3.00198505138664455042e-6, ff) + 2.52448340349684104192e-3, ff)
                  + 2.27265548208155028766e-1, ff) + 2.00000000000000000009e0)
    p = 1.0 + _fmul64(2.0, px / (qx - px))
    scale = _i64_as_f64((np.int64(np.int32(n)) + 1023) << 52)
    return _fmul64(p, scale)


@cuda.jit(device=True)
def _uniform32(buf, j):
    """Uniform of unit j: the low (j even) or high (j odd) half of word j // 2, as on the CPU."""
    w = buf[j >> 1]
    if (j & 1) == 0:
        u = np.uint32(w & _LO32)
    else:
        u = np.uint32(w >> _U32)
    k = np.int32(u >> _U1)
    return _fmul32(np.float32(k) + np.float32(0.5), np.float32(4.656612873077393e-10))


@cuda.jit(device=True)
def _uniform64(buf, j):
    w = buf[j]
    return _fmul64(np.float64(np.int64(w >> _U11)) + 0.5, 1.1102230246251565e-16)


@cuda.jit(device=True)
def _bernoulli32(x, r):
    e = _exp_neg32(-abs(x))
    return np.uint8((_fmul32(r, np.float32(1.0) + e) < e) != (x > np.float32(0.0)))


@cuda.jit(device=True)
def _bernoulli64(x, r):
    e = _exp_neg64(-abs(x))
    return np.uint8((_fmul64(r, 1.0 + e) < e) != (x > 0.0))


@cuda.jit(device=True)
def _draw32(beta, acc, buf, j):
    return _bernoulli32(_fmul32(beta, acc), _uniform32(buf, j))


@cuda.jit(device=True)
def _draw64(beta, acc, buf, j):
    return _bernoulli64(_fmul64(beta, acc), _uniform64(buf, j))


@cuda.jit(device=True)
def _beta32(x):
    return np.float32(x)


@cuda.jit(device=True)
def _beta64(x):
    return np.float64(x)


# ----------------------------------------------------------------------------
# xoshiro256**, one lane per thread
# ----------------------------------------------------------------------------
@cuda.jit(device=True)
def _rotl(x, k, rk):
    return (x << k) | (x >> rk)


@cuda.jit(device=True)
def _xoshiro_words(buf, lane, n_steps, s0, s1, s2, s3):
    """Lane ``lane``'s next ``n_steps`` outputs into ``buf[4 k + lane]`` (the CPU's word layout)."""
    for k in range(n_steps):
        buf[4 * k + lane] = _wmul(_rotl(_wmul(s1, _U5), _U7, _U57), _U9)
        t = s1 << _U17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, _U45, _U19)
    return s0, s1, s2, s3


# ----------------------------------------------------------------------------
# fields from masks of the active / flipped units
# ----------------------------------------------------------------------------
@cuda.jit(device=True)
def _masks(SRC, SNAP, c, n_src, buf, m0, nw, t, T, keep):
    """Masks of the active, switched-on and switched-off units of ``SRC[c]`` against ``SNAP[c]``.

    Word ``w`` (units ``32 w .. 32 w + 31``, bit ``q`` = unit ``32 w + q``) goes to
    ``buf[m0 + w]`` (active), ``buf[m0 + nw + w]`` (on) and ``buf[m0 + 2 nw + w]`` (off).
    With ``keep`` the snapshot is then set to the source (it holds the state the field
    belongs to); without, ``SNAP`` is not touched (and may be ``SRC``).
    """
    for w in range(t, nw, T):
        act = np.uint32(0)
        on = np.uint32(0)
        off = np.uint32(0)
        base = 32 * w
        top = min(32, n_src - base)
        for q in range(top):
            x = SRC[c, base + q]
            y = SNAP[c, base + q]
            bit = _U1 << np.uint32(q)
            if x != 0:
                act |= bit
                if y == 0:
                    on |= bit
            elif y != 0:
                off |= bit
            if keep:
                SNAP[c, base + q] = x
        buf[m0 + w] = np.uint64(act)
        buf[m0 + nw + w] = np.uint64(on)
        buf[m0 + 2 * nw + w] = np.uint64(off)


@cuda.jit(device=True)
def _count(buf, m0, nw):
    """(active units, flipped units) from the masks."""
    n_act = 0
    n_flip = 0
    for w in range(nw):
        n_act += cuda.popc(np.uint32(buf[m0 + w]))
        n_flip += cuda.popc(np.uint32(buf[m0 + nw + w])) + cuda.popc(np.uint32(buf[m0 + 2 * nw + w]))
    return n_act, n_flip


@cuda.jit(device=True)
def _add_rows(acc, rows, j, buf, mk, nw):
    """acc + rows[i, j] for the units i of the masks buf[mk : mk + nw], in increasing i."""
    for w in range(nw):
        m = np.uint32(buf[mk + w])
        while m != 0:
            q = cuda.ffs(m) - 1
            m &= m - _U1
            acc = acc + rows[32 * w + q, j]
    return acc


@cuda.jit(device=True)
def _sub_rows(acc, rows, j, buf, mk, nw):
    """acc - rows[i, j] for the units i of the masks buf[mk : mk + nw], in increasing i."""
    for w in range(nw):
        m = np.uint32(buf[mk + w])
        while m != 0:
            q = cuda.ffs(m) - 1
            m &= m - _U1
            acc = acc - rows[32 * w + q, j]
    return acc


@cuda.jit(device=True)
def _dot_rows(X, S, c, n):
    """sum_j X[c, j] over S[c, j] = 1, float64, increasing j (the CPU's _dot_f64)."""
    acc = 0.0
    for j in range(n):
        if S[c, j] != 0:
            acc += np.float64(X[c, j])
    return acc


@cuda.jit(device=True)
def _dot_vec(x, S, c, n):
    """sum_j x[j] over S[c, j] = 1, float64, increasing j."""
    acc = 0.0
    for j in range(n):
        if S[c, j] != 0:
            acc += np.float64(x[j])
    return acc


@cuda.jit(device=True)
def _field(rows, bias, SRC, SNAP, F, c, scratch, buf, m0, t, T):
    """``F[c]`` brought to the field of ``SRC[c]`` by the sampler's rule (:func:`rbmlib.kernels.update_field`).

    Masks of the active and flipped units of ``SRC[c]`` (``_masks``, ``SNAP[c]`` then set to it);
    from scratch when ``scratch`` or when more units flipped than are on, else by the rows of the
    flipped units; element ``j`` by thread ``j mod T`` in the CPU's order. Synchronises the block
    after the masks and at the end (so words written to ``buf[:m0]`` before the call are visible).
    """
    n_src = SRC.shape[1]
    nw = (n_src + 31) // 32
    _masks(SRC, SNAP, c, n_src, buf, m0, nw, t, T, True)
    cuda.syncthreads()
    flips = False
    if not scratch:
        n_act, n_flip = _count(buf, m0, nw)
        flips = n_flip <= n_act
    for j in range(t, F.shape[1], T):
        if flips:
            acc = _add_rows(F[c, j], rows, j, buf, m0 + nw, nw)
            acc = _sub_rows(acc, rows, j, buf, m0 + 2 * nw, nw)
        else:
            acc = _add_rows(bias[j], rows, j, buf, m0, nw)
        F[c, j] = acc
    cuda.syncthreads()


def _make_kernels(draw, to_dtype):
    """The sweep and energy kernels for one dtype (``draw``: :func:`_draw32` or :func:`_draw64`)."""

    @cuda.jit(device=True)
    def half(rows, bias, SRC, SNAP, F, DST, c, scratch, beta, buf, m0, den, t, T, s0, s1, s2, s3):
        """One half-sweep of chain c: F = field of SRC[c] (kept, see _masks), DST[c] drawn."""
        n_dst = DST.shape[1]
        if t < 4:
            n_steps = ((n_dst + den - 1) // den + 3) // 4
            s0, s1, s2, s3 = _xoshiro_words(buf, t, n_steps, s0, s1, s2, s3)
        _field(rows, bias, SRC, SNAP, F, c, scratch, buf, m0, t, T)
        for j in range(t, n_dst, T):
            DST[c, j] = draw(beta, F[c, j], buf, j)
        cuda.syncthreads()
        return s0, s1, s2, s3

    @cuda.jit
    def sweeps(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h, n_upd_v, betas, beta_chain, order, E, record,
               m0, den, c0):
        """Chain c0 + blockIdx.x, len(betas) sweeps (rbmlib.kernels.run_chains, one chain per block)."""
        c = c0 + cuda.blockIdx.x
        t = cuda.threadIdx.x
        T = cuda.blockDim.x
        buf = cuda.shared.array(0, dtype=_T_U64)
        part = cuda.shared.array(1, dtype=_T_F64)
        nv = V.shape[1]
        nh = H.shape[1]
        lane = t & 3
        s0 = S[c, lane]
        s1 = S[c, 4 + lane]
        s2 = S[c, 8 + lane]
        s3 = S[c, 12 + lane]
        kh = n_upd_h
        kv = n_upd_v
        for it in range(betas.shape[0]):
            beta = to_dtype(_fmul64(betas[it], beta_chain[c]))   # float64 product, then the model's dtype
            last_h = False
            if order == 0 or order == 2:
                s0, s1, s2, s3 = half(W, b, V, VS, FH, H, c, kh % REFRESH == 0, beta, buf, m0, den, t, T,
                                      s0, s1, s2, s3)
                kh += 1
                last_h = True
            if order != 2:
                s0, s1, s2, s3 = half(WT, a, H, HS, FV, V, c, kv % REFRESH == 0, beta, buf, m0, den, t, T,
                                      s0, s1, s2, s3)
                kv += 1
                last_h = False
            if order == 1:
                s0, s1, s2, s3 = half(W, b, V, VS, FH, H, c, kh % REFRESH == 0, beta, buf, m0, den, t, T,
                                      s0, s1, s2, s3)
                kh += 1
                last_h = True
            if record:
                if t == 1:
                    part[0] = _dot_vec(a, V, c, nv) if last_h else _dot_vec(b, H, c, nh)
                d1 = 0.0
                if t == 0:
                    d1 = _dot_rows(FH, H, c, nh) if last_h else _dot_rows(FV, V, c, nv)
                cuda.syncthreads()
                if t == 0:
                    E[c - c0, it] = -d1 - part[0]
        if t < 4:
            S[c, t] = s0
            S[c, 4 + t] = s1
            S[c, 8 + t] = s2
            S[c, 12 + t] = s3

    @cuda.jit
    def energies(W, a, b, V, H, FH, out, m0, c0):
        """E(v, h) of chain c0 + blockIdx.x (rbmlib.kernels.chain_energies); FH[blockIdx.x] is scratch."""
        c = c0 + cuda.blockIdx.x
        r = cuda.blockIdx.x
        t = cuda.threadIdx.x
        T = cuda.blockDim.x
        buf = cuda.shared.array(0, dtype=_T_U64)
        part = cuda.shared.array(1, dtype=_T_F64)
        nv = V.shape[1]
        nh = H.shape[1]
        nw = (nv + 31) // 32
        _masks(V, V, c, nv, buf, m0, nw, t, T, False)
        cuda.syncthreads()
        for j in range(t, nh, T):
            FH[r, j] = _add_rows(b[j], W, j, buf, m0, nw)
        cuda.syncthreads()
        if t == 1:
            part[0] = _dot_vec(a, V, c, nv)
        d1 = 0.0
        if t == 0:
            d1 = 0.0
            for j in range(nh):         # _dot_rows with the scratch row r and the state row c
                if H[c, j] != 0:
                    d1 += np.float64(FH[r, j])
        cuda.syncthreads()
        if t == 0:
            out[c] = -d1 - part[0]

    return sweeps, energies


_KERNELS = {np.dtype(np.float32): _make_kernels(_draw32, _beta32),
            np.dtype(np.float64): _make_kernels(_draw64, _beta64)}


@cuda.jit
def _energies_f64_kernel(WT, a, b, V, H, out, m0):
    """E(v, h) of chain blockIdx.x in float64 in the order of rbmlib.xft's energy kernel.

    ``eb = sum b_j`` over the active hidden units (increasing j); for each active visible unit i,
    ``s_i = ((a_i + W[i, j1]) + W[i, j2]) + ...`` over the active hidden units in increasing j
    (thread ``i mod T``, reading ``WT[j, i]``); ``e = sum s_i`` in increasing i;
    ``E = -(e + eb)``. Only additions: nothing to contract.
    """
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    T = cuda.blockDim.x
    buf = cuda.shared.array(0, dtype=_T_U64)       # masks of h: buf[0 : 3 nw]
    sv = cuda.shared.array(0, dtype=_T_F64)        # s_i: sv[m0 + i] (the same buffer, after the masks)
    part = cuda.shared.array(1, dtype=_T_F64)
    nv = V.shape[1]
    nh = H.shape[1]
    nw = (nh + 31) // 32
    _masks(H, H, c, nh, buf, 0, nw, t, T, False)
    cuda.syncthreads()
    if t == T - 1:
        eb = 0.0
        for j in range(nh):
            if H[c, j] != 0:
                eb += b[j]
        part[0] = eb
    for i in range(t, nv, T):
        if V[c, i] != 0:
            acc = a[i]
            for w in range(nw):
                m = np.uint32(buf[w])
                while m != 0:
                    q = cuda.ffs(m) - 1
                    m &= m - _U1
                    acc = acc + WT[32 * w + q, i]
            sv[m0 + i] = acc
    cuda.syncthreads()
    if t == 0:
        e = 0.0
        for i in range(nv):
            if V[c, i] != 0:
                e += sv[m0 + i]
        out[c] = -(e + part[0])


# ----------------------------------------------------------------------------
# annealed importance sampling (rbmlib.ais's forward and reverse kernels, operation for operation)
# ----------------------------------------------------------------------------
_LOG_CHUNK = 512        # units per partial product of the AIS weight (rbmlib.ais._PROD_CHUNK)


@cuda.jit(device=True)
def _log64(x):
    """fdlibm's log in plain arithmetic, :func:`rbmlib.kernels.enumeration.log` operation for operation."""
    if not (x > 0.0):
        return -math.inf if x == 0.0 else math.nan
    if x == math.inf:
        return x
    k = 0
    if x < 2.2250738585072014e-308:
        x = _fmul64(x, 18014398509481984.0)
        k = -54
    hx = _f64_as_i64(x)
    k += (hx >> 52) - 1023
    m = _i64_as_f64((hx & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    if m > 1.4142135623730951:
        m = _fmul64(m, 0.5)
        k += 1
    f = m - 1.0
    hfsq = _fmul64(_fmul64(0.5, f), f)
    s = f / (2.0 + f)
    z = _fmul64(s, s)
    w = _fmul64(z, z)
    R = (_fmul64(z, 6.666666666666735130e-01 + _fmul64(w, 2.857142874366239149e-01 + _fmul64(
        w, 1.818357216161805012e-01 + _fmul64(w, 1.479819860511658591e-01))))
         + _fmul64(w, 3.999999999940941908e-01 + _fmul64(w, 2.222219843214978396e-01
                                                         + _fmul64(w, 1.531383769920937332e-01))))
    dk = np.float64(k)
    return (_fmul64(dk, 6.93147180369123816490e-01)
            - ((hfsq - (_fmul64(s, hfsq + R) + _fmul64(dk, 1.90821492927058770002e-10))) - f))


@cuda.jit(device=True)
def _ais_weight(FX, V, H, Q, dA, c, beta_from, beta_to, draw, buf, part, t, T, s0, s1, s2, s3):
    """Thread 0 gets ``(beta_to - beta_from) sum_{v_i = 1} dA_i + sum_j softplus(beta_to x_j) -
    softplus(beta_from x_j)`` (``rbmlib.ais._weight_and_hidden`` and ``_active_sum``, same order); with
    ``draw``, ``H[c]`` is drawn from ``p(h | v)`` at ``beta_to``. ``Q[c]``: float64 scratch."""
    nh = FX.shape[1]
    nv = V.shape[1]
    if draw and t < 4:
        s0, s1, s2, s3 = _xoshiro_words(buf, t, (nh + 3) // 4, s0, s1, s2, s3)
    cuda.syncthreads()
    for j in range(t, nh, T):
        xj = np.float64(FX[c, j])
        t1 = _fmul64(beta_to, xj)
        a1 = _exp_neg64(-abs(t1))
        a0 = _exp_neg64(-abs(_fmul64(beta_from, xj)))
        Q[c, j] = (1.0 + a1) / (1.0 + a0)
        if draw:
            H[c, j] = np.uint8((_fmul64(_uniform64(buf, j), 1.0 + a1) < a1) != (t1 > 0.0))
    if t == 1:
        d = 0.0                                     # _active_sum: the skipped zeros change no bit
        for i in range(nv):
            if V[c, i] != 0:
                d += dA[i]
        part[0] = d
    cuda.syncthreads()
    w = 0.0
    if t == 0:
        acc = 0.0
        for j0 in range(0, nh, _LOG_CHUNK):
            prod = 1.0
            for j in range(j0, min(nh, j0 + _LOG_CHUNK)):
                xj = np.float64(FX[c, j])
                acc += max(_fmul64(beta_to, xj), 0.0) - max(_fmul64(beta_from, xj), 0.0)
                prod = _fmul64(prod, Q[c, j])
            acc += _log64(prod)
        w = _fmul64(beta_to - beta_from, part[0]) + acc
    cuda.syncthreads()
    return w, s0, s1, s2, s3


@cuda.jit(device=True)
def _ais_visible(FY, V, aA, c, beta, buf, t, T, s0, s1, s2, s3):
    """``V[c]`` drawn at logits ``beta y + (1 - beta) aA`` from the kept field ``y = FY[c]`` (``rbmlib.ais._draw_visible``)."""
    nv = V.shape[1]
    if t < 4:
        s0, s1, s2, s3 = _xoshiro_words(buf, t, (nv + 3) // 4, s0, s1, s2, s3)
    cuda.syncthreads()
    cb = 1.0 - beta
    for i in range(t, nv, T):
        x = _fmul64(beta, np.float64(FY[c, i])) + _fmul64(cb, aA[i])
        V[c, i] = _bernoulli64(x, _uniform64(buf, i))
    cuda.syncthreads()
    return s0, s1, s2, s3


@cuda.jit
def _ais_kernel(W, WT, b, aB, aA, dA, betas, S, V, H, VS, HS, FX, FY, Q, LW, reverse, m0):
    """One AIS run per block (``rbmlib.ais._forward_kernel`` / ``_reverse_kernel``): ``LW[c]`` = its log-weight.

    Forward: ``V`` is drawn from the base model here; reverse: ``V`` holds the start states.
    ``S`` (n_runs, 16) generator states (advanced in place); ``V, H, VS, HS`` uint8, ``FX`` (n_runs, nh)
    and ``FY`` (n_runs, nv) in the model's dtype, ``Q`` (n_runs, nh) float64: scratch of the run.
    """
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    T = cuda.blockDim.x
    buf = cuda.shared.array(0, dtype=_T_U64)
    part = cuda.shared.array(1, dtype=_T_F64)
    nv = V.shape[1]
    K = betas.shape[0] - 1
    lane = t & 3
    s0 = S[c, lane]
    s1 = S[c, 4 + lane]
    s2 = S[c, 8 + lane]
    s3 = S[c, 12 + lane]
    if not reverse:                                 # v_0 ~ p_A exactly
        if t < 4:
            s0, s1, s2, s3 = _xoshiro_words(buf, t, (nv + 3) // 4, s0, s1, s2, s3)
        cuda.syncthreads()
        for i in range(t, nv, T):
            V[c, i] = _bernoulli64(aA[i], _uniform64(buf, i))
        for j in range(t, H.shape[1], T):
            H[c, j] = 0
        cuda.syncthreads()
    _field(W, b, V, VS, FX, c, True, buf, m0, t, T)
    kx = 1
    ky = 0
    lw = 0.0
    if not reverse:
        for k in range(1, K + 1):
            b0 = betas[k - 1]
            b1 = betas[k]
            sweep = k < K
            w, s0, s1, s2, s3 = _ais_weight(FX, V, H, Q, dA, c, b0, b1, sweep, buf, part, t, T, s0, s1, s2, s3)
            lw += w
            if sweep:
                _field(WT, aB, H, HS, FY, c, ky % REFRESH == 0, buf, m0, t, T)
                ky += 1
                s0, s1, s2, s3 = _ais_visible(FY, V, aA, c, b1, buf, t, T, s0, s1, s2, s3)
                _field(W, b, V, VS, FX, c, kx % REFRESH == 0, buf, m0, t, T)
                kx += 1
    else:
        # h ~ p_K(h | v): the first half of the first sweep (its weight change is 0 and not kept)
        w, s0, s1, s2, s3 = _ais_weight(FX, V, H, Q, dA, c, betas[K], betas[K], True, buf, part, t, T,
                                        s0, s1, s2, s3)
        for k in range(K, 0, -1):
            b1 = betas[k]
            b0 = betas[k - 1]
            _field(WT, aB, H, HS, FY, c, ky % REFRESH == 0, buf, m0, t, T)
            ky += 1
            s0, s1, s2, s3 = _ais_visible(FY, V, aA, c, b1, buf, t, T, s0, s1, s2, s3)
            _field(W, b, V, VS, FX, c, kx % REFRESH == 0, buf, m0, t, T)
            kx += 1
            w, s0, s1, s2, s3 = _ais_weight(FX, V, H, Q, dA, c, b1, b0, k > 1, buf, part, t, T,
                                            s0, s1, s2, s3)
            lw += w
    if t == 0:
        LW[c] = lw
    if t < 4:
        S[c, t] = s0
        S[c, 4 + t] = s1
        S[c, 8 + t] = s2
        S[c, 12 + t] = s3


# ----------------------------------------------------------------------------
# host side: checks, launch geometry, memory
# ----------------------------------------------------------------------------
class CudaUnavailableError(RuntimeError):
    """backend='cuda' was asked for on a machine where no CUDA GPU can be used."""


def require_device() -> None:
    """Raise :class:`CudaUnavailableError`, saying why and what to install, unless a GPU (or the simulator) is usable."""
    if SIMULATOR:
        return
    if cuda.is_available():
        return
    reason = None
    try:
        from numba.cuda.cudadrv import driver as _drv
        reason = _drv.driver.initialization_error
    except Exception:  # pragma: no cover - numba-cuda internals moved
        pass
    reason = " ".join(str(reason or "numba.cuda.is_available() is False").split())
    raise CudaUnavailableError(
        f"backend='cuda' found no usable CUDA GPU ({reason}). The GPU backend needs an NVIDIA GPU with its "
        "driver (libcuda, from the NVIDIA driver package; pip cannot install it) and rbmlib's extra, "
        f"{_INSTALL}; numba.cuda.detect() lists what numba sees. Without a GPU use backend='cpu' "
        "(same results), or set NUMBA_ENABLE_CUDASIM=1 before starting Python to run the GPU kernels "
        "in numba's CUDA simulator (slow; for tests on tiny models).")


def threads_per_chain(nv: int, nh: int) -> int:
    """Threads of the block that runs one chain: :data:`THREADS_PER_CHAIN`, else 32-128 by layer width
    (4 in the simulator, where every thread is a Python thread)."""
    if THREADS_PER_CHAIN is not None:
        t = int(THREADS_PER_CHAIN)
        if t < 4 or t > 1024:
            raise ValueError(f"THREADS_PER_CHAIN must be between 4 and 1024, got {t}.")
        return t
    if SIMULATOR:
        return 4
    return 32 * min(4, max(1, -(-max(nv, nh) // 128)))


def _layout(nv: int, nh: int, dtype):
    """(words of random numbers m0, units per word, shared bytes) for a model's layers."""
    den = 2 if np.dtype(dtype) == np.float32 else 1
    n_max = max(nv, nh)
    n_words = -(-n_max // den)              # random words of the widest layer's draw
    m0 = 4 * (-(-n_words // 4))             # ... rounded up to whole steps of the 4 lanes
    nw = -(-n_max // 32)                    # 32-unit mask words
    shared = 8 * (m0 + 3 * nw)
    if shared > _SHARED_LIMIT:
        widest = int(_SHARED_LIMIT / 8 / (1 / den + 3 / 32)) - 8
        raise ValueError(
            f"a layer of {n_max} units needs {shared:,} bytes of shared memory per chain in the GPU kernel, more "
            f"than the {_SHARED_LIMIT:,} bytes a block may use: backend='cuda' supports layers of up to "
            f"~{widest:,} units in {np.dtype(dtype).name}; use backend='cpu' for this model.")
    return m0, den, shared


def device_bytes_per_chain(nv: int, nh: int, dtype, n_record: int = 0) -> int:
    """Device bytes one chain of :class:`rbmlib.sampling.CudaChains` takes (with ``n_record`` recorded energies)."""
    return 2 * (nv + nh) + np.dtype(dtype).itemsize * (nv + nh) + 8 * 4 * N_LANES + 8 + 8 * n_record


def free_memory() -> tuple[float, float]:
    """(free, total) bytes of device memory (infinite in the simulator)."""
    info = cuda.current_context().get_memory_info()
    return float(info[0]), float(info[1])


def chains_that_fit(nv: int, nh: int, dtype, n_record: int = 0) -> int:
    """How many chains fit in :data:`MEMORY_FRACTION` of the free device memory."""
    free, _ = free_memory()
    if math.isinf(free):
        return 2 ** 62
    return int(MEMORY_FRACTION * free // device_bytes_per_chain(nv, nh, dtype, n_record))


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` (raised by an allocation) says that the device memory is exhausted."""
    return "OUT_OF_MEMORY" in str(e).upper() or getattr(e, "code", None) == 2


def too_many_chains(n_chains, nv, nh, dtype, n_record=0) -> MemoryError:
    """The :class:`MemoryError` (to raise) for ``n_chains`` chains that do not fit: how many fit, and
    how to run them in shards."""
    free, total = free_memory()
    per = device_bytes_per_chain(nv, nh, dtype, n_record)
    fit = chains_that_fit(nv, nh, dtype, n_record)
    return MemoryError(
        f"{n_chains:,} chains of this {nv} x {nh} {np.dtype(dtype).name} model need {n_chains * per / 2**30:.2f} GiB "
        f"on the GPU ({per:,} bytes each{', with the recorded energies' if n_record else ''}); "
        f"{free / 2**30:.2f} GiB of {total / 2**30:.2f} GiB are free, so about {fit:,} chains fit (a shard takes "
        f"{MEMORY_FRACTION:.0%} of the free memory at most). Run shards of at most {max(fit, 1):,} chains with "
        "Chains(rbm, n, seed=seed, chain_offset=first, backend='cuda') (the same bits as one run), or use "
        "rbmlib.sample(..., backend='cuda'), which shards by itself.")


def check_chains_fit(n_chains: int, nv: int, nh: int, dtype) -> None:
    """Raise :class:`ValueError` for layers too wide for the kernels' shared memory, and
    :func:`too_many_chains` when ``n_chains`` chains do not fit in :data:`MEMORY_FRACTION` of the free
    device memory."""
    _layout(nv, nh, dtype)
    if n_chains * device_bytes_per_chain(nv, nh, dtype) > MEMORY_FRACTION * free_memory()[0]:
        raise too_many_chains(n_chains, nv, nh, dtype)


def shard_chains(nv: int, nh: int, dtype) -> int:
    """Chains per shard of a sharded run: :func:`chains_that_fit`, at most :data:`SHARD_CHAINS` (may be 0)."""
    shard = chains_that_fit(nv, nh, dtype)
    if SHARD_CHAINS is not None:
        shard = min(shard, int(SHARD_CHAINS))
    return shard


def _compile_hint(e: BaseException) -> BaseException:
    text = f"{type(e).__name__}: {e}"
    if any(s in text.lower() for s in ("nvvm", "libnvrtc", "nvrtc", "dynamiclibnotfound", "libdevice")):
        return CudaUnavailableError(
            "compiling the GPU kernels needs the CUDA compiler libraries (NVVM, NVRTC, libdevice), which were "
            f"not found ({text.splitlines()[0][:300]}): {_INSTALL}, or a CUDA toolkit with CUDA_HOME set.")
    return e


def _launch(kernel, grid, threads, shared, *args):
    try:
        kernel[grid, threads, 0, shared](*args)
    except MemoryError:
        raise
    except Exception as e:  # compile errors of a missing toolkit get an install hint
        hint = _compile_hint(e)
        if hint is e:
            raise
        raise hint from e


def run_chains(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h, n_upd_v, betas, beta_chain, order, E, record,
               threads=None, first=0, count=None):
    """:func:`rbmlib.kernels.run_chains` on device arrays (same arguments and meaning but ``blk_size``), chains
    ``first .. first + count - 1``; ``E`` then holds those chains' rows (shape (count, n_sweeps))."""
    nv, nh = V.shape[1], H.shape[1]
    count = V.shape[0] - first if count is None else count
    if count <= 0 or betas.shape[0] == 0:
        return
    m0, den, shared = _layout(nv, nh, W.dtype)
    T = threads or threads_per_chain(nv, nh)
    sweeps, _ = _KERNELS[np.dtype(W.dtype)]
    _launch(sweeps, count, T, shared, W, WT, a, b, V, H, S, FH, FV, VS, HS, int(n_upd_h), int(n_upd_v),
            betas, beta_chain, int(order), E, bool(record), m0, den, int(first))


#: Chains per launch of the energy kernel (its scratch fields take CHUNK x n_hidden x itemsize bytes).
ENERGY_CHUNK = 65_536


def chain_energies(W, a, b, V, H, threads=None):
    """:func:`rbmlib.kernels.chain_energies` on device arrays: a device array of float64 (n_chains,)."""
    n, nv = V.shape
    nh = H.shape[1]
    m0, _, shared = _layout(nv, nh, W.dtype)
    out = cuda.device_array(n, dtype=np.float64)
    FH = cuda.device_array((min(n, ENERGY_CHUNK), nh), dtype=W.dtype)
    _, energies = _KERNELS[np.dtype(W.dtype)]
    for c0 in range(0, n, ENERGY_CHUNK):
        _launch(energies, min(ENERGY_CHUNK, n - c0), threads or threads_per_chain(nv, nh), shared,
                W, a, b, V, H, FH, out, m0, c0)
    return out


def energies_f64(WT64, a64, b64, V, H, threads=None):
    """``rbmlib.xft.energies`` on device arrays, bit for bit: float64 (n_chains,) device array.

    ``WT64``: the model's ``W.T`` in float64, C-contiguous (nh, nv); ``a64``, ``b64`` float64.
    """
    n, nv = V.shape
    nh = H.shape[1]
    nw = -(-nh // 32)
    m0 = 3 * nw
    shared = 8 * (m0 + nv)
    if shared > _SHARED_LIMIT:
        raise ValueError(f"float64 energies of {nv} visible units need {shared:,} bytes of shared memory per chain, "
                         f"more than {_SHARED_LIMIT:,}: use the CPU (rbmlib.xft.energies).")
    out = cuda.device_array(n, dtype=np.float64)
    _launch(_energies_f64_kernel, n, threads or threads_per_chain(nv, nh), shared, WT64, a64, b64, V, H, out, m0)
    return out


def run_sweeps(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h, n_upd_v, betas, beta_chain, order, E, record,
               threads=None):
    """:func:`run_chains` on all chains with the inverse temperatures ``betas`` and the recorded
    energies ``E`` on the host (float64 arrays (n_sweeps,) and (n_chains, n_sweeps), ``E`` written
    in place when ``record``); the other arguments are device arrays as for :func:`run_chains`.

    Recorded energies are computed in pieces of sweeps that fit beside the chains in
    :data:`MEMORY_FRACTION` of the free device memory (the same bits: the update counters of
    each piece continue those of the previous one); :class:`MemoryError` when not one sweep fits.
    """
    n_chains, nv = V.shape
    nh = H.shape[1]
    n_sweeps = betas.shape[0]
    h_per = 1 if order in (0, 1, 2) else 0
    v_per = 1 if order in (0, 1, 3) else 0
    step = n_sweeps
    if record:       # recorded energies in pieces of sweeps that fit beside the chains
        free, _ = free_memory()
        if not math.isinf(free):
            step = int(MEMORY_FRACTION * free // (8 * n_chains))
            if step < 1:
                raise too_many_chains(n_chains, nv, nh, W.dtype, n_record=1)
    done = 0
    while done < n_sweeps:
        k = min(step, n_sweeps - done)
        dE = cuda.device_array((n_chains, k) if record else (1, 1), np.float64)
        run_chains(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h + h_per * done, n_upd_v + v_per * done,
                   cuda.to_device(betas[done:done + k]), beta_chain, order, dE, record, threads=threads)
        if record:
            E[:, done:done + k] = dE.copy_to_host()
        done += k


# ----------------------------------------------------------------------------
# AIS runs (for rbmlib.ais, backend='cuda')
# ----------------------------------------------------------------------------
def ais_bytes_per_run(nv: int, nh: int, dtype) -> int:
    """Device bytes one AIS run takes: states and kept copies, the two fields, the weight's float64
    scratch, the generator state and the log-weight."""
    return 2 * (nv + nh) + np.dtype(dtype).itemsize * (nv + nh) + 8 * nh + 8 * 4 * N_LANES + 8


def ais_weights(W, WT, b, aB, aA, dA, betas, S, V0=None, threads=None):
    """Log-weights of AIS runs on the GPU, bit for bit those of ``rbmlib.ais``'s CPU kernels.

    Host arrays in, host array out: ``W`` (nv, >= nh) and ``WT`` (nh, >= nv) C-contiguous (rows may be
    padded, as :func:`rbmlib.kernels.aligned_rows` makes them: only the first nh / nv are read), ``b`` (nh,),
    ``aB`` (nv,) in the model's dtype; ``aA``, ``dA = aB - aA`` (nv,) and ``betas`` (K + 1,) float64;
    ``S`` (n_runs, 16) uint64 generator states, advanced in place. ``V0`` (n_runs, nv) uint8: reverse
    runs from these states; ``None``: forward runs from the base model. Returns float64 (n_runs,).
    The runs go in shards that fit in :data:`MEMORY_FRACTION` of the free device memory (at most
    :data:`SHARD_CHAINS`); :class:`MemoryError` saying how much is needed when not one run fits.
    """
    n = S.shape[0]
    nv, nh = aB.shape[0], b.shape[0]
    m0, _, shared = _layout(nv, nh, np.float64)        # float64 draws: one word per unit
    dtype = np.dtype(W.dtype)
    per = ais_bytes_per_run(nv, nh, dtype)
    free, total = free_memory()
    fit = n if math.isinf(free) else int(MEMORY_FRACTION * free // per)
    if SHARD_CHAINS is not None:
        fit = min(fit, int(SHARD_CHAINS))
    if fit < 1:
        raise MemoryError(
            f"one AIS run of this {nv} x {nh} {dtype.name} model needs {per:,} bytes on the GPU beside the model, "
            f"and {free / 2**30:.2f} GiB of {total / 2**30:.2f} GiB are free: free GPU memory (other processes, "
            "cached arrays) or use backend='cpu'.")
    T = threads or threads_per_chain(nv, nh)
    dev = [cuda.to_device(np.ascontiguousarray(x)) for x in (W, WT, b, aB, aA, dA, betas)]
    out = np.empty(n)
    reverse = V0 is not None
    for c0 in range(0, n, fit):
        m = min(fit, n - c0)
        try:
            dS = cuda.to_device(np.ascontiguousarray(S[c0:c0 + m]))
            dV = (cuda.to_device(np.ascontiguousarray(V0[c0:c0 + m])) if reverse
                  else cuda.device_array((m, nv), np.uint8))
            scratch = (cuda.device_array((m, nh), np.uint8), cuda.device_array((m, nv), np.uint8),
                       cuda.device_array((m, nh), np.uint8), cuda.device_array((m, nh), dtype),
                       cuda.device_array((m, nv), dtype), cuda.device_array((m, nh), np.float64))
            LW = cuda.device_array(m, np.float64)
        except Exception as e:  # noqa: BLE001
            if not is_out_of_memory(e):
                raise
            raise MemoryError(
                f"{m:,} AIS runs of this {nv} x {nh} {dtype.name} model ({per:,} bytes each) did not fit on the GPU "
                f"({free / 2**30:.2f} GiB were free): set rbmlib.kernels.cuda.SHARD_CHAINS to fewer runs per "
                "shard (the same bits) or free GPU memory.") from e
        H, VS, HS, FX, FY, Q = scratch
        _launch(_ais_kernel, m, T, shared, *dev[:7], dS, dV, H, VS, HS, FX, FY, Q, LW, reverse, m0)
        out[c0:c0 + m] = LW.copy_to_host()
        S[c0:c0 + m] = dS.copy_to_host()
    return out


# ----------------------------------------------------------------------------
# device memory (for the science layer's rbmlib.sampling.CudaChains)
# ----------------------------------------------------------------------------
def to_device(x: np.ndarray):
    """A device copy of the host array ``x``."""
    return cuda.to_device(x)


def device_array(shape, dtype):
    """An uninitialised device array."""
    return cuda.device_array(shape, dtype)


def device_copy(d):
    """A copy of the device array ``d`` on the device."""
    out = cuda.device_array(d.shape, d.dtype)
    out.copy_to_device(d)
    return out
