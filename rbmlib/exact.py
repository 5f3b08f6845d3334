"""Exact results for small RBMs by enumerating states.

Two regimes
-----------
* **One small layer** (e.g. 784 x 20): :func:`log_partition`, :func:`mean_energy`,
  :func:`layer_log_weights` sum analytically over the large layer and enumerate
  the ``2**n`` states of the smaller one with Gray-code updates of the fields
  (one row addition per state), in parallel numba blocks combined in a fixed
  order, so results do not depend on the thread count. The kernels
  (:mod:`rbmlib.kernels.enumeration`) use exp and log in plain arithmetic and a fixed
  order for every sum and product, so the bits do not depend on the CPU or its vector
  width either.
* **Both layers tiny** (``n_visible + n_hidden`` up to about 12): full joint tables,
  conditional matrices and the exact transition matrices of the Gibbs dynamics.

State ordering
--------------
:func:`states` ``(n)`` lists all ``2**n`` binary vectors; row ``k`` is the binary
expansion of ``k`` with unit 0 as the most significant bit (so rows read
``000, 001, 010, ...``). Every table here is indexed in that order. Joint states
``(v, h)`` are flattened as ``k = k_v * 2**n_hidden + k_h``.

Exact equilibrium samples
-------------------------
:func:`equilibrium_sample` draws independent ``(v, h) ~ p_beta(v, h)`` with no Markov
chain: from the joint table for tiny models, else the smaller layer (at most 24 units)
from its enumerated marginal (:func:`layer_table`, cached) and the other layer from
its exact conditional. It is the one exact sampler of the library (thermodynamic
protocols, AIS and the book start from it).

All log-quantities are computed with log-sum-exp, so weights up to |W| ~ 30 and
beyond are safe.
"""
from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from typing import NamedTuple

import numba as nb
import numpy as np

from ._validation import check_beta, check_int
from ._validation import check_seed
from .kernels import gray_blocks, gray_combine
from .model import RBM, check_rbm, sigmoid
from .stats import logsumexp

__all__ = [
    "states",
    "log_partition",
    "mean_energy",
    "layer_log_weights",
    "log_likelihood",
    "joint_log_weights",
    "joint_distribution",
    "marginal_visible",
    "marginal_hidden",
    "conditional_hidden",
    "conditional_visible",
    "transition_matrix",
    "visible_chain",
    "hidden_chain",
    "reversed_kernel",
    "stationarity_violation",
    "detailed_balance_violation",
    "total_variation",
    "entropy_production",
    "LayerTable",
    "layer_table",
    "equilibrium_rng",
    "sample_states",
    "equilibrium_sample",
    "EnumerationTooLarge",
    "MAX_LAYER_UNITS",
    "MAX_JOINT_UNITS",
]

#: Largest smaller layer :func:`log_partition`, :func:`mean_energy` and :func:`layer_log_weights`
#: enumerate by default (2**21 states).
MAX_LAYER_UNITS = 21
#: Largest enumeration by default, in unit evaluations ``2**n_small * n_large``: a 784 x 21 model.
#: Set when a 784 x 20 model took 10-30 s on 2 cores; with the vectorised kernel
#: (:mod:`rbmlib.kernels.enumeration`) it takes about 1 s (log Z) and 2.5 s (mean energy) on
#: 2 busy cores, so the limit keeps a call to a few seconds; every added unit doubles the time.
MAX_LAYER_WORK = 2 ** 21 * 784
#: Largest ``n_visible + n_hidden`` for joint tables / transition matrices by default.
MAX_JOINT_UNITS = 12
#: Largest smaller layer of :func:`layer_table` and :func:`equilibrium_sample`.
MAX_SAMPLED_LAYER = 24

# Measured throughput of the Gray-code kernel, in (state x unit) evaluations per
# second per core, used only to tell the user how long a refused job would take
# (784 x 22, log Z: 3.3e9 evaluations in 9.6 s with 2 threads on 2 cores busy with other
# jobs, 1.04 cores' CPU time; 47 s before rbmlib.kernels.enumeration), rounded down.
_GRAY_RATE_PER_CORE = 2e8


