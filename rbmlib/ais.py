"""Annealed importance sampling (AIS) of RBM partition functions, read as Jarzynski's equality.

The estimators
--------------
Forward AIS :func:`log_partition` (Neal 2001; Salakhutdinov & Murray 2008)
    Anneals from a tractable *base* RBM ``A`` (``W = 0``, visible biases
    ``a_A``, hidden biases 0, so ``log Z_A`` is known in closed form) to the
    target ``B`` through the intermediate RBMs

    ``W_k = beta_k W,  b_k = beta_k b,  a_k = (1 - beta_k) a_A + beta_k a_B``,

    ``0 = beta_0 < beta_1 <= ... <= beta_K = 1``, whose unnormalised visible
    marginals are ``f_k(v) = exp(a_k.v) prod_j (1 + exp(beta_k (v W + b)_j))``
    (``f_0 = 2**n_hidden exp(a_A.v)``, ``f_K = exp(-F_B(v))``). One run draws
    ``v_0 ~ p_A`` exactly, then for ``k = 1 .. K`` multiplies its weight by
    ``f_k(v_{k-1}) / f_{k-1}(v_{k-1})`` and, if ``k < K``, moves
    ``v_{k-1} -> v_k`` by one block Gibbs sweep of ``p_k`` (``h ~ p_k(h|v)``,
    then ``v ~ p_k(v|h)``). The log-weight is minus the *work* done on the run,
    ``log w = -W`` (in units of ``k_B T``, ``T = 1``), and Jarzynski's equality
    ``E[exp(-W)] = Z_B / Z_A`` gives ``log Z_B = log Z_A + log mean(w)``.

Reverse AIS :func:`reverse_log_partition`, :func:`reverse_log_likelihood`
    The time-reversed protocol: start from ``v_K``, then for ``k = K .. 1``
    apply one Gibbs sweep of ``p_k`` and multiply the weight by
    ``f_{k-1}(v) / f_k(v)``. Started from exact samples of ``p_B`` it gives
    ``E[w_R] = Z_A / Z_B``; started from a held-out data vector ``v`` it is the
    RAISE estimator of Burda, Grosse & Salakhutdinov (2015):
    ``p_hat(v) = f_K(v) w_R / Z_A`` is an unbiased estimate of the likelihood
    ``p_ann(v)`` of the *annealing model* ``p_A T_1 ... T_K`` (which tends to
    ``p_B`` for slow schedules), so ``E[log p_hat(v)] <= log p_ann(v)``: a
    stochastic lower bound.

Bennett's acceptance ratio :func:`bar`
    Uses forward and reverse works together (Bennett 1976; Crooks 2000;
    Shirts, Bair, Hooker & Pande 2003); the maximum-likelihood estimate of
    ``Delta F = -log(Z_B / Z_A)`` under Crooks' relation
    ``P_F(W) / P_R(-W) = exp(W - Delta F)``, with its asymptotic error.

All weights are kept as logarithms and combined with log-sum-exp.

Kernels
-------
An AIS step is one block Gibbs sweep plus a weight, on the sampler's kernels
(:mod:`rbmlib.kernels`). One run is one sequential task (runs are spread over numba
threads). The fields ``x = v W + b`` and ``y = W h + a_B`` are kept between steps by the
sampler's rule (:func:`rbmlib.kernels.update_field`): the rows of the units that
flipped are added or subtracted (when fewer flipped than are on), with a recomputation
from scratch every :data:`rbmlib.kernels.REFRESH` updates, in the model's dtype (float32
fields for a float32 model, as the sampler). The weight increment
``sum_j softplus(beta_k x_j) - softplus(beta_{k-1} x_j)`` is evaluated in float64 as
``sum_j [max(t1, 0) - max(t0, 0)] + log prod_j (1 + e1_j) / (1 + e0_j)`` with
``e = exp(-|t|)`` (one logarithm per 512 hidden units), and the hidden draw of the
next sweep reuses ``e1``; the visible draw is :func:`rbmlib.kernels.bernoulli_block` on
the float64 logits ``beta_k y + (1 - beta_k) a_A``.

GPU
---
``backend='cuda'`` (:func:`log_partition`, :func:`reverse_log_partition`,
:func:`reverse_log_likelihood`, ``rbmlib ais --backend cuda``) runs every run on an NVIDIA GPU,
one block of threads per run (:func:`rbmlib.kernels.cuda.ais_weights`): the same streams, the
same order of every operation, every product rounded on its own (no FMA contraction) and the
same plain-arithmetic ``exp`` and ``log``, so the log-weights are the CPU's bit for bit
(``tests/test_cuda.py`` under numba's CUDA simulator). Runs are sharded to fit the GPU's memory.

Reproducibility
---------------
Run ``r`` of a forward estimate uses the random stream of chain ``r`` of
:func:`rbmlib.kernels.seed_streams` ``(seed, ...)``; reverse runs use chains
``REVERSE_STREAM_OFFSET + r``, so forward and reverse runs of one seed are
independent (as :func:`bar` requires). A run's result depends only on
``(seed, run index)``: bit-identical for any number of threads. Weights, draws and
the base model are float64; only the two kept fields are in the model's dtype.

Exact references for tiny models (:func:`exact_weight_moments`,
:func:`exact_reverse_weights`, :func:`exact_path_ensemble`)
enumerate the visible states and are what the tests and the book check the
samplers against.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
from scipy.optimize import brentq

from ._io import atomic_write_text, check_output
from ._locking import locks_checkpoint
from . import exact
from ._validation import check_binary, check_int, check_seed
from .kernels import (N_LANES, REFRESH, aligned_rows, bernoulli, bernoulli_block, exp_neg, seed_streams,
                      uniforms, update_field, xoshiro_fill)
from .kernels.enumeration import log as plain_log
from .model import RBM, check_rbm
from .provenance import code_version, machine
from .stats import logmeanexp, logsumexp

__all__ = [
    "AISResult",
    "BARResult",
    "RAISEResult",
    "LogLikelihood",
    "SALAKHUTDINOV_STEPS",
    "REVERSE_STREAM_OFFSET",
    "make_schedule",
    "base_rate_biases",
    "base_log_partition",
    "intermediate_rbm",
    "log_partition",
    "reverse_log_partition",
    "reverse_log_likelihood",
    "bar",
    "average_log_likelihood",
    "exact_weight_moments",
    "exact_reverse_weights",
    "exact_path_ensemble",
    "paper_scale_run",
]

#: Steps of the Salakhutdinov & Murray (2008) schedule: uniform spacing on
#: [0, 0.5], [0.5, 0.9] and [0.9, 1.0] with 500, 4,000 and 10,000 steps.
SALAKHUTDINOV_STEPS = ((0.5, 500), (0.9, 4000), (1.0, 10000))
#: Reverse run ``r`` uses the random stream of chain ``REVERSE_STREAM_OFFSET + r``.
REVERSE_STREAM_OFFSET = 2 ** 40


# =============================================================================
# numba kernels (per-run random streams from rbmlib.kernels)
# =============================================================================
#: Units per partial product in :func:`_weight_and_hidden`: each factor lies in (1/2, 2], so a
#: product of 512 stays far inside float64's range.
_PROD_CHUNK = 512


@nb.njit(cache=True, error_model="numpy")
def _weight_and_hidden(x, beta_from, beta_to, s, words, r, h, draw, e1, q):
    """Return ``sum_j softplus(beta_to x_j) - softplus(beta_from x_j)``; if ``draw``, also
    ``h_j ~ Bernoulli(sigmoid(beta_to x_j))``.

    ``x`` is the kept hidden field ``v W + b`` (model dtype); everything here is float64.
    With ``e = exp(-|t|)``, ``softplus(t) = max(t, 0) + log(1 + e)``, so the sum is
    ``sum_j [max(t1_j, 0) - max(t0_j, 0)] + log prod_j (1 + e1_j) / (1 + e0_j)``; each
    factor lies in (1/2, 2], and the product is taken in chunks of ``_PROD_CHUNK``
    units (one ``log`` per chunk instead of two ``log1p`` per unit; fdlibm's log in plain
    arithmetic, :func:`rbmlib.kernels.enumeration.log`, so that the bits depend on no libm and
    the GPU kernel gives the same ones). The draw is the
    rule of :func:`rbmlib.kernels.bernoulli` and reuses ``e1``. Every reduction runs in
    increasing ``j``. ``e1``, ``q``: float64 scratch arrays of length ``len(x)``.
    """
    n = x.shape[0]
    for j in range(n):
        xj = np.float64(x[j])
        a1 = exp_neg(-abs(beta_to * xj))
        a0 = exp_neg(-abs(beta_from * xj))
        e1[j] = a1
        q[j] = (1.0 + a1) / (1.0 + a0)
    acc = 0.0
    for j0 in range(0, n, _PROD_CHUNK):
        prod = 1.0
        for j in range(j0, min(n, j0 + _PROD_CHUNK)):
            xj = np.float64(x[j])
            acc += max(beta_to * xj, 0.0) - max(beta_from * xj, 0.0)
            prod *= q[j]
        acc += plain_log(prod)
    if draw:
        xoshiro_fill(s, words, n)
        uniforms(words, r, n)
        for j in range(n):
            h[j] = np.uint8((r[j] * (1.0 + e1[j]) < e1[j]) != (beta_to * np.float64(x[j]) > 0.0))
    return acc


@nb.njit(cache=True, error_model="numpy")
def _draw_visible(y, beta, aA, s, words, r, t, v):
    """``v_i ~ Bernoulli(sigmoid(beta y_i + (1 - beta) aA_i))`` with the kept field ``y = W h + a_B``.

    The logits are formed in float64 (``t``, scratch) and drawn by
    :func:`rbmlib.kernels.bernoulli_block` (``1.0 * t_i`` is ``t_i``: the rule of
    :func:`rbmlib.kernels.bernoulli`, element by element, four quarters interleaved).
    """
    n = v.shape[0]
    c = 1.0 - beta
    for i in range(n):
        t[i] = beta * np.float64(y[i]) + c * aA[i]
    xoshiro_fill(s, words, n)
    uniforms(words, r, n)
    bernoulli_block(t, 1.0, r, v)


@nb.njit(cache=True, error_model="numpy")
def _active_sum(d, v):
    """``sum_{i: v_i = 1} d_i`` in increasing ``i``, branch-free (the added zeros change no bit)."""
    acc = 0.0
    for i in range(v.shape[0]):
        acc += d[i] * np.float64(v[i])
    return acc


@nb.njit(cache=True, parallel=True, error_model="numpy")
def _forward_kernel(W, WT, b, aB, aA, dA, betas, S, logw):
    """Forward AIS, one run per row of ``S`` (RNG states, advanced in place).

    W (nv, >= nh), WT (nh, >= nv): rows of the fields (:func:`rbmlib.kernels.aligned_rows`),
    b (nh,), aB (nv,) in the model's dtype; aA, dA = aB - aA (nv,) float64;
    betas (K+1,) with betas[0] = 0, betas[K] = 1; logw (n_runs,) output.
    The fields ``x = v W + b`` and ``y = W h + a_B`` are kept by the sampler's rule
    (:func:`rbmlib.kernels.update_field`, from scratch every :data:`rbmlib.kernels.REFRESH` updates).
    """
    n_runs = S.shape[0]
    nv = aB.shape[0]
    nh = b.shape[0]
    K = betas.shape[0] - 1
    n_max = max(nv, nh)
    for c in nb.prange(n_runs):
        on = np.empty(n_max, dtype=np.int64)
        off = np.empty(n_max, dtype=np.int64)
        x = np.empty(nh, dtype=W.dtype)
        y = np.empty(nv, dtype=W.dtype)
        v = np.empty(nv, dtype=np.uint8)
        h = np.zeros(nh, dtype=np.uint8)
        vs = np.empty(nv, dtype=np.uint8)
        hs = np.empty(nh, dtype=np.uint8)
        r = np.empty(n_max)
        t = np.empty(nv)
        words = np.empty(n_max + N_LANES, dtype=np.uint64)
        e1 = np.empty(nh)
        q = np.empty(nh)
        s = S[c]
        # v_0 ~ p_A exactly: independent units with p(v_i = 1) = sigmoid(aA_i)
        xoshiro_fill(s, words, nv)
        uniforms(words, r, nv)
        for i in range(nv):
            v[i] = bernoulli(aA[i], r[i])
        update_field(W, b, v, vs, on, off, x, True)
        kx = 1
        ky = 0
        lw = 0.0
        for k in range(1, K + 1):
            b0 = betas[k - 1]
            b1 = betas[k]
            sweep = k < K
            # log f_k(v) - log f_{k-1}(v); h ~ p_k(h|v) drawn from the same exp(-|b1 x|)
            lw += (b1 - b0) * _active_sum(dA, v) + _weight_and_hidden(x, b0, b1, s, words, r, h, sweep, e1, q)
            if sweep:
                update_field(WT, aB, h, hs, on, off, y, ky % REFRESH == 0)
                ky += 1
                _draw_visible(y, b1, aA, s, words, r, t, v)
                update_field(W, b, v, vs, on, off, x, kx % REFRESH == 0)
                kx += 1
        logw[c] = lw


@nb.njit(cache=True, parallel=True, error_model="numpy")
def _reverse_kernel(W, WT, b, aB, aA, dA, betas, V0, S, logw):
    """Reverse AIS from the visible states ``V0`` (n_runs, nv), one run per row (arrays as
    :func:`_forward_kernel`)."""
    n_runs = S.shape[0]
    nv = aB.shape[0]
    nh = b.shape[0]
    K = betas.shape[0] - 1
    n_max = max(nv, nh)
    for c in nb.prange(n_runs):
        on = np.empty(n_max, dtype=np.int64)
        off = np.empty(n_max, dtype=np.int64)
        x = np.empty(nh, dtype=W.dtype)
        y = np.empty(nv, dtype=W.dtype)
        v = V0[c].copy()
        h = np.empty(nh, dtype=np.uint8)
        vs = np.empty(nv, dtype=np.uint8)
        hs = np.empty(nh, dtype=np.uint8)
        r = np.empty(n_max)
        t = np.empty(nv)
        words = np.empty(n_max + N_LANES, dtype=np.uint64)
        e1 = np.empty(nh)
        q = np.empty(nh)
        s = S[c]
        update_field(W, b, v, vs, on, off, x, True)
        kx = 1
        ky = 0
        # h ~ p_K(h | v): first half of the sweep at beta_K (weight change 0)
        _weight_and_hidden(x, betas[K], betas[K], s, words, r, h, True, e1, q)
        lw = 0.0
        for k in range(K, 0, -1):
            b1 = betas[k]
            b0 = betas[k - 1]
            update_field(WT, aB, h, hs, on, off, y, ky % REFRESH == 0)
            ky += 1
            _draw_visible(y, b1, aA, s, words, r, t, v)
            update_field(W, b, v, vs, on, off, x, kx % REFRESH == 0)
            kx += 1
            # log f_{k-1}(v) - log f_k(v); h for the next sweep (at beta_{k-1}) from the same exps
            lw += (b0 - b1) * _active_sum(dA, v) + _weight_and_hidden(x, b1, b0, s, words, r, h, k > 1, e1, q)
        logw[c] = lw


# =============================================================================
# results
# =============================================================================
def _rel_se(logw):
    """Standard error of log(mean w) by the delta method: std(w) / (sqrt(n) mean(w))."""
    logw = np.asarray(logw, dtype=np.float64)
    n = logw.size
    if n < 2:
        return float("nan")
    w = np.exp(logw - np.max(logw))
    return float(np.std(w, ddof=1) / math.sqrt(n) / np.mean(w))


@dataclass(frozen=True)
class AISResult:
    """Outcome of a forward or reverse AIS estimate of ``log Z``.

    Attributes
    ----------
    log_z : float
        Estimate of ``log Z_B`` (nats): ``log Z_A + log mean(w)`` (forward) or
        ``log Z_A - log mean(w_R)`` (reverse).
    log_z_std : float
        Standard error of ``log_z``, delta method on the weights:
        ``std(w) / (sqrt(n_runs) mean(w))``. Valid when the weights have a finite
        variance and ``ess`` is not tiny; it does not cover the downward
        (forward) / upward (reverse) bias of ``log mean(w)`` (Jensen), which is of
        order ``log_z_std**2 / 2``.
    log_weights : ndarray, shape (n_runs,)
        Per-run log importance weights ``log w = -W``.
    works : ndarray, shape (n_runs,)
        ``-log_weights``: the work done on each run (units of k_B T).
    schedule : ndarray, shape (K + 1,)
        The inverse temperatures ``beta_0 = 0 .. beta_K = 1``.
    log_z_base : float
        Exact ``log Z_A`` of the base model.
    base_biases : ndarray, shape (n_visible,)
        Visible biases ``a_A`` of the base model.
    direction : {'forward', 'reverse'}
    seed : int
    wall_s : float
        Wall time of the sampling kernel, seconds (not reproducible).
    fingerprint : str
        ``rbm.fingerprint()`` of the target model.
    """

    log_z: float
    log_z_std: float
    log_weights: np.ndarray
    schedule: np.ndarray
    log_z_base: float
    base_biases: np.ndarray
    direction: str
    seed: int
    wall_s: float
    fingerprint: str

    @property
    def works(self) -> np.ndarray:
        return -self.log_weights

    @property
    def n_runs(self) -> int:
        return int(self.log_weights.size)

    @property
    def n_steps(self) -> int:
        """Number ``K`` of annealing steps (intermediate distributions ``beta_1 .. beta_K``)."""
        return int(self.schedule.size - 1)

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, ``(sum w)^2 / sum w^2``."""
        w = np.exp(self.log_weights - np.max(self.log_weights))
        return float(w.sum() ** 2 / np.sum(w * w))

    @property
    def log_z_bounds(self) -> tuple[float, float]:
        """``log Z_A + log(mean(w) -+ 3 se(mean w))`` (forward), as in Salakhutdinov & Murray (2008).

        The lower end is ``-inf`` when ``3 se >= mean``.
        """
        rel = 3.0 * self.log_z_std
        lo = math.log(1.0 - rel) if rel < 1.0 else -math.inf
        hi = math.log(1.0 + rel)
        if self.direction == "forward":
            return self.log_z + lo, self.log_z + hi
        return self.log_z - hi, self.log_z - lo

    def __repr__(self) -> str:
        return (f"AISResult({self.direction}, log_z={self.log_z:.3f} +- {self.log_z_std:.3f}, "
                f"n_runs={self.n_runs}, n_steps={self.n_steps})")


