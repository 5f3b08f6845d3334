"""Training RBMs by contrastive divergence (CD-k) and persistent CD (PCD), reproducibly.

The gradient
------------
For data ``v`` the log-likelihood at inverse temperature ``beta``,
``log p_beta(v) = -beta F_beta(v) - log Z(beta)``, has the gradient

    d/dW_ij = beta ( <v_i p_j(v)>_data - <v_i p_j(v)>_model ),
    d/da_i  = beta ( <v_i>_data        - <v_i>_model ),
    d/db_j  = beta ( <p_j(v)>_data     - <p_j(v)>_model ),

with ``p_j(v) = p_beta(h_j = 1 | v) = sigmoid(beta (v.W + b)_j)`` (the hidden
units are summed out analytically, "Rao-Blackwellised"). The model average is
replaced by an average over visible states ``v_model`` produced by Gibbs
sampling (:mod:`rbmlib.sampling`):

* ``method='cd'`` (CD-k, Hinton 2002): ``k`` block Gibbs sweeps started at the
  minibatch itself; a fresh set of chains per minibatch.
* ``method='pcd'`` (persistent CD, Tieleman 2008): ``n_persistent`` chains that
  are never reset; ``k`` sweeps per minibatch under the current parameters.

Update (per minibatch, with learning rate ``lr`` and momentum ``mu`` of the
current epoch): ``vel = mu vel + lr (grad - weight_decay W)`` (decay on ``W``
only), ``theta += vel``; ``vel`` starts at zero.

Determinism
-----------
Results are bit-identical for the same arguments and seed, for **any** number of
threads, and a run resumed from a checkpoint ends bit-identical to an
uninterrupted one:

* no BLAS anywhere in the loop (BLAS reductions may change order with the
  thread count): the data are binary, so the fields ``v.W + b`` are sums of rows
  of ``W`` over the active units, and the statistics ``sum_n v_ni p_nj`` sums of
  rows of ``p`` over the samples with ``v_ni = 1``; both are numba loops that
  parallelise over independent outputs (samples, resp. rows ``i``) and add in
  a fixed order (units, resp. samples, ascending);
* the Gibbs chains come from :class:`rbmlib.sampling.Chains`, whose chain ``c``
  draws from a stream fixed by ``(seed, chain index)``; for CD the chains of
  minibatch step ``s`` have the global indices ``s * batch_size + c``, for PCD
  the persistent chains' states and generator states are carried (and
  checkpointed);
* the minibatch order of epoch ``e`` is the argsort of SplitMix64 hashes of
  ``(seed, e, index)``, independent of NumPy's RNG implementation.

Parameters are kept in float64 during training; the returned model has the
requested ``dtype``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numba as nb
import numpy as np

from ._io import atomic_savez
from ._locking import locks_checkpoint
from ._validation import check_beta, check_dtype, check_int, check_seed
from . import provenance
from .model import RBM

__all__ = [
    "train",
    "gradient",
    "exact_gradient",
    "exact_cd_gradient",
    "cd_gradient",
    "hidden_probabilities",
    "init_model",
    "linear_schedule",
    "exponential_schedule",
    "Gradient",
    "TrainingStep",
    "CheckpointMismatch",
]


class Gradient(NamedTuple):
    """Gradient of the mean log-likelihood: ``W`` (n_visible, n_hidden), ``a`` (n_visible,), ``b`` (n_hidden,)."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray


class CheckpointMismatch(ValueError):
    """A checkpoint belongs to a different run (other data, model or hyper-parameters)."""


@dataclass
class TrainingStep:
    """What the training callback receives.

    Attributes
    ----------
    epoch : int
        Epoch index (0-based).
    batch : int or None
        Minibatch index within the epoch for per-minibatch calls; None for the
        per-epoch call.
    step : int
        Number of parameter updates done so far (after this one).
    rbm_before, rbm_after : RBM
        The model before and after the update (per minibatch), or at the
        start and at the end of the epoch (per epoch). float64.
    chains : rbmlib.sampling.Chains
        PCD: the persistent chains, in the state used for the negative phase of
        this update (the last update of the epoch for per-epoch calls): they
        were sampled under ``rbm_before`` (per minibatch) and ``chains.rbm`` is
        that model. CD: the chains of the last minibatch. This is the live
        object, which keeps evolving after the callback returns: read it or
        ``chains.copy()`` it, never modify it.
    learning_rate, momentum : float
        Of this epoch.
    v_data : ndarray of uint8, shape (batch_size, n_visible)
        The minibatch (per-minibatch calls) or None.
    """

    epoch: int
    batch: int | None
    step: int
    rbm_before: RBM
    rbm_after: RBM
    chains: object
    learning_rate: float
    momentum: float
    v_data: np.ndarray | None = None