class EnumerationTooLarge(ValueError):
    """The requested exact computation needs too many states to enumerate."""


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def states(n: int) -> np.ndarray:
    """All ``2**n`` binary states of ``n`` units, shape ``(2**n, n)``, dtype uint8.

    Row ``k`` is the binary expansion of ``k``, unit 0 the most significant bit.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"states(n): n must be an integer number of units, got {n!r}.")
    if n < 0:
        raise ValueError(f"states(n): n must be >= 0 (a number of units), got {n}.")
    if n > 26:
        raise EnumerationTooLarge(f"states({n}): refusing to list 2**{n} states (max n = 26).")
    k = np.arange(2 ** n, dtype=np.int64)[:, None]
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]
    return ((k >> shifts) & 1).astype(np.uint8)


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _check_joint_size(rbm: RBM, max_units: int, what: str):
    n = rbm.n_visible + rbm.n_hidden
    if n > max_units:
        raise EnumerationTooLarge(
            f"{what} enumerates all 2**{n} joint states of a {rbm.n_visible}x{rbm.n_hidden} RBM "
            f"(limit: n_visible + n_hidden <= {max_units}). Use a smaller model, "
            f"or for log Z and layer marginals use rbmlib.exact.log_partition / layer_log_weights, "
            f"which only enumerate the smaller layer."
        )


# ----------------------------------------------------------------------------
# Gray-code enumeration of one layer (numba)
# ----------------------------------------------------------------------------
# The kernels (softplus and sigmoid in plain arithmetic, fixed-lane sums, blocks combined in block
# order) live in rbmlib.kernels.enumeration; this module splits the work into interruptible chunks.


#: Unit evaluations (states x units of the larger layer) per call into numba between two checks for
#: signals (Ctrl-C, SIGTERM): a fraction of a second on one core.
_CHUNK_WORK = 2 ** 26


def _gray_enumerate(WT, c_small, c_large, beta, block_bits, want_logw, want_energy):
    """All ``2**n_small`` states in blocks of ``2**block_bits``, a chunk of blocks per numba call.

    Python runs between chunks, so Ctrl-C (``KeyboardInterrupt``) and other signal
    handlers act within about a second. Every block's partial sums are kept and
    combined at the end in block order, so the result does not depend on the
    chunking or the thread count.
    """
    n_small = WT.shape[0]
    total = 1 << n_small
    block = 1 << min(block_bits, n_small)
    n_blocks = total // block
    ms = np.empty(n_blocks)
    ss = np.empty(n_blocks)
    ses = np.empty(n_blocks)
    out_logw = np.empty(total if want_logw else 1)
    threads = max(nb.get_num_threads(), 1)
    per_block = block * max(WT.shape[1], 1)
    chunk = max(1, _CHUNK_WORK // per_block)
    chunk = -(-chunk // threads) * threads
    for ib0 in range(0, n_blocks, chunk):
        gray_blocks(WT, c_small, c_large, beta, block, ib0, min(ib0 + chunk, n_blocks), ms, ss, ses,
                    out_logw, want_logw, want_energy)
    logz, emean = gray_combine(ms, ss, ses)
    return logz, emean, out_logw


def _layer_setup(rbm: RBM, layer: str | None):
    """Return (WT, c_small, c_large, small_name)."""
    W = np.asarray(rbm.W, dtype=np.float64)
    a = np.asarray(rbm.a, dtype=np.float64)
    b = np.asarray(rbm.b, dtype=np.float64)
    if layer is None:
        layer = "hidden" if rbm.n_hidden <= rbm.n_visible else "visible"
    if layer == "hidden":
        return np.ascontiguousarray(W.T), b.copy(), a.copy(), "hidden"
    if layer == "visible":
        return np.ascontiguousarray(W), a.copy(), b.copy(), "visible"
    raise ValueError(f"layer must be 'visible' or 'hidden', got {layer!r}.")


def _check_layer_size(n_small: int, n_large: int, max_units):
    """Refuse enumerations over the limit: ``max_units`` units if given, else the default limit
    (``n_small <= MAX_LAYER_UNITS`` and ``2**n_small * n_large <= MAX_LAYER_WORK``, a few seconds)."""
    check_int(max_units, "max_units (None: the default limit)", 0, allow_none=True)
    work = (2.0 ** n_small) * max(n_large, 1)
    if max_units is None:
        too_large = n_small > MAX_LAYER_UNITS or work > MAX_LAYER_WORK
        limit = (f"default limit: {MAX_LAYER_UNITS} units and 2**n x n_large <= 2**21 x 784, a few seconds "
                 "on 2 cores")
    else:
        too_large = n_small > max_units
        limit = f"limit: max_units={max_units}"
    if too_large:
        secs = work / (_GRAY_RATE_PER_CORE * max(nb.get_num_threads(), 1))
        raise EnumerationTooLarge(
            f"Exact enumeration needs 2**{n_small} states of the smaller layer ({n_small} units) "
            f"x {n_large} units of the other: about {_human_time(secs)} on this machine "
            f"({limit}). Use rbmlib.ais.log_partition for an estimate with error bars, "
            f"or pass max_units={n_small} if you really want to wait (Ctrl-C stops it within seconds)."
        )


def _human_time(secs: float) -> str:
    if secs < 120:
        return f"{secs:.0f} s"
    if secs < 7200:
        return f"{secs / 60:.0f} minutes"
    if secs < 2 * 86400:
        return f"{secs / 3600:.0f} hours"
    if secs < 2 * 365 * 86400:
        return f"{secs / 86400:.0f} days"
    return f"{secs / (365 * 86400):.2g} years"


def _overflow_error(rbm: RBM, beta: float, what: str) -> FloatingPointError:
    """The error for an enumeration whose float64 arithmetic overflowed (inf or NaN)."""
    W = np.abs(np.asarray(rbm.W, np.float64))
    with np.errstate(over="ignore"):
        scale = beta * (W.sum(axis=1).max() + np.abs(np.asarray(rbm.a, np.float64)).max()
                        + np.abs(np.asarray(rbm.b, np.float64)).max())
    return FloatingPointError(
        f"{what} overflows float64 at beta = {beta:.6g}: beta times the couplings and biases reaches "
        f"{f'~{scale:.3g}' if math.isfinite(scale) else 'more than 1.8e308'} (float64 ends at 1.8e308), so the log-weights are not representable and the "
        "result would be inf or NaN. Use a smaller beta, or rescale the parameters "
        "(p_beta of an RBM is p_1 of rbm.scaled(beta)).")


def _enumerate(rbm, beta, layer, want_logw, want_energy, max_units):
    check_rbm(rbm)
    beta = check_beta(beta)
    WT, c_small, c_large, name = _layer_setup(rbm, layer)
    _check_layer_size(WT.shape[0], WT.shape[1], max_units)
    block_bits = max(0, min(WT.shape[0], 12))
    logz, emean, logw = _gray_enumerate(WT, c_small, c_large, beta, block_bits, want_logw, want_energy)
    if not math.isfinite(logz) or (want_energy and not math.isfinite(emean)) \
            or (want_logw and not np.all(np.isfinite(logw))):
        raise _overflow_error(rbm, beta, "exact enumeration")
    return logz, emean, logw, name


# ----------------------------------------------------------------------------
# public: one small layer
# ----------------------------------------------------------------------------
def log_partition(rbm: RBM, beta: float = 1.0, *, max_units: int | None = None) -> float:
    """Exact ``log Z(beta) = log sum_{v,h} exp(-beta E(v, h))``.

    The larger layer is summed analytically and the ``2**n`` states of the
    smaller layer (``n = min(n_visible, n_hidden)``) are enumerated: a
    784 x 20 model takes about 1 s on 2 cores, each added unit doubles it. The
    enumeration runs in chunks of a fraction of a second, so Ctrl-C stops it.

    Parameters
    ----------
    rbm : RBM
    beta : float > 0
    max_units : int, optional
        Refuse (with an estimate of the run time) if the smaller layer is larger.
        Default: the limit of a few seconds on 2 cores (:data:`MAX_LAYER_UNITS`
        units and :data:`MAX_LAYER_WORK` evaluations); pass a number to go further.

    Raises
    ------
    EnumerationTooLarge
        Over the limit.
    FloatingPointError
        ``beta`` times the parameters overflows float64 (log Z is not representable).

    Returns
    -------
    float
        ``log Z`` (natural log, dimensionless), computed in float64.
    """
    return float(_enumerate(rbm, beta, None, False, False, max_units)[0])


def mean_energy(rbm: RBM, beta: float = 1.0, *, max_units: int | None = None) -> float:
    """Exact equilibrium mean energy ``<E>_beta = -d log Z / d beta`` (energy units)."""
    return float(_enumerate(rbm, beta, None, False, True, max_units)[1])


def layer_log_weights(rbm: RBM, layer: str = "hidden", beta: float = 1.0, *,
                      max_units: int | None = None) -> np.ndarray:
    """Unnormalised log marginal of every state of one layer.

    For ``layer='hidden'``: ``log sum_v exp(-beta E(v, h))`` for each ``h`` in
    :func:`states` order, i.e. ``-beta F_beta(h)``; subtract :func:`log_partition`
    to get ``log p_beta(h)``. Shape ``(2**n_layer,)``, float64. ``max_units`` as in
    :func:`log_partition` (the enumerated layer is ``layer``, whatever its size).
    """
    if layer not in ("visible", "hidden"):
        raise ValueError(f"layer must be 'visible' or 'hidden', got {layer!r}.")
    return _enumerate(rbm, beta, layer, True, False, max_units)[2]


def log_likelihood(rbm: RBM, data, beta: float = 1.0, *, log_z: float | None = None) -> np.ndarray:
    """Exact log-likelihood ``log p_beta(v)`` of each row of ``data`` (nats).

    Uses ``log p(v) = -beta F_beta(v) - log Z(beta)``; ``log_z`` may be passed to
    avoid recomputing it.
    """
    beta = check_beta(beta)
    if log_z is None:
        log_z = log_partition(rbm, beta)
    elif isinstance(log_z, (bool, np.bool_)) or not isinstance(log_z, numbers.Real) or not math.isfinite(log_z):
        raise ValueError(f"log_z must be a finite number (the log partition function at this beta), got "
                         f"{log_z!r}; omit it to compute it exactly.")
    out = -beta * np.asarray(rbm.free_energy(data, beta), dtype=np.float64) - float(log_z)
    if not np.all(np.isfinite(out)):
        raise _overflow_error(rbm, beta, "log_likelihood")
    return out


# ----------------------------------------------------------------------------
# public: tiny models, full tables
# ----------------------------------------------------------------------------
def joint_log_weights(rbm: RBM, beta: float = 1.0, *, max_units: int = 24) -> np.ndarray:
    """``-beta E(v, h)`` for all joint states, shape ``(2**n_visible, 2**n_hidden)``."""
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_joint_size(rbm, max_units, "joint_log_weights")
    V = states(rbm.n_visible).astype(np.float64)
    H = states(rbm.n_hidden).astype(np.float64)
    W = np.asarray(rbm.W, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        lw = beta * (V @ W @ H.T + (V @ np.asarray(rbm.a, np.float64))[:, None]
                     + (H @ np.asarray(rbm.b, np.float64))[None, :])
    if not np.all(np.isfinite(lw)):
        raise _overflow_error(rbm, beta, "joint_log_weights")
    return lw


def joint_distribution(rbm: RBM, beta: float = 1.0, *, max_units: int = 24) -> np.ndarray:
    """Exact ``p_beta(v, h)``, shape ``(2**n_visible, 2**n_hidden)``, sums to 1."""
    lw = joint_log_weights(rbm, beta, max_units=max_units)
    return np.exp(lw - logsumexp(lw))


def marginal_visible(rbm: RBM, beta: float = 1.0) -> np.ndarray:
    """Exact ``p_beta(v)`` over :func:`states` ``(n_visible)``, shape ``(2**n_visible,)``."""
    lw = layer_log_weights(rbm, "visible", beta)
    return np.exp(lw - logsumexp(lw))


def marginal_hidden(rbm: RBM, beta: float = 1.0) -> np.ndarray:
    """Exact ``p_beta(h)`` over :func:`states` ``(n_hidden)``, shape ``(2**n_hidden,)``."""
    lw = layer_log_weights(rbm, "hidden", beta)
    return np.exp(lw - logsumexp(lw))


def _conditional(field: np.ndarray, n_out: int) -> np.ndarray:
    """Rows: input states; columns: all output states; product of Bernoullis."""
    S = states(n_out).astype(np.float64)  # (2**n_out, n_out)
    lp1 = _log_sigmoid(field)             # log p(unit=1)
    lp0 = _log_sigmoid(-field)            # log p(unit=0)
    logp = lp1 @ S.T + lp0 @ (1.0 - S).T
    return np.exp(logp)


def conditional_hidden(rbm: RBM, beta: float = 1.0, *, max_units: int = 24) -> np.ndarray:
    """Matrix of ``p_beta(h | v)``: shape ``(2**n_visible, 2**n_hidden)``, rows sum to 1."""
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_joint_size(rbm, max_units, "conditional_hidden")
    V = states(rbm.n_visible).astype(np.float64)
    field = beta * (V @ np.asarray(rbm.W, np.float64) + np.asarray(rbm.b, np.float64))
    if np.any(np.isnan(field)):
        raise _overflow_error(rbm, beta, "the conditional probabilities")
    return _conditional(field, rbm.n_hidden)


def conditional_visible(rbm: RBM, beta: float = 1.0, *, max_units: int = 24) -> np.ndarray:
    """Matrix of ``p_beta(v | h)``: shape ``(2**n_hidden, 2**n_visible)``, rows sum to 1."""
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_joint_size(rbm, max_units, "conditional_visible")
    H = states(rbm.n_hidden).astype(np.float64)
    field = beta * (H @ np.asarray(rbm.W, np.float64).T + np.asarray(rbm.a, np.float64))
    if np.any(np.isnan(field)):
        raise _overflow_error(rbm, beta, "the conditional probabilities")
    return _conditional(field, rbm.n_visible)


_KERNELS = ("h", "v", "hv", "vh")


def transition_matrix(rbm: RBM, kernel: str = "hv", beta: float = 1.0, *, n_sweeps: int = 1,
                      max_units: int = MAX_JOINT_UNITS) -> np.ndarray:
    """Exact one-step (or ``n_sweeps``-step) transition matrix on the joint space.

    Parameters
    ----------
    kernel : {'h', 'v', 'hv', 'vh'}
        ``'h'``: resample the hidden layer, ``h' ~ p_beta(h'|v)``, keep ``v``.
        ``'v'``: resample the visible layer, ``v' ~ p_beta(v'|h)``, keep ``h``.
        ``'hv'``: the library's block sweep, ``'h'`` then ``'v'``.
        ``'vh'``: the opposite order, ``'v'`` then ``'h'``.
    n_sweeps : int >= 1
        Power of the kernel.

    Returns
    -------
    T : ndarray, shape (2**(n_v+n_h), 2**(n_v+n_h))
        ``T[s, s']`` = probability to go from joint state ``s`` to ``s'`` (rows
        sum to 1); joint index ``k_v * 2**n_hidden + k_h``.
    """
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be one of {_KERNELS}, got {kernel!r}.")
    if int(n_sweeps) != n_sweeps or n_sweeps < 1:
        raise ValueError(f"n_sweeps must be an integer >= 1, got {n_sweeps!r}.")
    _check_joint_size(rbm, max_units, "transition_matrix")
    Ch = conditional_hidden(rbm, beta)   # (Nv, Nh)
    Cv = conditional_visible(rbm, beta)  # (Nh, Nv)
    Nv, Nh = Ch.shape
    eye_v, eye_h = np.eye(Nv), np.eye(Nh)
    # T_h[(v,h),(v',h')] = d(v,v') Ch[v,h'];  T_v[(v,h),(v',h')] = d(h,h') Cv[h,v']
    Th = np.einsum("ac,ad->acd", eye_v, Ch)                 # (v, v', h')
    Th = np.broadcast_to(Th[:, None, :, :], (Nv, Nh, Nv, Nh)).reshape(Nv * Nh, Nv * Nh)
    Tv = np.einsum("bd,bc->bcd", eye_h, Cv)                 # (h, v', h')
    Tv = np.broadcast_to(Tv[None, :, :, :], (Nv, Nh, Nv, Nh)).reshape(Nv * Nh, Nv * Nh)
    one = {"h": Th, "v": Tv, "hv": Th @ Tv, "vh": Tv @ Th}[kernel]
    return np.linalg.matrix_power(np.ascontiguousarray(one), int(n_sweeps))


def visible_chain(rbm: RBM, beta: float = 1.0, *, n_sweeps: int = 1) -> np.ndarray:
    """Transition matrix of the visible chain ``v -> h -> v'`` (marginal of a block sweep).

    ``K[v, v'] = sum_h p(h|v) p(v'|h)``, shape ``(2**n_visible, 2**n_visible)``.
    """
    K = conditional_hidden(rbm, beta) @ conditional_visible(rbm, beta)
    return np.linalg.matrix_power(K, int(n_sweeps))


def hidden_chain(rbm: RBM, beta: float = 1.0, *, n_sweeps: int = 1) -> np.ndarray:
    """Transition matrix of the hidden chain ``h -> v -> h'``, shape ``(2**n_hidden, 2**n_hidden)``."""
    K = conditional_visible(rbm, beta) @ conditional_hidden(rbm, beta)
    return np.linalg.matrix_power(K, int(n_sweeps))


# ----------------------------------------------------------------------------
# Markov-chain diagnostics
# ----------------------------------------------------------------------------
def _check_chain(T, p):
    T = np.asarray(T, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64).ravel()
    if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] != p.size:
        raise ValueError(f"T must be square with side len(p) = {p.size}, got shape {T.shape}.")
    return T, p