@dataclass(frozen=True)
class BARResult:
    """Bennett acceptance ratio estimate from forward and reverse works.

    Attributes
    ----------
    delta_f : float
        ``Delta F = F_B - F_A = -log(Z_B / Z_A)`` (units of k_B T).
    delta_f_std : float
        Its asymptotic standard error (Bennett 1976 eq. 10a as corrected by
        Shirts et al. 2003).
    log_z : float or None
        ``log Z_A - delta_f`` when ``log Z_A`` is known (inputs were AIS results).
    log_z_std : float
        Equal to ``delta_f_std``.
    n_forward, n_reverse : int
    """

    delta_f: float
    delta_f_std: float
    log_z: float | None
    n_forward: int
    n_reverse: int

    @property
    def log_z_std(self) -> float:
        return self.delta_f_std

    def __repr__(self) -> str:
        lz = "None" if self.log_z is None else f"{self.log_z:.3f}"
        return f"BARResult(delta_f={self.delta_f:.3f} +- {self.delta_f_std:.3f}, log_z={lz})"


@dataclass(frozen=True)
class RAISEResult:
    """Reverse-AIS (RAISE) lower bounds on the log-likelihood of data vectors.

    Attributes
    ----------
    per_point : ndarray, shape (n_points,)
        ``log p_hat(v_n) = -F_B(v_n) - log Z_A + log mean_m w_R(v_n, m)`` (nats);
        ``E[per_point[n]] <= log p_ann(v_n)``.
    mean : float
        ``per_point.mean()``: stochastic lower bound on the average log-likelihood
        of the annealing model.
    mean_std : float
        Standard error of ``mean`` (spread over data points and runs).
    log_weights : ndarray, shape (n_points, n_chains)
    schedule, log_z_base, base_biases, seed, wall_s, fingerprint : as in :class:`AISResult`.
    """

    per_point: np.ndarray
    log_weights: np.ndarray
    schedule: np.ndarray
    log_z_base: float
    base_biases: np.ndarray
    seed: int
    wall_s: float
    fingerprint: str

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_point))

    @property
    def mean_std(self) -> float:
        n = self.per_point.size
        return float(np.std(self.per_point, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")

    @property
    def n_steps(self) -> int:
        return int(self.schedule.size - 1)

    def __repr__(self) -> str:
        return (f"RAISEResult(mean={self.mean:.3f} +- {self.mean_std:.3f}, n_points={self.per_point.size}, "
                f"n_chains={self.log_weights.shape[1]}, n_steps={self.n_steps})")


@dataclass(frozen=True)
class LogLikelihood:
    """Average log-likelihood ``mean_n [-F(v_n)] - log Z`` of a data set (nats per vector).

    ``std_data`` is the standard error from the finite data set, ``std_log_z`` the
    error of ``log Z``; ``std`` combines them in quadrature.
    """

    mean: float
    std_data: float
    std_log_z: float
    n_points: int

    @property
    def std(self) -> float:
        return math.hypot(self.std_data, self.std_log_z)


# =============================================================================
# schedules and the base model
# =============================================================================
def make_schedule(n_steps: int | None = None, kind: str = "salakhutdinov") -> np.ndarray:
    """Inverse temperatures ``beta_0 = 0 < ... < beta_K = 1`` (float64, shape (K + 1,)).

    Parameters
    ----------
    n_steps : int, optional
        Number ``K`` of annealing steps. For ``kind='salakhutdinov'`` the default
        is 14,500, the schedule of Salakhutdinov & Murray (2008); other values
        keep its shape (fractions 500/14500, 4000/14500 and 10000/14500 of the
        steps on [0, 0.5], [0.5, 0.9], [0.9, 1]).
    kind : {'salakhutdinov', 'linear'}
        ``'linear'``: ``K`` uniform steps on [0, 1].
    """
    if kind not in ("salakhutdinov", "linear"):
        raise ValueError(f"kind must be 'salakhutdinov' or 'linear', got {kind!r}.")
    total = sum(n for _, n in SALAKHUTDINOV_STEPS)
    if n_steps is None:
        n_steps = total if kind == "salakhutdinov" else 1000
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}.")
    n_steps = int(n_steps)
    if kind == "linear":
        return np.linspace(0.0, 1.0, n_steps + 1)
    if n_steps < len(SALAKHUTDINOV_STEPS):
        raise ValueError(f"the 'salakhutdinov' schedule needs n_steps >= 3, got {n_steps}.")
    # steps per segment, proportional to 500 : 4000 : 10000 (at least one each), summing to n_steps
    cum = np.cumsum([n for _, n in SALAKHUTDINOV_STEPS]) / total
    ends = np.maximum(np.round(cum * n_steps).astype(int), np.arange(1, len(cum) + 1))
    ends[-1] = n_steps
    counts = np.diff(np.concatenate([[0], ends]))
    parts, lo = [], 0.0
    for (hi, _), m in zip(SALAKHUTDINOV_STEPS, counts):
        parts.append(np.linspace(lo, hi, m + 1)[:-1])
        lo = hi
    parts.append(np.array([1.0]))
    return np.concatenate(parts)


def _check_schedule(schedule) -> np.ndarray:
    if isinstance(schedule, str):
        if schedule != "salakhutdinov":
            raise ValueError(
                f"schedule must be 'salakhutdinov', an int (number of steps of that shape) or an "
                f"array of inverse temperatures from 0 to 1, got {schedule!r}."
            )
        return make_schedule()
    if isinstance(schedule, (int, np.integer)) and not isinstance(schedule, bool):
        return make_schedule(int(schedule))
    s = np.asarray(schedule, dtype=np.float64)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"schedule must be a 1-D array of at least 2 inverse temperatures, got shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError("schedule contains NaN or inf.")
    if s[0] != 0.0 or s[-1] != 1.0:
        raise ValueError(
            f"schedule must start at beta = 0 (the base model) and end at beta = 1 (the target), "
            f"got {s[0]!r} ... {s[-1]!r}. Use rbmlib.ais.make_schedule(K) or np.linspace(0, 1, K + 1)."
        )
    if np.any(np.diff(s) < 0):
        raise ValueError("schedule must be non-decreasing (anneal from beta = 0 to beta = 1).")
    return np.ascontiguousarray(s)


def base_rate_biases(data, *, smoothing: float = 0.05) -> np.ndarray:
    """Visible biases of the base-rate model: smoothed log-odds of the pixel frequencies.

    ``p_i = (mean_n v_ni + smoothing) / (1 + 2 smoothing)``, ``a_A,i = log(p_i / (1 - p_i))``:
    ``smoothing * n_samples`` pseudo-counts added to both outcomes of every pixel.
    The default, 5 pseudo-counts per 100 training cases, is the amount of
    Salakhutdinov's AIS code, which adds them to the "on" count only
    (``p_i = (mean + 0.05) / 1.05``, infinite for a pixel that is always on); the
    symmetric version keeps ``|a_A,i| <= log 21`` for any data.

    Parameters
    ----------
    data : array-like, shape (n_samples, n_visible), binary
    smoothing : float > 0

    Returns
    -------
    ndarray, shape (n_visible,), float64
    """
    if not (np.isfinite(smoothing) and smoothing > 0):
        raise ValueError(f"smoothing must be a finite number > 0, got {smoothing!r}.")
    X = np.asarray(data)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"data must have shape (n_samples, n_visible) with n_samples >= 1, got {X.shape}.")
    X, _ = check_binary(X, "data", X.shape[1], np.float64)
    p = (X.mean(axis=0) + smoothing) / (1.0 + 2.0 * smoothing)
    return np.log(p) - np.log1p(-p)