# ----------------------------------------------------------------------------
# numba kernels (deterministic summation order, parallel over independent outputs)
# ----------------------------------------------------------------------------
_ROW_BLOCK = 8  # samples per task: each row of W is loaded once for 8 samples (no effect on results)


@nb.njit(cache=True, parallel=True)
def _hidden_probs(V, W, b, beta, P):
    """P[r, j] = sigmoid(beta (b_j + sum_{i: V[r,i]=1} W[i, j])), rows i added in increasing order."""
    n, nv = V.shape
    nh = W.shape[1]
    n_blocks = (n + _ROW_BLOCK - 1) // _ROW_BLOCK
    for blk in nb.prange(n_blocks):
        r0 = blk * _ROW_BLOCK
        r1 = min(n, r0 + _ROW_BLOCK)
        for r in range(r0, r1):
            for j in range(nh):
                P[r, j] = b[j]
        for i in range(nv):
            w = W[i]
            for r in range(r0, r1):
                if V[r, i] != 0:
                    p = P[r]
                    for j in range(nh):
                        p[j] += w[j]
        for r in range(r0, r1):
            p = P[r]
            for j in range(nh):
                x = beta * p[j]
                if x >= 0.0:
                    p[j] = 1.0 / (1.0 + math.exp(-x))
                else:
                    e = math.exp(x)
                    p[j] = e / (1.0 + e)


@nb.njit(cache=True, parallel=True)
def _vp_stats(VT, P, out):
    """out[i, j] = sum_r VT[i, r] P[r, j], samples r added in increasing order."""
    nv, n = VT.shape
    nh = P.shape[1]
    for i in nb.prange(nv):
        for j in range(nh):
            out[i, j] = 0.0
        for r in range(n):
            if VT[i, r] != 0:
                for j in range(nh):
                    out[i, j] += P[r, j]


@nb.njit(cache=True, parallel=True)
def _sgd_W(VdT, Pd, VmT, Pm, W, vW, beta, lr, mom, wd):
    """One momentum-SGD step on W, fused with its gradient (see the module docstring).

    g_ij = beta (sum_r Vd[r,i] Pd[r,j] / n_d - sum_r Vm[r,i] Pm[r,j] / n_m) - wd W_ij,
    vW = mom vW + lr g, W += vW; sums over samples r in increasing order.
    """
    nv, nd = VdT.shape
    nm = VmT.shape[1]
    nh = W.shape[1]
    for i in nb.prange(nv):
        sd = np.zeros(nh)
        sm = np.zeros(nh)
        for r in range(nd):
            if VdT[i, r] != 0:
                p = Pd[r]
                for j in range(nh):
                    sd[j] += p[j]
        for r in range(nm):
            if VmT[i, r] != 0:
                p = Pm[r]
                for j in range(nh):
                    sm[j] += p[j]
        w = W[i]
        v = vW[i]
        for j in range(nh):
            g = beta * (sd[j] / nd - sm[j] / nm)
            g -= wd * w[j]
            v[j] = v[j] * mom + lr * g
            w[j] += v[j]


@nb.njit(cache=True)
def _col_sum(P, out):
    """out[j] = sum_r P[r, j] in increasing r."""
    n, nh = P.shape
    for j in range(nh):
        out[j] = 0.0
    for r in range(n):
        for j in range(nh):
            out[j] += P[r, j]


def _as_binary_u8(data, name, n_visible=None) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_visible), got shape {arr.shape}.")
    if n_visible is not None and arr.shape[1] != n_visible:
        raise ValueError(f"{name} has {arr.shape[1]} columns but the model has {n_visible} visible units.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; give at least one sample.")
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold numbers 0/1, got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; data must be binary 0/1.")
    bad = (arr != 0) & (arr != 1)
    if np.any(bad):
        vals = np.unique(arr[bad])[:5]
        raise ValueError(f"{name} must be binary (0 or 1), found values such as {vals.tolist()}. "
                         "Binarize first, e.g. rbmlib.datasets.binarize(grey) or (x >= 0.5).")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def hidden_probabilities(rbm: RBM, v, beta: float = 1.0) -> np.ndarray:
    """``p_beta(h_j = 1 | v)`` for a batch, shape (n_samples, n_hidden), float64.

    Same values as :meth:`RBM.p_h_given_v` but computed by the deterministic
    sparse kernel of the training loop (bit-identical for any thread count).
    """
    beta = check_beta(beta)
    V = _as_binary_u8(v, "v", rbm.n_visible)
    P = np.empty((V.shape[0], rbm.n_hidden))
    _hidden_probs(V, np.ascontiguousarray(rbm.W, dtype=np.float64), np.asarray(rbm.b, dtype=np.float64), beta, P)
    return P