def reversed_kernel(T, p) -> np.ndarray:
    """Time reversal of ``T`` with respect to ``p``: ``T~[s', s] = p(s) T[s, s'] / p(s')``.

    ``T~`` is the kernel the reverse process must use in fluctuation theorems. It
    equals ``T`` exactly when ``T`` satisfies detailed balance with respect to ``p``.
    """
    T, p = _check_chain(T, p)
    if np.any(p <= 0):
        raise ValueError("p must be strictly positive to define the reversed kernel.")
    return (p[:, None] * T).T / p[:, None]


def stationarity_violation(T, p) -> float:
    """``max_s' |sum_s p(s) T[s, s'] - p(s')|``: zero iff ``p`` is stationary for ``T``."""
    T, p = _check_chain(T, p)
    return float(np.max(np.abs(p @ T - p)))


def detailed_balance_violation(T, p) -> float:
    """``max_{s,s'} |p(s) T[s, s'] - p(s') T[s', s]|``: zero iff ``T`` is reversible w.r.t. ``p``."""
    T, p = _check_chain(T, p)
    F = p[:, None] * T
    return float(np.max(np.abs(F - F.T)))


def _check_distribution(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name} must be a probability vector (or a stack of them along the last axis), "
                         f"got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf; pass finite probabilities.")
    if np.any(x < 0):
        raise ValueError(f"{name} has negative entries (smallest {x.min():.3g}); probabilities must be >= 0.")
    dev = float(np.max(np.abs(x.sum(axis=-1) - 1.0)))
    if dev > 1e-9:
        raise ValueError(f"{name} does not sum to 1 along its last axis (off by up to {dev:.3g}); "
                         f"normalise it first, e.g. counts / counts.sum(axis=-1, keepdims=True).")
    return x