def base_log_partition(base_biases, n_hidden: int) -> float:
    """Exact ``log Z_A = sum_i softplus(a_A,i) + n_hidden log 2`` of the base model (``W = 0``, ``b = 0``)."""
    a = np.asarray(base_biases, dtype=np.float64)
    return float(np.sum(np.logaddexp(0.0, a)) + n_hidden * math.log(2.0))


def _resolve_base(rbm: RBM, base) -> np.ndarray:
    nv = rbm.n_visible
    if base is None:
        return np.zeros(nv)
    arr = np.asarray(base)
    if arr.ndim == 2:
        if arr.shape[1] != nv:
            raise ValueError(
                f"base data have {arr.shape[1]} columns but the model has {nv} visible units."
            )
        return base_rate_biases(arr)
    if arr.ndim == 1:
        if arr.shape[0] != nv:
            raise ValueError(
                f"base visible biases must have shape ({nv},), got {arr.shape}. Pass training data "
                f"(n_samples, {nv}) to use smoothed base rates, or None for the uniform base."
            )
        a = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("base visible biases contain NaN or inf.")
        return a.copy()
    raise ValueError(
        "base must be None (uniform base model), training data of shape (n_samples, n_visible) "
        f"or visible biases of shape (n_visible,), got an array of shape {arr.shape}."
    )


