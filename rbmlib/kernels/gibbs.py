"""Block Gibbs sweeps of many chains (the sampler's hot path), initial states and energies.

A sweep updates the hidden layer from the kept field ``v W + b``
(:func:`rbmlib.kernels.fields.update_field`), draws it
(:func:`rbmlib.kernels.draws.bernoulli_block` on uniforms from the chain's own stream),
then does the same for the visible layer (orders ``'hv'``, ``'vh'``, ``'h'``, ``'v'``).

Energies (``record_energy``) reuse the field of the last half-sweep:
``E = -h.(v W + b) - a.v`` after an h-update, ``E = -v.(W h + a) - b.h`` after a
v-update, accumulated in float64 from the dtype-valued field (for float32 models
the relative error is therefore ~1e-7 of ``sum |terms|``).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .draws import bernoulli_block
from .fields import REFRESH, field_from_scratch, update_field
from .streams import N_LANES, uniforms, units_per_word, xoshiro_fill

__all__ = ["SAMPLER_VERSION", "BLOCK", "PHASE_BLOCK", "ORDER_CODES", "phase_block", "run_chains", "init_states",
           "chain_energies"]

_U = np.uint64

#: Version of the sampler's arithmetic: it changes whenever the states produced
#: for a given model, seed and protocol change (2: fields kept between sweeps and
#: updated by flips). Checkpoints record it, so a run is never resumed across versions.
SAMPLER_VERSION = 2
#: Chains processed together by one task of the parallel loops of :func:`init_states` and
#: :func:`chain_energies` (the size does not change any result; it only sets how work is handed
#: to threads).
BLOCK = 32

#: Most chains per block of :func:`run_chains`, whose chains do each half-sweep together
#: (:func:`phase_block`; no effect on any result). Measured on the trained float32 784 x 500
#: model, 10,000 chains, two threads of an Intel Xeon with 2 MB of L2 per core: 128 and 256
#: gave +9 % and +11 % chain-sweeps per second over one chain at a time (median of nine
#: alternated runs in one process).
PHASE_BLOCK = 128


def phase_block(n_chains: int, n_threads: int | None = None) -> int:
    """Chains per block of :func:`run_chains` (its ``blk_size``): :data:`PHASE_BLOCK`, fewer when
    there would be less than four blocks per thread (small runs keep every thread busy).
    ``n_threads``: numba's current thread count by default."""
    n_threads = nb.get_num_threads() if n_threads is None else int(n_threads)
    return max(1, min(PHASE_BLOCK, -(-int(n_chains) // (4 * max(1, n_threads)))))

#: Sweep orders understood by :func:`run_chains` (its ``order`` argument).
ORDER_CODES = {"hv": 0, "vh": 1, "h": 2, "v": 3}


@nb.njit(cache=True, error_model="numpy")
def _draw(field, beta, s, words, r, dst):
    """dst[j] ~ Bernoulli(sigmoid(beta * field[j])) from the chain's stream s."""
    n = dst.shape[0]
    den = units_per_word(field)
    xoshiro_fill(s, words, (n + den - 1) // den)
    uniforms(words, r, n)
    bernoulli_block(field, beta, r, dst)


@nb.njit(cache=True, error_model="numpy")
def _dot_f64(x, s):
    acc = 0.0
    for j in range(x.shape[0]):
        if s[j]:
            acc += np.float64(x[j])
    return acc


@nb.njit(cache=True, error_model="numpy")
def _half(rows, bias, SRC, SNAP, F, DST, S, c0, c1, k, bt, beta_chain, on, off, words, r, bcast):
    """One half-sweep (field of SRC, draw of DST) of the chains c0 .. c1 - 1, the k-th update of F."""
    for c in range(c0, c1):
        bcast[0] = bt * beta_chain[c]           # float64 product, then the model's dtype
        update_field(rows, bias, SRC[c], SNAP[c], on, off, F[c], k % REFRESH == 0)
        _draw(F[c], bcast[0], S[c], words, r, DST[c])


@nb.njit(cache=True, parallel=True, error_model="numpy")
def run_chains(W, WT, a, b, V, H, S, FH, FV, VS, HS, n_upd_h, n_upd_v, betas, beta_chain, order, E, record,
               blk_size):
    """Run every chain for ``len(betas)`` sweeps, in place.

    Parameters
    ----------
    W : (nv, >= nh) C-contiguous, WT : (nh, >= nv) C-contiguous, a : (nv,), b : (nh,)
        Model in float32 or float64 (all the same dtype). Rows may be padded
        (only their first nh / nv entries are read); see
        :func:`rbmlib.kernels.fields.aligned_rows`.
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
    blk_size : int >= 1
        Chains per block (:func:`phase_block`); no effect on any result.

    Loop order: the chains are split into blocks of ``blk_size`` chains (one parallel
    task each), and a block does each half-sweep for all its chains before the next half, so
    the rows of one matrix (``W`` for the hidden halves, ``W.T`` for the visible ones, 1.5 MB
    each for a float32 784 x 500 model) are reused by the block's chains while they sit in
    the core's L2 cache. Each chain's own operations and draws are the same, in the same
    order, whatever the block: the results do not depend on it.
    """
    n_chains = V.shape[0]
    nv = V.shape[1]
    nh = H.shape[1]
    n_sweeps = betas.shape[0]
    n_max = max(nv, nh)
    n_blocks = (n_chains + blk_size - 1) // blk_size
    last_h = order == 1 or order == 2
    for blk in nb.prange(n_blocks):
        on = np.empty(n_max, dtype=np.int64)
        off = np.empty(n_max, dtype=np.int64)
        r = np.empty(n_max, dtype=W.dtype)
        words = np.empty(n_max + N_LANES, dtype=np.uint64)
        bcast = np.empty(1, dtype=W.dtype)
        c0 = blk * blk_size
        c1 = min(n_chains, c0 + blk_size)
        kh = n_upd_h
        kv = n_upd_v
        for t in range(n_sweeps):
            bt = betas[t]
            if order == 0 or order == 2:          # 'hv' / 'h': hidden first
                _half(W, b, V, VS, FH, H, S, c0, c1, kh, bt, beta_chain, on, off, words, r, bcast)
                kh += 1
            if order != 2:                        # every order but 'h' has a v half
                _half(WT, a, H, HS, FV, V, S, c0, c1, kv, bt, beta_chain, on, off, words, r, bcast)
                kv += 1
            if order == 1:                        # 'vh': hidden second
                _half(W, b, V, VS, FH, H, S, c0, c1, kh, bt, beta_chain, on, off, words, r, bcast)
                kh += 1
            if record:
                for c in range(c0, c1):
                    if last_h:
                        E[c, t] = -_dot_f64(FH[c], H[c]) - _dot_f64(a, V[c])
                    else:
                        E[c, t] = -_dot_f64(FV[c], V[c]) - _dot_f64(b, H[c])


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
                xoshiro_fill(S[c], words, (nv + 63) // 64)
                for i in range(nv):
                    V[c, i] = np.uint8((words[i >> 6] >> _U(i & 63)) & _U(1))
            if random_h:
                xoshiro_fill(S[c], words, (nh + 63) // 64)
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
            field_from_scratch(W, b, V[c], idx, fh)
            out[c] = -_dot_f64(fh, H[c]) - _dot_f64(a, V[c])
    return out