def total_variation(p, q):
    """Total-variation distance ``(1/2) sum_s |p(s) - q(s)|`` between distributions.

    It equals ``max_A |p(A) - q(A)|`` over all events ``A`` (sets of states), lies
    in ``[0, 1]``, and is 0 iff ``p == q``.

    Parameters
    ----------
    p, q : array-like, shapes broadcastable to a common ``(..., n_states)``
        Probability vectors along the last axis (each sums to 1 within 1e-9,
        entries >= 0, finite). A stack of distributions -- e.g. the rows
        ``T^n[s, :]`` of a transition matrix, shape ``(n_states, n_states)`` --
        against one distribution ``p_beta``, shape ``(n_states,)``, gives one
        distance per row.

    Returns
    -------
    float (both inputs 1-D) or ndarray of shape ``broadcast(p, q).shape[:-1]``
        Dimensionless, in ``[0, 1]``.

    Examples
    --------
    Worst-case distance to equilibrium after ``n`` sweeps:
    ``total_variation(transition_matrix(rbm, 'hv', beta, n_sweeps=n), joint_distribution(rbm, beta).ravel()).max()``.
    """
    p = _check_distribution(p, "p")
    q = _check_distribution(q, "q")
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(f"p and q must have broadcastable shapes with the same number of states "
                         f"(last axis), got {p.shape} and {q.shape}.") from None
    out = 0.5 * np.sum(np.abs(p - q), axis=-1)
    return float(out) if out.ndim == 0 else out