def intermediate_rbm(rbm: RBM, beta: float, base_biases) -> RBM:
    """The RBM of the annealing path at ``beta`` in [0, 1]:
    ``(beta W, (1 - beta) a_A + beta a, beta b)`` in float64."""
    check_rbm(rbm)
    if not (0.0 <= beta <= 1.0):
        raise ValueError(f"beta must lie in [0, 1], got {beta!r}.")
    aA = np.asarray(base_biases, dtype=np.float64)
    W = np.asarray(rbm.W, np.float64)
    return RBM(beta * W, (1.0 - beta) * aA + beta * np.asarray(rbm.a, np.float64),
               beta * np.asarray(rbm.b, np.float64))


def _arrays(rbm: RBM, aA: np.ndarray):
    """Kernel arguments: the rows and biases of the two fields in the model's dtype (as the sampler
    keeps them), the base biases and ``d = a_B - a_A`` in float64."""
    W = np.asarray(rbm.W)
    aB = np.ascontiguousarray(rbm.a)
    aA = np.ascontiguousarray(aA, dtype=np.float64)
    return (aligned_rows(W), aligned_rows(W.T), np.ascontiguousarray(rbm.b), aB, aA,
            aB.astype(np.float64) - aA)


def _streams(seed, offset, n):
    return seed_streams(np.uint64(seed), np.uint64(offset), n)


_EXEC_KEYS = ("executor", "scheduler", "workers", "threads", "retries", "checkpoint_dir")


def _use_ensemble(opts) -> bool:
    return any(opts.get(k) is not None for k in ("executor", "scheduler", "workers", "checkpoint_dir"))


def _forward_shard(rbm, seed, chain_offset, n_chains, *, betas, aA):
    """Forward AIS runs ``chain_offset ..`` (shard function of :func:`rbmlib.ensemble.run_ensemble`)."""
    W, WT, b, aB, aA, dA = _arrays(rbm, np.asarray(aA))
    S = _streams(seed, chain_offset, n_chains)
    logw = np.empty(n_chains)
    _forward_kernel(W, WT, b, aB, aA, dA, np.asarray(betas, np.float64), S, logw)
    return {"logw": logw}