def _stats(V, P):
    """(sum_r v_r p_r^T, sum_r v_r, sum_r p_r) for uint8 V (n, nv) and P (n, nh)."""
    VT = np.ascontiguousarray(V.T)
    S = np.empty((V.shape[1], P.shape[1]))
    _vp_stats(VT, P, S)
    sp = np.empty(P.shape[1])
    _col_sum(P, sp)
    sv = V.sum(axis=0, dtype=np.int64).astype(np.float64)  # exact integer sums
    return S, sv, sp


def _grad_from(W, b, Vd, Vm, beta):
    Pd = np.empty((Vd.shape[0], W.shape[1]))
    _hidden_probs(Vd, W, b, beta, Pd)
    Pm = np.empty((Vm.shape[0], W.shape[1]))
    _hidden_probs(Vm, W, b, beta, Pm)
    Sd, svd, spd = _stats(Vd, Pd)
    Sm, svm, spm = _stats(Vm, Pm)
    nd, nm = float(Vd.shape[0]), float(Vm.shape[0])
    return Gradient(beta * (Sd / nd - Sm / nm), beta * (svd / nd - svm / nm), beta * (spd / nd - spm / nm))


def gradient(rbm: RBM, v_data, v_model, *, beta: float = 1.0) -> Gradient:
    """Log-likelihood gradient estimate from data and model samples.

    ``beta (<v p(v)^T>_data - <v p(v)^T>_model)`` etc. (see the module
    docstring), with the hidden layer summed out analytically.

    Parameters
    ----------
    rbm : RBM
    v_data : array-like, shape (n_data, n_visible), 0/1
    v_model : array-like, shape (n_model, n_visible), 0/1
        Samples of ``p_beta(v)`` (or of a CD-k chain).
    beta : float > 0

    Returns
    -------
    Gradient(W, a, b), float64, of the **mean** log-likelihood per data vector.
    """
    beta = check_beta(beta)
    Vd = _as_binary_u8(v_data, "v_data", rbm.n_visible)
    Vm = _as_binary_u8(v_model, "v_model", rbm.n_visible)
    W = np.ascontiguousarray(rbm.W, dtype=np.float64)
    b = np.ascontiguousarray(rbm.b, dtype=np.float64)
    return _grad_from(W, b, Vd, Vm, beta)


def _data_index(rbm: RBM, data) -> np.ndarray:
    """Row index of each data vector in :func:`rbmlib.exact.states` order (unit 0 most significant)."""
    V = _as_binary_u8(data, "data", rbm.n_visible).astype(np.int64)
    weights = 1 << np.arange(rbm.n_visible - 1, -1, -1, dtype=np.int64)
    return V @ weights


def _exact_stats(rbm: RBM, q, beta):
    """Statistics averaged over the visible distribution q (over exact.states order)."""
    from .exact import states

    S = states(rbm.n_visible).astype(np.float64)
    P = np.asarray(rbm.p_h_given_v(S, beta), dtype=np.float64)
    return (S * q[:, None]).T @ P, q @ S, q @ P


def exact_gradient(rbm: RBM, data, beta: float = 1.0) -> Gradient:
    """Exact gradient of the mean log-likelihood of ``data`` by enumeration (tiny models).

    The model average is over all ``2**n_visible`` visible states with the exact
    ``p_beta(v)`` (:func:`rbmlib.exact.marginal_visible`); use for
    ``n_visible`` up to ~16.
    """
    from .exact import marginal_visible

    beta = check_beta(beta)
    V = _as_binary_u8(data, "data", rbm.n_visible).astype(np.float64)
    Pd = np.asarray(rbm.p_h_given_v(V, beta), dtype=np.float64)
    n = V.shape[0]
    Sm, svm, spm = _exact_stats(rbm, marginal_visible(rbm, beta), beta)
    return Gradient(beta * (V.T @ Pd / n - Sm), beta * (V.mean(0) - svm), beta * (Pd.mean(0) - spm))