def entropy_production(T, p) -> float:
    """Entropy production per step of the chain ``T`` started in ``p`` (nats).

    ``sigma = sum_{s,s'} p(s) T[s,s'] log( p(s) T[s,s'] / (p(s') T[s',s]) )``,
    the Kullback-Leibler divergence between the law of a step ``(s, s')`` and
    the law of the same step played backwards. With ``F = p[:, None] * T`` (the
    probability flux) it is evaluated as ``(1/2) sum (F - F^T) log(F / F^T)``,
    a sum of non-negative terms (the same number, without cancellation). Zero
    iff ``T`` satisfies detailed balance with respect to ``p``
    (:func:`detailed_balance_violation` measures the same thing in the
    flux-difference norm); when ``p`` is stationary for ``T`` it is the mean
    entropy production rate of the stationary chain per application of ``T``.

    Terms with ``F[s,s'] = F[s',s] = 0`` contribute 0; a transition with
    ``F[s,s'] > 0`` whose reverse has ``F[s',s] = 0`` makes ``sigma = +inf``.

    Parameters
    ----------
    T : array-like, shape (n_states, n_states)
        Row-stochastic kernel, ``T[s, s']`` = probability of ``s -> s'``
        (entries >= 0, finite; rows are not re-normalised).
    p : array-like, shape (n_states,)
        Distribution of the starting state (entries >= 0, finite), e.g.
        ``joint_distribution(rbm, beta).ravel()`` for a joint-space kernel.

    Returns
    -------
    float >= 0, nats per step (``inf`` if some transition has no reverse).
    """
    T, p = _check_chain(T, p)
    for name, x in (("T", T), ("p", p)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf; pass a finite kernel and distribution.")
        if np.any(x < 0):
            raise ValueError(f"{name} has negative entries (smallest {x.min():.3g}); probabilities must be >= 0.")
    F = p[:, None] * T
    G = F.T
    if np.any((F > 0) != (G > 0)):
        return float("inf")
    m = F > 0
    return float(0.5 * np.sum((F[m] - G[m]) * (np.log(F[m]) - np.log(G[m]))))


# ----------------------------------------------------------------------------
# exact equilibrium samples (any model with a layer of at most 24 units)
# ----------------------------------------------------------------------------
class LayerTable(NamedTuple):
    """One enumeration of the smaller layer at one inverse temperature.

    ``log_z`` (nats), ``mean_energy`` (energy units), ``log_weights`` (the ``2**n``
    unnormalised log marginals of :func:`layer_log_weights`) and ``layer``
    (``'visible'`` or ``'hidden'``).
    """

    log_z: float
    mean_energy: float
    log_weights: np.ndarray
    layer: str


_TABLES: "OrderedDict[tuple, LayerTable]" = OrderedDict()
_TABLES_KEPT = 8


def layer_table(rbm: RBM, beta: float = 1.0) -> LayerTable:
    """``log Z``, ``<E>`` and the log weights of the smaller layer in one Gray-code pass (cached).

    The last few tables (per model fingerprint and ``beta``) are kept, so repeated
    calls cost nothing; a 784 x 20 model takes a few seconds the first time.

    Raises
    ------
    EnumerationTooLarge
        The smaller layer has more than 24 units.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    key = (rbm.fingerprint(), float(beta))
    if key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    layer = "hidden" if rbm.n_hidden <= rbm.n_visible else "visible"
    n_small = min(rbm.n_visible, rbm.n_hidden)
    if n_small > MAX_SAMPLED_LAYER:
        raise EnumerationTooLarge(
            f"exact equilibrium tables enumerate the smaller layer: at most {MAX_SAMPLED_LAYER} units, this "
            f"model is {rbm.n_visible}x{rbm.n_hidden}. Use a model with a layer of at most {MAX_SAMPLED_LAYER} "
            "units, estimate log Z with AIS (rbmlib.ais) and sample with Gibbs chains (rbmlib.sample)."
        )
    log_z, mean_e, logw, name = _enumerate(rbm, beta, layer, True, True, MAX_SAMPLED_LAYER)
    out = LayerTable(float(log_z), float(mean_e), np.asarray(logw), name)
    _TABLES[key] = out
    while len(_TABLES) > _TABLES_KEPT:
        _TABLES.popitem(last=False)
    return out


def equilibrium_rng(seed: int) -> np.random.Generator:
    """The NumPy generator of :func:`equilibrium_sample` for ``seed``.

    A stream of its own (``SeedSequence([seed, 0x7E177])``), distinct from the chains'
    xoshiro streams keyed by ``(seed, chain)``, so a protocol may start from exact samples
    and run chains with the same seed.
    """
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0x7E177]))


def _bits(idx: np.ndarray, n: int) -> np.ndarray:
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)
    return ((idx[:, None].astype(np.int64) >> shifts[None, :]) & 1).astype(np.uint8)


def _draw_index(p, n, rng):
    c = np.cumsum(p)
    u = rng.random(n) * c[-1]
    return np.minimum(np.searchsorted(c, u, side="right"), p.size - 1).astype(np.int64)


def sample_states(p, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` states drawn from the table ``p`` over :func:`states` ``(n)`` order (inverse CDF).

    ``p`` (length ``2**n``) need not be normalised. Returns uint8 ``(n_samples, n)``, unit 0
    the most significant bit.
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    n = int(p.size).bit_length() - 1
    if p.size < 1 or p.size != 2 ** n or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"p must hold 2**n finite non-negative weights, got {p.size} values.")
    return _bits(_draw_index(p, check_int(n_samples, "n_samples", 1), rng), n)


def equilibrium_sample(rbm: RBM, n_samples: int, *, beta: float = 1.0, seed: int = 0,
                       layer_log_weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Exact, independent samples ``(v, h) ~ p_beta(v, h)`` (no Markov chain, no burn-in).

    Tiny models (``n_visible + n_hidden <= 12``) are drawn from the joint table; larger
    ones draw the smaller layer from its exact marginal (enumerated, at most 24 units,
    :func:`layer_table`) and the other layer from the exact conditional.

    Parameters
    ----------
    rbm : RBM
    n_samples : int >= 1
    beta : float > 0
    seed : int >= 0
        Seeds :func:`equilibrium_rng` (a NumPy generator, not the chains' streams).
    layer_log_weights : ndarray (2**n_small,), optional
        :func:`layer_log_weights` of the smaller layer at ``beta`` (``'hidden'`` if
        ``n_hidden <= n_visible``), if already computed (the enumeration is the expensive
        part; their log-sum-exp is ``log Z``). Given, the smaller layer is drawn from them
        even for tiny models.

    Returns
    -------
    v : ndarray of uint8, shape (n_samples, n_visible)
    h : ndarray of uint8, shape (n_samples, n_hidden)
    """
    check_rbm(rbm)
    n_samples = check_int(n_samples, "n_samples", 1)
    beta = check_beta(beta)
    rng = equilibrium_rng(seed)
    nv, nh = rbm.n_visible, rbm.n_hidden
    layer = "hidden" if nh <= nv else "visible"
    n_small = min(nv, nh)
    if layer_log_weights is None:
        if nv + nh <= MAX_JOINT_UNITS:
            k = _draw_index(joint_distribution(rbm, beta).ravel(), n_samples, rng)
            return _bits(k >> nh, nv), _bits(k & ((1 << nh) - 1), nh)
        table = layer_table(rbm, beta)
        p = np.exp(table.log_weights - table.log_z)
    else:
        lw = np.asarray(layer_log_weights, dtype=np.float64)
        if lw.shape != (2 ** n_small,) or not np.all(np.isfinite(lw)):
            raise ValueError(
                f"layer_log_weights must be the {2 ** n_small} finite log weights of the {layer} layer "
                f"(rbmlib.exact.layer_log_weights(rbm, {layer!r}, beta)), got shape {lw.shape}.")
        p = np.exp(lw - logsumexp(lw))
    small = _bits(_draw_index(p, n_samples, rng), n_small)
    W = np.asarray(rbm.W, np.float64)
    if layer == "hidden":
        prob = sigmoid(beta * (small @ W.T + np.asarray(rbm.a, np.float64)))
        return (rng.random(prob.shape) < prob).astype(np.uint8), small
    prob = sigmoid(beta * (small @ W + np.asarray(rbm.b, np.float64)))
    return small, (rng.random(prob.shape) < prob).astype(np.uint8)