def _reverse_shard(rbm, seed, chain_offset, n_chains, *, betas, aA, starts, runs_per_start):
    """Reverse AIS runs ``chain_offset ..``: run ``r`` starts at ``starts[r // runs_per_start]`` and uses
    stream ``REVERSE_STREAM_OFFSET + r`` (shard function of :func:`rbmlib.ensemble.run_ensemble`)."""
    W, WT, b, aB, aA, dA = _arrays(rbm, np.asarray(aA))
    r = np.arange(chain_offset, chain_offset + n_chains)
    V0 = np.ascontiguousarray(np.asarray(starts, np.uint8)[r // int(runs_per_start)])
    S = _streams(seed, REVERSE_STREAM_OFFSET + chain_offset, n_chains)
    logw = np.empty(n_chains)
    _reverse_kernel(W, WT, b, aB, aA, dA, np.asarray(betas, np.float64), V0, S, logw)
    return {"logw": logw}


def _check_backend(backend, opts):
    """Validate ``backend``; ``'cuda'`` runs in this process on one GPU, so no executor options."""
    from .sampling import check_backend
    if check_backend(backend) == "cuda" and _use_ensemble(opts):
        raise ValueError("backend='cuda' runs every AIS run in this process on one GPU; drop workers, scheduler, "
                         "executor and checkpoint_dir (or use backend='cpu' to spread shards over processes).")


def _cuda_weights(rbm, aA, betas, seed, offset, n_runs, V0=None):
    """Log-weights of ``n_runs`` AIS runs on the GPU (forward, or reverse from ``V0``), streams
    ``(seed, offset + r)``: the CPU kernels' bits (:func:`rbmlib.kernels.cuda.ais_weights`)."""
    from .sampling import cuda_backend
    kc = cuda_backend()
    W, WT, b, aB, aA, dA = _arrays(rbm, aA)
    S = _streams(seed, offset, n_runs)
    t0 = time.perf_counter()
    logw = kc.ais_weights(W, WT, b, aB, aA, dA, np.ascontiguousarray(betas, np.float64), S, V0)
    return logw, time.perf_counter() - t0


def _sharded_weights(fn, rbm, n_runs, seed, params, shard_size, opts, desc):
    from . import ensemble
    out = ensemble.run_ensemble(fn, rbm, n_runs, seed=seed, params=params, shard_size=int(shard_size),
                                reduce="concat", desc=desc, **{k: v for k, v in opts.items() if v is not None})
    if not out.complete:  # pragma: no cover -- max_shards is not exposed here
        raise RuntimeError("the sharded AIS run did not complete.")
    return out.value["logw"], out.shard_seconds


# =============================================================================
# estimators
# =============================================================================
def log_partition(rbm: RBM, *, n_runs: int = 100, schedule="salakhutdinov", base=None,
                  seed: int = 0, shard_size: int = 10, executor=None, scheduler=None, workers=None,
                  threads=None, retries: int = 2, checkpoint_dir=None, backend: str = "cpu") -> AISResult:
    """Forward AIS estimate of ``log Z`` (Salakhutdinov & Murray 2008).

    Parameters
    ----------
    rbm : RBM
        Target model ``B`` (any size; float32 or float64: the kept fields are in its dtype).
    n_runs : int
        Number of independent annealing runs (importance weights).
    schedule : 'salakhutdinov', int or array-like
        ``'salakhutdinov'``: 14,500 steps (500 on [0, 0.5], 4,000 on [0.5, 0.9],
        10,000 on [0.9, 1]); an int ``K``: that shape with ``K`` steps
        (:func:`make_schedule`); or the inverse temperatures themselves,
        non-decreasing from exactly 0 to exactly 1.
    base : None, array (n_samples, n_visible) or array (n_visible,)
        Base model: ``None`` = uniform (``a_A = 0``); training data = smoothed
        base rates (:func:`base_rate_biases`); or the visible biases ``a_A``.
    seed : int
        Run ``r`` uses random stream ``(seed, r)``.
    shard_size, executor, scheduler, workers, threads, retries, checkpoint_dir : optional
        Run the annealing runs in shards of ``shard_size`` through
        :func:`rbmlib.ensemble.run_ensemble`: ``workers=N`` a local process pool,
        ``scheduler='tcp://host:8786'`` a Dask cluster (``'local'``: a LocalCluster of
        ``workers`` processes), ``executor`` a ready executor / ``distributed.Client``;
        ``checkpoint_dir`` keeps finished shards (resume by calling again). Every run
        keeps its own random stream, so the weights are bit-identical to the default
        in-process computation. ``wall_s`` is then the summed compute time of the shards.
    backend : {'cpu', 'cuda'}
        ``'cuda'``: every run on an NVIDIA GPU, one block of threads per run (numba-cuda:
        ``pip install 'rbmlib[cuda]'``), the CPU's weights bit for bit; runs are sharded to
        fit the GPU's memory; not combined with the executor options.

    Returns
    -------
    AISResult
        ``log_z`` (nats) with ``log_z_std``, per-run ``log_weights`` / ``works``.
    """
    check_rbm(rbm)
    n_runs = check_int(n_runs, "n_runs", 1)
    seed = check_seed(seed)
    betas = _check_schedule(schedule)
    aA = _resolve_base(rbm, base)
    opts = dict(executor=executor, scheduler=scheduler, workers=workers, threads=threads, retries=retries,
                checkpoint_dir=checkpoint_dir)
    _check_backend(backend, opts)
    if backend == "cuda":
        logw, wall = _cuda_weights(rbm, aA, betas, seed, 0, n_runs)
    elif _use_ensemble(opts):
        logw, wall = _sharded_weights(_forward_shard, rbm, n_runs, seed, {"betas": betas, "aA": aA},
                                      shard_size, opts, "AIS runs")
    else:
        W, WT, b, aB, aA, dA = _arrays(rbm, aA)
        S = _streams(seed, 0, n_runs)
        logw = np.empty(n_runs)
        t0 = time.perf_counter()
        _forward_kernel(W, WT, b, aB, aA, dA, betas, S, logw)
        wall = time.perf_counter() - t0
    lza = base_log_partition(aA, rbm.n_hidden)
    return AISResult(log_z=lza + logmeanexp(logw), log_z_std=_rel_se(logw), log_weights=logw,
                     schedule=betas, log_z_base=lza, base_biases=aA, direction="forward", seed=seed,
                     wall_s=wall, fingerprint=rbm.fingerprint())


def _reverse_weights(rbm, V0, betas, aA, seed, offset, backend="cpu"):
    if backend == "cuda":
        return _cuda_weights(rbm, aA, betas, seed, offset, V0.shape[0], V0)
    W, WT, b, aB, aA, dA = _arrays(rbm, aA)
    S = _streams(seed, offset, V0.shape[0])
    logw = np.empty(V0.shape[0])
    t0 = time.perf_counter()
    _reverse_kernel(W, WT, b, aB, aA, dA, betas, V0, S, logw)
    return logw, time.perf_counter() - t0


def reverse_log_partition(rbm: RBM, v_start=None, *, n_runs: int = 100, schedule="salakhutdinov",
                          base=None, seed: int = 0, backend: str = "cpu") -> AISResult:
    """Reverse AIS estimate of ``log Z`` from equilibrium samples of the target.

    Each run starts at a visible state ``v_start[r]`` that must be an exact (or
    well-equilibrated) sample of ``p_B(v)``, anneals back to the base model and
    collects ``w_R = prod_k f_{k-1}(v) / f_k(v)``; then ``E[w_R] = Z_A / Z_B`` and
    ``log Z_B = log Z_A - log mean(w_R)``. This estimate is biased *upwards*
    (Jensen), the mirror image of forward AIS.

    Parameters
    ----------
    v_start : array-like (n_runs, n_visible), binary, optional
        Starting states. ``None``: draw ``n_runs`` exact samples with
        :func:`rbmlib.exact.equilibrium_sample` (models with a layer of at most 24 units only).
    n_runs : int
        Used only when ``v_start`` is None.
    schedule, base : as in :func:`log_partition`.
    seed : int
        Reverse run ``r`` uses stream ``(seed, REVERSE_STREAM_OFFSET + r)``;
        exact starting samples use :func:`rbmlib.exact.equilibrium_rng` ``(seed)``.
    backend : {'cpu', 'cuda'}
        As in :func:`log_partition` (the same weights).

    Returns
    -------
    AISResult with ``direction='reverse'``; ``log_weights`` are ``log w_R``.
    """
    check_rbm(rbm)
    seed = check_seed(seed)
    _check_backend(backend, {})
    betas = _check_schedule(schedule)
    aA = _resolve_base(rbm, base)
    if v_start is None:
        n_runs = check_int(n_runs, "n_runs", 1)
        if min(rbm.n_visible, rbm.n_hidden) > exact.MAX_SAMPLED_LAYER:
            raise ValueError(
                f"v_start=None needs exact samples, possible only when a layer has at most "
                f"{exact.MAX_SAMPLED_LAYER} units (this model is {rbm.n_visible}x{rbm.n_hidden}). Pass "
                "v_start = equilibrium samples, e.g. rbmlib.sample(rbm, n_runs, 10000, seed=...)[0]."
            )
        V0 = exact.equilibrium_sample(rbm, n_runs, seed=seed)[0]
    else:
        V0 = _check_states(rbm, v_start, "v_start")
    logw, wall = _reverse_weights(rbm, V0, betas, aA, seed, REVERSE_STREAM_OFFSET, backend)
    lza = base_log_partition(aA, rbm.n_hidden)
    return AISResult(log_z=lza - logmeanexp(logw), log_z_std=_rel_se(logw), log_weights=logw,
                     schedule=betas, log_z_base=lza, base_biases=aA, direction="reverse", seed=seed,
                     wall_s=wall, fingerprint=rbm.fingerprint())


def _check_states(rbm, v, name):
    arr = np.asarray(v)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, {rbm.n_visible}), got {arr.shape}.")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} is empty; give at least one visible state.")
    out, _ = check_binary(arr, name, rbm.n_visible, np.float64)
    return np.ascontiguousarray(out.astype(np.uint8))


