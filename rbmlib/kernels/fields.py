"""The one field-update rule: ``bias + sum of the rows of the active units``, from scratch or by flips.

States are binary and sparse (MNIST-like models have 13-25 % of units on), so the
field on the hidden layer is ``b + sum_{i: v_i = 1} W[i, :]`` and the field on the
visible layer ``a + sum_{j: h_j = 1} WT[j, :]`` (``WT = W.T``, rows stored
contiguously and 64-byte aligned). Each chain keeps its two fields between
sweeps, with the state each belongs to, and brings them up to date in one of two
ways (:func:`update_field`):

* **from scratch** (:func:`field_from_scratch`): the active units are listed (branch-free
  compaction) and their rows added, in increasing unit order, to the bias. Each
  element is the left-to-right sum ``((bias + W[i1]) + W[i2]) + ...`` in the
  model's dtype;
* **by flips** (:func:`add_flips`): from the field of the previous state, add
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
"""
from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

__all__ = ["REFRESH", "aligned_rows", "field_from_scratch", "add_flips", "update_field"]

#: A field is recomputed from scratch at every REFRESH-th update (counted since
#: the chains were created or their model set) and updated from the units that
#: flipped in between.
REFRESH = 16


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
def field_from_scratch(rows, bias, src, idx, field):
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
def add_flips(rows, on, k_on, off, k_off, field):
    """field += rows[on[0:k_on]] (in that order), then -= rows[off[0:k_off]] (in that order)."""
    _accumulate(rows, on, k_on, field, False)
    _accumulate(rows, off, k_off, field, True)


@nb.njit(cache=True, error_model="numpy")
def update_field(rows, bias, src, snap, on, off, field, scratch):
    """Bring ``field`` to ``bias + sum_{i: src_i = 1} rows[i]`` (see module docstring).

    ``snap`` holds the source state the current ``field`` belongs to and is set
    to ``src``. With ``scratch`` the field is recomputed by :func:`field_from_scratch`;
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
            add_flips(rows, on, k_on, off, k_off, field)
            return
    for i in range(n_src):
        snap[i] = src[i]
    field_from_scratch(rows, bias, src, on, field)


def aligned_rows(M: np.ndarray) -> np.ndarray:
    """Copy of the 2-d array M whose rows start on 64-byte (cache-line) boundaries (the ``rows`` of a field).

    Rows are zero-padded to a multiple of 64 bytes; the kernels read only the
    first ``M.shape[1]`` entries of a row. Unaligned rows make most vector loads
    straddle two cache lines (~10 % slower field sums); results are the same.
    """
    n, m = M.shape
    per_line = 64 // M.itemsize
    m_pad = -(-m // per_line) * per_line
    nbytes = n * m_pad * M.itemsize
    buf = np.empty(nbytes + 64, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64
    out = buf[start:start + nbytes].view(M.dtype).reshape(n, m_pad)
    out[:, :m] = M
    out[:, m:] = 0
    return out