def exact_cd_gradient(rbm: RBM, data, k: int, beta: float = 1.0) -> Gradient:
    """Expected CD-k gradient, exactly, by enumeration (tiny models).

    The negative statistics of CD-k average over ``v_k``, the visible state
    after ``k`` block Gibbs sweeps started at a data vector; its law is the
    data distribution times the ``k``-th power of the exact visible transition
    matrix (:func:`rbmlib.exact.visible_chain`). This is the mean of
    :func:`cd_gradient` over the sampling noise; it tends to
    :func:`exact_gradient` as ``k`` grows.
    """
    from .exact import visible_chain

    beta = check_beta(beta)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    idx = _data_index(rbm, data)
    q0 = np.bincount(idx, minlength=2 ** rbm.n_visible).astype(np.float64) / idx.size
    T = visible_chain(rbm, beta, n_sweeps=1)
    q = q0
    for _ in range(k):
        q = q @ T
    V = _as_binary_u8(data, "data", rbm.n_visible).astype(np.float64)
    Pd = np.asarray(rbm.p_h_given_v(V, beta), dtype=np.float64)
    n = V.shape[0]
    Sm, svm, spm = _exact_stats(rbm, q, beta)
    return Gradient(beta * (V.T @ Pd / n - Sm), beta * (V.mean(0) - svm), beta * (Pd.mean(0) - spm))


def cd_gradient(rbm: RBM, data, k: int = 1, *, beta: float = 1.0, seed: int = 0,
                chain_offset: int = 0) -> Gradient:
    """One stochastic CD-k gradient estimate for the minibatch ``data``.

    ``k`` block Gibbs sweeps (:class:`rbmlib.sampling.Chains`, order ``'hv'``)
    start at each data row; chain ``c`` uses the stream ``(seed, chain_offset + c)``.
    Its expectation over the sampling is :func:`exact_cd_gradient`.
    """
    from .sampling import Chains

    beta = check_beta(beta)
    V = _as_binary_u8(data, "data", rbm.n_visible)
    ch = Chains(rbm, V.shape[0], seed=seed, v0=V, chain_offset=chain_offset)
    ch.run(int(k), beta=beta)
    W = np.ascontiguousarray(rbm.W, dtype=np.float64)
    b = np.ascontiguousarray(rbm.b, dtype=np.float64)
    return _grad_from(W, b, V, ch.v, beta)


# ----------------------------------------------------------------------------
# schedules, initialisation, permutations
# ----------------------------------------------------------------------------
class _Schedule:
    def __init__(self, fn, spec):
        self._fn, self.spec = fn, spec

    def __call__(self, epoch):
        return self._fn(epoch)

    def __repr__(self):
        return f"schedule({self.spec})"


def linear_schedule(start: float, epochs: int, end: float = 0.0):
    """Epoch -> value decreasing linearly from ``start`` (epoch 0) towards ``end``:
    ``start + (end - start) * epoch / epochs`` (the last epoch gets ``start + (end-start)(epochs-1)/epochs``)."""
    for name, x in (("start", start), ("end", end)):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
            raise ValueError(f"linear_schedule: {name} must be a finite number, got {x!r}.")
    epochs = check_int(epochs, "linear_schedule: epochs", 1)
    return _Schedule(lambda e: start + (end - start) * e / epochs, f"linear({start}->{end} over {epochs})")


def exponential_schedule(start: float, factor: float):
    """Epoch -> ``start * factor**epoch``."""
    return _Schedule(lambda e: start * factor ** e, f"exponential({start}*{factor}**epoch)")