def reverse_log_likelihood(rbm: RBM, data, *, n_chains: int = 1, schedule="salakhutdinov", base=None,
                           seed: int = 0, shard_size: int = 100, executor=None, scheduler=None, workers=None,
                           threads=None, retries: int = 2, checkpoint_dir=None, backend: str = "cpu") -> RAISEResult:
    """RAISE: reverse AIS from data, a stochastic lower bound on the log-likelihood.

    For each data vector ``v`` (Burda, Grosse & Salakhutdinov 2015), ``n_chains``
    reverse runs start at ``v`` (first move: ``h ~ p_B(h|v)``, then ``v ~ p_B(v|h)``)
    and anneal to the base model, giving
    ``log p_hat(v) = -F_B(v) - log Z_A + log mean_m w_R,m``.
    ``E[p_hat(v)] = p_ann(v)``, the likelihood of the annealing model
    ``p_A T_1 ... T_K`` (which tends to ``p_B`` as the schedule gets slower);
    hence ``E[log p_hat(v)] <= log p_ann(v)``.

    Parameters
    ----------
    data : array-like (n_points, n_visible), binary
    n_chains : int
        Reverse runs per data vector (their weights are averaged before the log).
    schedule, base : as in :func:`log_partition`.
    seed : int
        Run ``m`` of point ``n`` uses stream ``(seed, REVERSE_STREAM_OFFSET + n * n_chains + m)``.
    shard_size, executor, scheduler, workers, threads, retries, checkpoint_dir : optional
        As in :func:`log_partition`; the runs sharded are the ``n_points * n_chains``
        reverse runs.
    backend : {'cpu', 'cuda'}
        As in :func:`log_partition` (the same weights).

    Returns
    -------
    RAISEResult
    """
    check_rbm(rbm)
    seed = check_seed(seed)
    n_chains = check_int(n_chains, "n_chains", 1)
    betas = _check_schedule(schedule)
    aA = _resolve_base(rbm, base)
    X = _check_states(rbm, data, "data")
    opts = dict(executor=executor, scheduler=scheduler, workers=workers, threads=threads, retries=retries,
                checkpoint_dir=checkpoint_dir)
    _check_backend(backend, opts)
    if _use_ensemble(opts):
        logw, wall = _sharded_weights(_reverse_shard, rbm, X.shape[0] * n_chains, seed,
                                      {"betas": betas, "aA": aA, "starts": X, "runs_per_start": n_chains},
                                      shard_size, opts, "RAISE runs")
    else:
        V0 = np.ascontiguousarray(np.repeat(X, n_chains, axis=0))
        logw, wall = _reverse_weights(rbm, V0, betas, aA, seed, REVERSE_STREAM_OFFSET, backend)
    logw = logw.reshape(X.shape[0], n_chains)
    lza = base_log_partition(aA, rbm.n_hidden)
    lme = logmeanexp(logw, axis=1)
    negF = -np.asarray(rbm.astype(np.float64).free_energy(X), dtype=np.float64)
    return RAISEResult(per_point=negF - lza + lme, log_weights=logw, schedule=betas, log_z_base=lza,
                       base_biases=aA, seed=seed, wall_s=wall, fingerprint=rbm.fingerprint())


def _log_fermi(x):
    """log(1 / (1 + exp(x))), stable."""
    return -np.logaddexp(0.0, x)


def bar(forward, reverse) -> BARResult:
    """Bennett acceptance ratio from forward and reverse works (Bennett 1976; Crooks 2000).

    Solves for ``Delta F``
    ``sum_F 1 / (1 + (n_F/n_R) exp(W_F - Delta F)) = sum_R 1 / (1 + (n_R/n_F) exp(W_R + Delta F))``
    (a monotone equation, by Brent's method in log space), the maximum-likelihood
    estimate under Crooks' relation (Shirts et al. 2003), with the asymptotic
    variance ``(<f_F^2>/<f_F>^2)/n_F + (<f_R^2>/<f_R>^2)/n_R - 1/n_F - 1/n_R``.

    Parameters
    ----------
    forward, reverse : AISResult or array-like of works
        Forward works ``W_F = -log w_F`` (A -> B) and reverse works
        ``W_R = -log w_R`` (B -> A) of the same schedule and base model. With
        :class:`AISResult` inputs the result also carries ``log_z``.

    Returns
    -------
    BARResult
    """
    lza = None
    if isinstance(forward, AISResult) or isinstance(reverse, AISResult):
        if not (isinstance(forward, AISResult) and isinstance(reverse, AISResult)):
            raise TypeError("pass two AISResult objects or two arrays of works, not a mix.")
        if forward.direction != "forward" or reverse.direction != "reverse":
            raise ValueError("bar(forward, reverse): the first result must be forward AIS, the second reverse.")
        if (forward.schedule.shape != reverse.schedule.shape or not np.array_equal(forward.schedule, reverse.schedule)
                or not np.array_equal(forward.base_biases, reverse.base_biases)
                or forward.fingerprint != reverse.fingerprint):
            raise ValueError("forward and reverse runs must share the model, the schedule and the base model.")
        lza = forward.log_z_base
        wf, wr = forward.works, reverse.works
    else:
        wf = np.asarray(forward, dtype=np.float64).ravel()
        wr = np.asarray(reverse, dtype=np.float64).ravel()
    for w, name in ((wf, "forward"), (wr, "reverse")):
        if w.size < 2:
            raise ValueError(f"{name} works: need at least 2 values, got {w.size}.")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{name} works contain NaN or inf.")
    nf, nr = wf.size, wr.size
    M = math.log(nf / nr)

    def g(df):
        return logsumexp(_log_fermi(M + wf - df)) - logsumexp(_log_fermi(-M + wr + df))

    # g is increasing in df; bracket around the two one-sided (exponential-averaging) estimates
    lo = -logmeanexp(-wf)
    hi = logmeanexp(-wr)
    lo, hi = min(lo, hi), max(lo, hi)
    span = max(hi - lo, 1.0)
    lo, hi = lo - span, hi + span
    while g(lo) > 0:
        lo -= 2 * span
        span *= 2
    while g(hi) < 0:
        hi += 2 * span
        span *= 2
    df = brentq(g, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=500)
    lf = _log_fermi(M + wf - df)
    lr = _log_fermi(-M + wr + df)
    ff = np.exp(lf)
    fr = np.exp(lr)
    var = (np.mean(ff * ff) / np.mean(ff) ** 2) / nf + (np.mean(fr * fr) / np.mean(fr) ** 2) / nr - 1 / nf - 1 / nr
    std = math.sqrt(max(float(var), 0.0))
    return BARResult(delta_f=float(df), delta_f_std=std, log_z=None if lza is None else lza - float(df),
                     n_forward=nf, n_reverse=nr)


def average_log_likelihood(rbm: RBM, data, log_z: float, log_z_std: float = 0.0) -> LogLikelihood:
    """Average log-likelihood of ``data`` given ``log Z``: ``mean_n [-F(v_n)] - log Z`` (nats).

    Parameters
    ----------
    data : array-like (n_points, n_visible), binary
    log_z : float
        E.g. ``log_partition(rbm, ...).log_z``.
    log_z_std : float
        Its standard error, propagated into ``LogLikelihood.std``.
    """
    check_rbm(rbm)
    if not np.isfinite(log_z):
        raise ValueError(f"log_z must be finite, got {log_z!r}.")
    if not (np.isfinite(log_z_std) and log_z_std >= 0):
        raise ValueError(f"log_z_std must be finite and >= 0, got {log_z_std!r}.")
    X = _check_states(rbm, data, "data")
    negF = -np.asarray(rbm.astype(np.float64).free_energy(X), dtype=np.float64)
    n = negF.size
    sd = float(np.std(negF, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return LogLikelihood(mean=float(negF.mean() - log_z), std_data=sd, std_log_z=float(log_z_std), n_points=n)


# =============================================================================
# exact references (tiny models, by enumeration)
# =============================================================================
def _exact_path_setup(rbm, schedule, base, max_visible=12):
    check_rbm(rbm)
    if rbm.n_visible > max_visible or rbm.n_visible + rbm.n_hidden > 20:
        raise exact.EnumerationTooLarge(
            f"exact AIS references enumerate the 2**n_visible visible states with their full transition "
            f"matrices (n_visible <= {max_visible}, n_visible + n_hidden <= 20); this model is "
            f"{rbm.n_visible}x{rbm.n_hidden}. Use a tiny model."
        )
    betas = _check_schedule(schedule)
    aA = _resolve_base(rbm, base)
    V = exact.states(rbm.n_visible).astype(np.float64)
    # log f_k(v) for all k and v: a_k.v + sum_j softplus(beta_k (v W + b)_j)
    X = V @ np.asarray(rbm.W, np.float64) + np.asarray(rbm.b, np.float64)   # (S, nh)
    lin_A = V @ aA
    lin_B = V @ np.asarray(rbm.a, np.float64)
    logf = np.stack([(1 - bk) * lin_A + bk * lin_B + np.logaddexp(0.0, bk * X).sum(axis=1) for bk in betas])
    return betas, aA, logf


def _kernel(rbm, beta, aA):
    return exact.visible_chain(intermediate_rbm(rbm, beta, aA), 1.0)


def exact_weight_moments(rbm: RBM, schedule, base=None) -> dict:
    """Exact moments of the forward AIS weight on a tiny model, by the forward recursion.

    With ``r_k = f_k / f_{k-1}`` and the visible-chain kernels ``T_k``,
    ``E[w^q] = sum p_A(v_0) r_1(v_0)^q T_1(v_0, v_1) r_2(v_1)^q ...`` and
    ``E[log w] = sum_k E[log r_k(v_{k-1})]`` under the marginals ``p_A T_1 .. T_{k-1}``.

    Returns
    -------
    dict with ``log_mean_w`` (= log E[w]), ``log_mean_w2`` (= log E[w^2]),
    ``mean_log_w`` (= E[log w] = -<W>), ``log_z_base``, ``log_z`` (exact log Z_B),
    ``rel_var`` (= Var[w] / E[w]^2).
    """
    betas, aA, logf = _exact_path_setup(rbm, schedule, base)
    K = betas.size - 1
    lza = base_log_partition(aA, rbm.n_hidden)
    mu = np.exp(logf[0] - logsumexp(logf[0]))      # marginal of v_{k-1}
    m1 = mu.copy()
    m2 = mu.copy()
    s1 = s2 = 0.0                                             # log scales of m1, m2
    mean_log_w = 0.0
    for k in range(1, K + 1):
        logr = logf[k] - logf[k - 1]
        mean_log_w += float(mu @ logr)
        m1 = m1 * np.exp(logr)
        m2 = m2 * np.exp(2 * logr)
        if k < K:
            T = _kernel(rbm, betas[k], aA)
            mu = mu @ T
            m1 = m1 @ T
            m2 = m2 @ T
        c1, c2 = m1.sum(), m2.sum()
        m1, m2 = m1 / c1, m2 / c2
        s1 += math.log(c1)
        s2 += math.log(c2)
    return {"log_mean_w": s1, "log_mean_w2": s2, "mean_log_w": mean_log_w, "log_z_base": lza,
            "log_z": exact.log_partition(rbm), "rel_var": math.expm1(s2 - 2 * s1)}


def exact_reverse_weights(rbm: RBM, schedule, base=None) -> dict:
    """Exact reverse-AIS weight moments for every starting visible state, tiny models.

    Backward recursion ``G_0 = 1``, ``G_k(v) = sum_u T_k(v, u) [f_{k-1}(u) / f_k(u)] G_{k-1}(u)``,
    so ``G_K(v) = E[w_R | v_K = v]`` (the first move is the sweep ``T_K``).

    Returns
    -------
    dict with ``log_mean_w`` (shape (2**n_visible,), ``log E[w_R | v]`` in
    :func:`rbmlib.exact.states` order), ``log_p_ann`` (exact log-likelihood of the
    annealing model ``p_A T_1 ... T_K``), ``log_p`` (exact ``log p_B(v)``),
    ``log_z_base``, ``log_z``, ``log_mean_w_equilibrium`` (``log E_{p_B}[w_R]``,
    which equals ``log Z_A - log Z_B``).
    """
    betas, aA, logf = _exact_path_setup(rbm, schedule, base)
    K = betas.size - 1
    lza = base_log_partition(aA, rbm.n_hidden)
    lz = exact.log_partition(rbm)
    G = np.ones(logf.shape[1])
    sg = 0.0
    p_ann = np.exp(logf[0] - logsumexp(logf[0]))
    for k in range(1, K + 1):
        T = _kernel(rbm, betas[k], aA)
        G = T @ (np.exp(logf[k - 1] - logf[k]) * G)
        c = G.max()
        G /= c
        sg += math.log(c)
        p_ann = p_ann @ T
    log_mean_w = np.log(G) + sg
    log_p = logf[K] - lz
    eq = float(logsumexp(log_p + log_mean_w))
    return {"log_mean_w": log_mean_w, "log_p_ann": np.log(p_ann), "log_p": log_p, "log_z_base": lza,
            "log_z": lz, "log_mean_w_equilibrium": eq,
            "log_p_ann_from_weights": logf[K] - lza + log_mean_w}


def exact_path_ensemble(rbm: RBM, schedule, base=None, *, max_paths: int = 2 ** 20) -> dict:
    """Every forward path ``(v_0, .., v_{K-1})`` with its forward and reverse probability and work.

    Forward process: ``v_0 ~ p_A``, ``v_k ~ T_k(v_{k-1}, .)``; work
    ``W_F = -sum_{k=1}^K log f_k(v_{k-1}) / f_{k-1}(v_{k-1})``. Reverse process
    (protocol run backwards): ``v_{K-1} ~ p_B`` (after the sweep ``T_K``, which
    leaves ``p_B`` invariant), ``v_{k-1} ~ T_k(v_k, .)``; on the reversed path its
    work is ``-W_F``. Crooks: ``P_F / P_R = exp(W_F - Delta F)`` path by path,
    because each ``T_k`` (the visible chain of a block Gibbs sweep) obeys detailed
    balance with respect to ``p_k``.

    Returns
    -------
    dict with ``p_forward``, ``p_reverse``, ``work`` (each shape (S**K,), S = 2**n_visible),
    ``delta_f`` (= log Z_A - log Z_B, exact).
    """
    betas, aA, logf = _exact_path_setup(rbm, schedule, base)
    K = betas.size - 1
    S = logf.shape[1]
    if S ** K > max_paths:
        raise exact.EnumerationTooLarge(
            f"{S}**{K} = {S ** K} paths exceed max_paths = {max_paths}; use fewer steps or visible units."
        )
    lza = base_log_partition(aA, rbm.n_hidden)
    lz = exact.log_partition(rbm)
    logT = [None] + [np.log(_kernel(rbm, betas[k], aA)) for k in range(1, K)]
    logp0 = logf[0] - logsumexp(logf[0])
    logpK = logf[K] - lz
    # arrays indexed by (v_0, ..., v_{K-1}), built by broadcasting
    shape = lambda axis: tuple(S if i == axis else 1 for i in range(K))  # noqa: E731
    lpf = logp0.reshape(shape(0)).copy()
    lpr = logpK.reshape(shape(K - 1)).copy()
    work = np.zeros([1] * K)
    for k in range(1, K + 1):
        work = work - (logf[k] - logf[k - 1]).reshape(shape(k - 1))
    for k in range(1, K):
        pair = tuple(S if i in (k - 1, k) else 1 for i in range(K))
        lpf = lpf + logT[k].reshape(pair)            # T_k(v_{k-1} -> v_k)
        lpr = lpr + logT[k].T.reshape(pair)          # T_k(v_k -> v_{k-1})
    full = (S,) * K
    return {"p_forward": np.exp(np.broadcast_to(lpf, full)).ravel(),
            "p_reverse": np.exp(np.broadcast_to(lpr, full)).ravel(),
            "work": np.broadcast_to(work, full).ravel().copy(),
            "delta_f": lza - lz}


# =============================================================================
# the paper-scale run (the `rbmlib ais` command: rbmlib.cli.ais)
# =============================================================================
def _resolve_model(model, model_name):
    if isinstance(model, RBM):
        rbm = model
        name = model_name or model.metadata.get("reference") or model.metadata.get("name") or "custom"
    else:
        rbm = RBM.load(model)
        name = model_name or str(model)
    return rbm, name


def _write_json(path: Path, record: dict):
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


@locks_checkpoint("checkpoint_dir", "AIS checkpoint folder", folder=True)
def paper_scale_run(model, *, model_name: str | None = None, n_runs: int = 100, schedule="salakhutdinov", seed: int = 0,
                    base_data="train", heldout="heldout", n_heldout: int | None = None,
                    n_reverse_chains: int = 1, reverse_schedule=None, out=None, checkpoint_dir=None,
                    shard_size: int | None = None, reverse_shard_size: int | None = None,
                    **executor_options) -> dict:
    """Forward AIS ``log Z`` and held-out log-likelihood (plus the RAISE bound) of a reference model.

    The Salakhutdinov & Murray (2008) setting by default: 100 runs of 14,500 steps,
    base rates from the model's training data. Writes a small JSON result with
    provenance (model fingerprint, seed, schedule, wall times, machine) to ``out``
    if given, and returns the same record.

    Parameters
    ----------
    model : RBM, str or Path
        The model, or a ``.npz`` file (:meth:`rbmlib.RBM.load`); a reference model by name is
        :func:`rbmlib.reference_models.load_reference` (the ``rbmlib ais --model NAME`` command does that).
    model_name : str, optional
        Name recorded in the result (default: the model's ``reference`` or ``name`` metadata, or the path).
    base_data, heldout : str
        Splits of :func:`rbmlib.datasets.load_mnist` (embedded data set) for the base
        rates and for the held-out log-likelihood.
    n_heldout : int, optional
        Use the first ``n_heldout`` held-out digits for the RAISE bound (all by
        default; the forward-AIS log-likelihood always uses all of them). 0 skips RAISE;
        a negative number or more digits than the split holds is an error.
    n_reverse_chains : int
        RAISE chains per held-out digit.
    reverse_schedule : optional
        RAISE schedule (default: the forward one).
    out : path, optional
        JSON result file; checked (folder writable) before anything is computed.
    checkpoint_dir : path, optional
        Keep every finished shard of runs: the forward runs in ``checkpoint_dir/forward``,
        the RAISE runs in ``checkpoint_dir/raise``; calling again with the same arguments
        resumes. The folder is locked while the run uses it.
    shard_size, reverse_shard_size : int, optional
        Runs per shard of the forward and RAISE passes (defaults of :func:`log_partition`
        and :func:`reverse_log_likelihood`); they do not change any result.
    **executor_options
        ``executor``, ``scheduler``, ``workers``, ``threads``, ``retries`` of
        :func:`log_partition`: run the AIS and RAISE runs in parallel (same bits); or
        ``backend='cuda'``: both passes on the GPU (same bits).
    """
    from . import datasets
    if out is not None:
        check_output(out, overwrite=True, what="AIS result file")
    n_heldout = check_int(n_heldout, "n_heldout (None: all held-out digits; 0 skips RAISE)", 0, allow_none=True)
    fwd_opts, rev_opts = dict(executor_options), dict(executor_options)
    if checkpoint_dir is not None:
        fwd_opts["checkpoint_dir"] = Path(checkpoint_dir) / "forward"
        rev_opts["checkpoint_dir"] = Path(checkpoint_dir) / "raise"
    if shard_size is not None:
        fwd_opts["shard_size"] = shard_size
    if reverse_shard_size is not None:
        rev_opts["shard_size"] = reverse_shard_size
    rbm, name = _resolve_model(model, model_name)
    dataset = rbm.metadata.get("dataset", "embedded")
    if dataset not in ("embedded", "mnist-full"):
        dataset = "embedded"
    Xb = datasets.load_mnist(dataset, base_data)
    Xh = datasets.load_mnist(dataset, heldout)
    if n_heldout is not None and n_heldout > Xh.shape[0]:
        raise ValueError(f"n_heldout = {n_heldout} but the {heldout!r} split of {dataset!r} has {Xh.shape[0]} "
                         f"digits; give at most {Xh.shape[0]} (or omit it to use all).")
    fwd = log_partition(rbm, n_runs=n_runs, schedule=schedule, base=Xb, seed=seed, **fwd_opts)
    ll = average_log_likelihood(rbm, Xh, fwd.log_z, fwd.log_z_std)
    rec = {
        "format": "rbmlib.ais.paper_scale_run", "format_version": 2,
        "model": name, "model_fingerprint": rbm.fingerprint(),
        "n_visible": rbm.n_visible, "n_hidden": rbm.n_hidden,
        "data": {"dataset": dataset, "base_split": base_data, "heldout_split": heldout,
                 "n_base": int(Xb.shape[0]), "n_heldout": int(Xh.shape[0]),
                 "heldout_hash": datasets.dataset_hash(Xh)},
        "seed": seed, "n_runs": n_runs, "n_steps": fwd.n_steps,
        "schedule": (schedule if isinstance(schedule, (str, int)) else "custom"),
        "schedule_sha256": _sha(fwd.schedule),
        "base": {"kind": "smoothed base rates", "smoothing": 0.05, "log_z_base": fwd.log_z_base},
        "forward": {"log_z": fwd.log_z, "log_z_std": fwd.log_z_std, "log_z_bounds_3se": list(fwd.log_z_bounds),
                    "ess": fwd.ess, "log_weights": fwd.log_weights.tolist(), "wall_s": fwd.wall_s},
        "heldout_ll": {"mean": ll.mean, "std": ll.std, "std_data": ll.std_data, "std_log_z": ll.std_log_z},
        "backend": executor_options.get("backend", "cpu"),
        "machine": machine(), "code_version": code_version(), "numba_threads": nb.get_num_threads(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    n_rev = Xh.shape[0] if n_heldout is None else int(n_heldout)
    if n_rev > 0:
        rsched = schedule if reverse_schedule is None else reverse_schedule
        rev = reverse_log_likelihood(rbm, Xh[:n_rev], n_chains=n_reverse_chains, schedule=rsched,
                                     base=Xb, seed=seed, **rev_opts)
        rec["raise"] = {"mean": rev.mean, "mean_std": rev.mean_std, "n_points": n_rev,
                        "n_chains": n_reverse_chains, "n_steps": rev.n_steps,
                        "schedule_sha256": _sha(rev.schedule),
                        "per_point": rev.per_point.tolist(), "wall_s": rev.wall_s,
                        "ais_ll_same_points":
                            average_log_likelihood(rbm, Xh[:n_rev], fwd.log_z, fwd.log_z_std).mean}
    if out is not None:
        _write_json(Path(out), rec)
    return rec


def _sha(arr) -> str:
    import hashlib
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=np.float64).tobytes()).hexdigest()