def _values(x, name, epochs, minimum=0.0, maximum=None, strict=False) -> list:
    if callable(x):
        vals = [x(e) for e in range(epochs)]
    else:
        vals = [x] * epochs
    out = []
    for e, v in enumerate(vals):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must be a number or a callable epoch -> number; got {v!r} at epoch {e}.")
        v = float(v)
        bad = (not math.isfinite(v)) or v < minimum or (strict and v <= minimum) or (maximum is not None and v > maximum)
        if bad:
            rng = f"{'>' if strict else '>='} {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            raise ValueError(f"{name} must be finite and {rng}; got {v!r} at epoch {e}.")
        out.append(v)
    return out


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Order of the data in epoch ``epoch``: argsort of SplitMix64 hashes of (seed, epoch, index)."""
    with np.errstate(over="ignore"):
        key = _mix64(_mix64(np.uint64(seed) + _GOLDEN) ^ (np.uint64(epoch) * _GOLDEN + np.uint64(1)))
        h = _mix64(key ^ np.arange(n, dtype=np.uint64))
    return np.argsort(h, kind="stable")


def init_model(n_visible: int, n_hidden: int, data=None, *, scale: float = 0.01, seed: int = 0) -> RBM:
    """The usual starting point (Hinton's practical guide, 2010).

    ``W ~ N(0, scale^2)`` (seeded), ``b = 0`` and ``a_i = log(p_i / (1 - p_i))``
    with ``p_i = (sum_n v_ni + 1/2) / (n + 1)`` the smoothed on-frequency of
    pixel ``i`` in ``data`` (``a = 0`` without data), so that the model
    starts with the data's pixel marginals.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x524D42]))
    W = scale * rng.standard_normal((n_visible, n_hidden))
    if data is None:
        a = np.zeros(n_visible)
    else:
        V = _as_binary_u8(data, "data", n_visible)
        p = (V.sum(axis=0, dtype=np.int64) + 0.5) / (V.shape[0] + 1.0)
        a = np.log(p) - np.log1p(-p)
    return RBM(W, a, np.zeros(n_hidden), metadata={"made_by": "rbmlib.training.init_model", "scale": scale,
                                                   "seed": int(seed)})


# ----------------------------------------------------------------------------
# provenance and checkpoints
# ----------------------------------------------------------------------------
#: The files that alone determine a training run's result (their digest is recorded with the model).
_SOURCES = ("training.py", "sampling.py", "kernels/__init__.py", "kernels/streams.py", "kernels/draws.py",
            "kernels/fields.py", "kernels/gibbs.py", "model.py", "_validation.py", "datasets.py")


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _make_rbm(W, a, b):
    return RBM(W, a, b, dtype=np.float64)


# ----------------------------------------------------------------------------
# training: validated parameters, the checkpointed state, one step, the loop
# ----------------------------------------------------------------------------
@dataclass
class _TrainParams:
    """The validated arguments of :func:`train` (``config`` is what a checkpoint must match)."""

    method: str
    k: int
    epochs: int
    batch_size: int
    learning_rates: list
    momenta: list
    weight_decay: float
    beta: float
    n_persistent: int | None
    seed: int
    init_scale: float
    out_dtype: np.dtype
    checkpoint_every: int
    callback_every: str
    config: dict


def _validate_params(rbm_or_shape, data, *, method, k, epochs, batch_size, learning_rate, momentum, weight_decay,
                     beta, n_persistent, seed, init_scale, callback_every, checkpoint_every, dtype):
    """Check every argument of :func:`train` before any work; returns ``(params, V, rbm0)``: the
    validated :class:`_TrainParams`, the data as uint8 and the starting model."""
    from .datasets import dataset_hash

    if method not in ("pcd", "cd"):
        raise ValueError(f"method must be 'pcd' (persistent contrastive divergence) or 'cd' (CD-k), got {method!r}.")
    if callback_every not in ("epoch", "batch"):
        raise ValueError(f"callback_every must be 'epoch' or 'batch', got {callback_every!r}.")
    k, epochs, batch_size = check_int(k, "k", 1), check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    beta = check_beta(beta)
    out_dtype = check_dtype(dtype)
    seed = check_seed(seed)
    lrs = _values(learning_rate, "learning_rate", epochs, strict=True)
    moms = _values(momentum, "momentum", epochs, maximum=0.999999)
    weight_decay = _values(weight_decay, "weight_decay", 1)[0]

    # model and data
    if isinstance(rbm_or_shape, RBM):
        rbm0 = rbm_or_shape
        V = _as_binary_u8(data, "data", rbm0.n_visible)
    else:
        if isinstance(rbm_or_shape, numbers.Integral) and not isinstance(rbm_or_shape, bool):
            V = _as_binary_u8(data, "data")
            shape = (V.shape[1], int(rbm_or_shape))
        elif isinstance(rbm_or_shape, (tuple, list)) and len(rbm_or_shape) == 2:
            shape = tuple(int(s) for s in rbm_or_shape)
            V = _as_binary_u8(data, "data", shape[0])
        else:
            raise TypeError("rbm_or_shape must be an RBM, n_hidden (int) or (n_visible, n_hidden), "
                            f"got {rbm_or_shape!r}.")
        if min(shape) < 1:
            raise ValueError(f"layer sizes must be >= 1, got {shape}.")
        rbm0 = init_model(shape[0], shape[1], V, scale=init_scale, seed=seed)
    n, nv = V.shape
    if n_persistent is None:
        n_persistent = min(batch_size, n) if method == "pcd" else None
    elif method == "pcd":
        n_persistent = check_int(n_persistent, "n_persistent", 1)
    else:
        raise ValueError("n_persistent applies to method='pcd' only.")
    config = {"method": method, "k": k, "epochs": epochs, "batch_size": batch_size,
              "learning_rate": lrs, "momentum": moms, "weight_decay": weight_decay, "beta": beta,
              "n_persistent": n_persistent, "seed": seed, "n_visible": nv, "n_hidden": rbm0.n_hidden,
              "n_data": n, "data_sha256": dataset_hash(V), "init_fingerprint": rbm0.fingerprint()}
    params = _TrainParams(method, k, epochs, batch_size, lrs, moms, weight_decay, beta, n_persistent, seed,
                          init_scale, out_dtype, checkpoint_every, callback_every, config)
    return params, V, rbm0


@dataclass
class _TrainState:
    """Everything a training checkpoint holds: parameters, momentum buffers, the persistent chains
    (PCD, with their generator states), the counters and the per-epoch history."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray
    vW: np.ndarray
    va: np.ndarray
    vb: np.ndarray
    epochs_done: int = 0
    step: int = 0
    elapsed: float = 0.0
    history: list = field(default_factory=list)
    chains: object = None

    def model(self) -> RBM:
        """The current parameters as a float64 RBM."""
        return _make_rbm(self.W, self.a, self.b)

    @classmethod
    def start(cls, rbm0: RBM, V: np.ndarray, p: _TrainParams) -> "_TrainState":
        """A fresh run from ``rbm0``: zero momentum; PCD chains at ``n_persistent`` training vectors."""
        from .sampling import Chains

        W = np.array(rbm0.W, dtype=np.float64, order="C")
        a = np.array(rbm0.a, dtype=np.float64)
        b = np.array(rbm0.b, dtype=np.float64)
        st = cls(W, a, b, np.zeros_like(W), np.zeros_like(a), np.zeros_like(b))
        if p.method == "pcd":
            n = V.shape[0]
            first = _permutation(n, p.seed, 2 ** 32 - 1)[np.arange(p.n_persistent) % n]
            st.chains = Chains(st.model(), p.n_persistent, seed=p.seed, v0=V[first])
        return st

    @classmethod
    def load(cls, path, p: _TrainParams) -> "_TrainState":
        """The state saved in the checkpoint ``path``; its configuration must be ``p.config``."""
        from .sampling import Chains

        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                record = json.loads(str(z["record"]))
                arrays = {k: z[k] for k in z.files if k != "record"}
        except Exception as exc:
            raise ValueError(f"Could not read checkpoint {path} ({type(exc).__name__}: {exc}); it is not an rbmlib "
                             "training checkpoint or it is corrupted. Delete it to start over.") from None
        if record.get("format") != "rbmlib.training.checkpoint":
            raise ValueError(f"{path} is not an rbmlib training checkpoint.")
        if record["config_hash"] != _config_hash(p.config):
            old = record["config"]
            diff = sorted(k for k in set(old) | set(p.config) if old.get(k) != p.config.get(k))
            raise CheckpointMismatch(
                f"Checkpoint {path} belongs to a different run: {', '.join(diff)} differ. Resume with exactly the "
                "same data and arguments, or delete the checkpoint (or choose another path) to start over.")
        W, a, b = (np.ascontiguousarray(arrays[x], dtype=np.float64) for x in ("W", "a", "b"))
        vW, va, vb = (np.array(arrays[x], dtype=np.float64) for x in ("vW", "va", "vb"))
        st = cls(W, a, b, vW, va, vb, record["epochs_done"], record["step"], record["elapsed_s"],
                 list(record["history"]))
        if p.method == "pcd":
            st.chains = Chains(st.model(), p.n_persistent, seed=p.seed, v0=arrays["chains_v"], h0=arrays["chains_h"])
            st.chains.rng_state[...] = arrays["chains_rng"]
        return st

    def save(self, path, p: _TrainParams) -> None:
        """Write the checkpoint atomically."""
        record = {"format": "rbmlib.training.checkpoint", "version": 1, "config": p.config,
                  "config_hash": _config_hash(p.config), "epochs_done": self.epochs_done,
                  "step": self.step, "elapsed_s": self.elapsed, "history": self.history}
        arrays = {"W": self.W, "a": self.a, "b": self.b, "vW": self.vW, "va": self.va, "vb": self.vb}
        if p.method == "pcd" and self.chains is not None:
            arrays.update(chains_v=self.chains.v, chains_h=self.chains.h, chains_rng=self.chains.rng_state)
        atomic_savez(path, record=np.array(json.dumps(record, sort_keys=True)), **arrays)


def _train_step(st: _TrainState, p: _TrainParams, Vd: np.ndarray, lr: float, mom: float, Pd, Pm) -> RBM:
    """One minibatch update of ``st`` in place (negative phase, gradient, momentum); returns the model
    the negative phase sampled (the parameters before the update)."""
    from .sampling import Chains

    nd = Vd.shape[0]
    beta = p.beta
    rbm_cur = st.model()
    if p.method == "pcd":
        st.chains.set_model(rbm_cur)
        st.chains.run(p.k, beta=beta)
    else:
        st.chains = Chains(rbm_cur, nd, seed=p.seed, v0=Vd, chain_offset=st.step * p.batch_size)
        st.chains.run(p.k, beta=beta)
    Vm = st.chains.v
    nm = Vm.shape[0]
    W, b = st.W, st.b
    _hidden_probs(Vd, W, b, beta, Pd[:nd])
    _hidden_probs(Vm, W, b, beta, Pm[:nm])
    _sgd_W(np.ascontiguousarray(Vd.T), Pd[:nd], np.ascontiguousarray(Vm.T), Pm[:nm], W, st.vW,
           beta, lr, mom, p.weight_decay)
    svd = Vd.sum(axis=0, dtype=np.int64).astype(np.float64)
    svm = Vm.sum(axis=0, dtype=np.int64).astype(np.float64)
    spd = np.empty(W.shape[1])
    _col_sum(Pd[:nd], spd)
    spm = np.empty(W.shape[1])
    _col_sum(Pm[:nm], spm)
    st.va *= mom
    st.va += lr * (beta * (svd / nd - svm / nm))
    st.vb *= mom
    st.vb += lr * (beta * (spd / nd - spm / nm))
    st.a += st.va
    st.b += st.vb
    st.step += 1
    return rbm_cur


@locks_checkpoint("checkpoint", "training checkpoint", folder=False)
def train(rbm_or_shape, data, *, method: str = "pcd", k: int = 1, epochs: int = 10, batch_size: int = 100,
          learning_rate=0.01, momentum=0.0, weight_decay: float = 0.0, beta: float = 1.0,
          n_persistent: int | None = None, seed: int = 0, init_scale: float = 0.01,
          callback: Callable[[TrainingStep], None] | None = None, callback_every: str = "epoch",
          checkpoint=None, checkpoint_every: int = 1, resume: bool = False, progress: bool = True,
          dtype=np.float64, threads: int | None = None, metadata: dict | None = None) -> RBM:
    """Train an RBM on binary data by CD-k or PCD with minibatch SGD and momentum.

    Parameters
    ----------
    rbm_or_shape : RBM, int or (int, int)
        Starting model, or ``n_hidden`` (``n_visible`` from the data), or
        ``(n_visible, n_hidden)``: then :func:`init_model` with ``init_scale``
        and ``seed`` (visible biases from the data's pixel frequencies).
    data : array-like, shape (n_samples, n_visible), entries 0/1
        Training data, e.g. ``rbmlib.datasets.load_mnist()``.
    method : {'pcd', 'cd'}
    k : int >= 1
        Gibbs sweeps per minibatch (CD-k / PCD-k).
    epochs : int >= 1
    batch_size : int >= 1
        Minibatch size; the last minibatch of an epoch holds the remainder.
    learning_rate : float > 0 or callable epoch -> float
        E.g. ``linear_schedule(0.05, epochs)``.
    momentum : float in [0, 1) or callable epoch -> float
    weight_decay : float >= 0
        L2 penalty on ``W`` (added as ``-weight_decay * W`` to the gradient).
    beta : float > 0
        Inverse temperature of the model being trained (the gradient is that of
        ``log p_beta``; chains run at ``beta``).
    n_persistent : int, optional
        PCD: number of persistent chains (default ``batch_size``). They start at
        ``n_persistent`` training vectors chosen by the seed.
    seed : int
        Fixes initialisation, minibatch order and all Gibbs sampling.
    callback : callable(TrainingStep), optional
        Called after every epoch (``callback_every='epoch'``) or after every
        minibatch update (``'batch'``); see :class:`TrainingStep`.
    checkpoint : path, optional
        ``.npz`` file written atomically every ``checkpoint_every`` epochs and at
        the end: parameters, momentum buffers, persistent chains with their
        generator states, the epoch counter, the run's configuration and history.
        The checkpoint is locked (``<checkpoint>.lock``, an OS lock that dies with
        the process) while the run uses it: a second run on it is refused with the
        holder's PID and command line (:class:`rbmlib._locking.RunLocked`).
    resume : bool
        If ``checkpoint`` exists, continue from it (its configuration must match
        exactly); the result is bit-identical to an uninterrupted run. If it
        does not exist, start from scratch. With ``resume=False`` an existing
        checkpoint is an error (never silently overwritten).
    progress : bool
        Show a tqdm progress bar (minibatches).
    dtype : float64 or float32
        Dtype of the returned model (training always runs in float64).
    threads : int, optional
        Numba threads for the run (restored afterwards). Default: 1 when a
        minibatch is small (``batch_size * n_visible * n_hidden < 2**20``, where
        starting parallel regions costs more than it saves), else the current
        :func:`numba.get_num_threads`. Results do not depend on it.
    metadata : dict, optional
        Extra provenance recorded in the returned model's metadata.

    Returns
    -------
    RBM
        With ``metadata['training']``: method, hyper-parameters (the learning
        rate and momentum per epoch), seed, data hash and size, code version,
        training time and machine.
    """
    p, V, rbm0 = _validate_params(rbm_or_shape, data, method=method, k=k, epochs=epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay,
                                  beta=beta, n_persistent=n_persistent, seed=seed, init_scale=init_scale,
                                  callback_every=callback_every, checkpoint_every=checkpoint_every, dtype=dtype)
    n, nv = V.shape
    nh = rbm0.n_hidden
    n_batches = -(-n // p.batch_size)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        if not resume:
            raise FileExistsError(f"Checkpoint {ckpt} already exists. Pass resume=True (CLI: --resume) to continue "
                                  "that run, or delete it / choose another path to start over.")
        st = _TrainState.load(ckpt, p)
    else:
        st = _TrainState.start(rbm0, V, p)
    if threads is None:
        threads = 1 if p.batch_size * nv * nh < 2 ** 20 else nb.get_num_threads()
    else:
        threads = check_int(threads, "threads", 1)
    threads = min(int(threads), nb.config.NUMBA_NUM_THREADS)
    Pd = np.empty((p.batch_size, nh))
    Pm = np.empty((max(p.batch_size, p.n_persistent or 0), nh))
    bar = None
    if progress and st.epochs_done < p.epochs:
        from tqdm.auto import tqdm

        bar = tqdm(total=p.epochs * n_batches, initial=st.epochs_done * n_batches, unit="batch",
                   desc=f"{p.method.upper()}-{p.k} {nv}x{nh}", leave=True, dynamic_ncols=True)
    saved_threads = nb.get_num_threads()
    nb.set_num_threads(threads)
    try:
        for epoch in range(st.epochs_done, p.epochs):
            t0 = time.perf_counter()
            lr, mom = p.learning_rates[epoch], p.momenta[epoch]
            rbm_epoch_start = st.model() if callback is not None else None
            order = _permutation(n, p.seed, epoch)
            for bi in range(n_batches):
                Vd = V[order[bi * p.batch_size:(bi + 1) * p.batch_size]]
                rbm_cur = _train_step(st, p, Vd, lr, mom, Pd, Pm)
                if not (np.isfinite(st.W).all() and np.isfinite(st.a).all() and np.isfinite(st.b).all()):
                    raise FloatingPointError(
                        f"Training diverged at epoch {epoch}, minibatch {bi} (non-finite parameters): lower the "
                        f"learning rate (now {lr}) or the momentum (now {mom}).")
                if callback is not None and p.callback_every == "batch":
                    callback(TrainingStep(epoch, bi, st.step, rbm_cur, st.model(), st.chains, lr, mom, Vd))
                if bar is not None:
                    bar.update(1)
            dt = time.perf_counter() - t0
            st.elapsed += dt
            st.epochs_done = epoch + 1
            st.history.append({"epoch": epoch, "learning_rate": lr, "momentum": mom, "seconds": round(dt, 3)})
            if bar is not None:
                bar.set_postfix(epoch=st.epochs_done, lr=f"{lr:.3g}")
            if ckpt is not None and (st.epochs_done % p.checkpoint_every == 0 or st.epochs_done == p.epochs):
                st.save(ckpt, p)
            if callback is not None and p.callback_every == "epoch":
                callback(TrainingStep(epoch, None, st.step, rbm_epoch_start, st.model(), st.chains, lr, mom))
    finally:
        nb.set_num_threads(saved_threads)
        if bar is not None:
            bar.close()
    return _trained_model(rbm_or_shape, rbm0, st, p, threads, metadata)


def _trained_model(rbm_or_shape, rbm0: RBM, st: _TrainState, p: _TrainParams, threads: int, metadata) -> RBM:
    """The result of :func:`train`: the parameters in the requested dtype with their provenance."""
    config = p.config
    meta = dict(rbm0.metadata) if isinstance(rbm_or_shape, RBM) else {}
    meta.pop("training", None)
    meta["training"] = {
        **{key: config[key] for key in ("method", "k", "epochs", "batch_size", "learning_rate", "momentum",
                                        "weight_decay", "beta", "n_persistent", "seed", "n_data", "data_sha256")},
        "init": ("given model" if isinstance(rbm_or_shape, RBM)
                 else f"init_model(scale={p.init_scale}, seed={p.seed})"),
        "init_fingerprint": config["init_fingerprint"],
        "updates": st.step,
        "training_seconds": round(st.elapsed, 2),
        "code": {"version": provenance.code_version(), **provenance.source_digest(_SOURCES)},
        "machine": {**provenance.machine(), "numba_threads": threads},
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if metadata:
        meta.update(metadata)
    return RBM(st.W, st.a, st.b, dtype=p.out_dtype, metadata=meta)
