"""The heat-exchange fluctuation theorem (XFT) of an RBM: exact checks and the paper's experiment.

Setting (Jarzynski & Wojcik 2004; Salazar 2017, Sec. on heat exchange)
----------------------------------------------------------------------
A system starts in equilibrium at inverse temperature ``beta1``, ``s ~ p_beta1(s)``,
and is then moved by a Markov kernel ``K`` that works at ``beta2``. The heat it
receives is ``Q = E(s') - E(s)``. If ``K`` satisfies detailed balance with respect to
``p_beta2`` on the space where ``E`` is measured, then

    P(Q) / P(-Q) = exp((beta1 - beta2) Q).                                  (XFT)

For an RBM on the joint space ``s = (v, h)``: the half-updates ``'h'`` and ``'v'``
are reversible, so (XFT) holds exactly for them; the block sweep ``'hv'`` is *not*
reversible (its time reversal is ``'vh'``) and the exact statement becomes

    P_hv(Q) / P_vh(-Q) = exp((beta1 - beta2) Q).

Contents
--------
Exact (tiny models, by enumeration):
    :func:`kernel_matrix`, :func:`exact_heat_distribution`, :func:`exact_xft_check`.
At scale (sampling):
    :func:`run_xft` (sharded, checkpointed, resumable, bit-reproducible) returning an
    :class:`XFTResult` (counts on a fine symmetric grid; ``save``/``load``).
Analysis of histograms:
    :func:`coarse_counts`, :func:`log_ratio_table`, :func:`fit_slope`, :func:`xft_chi2`,
    :func:`homogeneity_test`, :func:`binning_bias` (chi-square tests from :mod:`rbmlib.stats`).
Elsewhere: the command ``rbmlib xft`` is :mod:`rbmlib.cli.xft`, the figure
:func:`rbmlib.plotting.plot_log_ratio`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba as nb
import numpy as np

from ._io import atomic_savez
from ._locking import locks_checkpoint
from . import exact
from ._validation import check_beta, check_int, check_seed
from .kernels import SAMPLER_VERSION, exp_neg
from .model import RBM, check_rbm
from .provenance import code_version, machine
from .stats import chisquare_merged, homogeneity

__all__ = [
    "kernel_matrix",
    "exact_heat_distribution",
    "exact_xft_check",
    "ExactXFT",
    "energies",
    "run_xft",
    "XFTResult",
    "coarse_counts",
    "log_ratio_table",
    "fit_slope",
    "xft_chi2",
    "homogeneity_test",
    "binning_bias",
    "analyse",
    "jackknife_slope",
    "jackknife_slope_difference",
    "certify_starts",
    "load_energy_reference",
    "moment_names",
    "exact_gof",
]

#: Tolerance (energy units) under which two exact heat values are the same value.
MERGE_TOL = 1e-11


# =============================================================================
# exact: tiny models
# =============================================================================
def _check_kernel_name(kernel: str) -> str:
    if kernel == "random":
        return kernel
    if not isinstance(kernel, str) or not kernel or set(kernel) - {"h", "v"}:
        raise ValueError(
            f"kernel must be a non-empty string of half-updates 'h'/'v' (e.g. 'h', 'v', 'hv', 'vh', 'hvh') "
            f"or 'random' (random-scan: 'hv' or 'vh' with probability 1/2 each), got {kernel!r}."
        )
    return kernel


def reversed_kernel_name(kernel: str) -> str:
    """Name of the time reversal of a composed Gibbs kernel: the half-updates in reverse order.

    Each half-update is reversible w.r.t. ``p_beta``, so the reversal of
    ``K_1 K_2 ... K_n`` is ``K_n ... K_2 K_1``; ``'random'`` is its own reversal.
    """
    kernel = _check_kernel_name(kernel)
    return kernel if kernel == "random" else kernel[::-1]


def kernel_matrix(rbm: RBM, kernel: str, beta: float, *, n_sweeps: int = 1) -> np.ndarray:
    """Exact transition matrix of a composed Gibbs kernel on the joint space.

    Parameters
    ----------
    rbm : RBM
        Tiny model (``n_visible + n_hidden <= 12``).
    kernel : str
        Half-updates applied left to right, e.g. ``'h'``, ``'v'``, ``'hv'`` (the
        library's sweep: hidden then visible), ``'vh'``, ``'hvh'`` (palindromic, hence
        reversible); or ``'random'``: ``(T_hv + T_vh) / 2`` (random-scan order).
    beta : float > 0
        Inverse temperature of the kernel.
    n_sweeps : int >= 1
        Power of the kernel.

    Returns
    -------
    T : ndarray, shape (2**(nv+nh), 2**(nv+nh))
        Row-stochastic; joint index ``k_v * 2**n_hidden + k_h`` as in :mod:`rbmlib.exact`.
    """
    check_rbm(rbm)
    kernel = _check_kernel_name(kernel)
    beta = check_beta(beta)
    if isinstance(n_sweeps, bool) or int(n_sweeps) != n_sweeps or n_sweeps < 1:
        raise ValueError(f"n_sweeps must be an integer >= 1, got {n_sweeps!r}.")
    Th = exact.transition_matrix(rbm, "h", beta)
    Tv = exact.transition_matrix(rbm, "v", beta)
    if kernel == "random":
        one = 0.5 * (Th @ Tv + Tv @ Th)
    else:
        one = np.eye(Th.shape[0])
        for c in kernel:
            one = one @ (Th if c == "h" else Tv)
    return np.linalg.matrix_power(one, int(n_sweeps))


def _cluster(values: np.ndarray, tol: float):
    """Single-linkage clusters of 1-D ``values``: sorted neighbours closer than ``tol`` merge.

    Returns ``(labels, centers, max_spread, min_gap)``; ``labels[i]`` is the cluster of
    ``values[i]``, clusters numbered in increasing order of value. Unlike rounding
    to a grid, this never splits two values that differ by round-off but straddle
    a grid point.
    """
    order = np.argsort(values, kind="stable")
    vs = values[order]
    gaps = np.diff(vs)
    new = np.r_[True, gaps > tol]
    lab_sorted = np.cumsum(new) - 1
    labels = np.empty_like(lab_sorted)
    labels[order] = lab_sorted
    n = int(lab_sorted[-1]) + 1
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, lab_sorted, vs)
    np.maximum.at(hi, lab_sorted, vs)
    centers = 0.5 * (lo + hi)
    between = gaps[gaps > tol]
    return labels, centers, float(np.max(hi - lo)), float(between.min()) if between.size else math.inf


def _joint_energies(rbm: RBM) -> np.ndarray:
    return -exact.joint_log_weights(rbm, 1.0).ravel()


def exact_heat_distribution(rbm: RBM, kernel: str, beta1: float, beta2: float, *, n_sweeps: int = 1,
                            tol: float = MERGE_TOL):
    """Exact distribution of the heat ``Q = E(s') - E(s)`` for ``s ~ p_beta1``, ``s' ~ K_beta2(s, .)``.

    Parameters
    ----------
    rbm : RBM
        Tiny model (``n_visible + n_hidden <= 12``).
    kernel : str
        See :func:`kernel_matrix`.
    beta1, beta2 : float > 0
        Inverse temperature of the initial equilibrium and of the kernel.
    n_sweeps : int >= 1
    tol : float > 0
        Heat values closer than ``tol`` (energy units) are one value (single-linkage
        merge of the sorted values, robust to round-off straddling a grid point).

    Returns
    -------
    q : ndarray, shape (n_values,)
        Distinct heat values, increasing (energy units).
    p : ndarray, shape (n_values,)
        Their probabilities (sum to 1). Only transitions with non-zero probability count.
    """
    T = kernel_matrix(rbm, kernel, beta2, n_sweeps=n_sweeps)
    beta1 = check_beta(beta1, "beta1")
    E = _joint_energies(rbm)
    p1 = exact.joint_distribution(rbm, beta1).ravel()
    F = p1[:, None] * T
    Q = E[None, :] - E[:, None]
    mask = F > 0
    labels, centers, _, _ = _cluster(Q[mask], tol)
    p = np.bincount(labels, weights=F[mask], minlength=centers.size)
    return centers, p


@dataclass
class ExactXFT:
    """Outcome of :func:`exact_xft_check` (all arrays over the distinct heat values).

    Attributes
    ----------
    kernel, reverse : str
        Forward kernel and the kernel of the reverse process.
    beta1, beta2 : float
    q : ndarray (n_values,)
        Distinct heat values ``Q`` (energy units).
    p_forward : ndarray (n_values,)
        ``P_F(Q)``.
    p_reverse : ndarray (n_values,)
        ``P_R(-Q)``: probability that the reverse process, started in equilibrium at
        ``beta1``, receives heat ``-Q``.
    deviation : ndarray (n_values,)
        ``log P_F(Q) - log P_R(-Q) - (beta1 - beta2) Q`` (zero where the theorem holds).
    max_abs_deviation : float
        ``max |deviation|`` (nats).
    mean_abs_deviation : float
        ``sum_Q P_F(Q) |deviation(Q)|``: the typical violation, weighted by how often
        each ``Q`` occurs.
    support_mismatch : int
        Number of ``Q`` with ``P_F(Q) > 0`` but ``P_R(-Q) = 0`` or vice versa (0 if the
        theorem can hold at all).
    max_spread, min_gap : float
        Largest width of a merged group of heat values and smallest distance between
        groups: the merge is unambiguous when ``max_spread << tol << min_gap``.
    """

    kernel: str
    reverse: str
    beta1: float
    beta2: float
    n_sweeps: int
    q: np.ndarray
    p_forward: np.ndarray
    p_reverse: np.ndarray
    deviation: np.ndarray
    max_abs_deviation: float
    mean_abs_deviation: float
    support_mismatch: int
    max_spread: float
    min_gap: float


def exact_xft_check(rbm: RBM, kernel: str, beta1: float, beta2: float, *, reverse: str | None = None,
                    n_sweeps: int = 1, tol: float = MERGE_TOL, start=None) -> ExactXFT:
    """Check ``P_F(Q) / P_R(-Q) = exp((beta1 - beta2) Q)`` exactly, by enumeration.

    Both processes start in equilibrium at ``beta1``; the forward one applies
    ``kernel`` at ``beta2``, the reverse one applies ``reverse`` at ``beta2``.
    With ``reverse = kernel`` (the default) this is the XFT as usually stated, a
    statement about one histogram; it holds exactly iff the kernel is reversible
    for the heat values that occur. With ``reverse = reversed_kernel_name(kernel)``
    it holds for every composed Gibbs kernel.

    The transitions ``s -> s'`` are grouped by the value of ``Q = E(s') - E(s)``
    (merge tolerance ``tol``, see :func:`exact_heat_distribution`); the reverse
    transition of ``s -> s'`` is ``s' -> s``, whose heat is exactly ``-Q``.

    Parameters
    ----------
    rbm : RBM
        Tiny model (``n_visible + n_hidden <= 12``).
    kernel, reverse : str
        See :func:`kernel_matrix`; ``reverse=None`` means ``reverse = kernel``.
    beta1, beta2 : float > 0
    n_sweeps : int >= 1
        Applied to both kernels.
    tol : float > 0
    start : array, shape (2**n_visible, 2**n_hidden), optional
        Joint distribution of the start of both processes (the index order of
        :func:`rbmlib.exact.joint_distribution`); default ``p_beta1``. With another start
        the theorem's assumption of an equilibrium start is broken on purpose: which
        kernels still satisfy it shows which ones are blind to the start.

    Returns
    -------
    ExactXFT
    """
    reverse = kernel if reverse is None else reverse
    beta1 = check_beta(beta1, "beta1")
    beta2 = check_beta(beta2, "beta2")
    if not (isinstance(tol, (int, float)) and tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a finite number > 0 (energy units), got {tol!r}.")
    TF = kernel_matrix(rbm, kernel, beta2, n_sweeps=n_sweeps)
    TR = kernel_matrix(rbm, reverse, beta2, n_sweeps=n_sweeps)
    E = _joint_energies(rbm)
    p1 = exact.joint_distribution(rbm, beta1)
    if start is not None:
        q = np.asarray(start, np.float64)
        if q.shape != p1.shape or not np.all(np.isfinite(q)) or np.any(q < 0) or abs(q.sum() - 1) > 1e-9:
            raise ValueError(f"start must be a probability distribution of shape {p1.shape} (2**n_visible, "
                             f"2**n_hidden): non-negative, finite, summing to 1.")
        p1 = q
    p1 = p1.ravel()
    FF = p1[:, None] * TF           # P(s, s') forward
    FR = (p1[:, None] * TR).T       # FR[s, s'] = P_R(s' -> s): the reverse of s -> s'
    Q = E[None, :] - E[:, None]     # exactly antisymmetric in floating point
    mask = (FF > 0) | (FR > 0)
    labels, centers, spread, gap = _cluster(Q[mask], tol)
    pf = np.bincount(labels, weights=FF[mask], minlength=centers.size)
    pr = np.bincount(labels, weights=FR[mask], minlength=centers.size)
    both = (pf > 0) & (pr > 0)
    mismatch = int(np.count_nonzero((pf > 0) != (pr > 0)))
    dev = np.full(centers.size, np.nan)
    dev[both] = np.log(pf[both]) - np.log(pr[both]) - (beta1 - beta2) * centers[both]
    return ExactXFT(kernel=kernel, reverse=reverse, beta1=beta1, beta2=beta2, n_sweeps=int(n_sweeps),
                    q=centers, p_forward=pf, p_reverse=pr, deviation=dev,
                    max_abs_deviation=float(np.max(np.abs(dev[both]))),
                    mean_abs_deviation=float(np.sum(pf[both] * np.abs(dev[both])) / np.sum(pf[both])),
                    support_mismatch=mismatch, max_spread=spread, min_gap=gap)


# =============================================================================
# at scale: sampling
# =============================================================================
@nb.njit(cache=True, parallel=True)
def _energies_kernel(W, a, b, V, H, out):
    """E(v, h) per row in float64, summed in a fixed order (independent of batch size and threads)."""
    n = V.shape[0]
    nv = V.shape[1]
    nh = H.shape[1]
    for c in nb.prange(n):
        act = np.empty(nh, np.int64)
        m = 0
        eb = 0.0
        for j in range(nh):
            if H[c, j]:
                act[m] = j
                m += 1
                eb += b[j]
        e = 0.0
        for i in range(nv):
            if V[c, i]:
                s = a[i]
                for k in range(m):
                    s += W[i, act[k]]
                e += s
        out[c] = -(e + eb)


def energies(rbm: RBM, v, h) -> np.ndarray:
    """Energies ``E(v, h)`` of a batch of joint states, float64, bit-reproducible.

    Computed in float64 from the model's parameters with a fixed summation order
    per row, so a state's energy does not depend on the batch it is in, the number
    of threads or the BLAS library (unlike ``v @ W``), which keeps :func:`run_xft`
    bit-identical under any sharding.

    Parameters
    ----------
    rbm : RBM
    v : array of 0/1, shape (n_states, n_visible)
    h : array of 0/1, shape (n_states, n_hidden)

    Returns
    -------
    E : ndarray of float64, shape (n_states,)
        Energy units.
    """
    check_rbm(rbm)
    V = _as_states(v, rbm.n_visible, "v")
    H = _as_states(h, rbm.n_hidden, "h")
    if V.shape[0] != H.shape[0]:
        raise ValueError(f"v and h must hold the same number of states, got {V.shape[0]} and {H.shape[0]}.")
    out = np.empty(V.shape[0], np.float64)
    _energies_kernel(np.ascontiguousarray(rbm.W, np.float64), np.ascontiguousarray(rbm.a, np.float64),
                     np.ascontiguousarray(rbm.b, np.float64), V, H, out)
    return out


def _as_states(x, n_units, name):
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n_units:
        raise ValueError(f"{name} must have shape (n_states, {n_units}), got {arr.shape}.")
    if arr.dtype != np.uint8:
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must be binary (entries 0 or 1).")
        arr = arr.astype(np.uint8)
    elif arr.size and arr.max() > 1:
        raise ValueError(f"{name} must be binary (entries 0 or 1).")
    return np.ascontiguousarray(arr)


@nb.njit(cache=True)
def _histogram_kernel(Q, parity, inv_width, k_min, counts, outside):
    """counts[p, floor(Q * inv_width) - k_min] += 1; outside[p, 0/1] for under/overflow."""
    n_bins = counts.shape[1]
    for c in range(Q.shape[0]):
        k = int(math.floor(Q[c] * inv_width)) - k_min
        p = parity[c]
        if k < 0:
            outside[p, 0] += 1
        elif k >= n_bins:
            outside[p, 1] += 1
        else:
            counts[p, k] += 1


#: Fixed-point scale of the exact (integer) energy sums: energies are rounded to 2**-20.
_FIX = 2 ** 20
_RESULT_FORMAT = "rbmlib.xft.XFTResult"
_CHECKPOINT_FORMAT = "rbmlib.xft.checkpoint"
_FORMAT_VERSION = 1
ORDERS = ("hv", "vh", "h", "v", "hvh")
#: The half-updates making up each quench order (``'hvh'``: the palindromic, reversible sweep).
_ORDER_STEPS = {"hv": ("hv",), "vh": ("vh",), "h": ("h",), "v": ("v",), "hvh": ("h", "v", "h")}
#: Defaults of the branch settings (absent from files made before they existed).
_BRANCH_DEFAULTS = {"n_branch": 1, "branch_every": 1, "n_groups": 2}
#: Fixed-point scale of the per-group moment sums (``XFTResult.moments``).
_MFIX = 2 ** 20


def _fermi_moment(Q, beta_diff):
    """``Q / (1 + exp(beta_diff Q))`` per element, float64, in plain arithmetic (machine independent)."""
    out = np.empty(Q.shape[0], np.float64)
    _fermi_moment_kernel(np.ascontiguousarray(Q, np.float64), float(beta_diff), out)
    return out


@nb.njit(cache=True)
def _fermi_moment_kernel(Q, beta_diff, out):
    for c in range(Q.shape[0]):
        x = beta_diff * Q[c]
        e = exp_neg(-abs(x))                  # exp(-|x|) in [0, 1]
        if x > 0.0:
            out[c] = Q[c] * e / (1.0 + e)
        else:
            out[c] = Q[c] / (1.0 + e)


def moment_names(orders, beta2s) -> list:
    """Names of the columns of :attr:`XFTResult.moments`: ``'E0'``, then ``'Q'`` and ``'Qf'`` per (order, beta2)."""
    names = ["E0"]
    for o in orders:
        for b2 in beta2s:
            names += [f"Q|{o}|{b2!r}", f"Qf|{o}|{b2!r}"]
    return names


def _fixed_sums(x: np.ndarray) -> tuple[int, int]:
    """Exact sums of ``x`` and ``x**2`` in fixed point (``x`` rounded to 2**-20): order independent."""
    k = np.rint(np.asarray(x, np.float64) * _FIX).astype(np.int64).astype(object)
    return int(k.sum()), int((k * k).sum())


@dataclass
class XFTResult:
    """Heat histograms of the XFT experiment (:func:`run_xft`), on a fine grid symmetric about 0.

    Attributes
    ----------
    config : dict
        Everything that determines the result: model fingerprint and shape, ``n_chains``,
        ``beta1``, ``beta2s``, ``n_equil``, ``seed``, ``orders``, ``bin_width``,
        ``q_max``, ``trace_every`` and ``sampler_version``
        (:data:`rbmlib.kernels.SAMPLER_VERSION`; absent from files made with version 1).
    counts : ndarray of int64, shape (n_orders, n_beta2, n_groups, n_bins)
        ``counts[o, t, g, k]``: starts of the chains of group ``g`` (global chain index
        mod ``n_groups``, 2 unless set) whose heat ``Q`` after one sweep of ``orders[o]``
        at ``beta2s[t]`` fell in the fine bin ``[(k0 + k) w, (k0 + k + 1) w)``,
        ``w = bin_width``, ``k0 = first_bin``. Even and odd groups are independent
        halves of the ensemble (used to compare two orders with independent samples).
    first_bin : int
        Grid index ``k0`` of ``counts[..., 0]``.
    outside : ndarray of int64, shape (n_orders, n_beta2, n_groups, 2)
        Chains with ``Q < -q_max`` (``[..., 0]``) or ``Q >= q_max`` (``[..., 1]``).
    sums : dict
        Exact fixed-point sums (Python ints, unit ``2**-20`` resp. ``2**-40``):
        ``'E0'``, ``'E0sq'`` (start energies) and ``'Q'``, ``'Qsq'`` with shape
        (n_orders, n_beta2) as nested lists; ``'D'``, ``'Dsq'``: the same for the paired
        difference ``Q_order - Q_orders[0]`` of one chain (zero for the first order).
    trace : ndarray of object (Python int), shape (n_equil // trace_every,)
        Fixed-point sum of the energies after sweeps ``trace_every, 2 trace_every, ...``
        of the equilibration (for the equilibration diagnostic :meth:`energy_trace`).
    n_done : int
        Chains processed (``== config['n_chains']`` when complete).
    meta : dict
        Provenance: code version, machine, wall time, sessions.
    moments : ndarray of int64, shape (n_groups, 1 + 2 n_orders n_beta2), or None
        Per-group fixed-point sums (unit ``2**-20``) of the start energy and, per
        (order, beta2), of ``Q`` and ``Q / (1 + exp((beta1 - beta2) Q))`` (columns named by
        :func:`moment_names`); None in files made before they existed.
    branch_trace : ndarray of int64, shape (n_groups, n_branch), or None
        Per-group fixed-point sums (unit ``2**-20``) of the start energy at each branch point
        (for stationarity checks over the branch window with independent-group errors).
    """

    config: dict
    counts: np.ndarray
    first_bin: int
    outside: np.ndarray
    sums: dict
    trace: list
    n_done: int
    meta: dict = field(default_factory=dict)
    moments: np.ndarray | None = None
    branch_trace: np.ndarray | None = None

    # ------------------------------------------------------------ accessors
    @property
    def complete(self) -> bool:
        return self.n_done == self.config["n_chains"]

    @property
    def bin_width(self) -> float:
        return float(self.config["bin_width"])

    @property
    def beta1(self) -> float:
        return float(self.config["beta1"])

    @property
    def beta2s(self) -> list:
        return list(self.config["beta2s"])

    @property
    def orders(self) -> list:
        return list(self.config["orders"])

    @property
    def n_branch(self) -> int:
        return int(self.config.get("n_branch", 1))

    @property
    def n_groups(self) -> int:
        return int(self.config.get("n_groups", 2))

    @property
    def n_starts(self) -> int:
        """Starts of the experiment done: ``n_done * n_branch`` (one per chain unless in branch mode)."""
        return self.n_done * self.n_branch

    def group_means(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-group sums of one moment (see :func:`moment_names`) and the starts in each group.

        Returns ``(sums, n)``, float64 arrays of shape (n_groups,): the group means are
        ``sums / n``. Groups hold whole, independent chains, so these are independent batches.
        """
        if self.moments is None:
            raise ValueError("this result has no per-group moment sums (made before they existed); rerun it.")
        names = moment_names(self.orders, self.beta2s)
        if name not in names:
            raise ValueError(f"unknown moment {name!r}; this result has {names}.")
        G = self.n_groups
        chains = np.array([len(range(g, self.n_done, G)) for g in range(G)], np.float64)
        return self.moments[:, names.index(name)] / _MFIX, chains * self.n_branch

    def moment(self, kind: str, order: str | None = None, beta2: float | None = None):
        """Mean of a moment over all starts and its batch-means standard error (over the groups).

        ``kind``: ``'E0'`` (start energy), ``'Q'`` (heat) or ``'Qf'``
        (``Q / (1 + exp((beta1 - beta2) Q))``, the Crooks moment; see the chapters).
        """
        if kind == "E0":
            name = "E0"
        else:
            o, t = self._index(order, beta2)
            name = f"{kind}|{self.orders[o]}|{self.beta2s[t]!r}"
        sums, n = self.group_means(name)
        return _batch_mean(sums, n)

    def moment_combination(self, terms) -> tuple[float, float]:
        """Mean and batch-means standard error of a linear combination of moments of the same starts.

        ``terms``: sequence of ``(coefficient, kind, order, beta2)``, e.g.
        ``[(1, 'Q', 'vh', 1.0), (-1, 'Q', 'hv', 1.0)]`` for the paired difference of the
        mean heats of two orders. Correlations between the terms (same starts) are kept.
        """
        total, n = None, None
        for coef, kind, order, beta2 in terms:
            o, t = self._index(order, beta2)
            sums, n = self.group_means(f"{kind}|{self.orders[o]}|{self.beta2s[t]!r}")
            total = coef * sums if total is None else total + coef * sums
        if total is None:
            raise ValueError("terms is empty.")
        return _batch_mean(total, n)

    def _index(self, order, beta2):
        if order not in self.config["orders"]:
            raise ValueError(f"order {order!r} was not run; this result has orders {self.config['orders']}.")
        matches = [i for i, b in enumerate(self.config["beta2s"]) if math.isclose(b, beta2, rel_tol=1e-12)]
        if not matches:
            raise ValueError(f"beta2 = {beta2!r} was not run; this result has beta2s {self.config['beta2s']}.")
        return self.config["orders"].index(order), matches[0]

    def fine_counts(self, order: str, beta2: float, parity: int | None = None, *, exclude=None) -> np.ndarray:
        """Counts on the fine grid (shape (n_bins,), bin k = ``[(first_bin + k) w, ...)``).

        ``parity`` 0 or 1 selects the even / odd chains (independent halves), ``None`` both;
        ``exclude`` leaves out one chain group (for the jackknife).
        """
        o, t = self._index(order, beta2)
        c = self.counts[o, t]
        keep = np.ones(c.shape[0], bool)
        if parity is not None:
            if parity not in (0, 1):
                raise ValueError(f"parity must be 0, 1 or None, got {parity!r}.")
            keep &= np.arange(c.shape[0]) % 2 == parity
        if exclude is not None:
            keep[int(exclude)] = False
        return c[keep].sum(axis=0)

    def n_outside(self, order: str, beta2: float) -> int:
        o, t = self._index(order, beta2)
        return int(self.outside[o, t].sum())

    def mean_heat(self, order: str, beta2: float) -> tuple[float, float]:
        """Exact-sum mean and standard deviation of ``Q`` (energy units), over all starts."""
        o, t = self._index(order, beta2)
        n = self.n_starts
        s = self.sums["Q"][o][t] / _FIX
        s2 = self.sums["Qsq"][o][t] / _FIX ** 2
        mean = s / n
        return mean, math.sqrt(max(s2 / n - mean * mean, 0.0))

    def mean_heat_difference(self, order: str, beta2: float) -> tuple[float, float]:
        """Paired estimate of ``<Q>_order - <Q>_orders[0]`` and its standard error (energy units).

        Every chain makes both quench sweeps from the same equilibrated state, so the
        per-chain difference has a much smaller variance than either heat. The error
        assumes independent starts: in branch mode use the group moments instead
        (:meth:`moment_combination`).
        """
        o, t = self._index(order, beta2)
        if o == 0:
            raise ValueError(f"order {order!r} is the reference order of this result; pick another one.")
        n = self.n_starts
        mean = self.sums["D"][o][t] / _FIX / n
        var = max(self.sums["Dsq"][o][t] / _FIX ** 2 / n - mean * mean, 0.0)
        return mean, math.sqrt(var / max(n - 1, 1))

    def mean_start_energy(self) -> tuple[float, float]:
        """Mean and standard deviation of the energy at the starts (energy units)."""
        n = self.n_starts
        mean = self.sums["E0"] / _FIX / n
        return mean, math.sqrt(max(self.sums["E0sq"] / _FIX ** 2 / n - mean * mean, 0.0))

    def energy_trace(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean energy along the equilibration: (sweeps, mean E), both shape (n_equil // trace_every,)."""
        te = int(self.config["trace_every"])
        sweeps = te * np.arange(1, len(self.trace) + 1)
        return sweeps, np.array([t / _FIX / self.n_done for t in self.trace], dtype=np.float64)

    # ------------------------------------------------------------------ I/O
    def _arrays(self, trim: bool):
        counts, first = self.counts, self.first_bin
        if trim:
            nz = np.flatnonzero(counts.reshape(-1, counts.shape[-1]).sum(axis=0))
            lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
            counts, first = counts[..., lo:hi], first + lo
        return counts, first

    def _record(self, fmt, first):
        rec = {"format": fmt, "format_version": _FORMAT_VERSION, "config": self.config, "first_bin": first,
               "n_done": self.n_done, "sums": self.sums, "trace": [str(t) for t in self.trace],
               "meta": self.meta}
        if self.moments is not None:
            rec["moments"] = self.moments.tolist()
            rec["branch_trace"] = self.branch_trace.tolist()
        return rec

    def save(self, path) -> Path:
        """Write the result to one small ``.npz`` (counts trimmed to the occupied bins, JSON metadata).

        Atomic (temporary file + rename); never pickles.
        """
        counts, first = self._arrays(trim=True)
        path = Path(path)
        atomic_savez(path, compressed=True, counts=counts, outside=self.outside,
                    record=np.array(json.dumps(self._record(_RESULT_FORMAT, first), sort_keys=True)))
        return path

    @classmethod
    def load(cls, path) -> "XFTResult":
        """Read a file written by :meth:`save` (or a checkpoint of :func:`run_xft`)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No XFT result file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as z:
                counts, outside, rec = z["counts"], z["outside"], json.loads(str(z["record"]))
        except Exception as exc:
            raise ValueError(f"Could not read XFT result {path} ({type(exc).__name__}: {exc}); "
                             "the file is truncated or not an XFT result. Re-create it with run_xft.") from None
        if rec.get("format") not in (_RESULT_FORMAT, _CHECKPOINT_FORMAT):
            raise ValueError(f"{path} is not an XFT result (format={rec.get('format')!r}).")
        cfg = rec["config"]
        n_bins = _n_bins(cfg)
        k_min = _k_min(cfg)
        full = np.zeros(counts.shape[:-1] + (n_bins,), np.int64)
        lo = rec["first_bin"] - k_min
        full[..., lo:lo + counts.shape[-1]] = counts
        moments = rec.get("moments")
        return cls(config=cfg, counts=full, first_bin=k_min, outside=outside.astype(np.int64),
                   sums=rec["sums"], trace=[int(t) for t in rec["trace"]], n_done=int(rec["n_done"]),
                   meta=rec.get("meta", {}),
                   moments=None if moments is None else np.array(moments, np.int64).reshape(len(moments), -1),
                   branch_trace=None if moments is None else np.array(rec["branch_trace"], np.int64).reshape(
                       len(moments), -1))


def _batch_mean(sums, n) -> tuple[float, float]:
    """Mean of grouped data from per-group sums and sizes, with its batch-means standard error."""
    sums, n = np.asarray(sums, np.float64), np.asarray(n, np.float64)
    ok = n > 0
    sums, n = sums[ok], n[ok]
    mean = float(sums.sum() / n.sum())
    if n.size < 2:
        return mean, float("nan")
    # ratio estimator over independent groups: var = sum n_g^2 (m_g - m)^2 / (N^2) * G / (G - 1)
    G = n.size
    var = float(np.sum((sums - mean * n) ** 2) / n.sum() ** 2 * G / (G - 1))
    return mean, math.sqrt(var)


def _k_min(cfg) -> int:
    return -int(round(cfg["q_max"] / cfg["bin_width"]))


def _n_bins(cfg) -> int:
    return -2 * _k_min(cfg)




def _validate_run_args(rbm, n_chains, beta1, beta2s, n_equil, seed, order, shard_size, bin_width, q_max,
                       trace_every, n_branch=1, branch_every=1, n_groups=2):
    check_rbm(rbm)
    n_chains = check_int(n_chains, "n_chains", 1)
    beta1 = check_beta(beta1, "beta1")
    if isinstance(beta2s, (int, float, np.floating, np.integer)) and not isinstance(beta2s, bool):
        beta2s = [beta2s]
    try:
        beta2s = [check_beta(float(b) if isinstance(b, (np.floating, np.integer)) else b, "beta2s[i]")
                  for b in beta2s]
    except TypeError as exc:
        raise TypeError(f"beta2s must be a list of inverse temperatures > 0: {exc}") from None
    if not beta2s:
        raise ValueError("beta2s is empty: give at least one inverse temperature for the quench sweep.")
    if len(set(beta2s)) != len(beta2s):
        raise ValueError(f"beta2s has repeated values {beta2s}; give each inverse temperature once.")
    for name, x, lo in (("n_equil", n_equil, 0), ("shard_size", shard_size, 1), ("trace_every", trace_every, 1),
                        ("n_branch", n_branch, 1), ("branch_every", branch_every, 1), ("n_groups", n_groups, 2)):
        check_int(x, name, lo)
    check_seed(seed)
    orders = [order] if isinstance(order, str) else list(order)
    if not orders or any(o not in ORDERS for o in orders) or len(set(orders)) != len(orders):
        raise ValueError(f"order must be one of {ORDERS} or a sequence of distinct ones "
                         f"(e.g. ('hv', 'vh')), got {order!r}.")
    for name, x in (("bin_width", bin_width), ("q_max", q_max)):
        if not (isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) and math.isfinite(x) and x > 0):
            raise ValueError(f"{name} must be a finite number > 0 (energy units), got {x!r}.")
    bin_width, q_max = float(bin_width), float(q_max)
    ratio = q_max / bin_width
    if abs(ratio - round(ratio)) > 1e-9 * ratio or round(ratio) > 2 ** 24:
        raise ValueError(f"q_max / bin_width must be an integer <= 2**24 (the grid has 2 q_max / bin_width "
                         f"bins), got {q_max} / {bin_width} = {ratio}.")
    return int(n_chains), beta1, [float(b) for b in beta2s], orders, bin_width, q_max


def run_config(rbm, n_chains, beta1, beta2s, n_equil, seed, order, shard_size, bin_width, q_max,
                trace_every, n_branch=1, branch_every=1, n_groups=2) -> dict:
    """The validated configuration of a :func:`run_xft` call (what its checkpoint and result record)."""
    n_chains, beta1, beta2s, orders, bin_width, q_max = _validate_run_args(
        rbm, n_chains, beta1, beta2s, n_equil, seed, order, shard_size, bin_width, q_max, trace_every,
        n_branch, branch_every, n_groups)
    return {
        "model_fingerprint": rbm.fingerprint(), "n_visible": rbm.n_visible, "n_hidden": rbm.n_hidden,
        "model_dtype": rbm.dtype.name, "n_chains": n_chains, "beta1": beta1, "beta2s": beta2s,
        "n_equil": int(n_equil), "seed": int(seed), "orders": orders, "equil_order": "hv",
        "bin_width": float(bin_width), "q_max": float(q_max), "trace_every": int(trace_every),
        "sampler_version": SAMPLER_VERSION,
        "n_branch": int(n_branch), "branch_every": int(branch_every), "n_groups": int(n_groups),
    }


def _empty_result(config: dict) -> "XFTResult":
    """An :class:`XFTResult` with no chains, ready for :func:`_xft_accumulate`."""
    n_o, n_t, G = len(config["orders"]), len(config["beta2s"]), int(config["n_groups"])
    return XFTResult(config=config, counts=np.zeros((n_o, n_t, G, _n_bins(config)), np.int64),
                     first_bin=_k_min(config), outside=np.zeros((n_o, n_t, G, 2), np.int64),
                     sums={"E0": 0, "E0sq": 0, **{k: [[0] * n_t for _ in range(n_o)]
                                                   for k in ("Q", "Qsq", "D", "Dsq")}},
                     trace=[0] * (int(config["n_equil"]) // int(config["trace_every"])), n_done=0,
                     meta={"wall_time_s": 0.0, "sessions": []},
                     moments=np.zeros((G, 1 + 2 * n_o * n_t), np.int64),
                     branch_trace=np.zeros((G, int(config["n_branch"])), np.int64))


def _quench(chains, order: str, beta2: float) -> None:
    """One quench step of ``order`` at ``beta2`` (``'hvh'`` = the half-updates h, v, h)."""
    for step in _ORDER_STEPS[order]:
        chains.run(1, beta=beta2, order=step)


def _state_energies(chains, W64, a64, b64, out) -> None:
    """``out[:] = E(v, h)`` of the chains in float64 (on the GPU for ``backend='cuda'``: the same bits)."""
    if chains.backend == "cuda":
        out[:] = chains.energies_float64()
    else:
        _energies_kernel(W64, a64, b64, chains.v, chains.h, out)


def _xft_shard(rbm: RBM, seed: int, chain_offset: int, n_chains: int, *, config: dict,
               backend: str = "cpu") -> dict:
    """The XFT experiment on chains ``chain_offset .. chain_offset + n_chains - 1`` (one shard).

    A shard function of :func:`rbmlib.ensemble.run_ensemble`; :func:`_xft_accumulate` adds its
    output into an :class:`XFTResult`. Everything is an integer (counts, fixed-point sums), so
    the total does not depend on how the chains were split or where they ran.
    """
    from .sampling import Chains

    cfg = {**_BRANCH_DEFAULTS, **config}
    orders, beta2s = cfg["orders"], cfg["beta2s"]
    n_o, n_t, G = len(orders), len(beta2s), int(cfg["n_groups"])
    n_branch, every = int(cfg["n_branch"]), int(cfg["branch_every"])
    k_min, n_bins = _k_min(cfg), _n_bins(cfg)
    beta1, bin_width = cfg["beta1"], cfg["bin_width"]
    trace_every, n_equil = int(cfg["trace_every"]), int(cfg["n_equil"])
    n_trace = n_equil // trace_every
    W64 = np.ascontiguousarray(rbm.W, np.float64)
    a64 = np.ascontiguousarray(rbm.a, np.float64)
    b64 = np.ascontiguousarray(rbm.b, np.float64)
    start, n = int(chain_offset), int(n_chains)
    counts = np.zeros((n_o, n_t, G, n_bins), np.int64)
    outside = np.zeros((n_o, n_t, G, 2), np.int64)
    moments = np.zeros((G, 1 + 2 * n_o * n_t), np.int64)
    sums = {"E0": 0, "E0sq": 0, **{k: [[0] * n_t for _ in range(n_o)] for k in ("Q", "Qsq", "D", "Dsq")}}
    trace = [0] * n_trace
    branch_trace = np.zeros((G, n_branch), np.int64)
    chains = Chains(rbm, n, seed=int(seed), chain_offset=start, backend=backend)
    e = np.empty(n, np.float64)
    for k in range(n_trace):
        chains.run(trace_every, beta=beta1, order="hv")
        _state_energies(chains, W64, a64, b64, e)
        trace[k] += _fixed_sums(e)[0]
    rest = n_equil - n_trace * trace_every
    if rest:
        chains.run(rest, beta=beta1, order="hv")
    group = ((start + np.arange(n)) % G).astype(np.int64)

    def add_moment(col, x):
        np.add.at(moments[:, col], group, np.rint(x * _MFIX).astype(np.int64))

    E0 = np.empty(n, np.float64)
    for ib in range(n_branch):
        if ib:
            chains.run(every, beta=beta1, order="hv")
        _state_energies(chains, W64, a64, b64, E0)
        s0, s0sq = _fixed_sums(E0)
        sums["E0"] += s0
        sums["E0sq"] += s0sq
        e0_fixed = np.rint(E0 * _MFIX).astype(np.int64)
        np.add.at(branch_trace[:, ib], group, e0_fixed)
        moments[:, 0] += branch_trace[:, ib]
        Q_first = [None] * n_t
        for io, o in enumerate(orders):
            for it, b2 in enumerate(beta2s):
                c = chains.copy()
                _quench(c, o, b2)
                _state_energies(c, W64, a64, b64, e)
                Q = e - E0
                _histogram_kernel(Q, group, 1.0 / bin_width, k_min, counts[io, it], outside[io, it])
                sq, sqq = _fixed_sums(Q)
                sums["Q"][io][it] += sq
                sums["Qsq"][io][it] += sqq
                col = 1 + 2 * (io * n_t + it)
                add_moment(col, Q)
                add_moment(col + 1, _fermi_moment(Q, beta1 - b2))
                if io == 0:
                    Q_first[it] = Q
                else:
                    sd, sdd = _fixed_sums(Q - Q_first[it])
                    sums["D"][io][it] += sd
                    sums["Dsq"][io][it] += sdd
    nz = np.flatnonzero(counts.reshape(-1, n_bins).any(axis=0))
    lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
    return {"n": n, "first_bin": k_min + lo, "counts": counts[..., lo:hi], "outside": outside, "sums": sums,
            "trace": trace, "moments": moments, "branch_trace": branch_trace}


def _xft_accumulate(res: "XFTResult", part: dict) -> "XFTResult":
    """Add the output of :func:`_xft_shard` into ``res`` (in place; exact integer sums)."""
    c = np.asarray(part["counts"])
    lo = int(part["first_bin"]) - res.first_bin
    res.counts[..., lo:lo + c.shape[-1]] += c
    res.outside += np.asarray(part["outside"], np.int64)
    ps = part["sums"]
    res.sums["E0"] += int(ps["E0"])
    res.sums["E0sq"] += int(ps["E0sq"])
    for k in ("Q", "Qsq", "D", "Dsq"):
        for io, row in enumerate(ps[k]):
            for it, x in enumerate(row):
                res.sums[k][io][it] += int(x)
    for k, t in enumerate(part["trace"]):
        res.trace[k] += int(t)
    res.moments += np.asarray(part["moments"], np.int64)
    res.branch_trace += np.asarray(part["branch_trace"], np.int64)
    res.n_done += int(part["n"])
    return res


def _run_xft_ensemble(rbm, config, *, shard_size, checkpoint_dir, progress, max_shards, **executor_options):
    """:func:`run_xft` through :func:`rbmlib.ensemble.run_ensemble` (parallel executors, per-shard checkpoint)."""
    from . import ensemble

    folder = None
    if checkpoint_dir is not None:
        if (Path(checkpoint_dir) / "xft_checkpoint.npz").exists():
            raise ValueError(f"{checkpoint_dir} holds the checkpoint of an in-process run (xft_checkpoint.npz); "
                             "resume it without executor options, or use another checkpoint_dir.")
        folder = Path(checkpoint_dir) / "shards"
    res = _empty_result(config)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    out = ensemble.run_ensemble(_xft_shard, rbm, config["n_chains"], seed=config["seed"],
                                params={"config": config}, shard_size=int(shard_size), reduce=_xft_accumulate,
                                initial=res, checkpoint_dir=folder, max_shards=max_shards, progress=progress,
                                desc="XFT", **executor_options)
    res = out.value
    res.meta["wall_time_s"] = out.shard_seconds
    res.meta["code_version"] = code_version()
    loaded = sum(b - a for a, b in out.loaded)
    res.meta["sessions"].append({"started": started, "shard_size": int(shard_size), "executor": out.executor,
                                 "chains_at_start": loaded, "chains_loaded": loaded,
                                 "chains_computed": sum(b - a for a, b in out.computed),
                                 "shards_retried": out.retried, "wall_s": out.wall_s,
                                 "shard_cpu_s": out.shard_cpu_seconds,
                                 "chains_at_end": res.n_done, **machine()})
    return res


@locks_checkpoint("checkpoint_dir", "XFT checkpoint folder", folder=True)
def run_xft(rbm: RBM, n_chains: int, *, beta1: float = 1.0, beta2s, n_equil: int = 300, seed: int = 0,
            order="hv", shard_size: int = 10000, checkpoint_dir=None, progress: bool = False,
            bin_width: float = 1 / 32, q_max: float = 1024.0, trace_every: int = 10,
            max_shards: int | None = None, executor=None, scheduler: str | None = None,
            workers: int | None = None, threads: int | None = None, retries: int = 2,
            n_branch: int = 1, branch_every: int = 1, n_groups: int = 2, backend: str = "cpu") -> XFTResult:
    """The paper's XFT experiment: equilibrate at ``beta1``, one sweep at each ``beta2``, histogram ``Q``.

    For every chain ``c`` (random start, own random stream fixed by ``(seed, c)``):
    ``n_equil`` block Gibbs sweeps (order ``'hv'``) at ``beta1``; then, for every
    ``order`` and every ``beta2`` in ``beta2s``, a *copy* of the equilibrated chain
    (same state, same random stream) makes one sweep of that order at ``beta2``
    and its heat ``Q = E(v', h') - E(v, h)`` is histogrammed. The equilibration is
    shared by all ``beta2`` and orders (so their histograms are correlated across
    ``beta2``; each one alone is an exact sample of its experiment).

    Chains are processed in shards of ``shard_size`` in increasing index order; the
    histograms are integer counts on a fixed fine grid, so the result is
    bit-identical for any shard size, number of threads, or interruption and
    resume. With ``checkpoint_dir`` the state is written atomically after every
    shard, and a later call with the same arguments resumes after the last
    finished shard (a killed run loses at most one shard).

    Parameters
    ----------
    rbm : RBM
    n_chains : int >= 1
        Ensemble size (the paper: 2,000,000).
    beta1 : float > 0
        Inverse temperature of the initial equilibrium (the paper: 1).
    beta2s : sequence of float > 0
        Inverse temperatures of the quench sweep.
    n_equil : int >= 0
        Equilibration sweeps (the paper: 300).
    seed : int
    order : {'hv', 'vh', 'h', 'v', 'hvh'} or sequence of them
        Kernel(s) of the quench step; ``('hv', 'vh')`` measures the sweep and its
        time reversal from the same equilibrated ensemble; ``'hvh'`` is the
        palindromic (reversible) sweep h, v, h.
    shard_size : int >= 1
        Chains per shard (checkpoint interval). Does not change the result.
    checkpoint_dir : path, optional
        Folder for ``xft_checkpoint.npz``. A checkpoint made with different
        arguments is refused (the error names both configurations). The folder
        is locked while the run uses it (a second run on it is refused with the
        holder's PID and command line; the lock dies with its process).
    progress : bool
        Show a tqdm progress bar (stderr).
    bin_width : float > 0
        Fine bin width (energy units); the default ``1/32`` makes ``Q / w`` exact.
        Coarser symmetric binnings are derived later (:func:`coarse_counts`).
    q_max : float > 0
        The grid covers ``[-q_max, q_max)``; heat outside is counted in ``outside``.
    trace_every : int >= 1
        Record the (exact-sum) mean energy every ``trace_every`` equilibration sweeps.
    max_shards : int, optional
        Stop after this many shards in this call (the result is then partial,
        ``result.complete`` is False); for time-boxed runs.
    executor, scheduler, workers, threads, retries : optional
        Run the shards in parallel through :func:`rbmlib.ensemble.run_ensemble`:
        ``workers=N`` a local process pool, ``scheduler='tcp://host:8786'`` a Dask
        cluster (``'local'``: a Dask LocalCluster of ``workers`` processes), or a
        ``concurrent.futures.Executor`` / ``distributed.Client`` as ``executor``;
        ``threads`` numba threads per worker, ``retries`` resubmissions of a failed or
        lost shard. The result is bit-identical to the default in-process run.
        The checkpoint is then one file per finished shard in
        ``checkpoint_dir/shards`` (shards may finish in any order); it is not
        interchangeable with the in-process ``xft_checkpoint.npz``.
    n_branch, branch_every : int >= 1
        Branch mode. After the ``n_equil`` sweeps every chain keeps running at
        ``beta1`` and the quenches branch off its state ``n_branch`` times, every
        ``branch_every`` sweeps (the default ``n_branch=1``: once, the paper's
        experiment). Each branch point is one start of the experiment, so the
        histograms hold ``n_chains * n_branch`` heats; starts of one chain are
        correlated, so errors must come from the independent chain groups
        (:meth:`XFTResult.group_means`, :func:`jackknife_slope`), not from Poisson counts.
    n_groups : int >= 2
        Chain ``c`` belongs to group ``c % n_groups``; counts and moment sums are kept
        per group (independent batches of whole chains, for batch-means errors). The
        default 2 is the even / odd split used by the paired analysis.
    backend : {'cpu', 'cuda'}
        ``'cuda'`` runs the chains on an NVIDIA GPU (:mod:`rbmlib.kernels.cuda`, install
        ``rbmlib[cuda]``) with the same random streams and the same bits; its shards run in
        this process, one after another (not with ``workers``/``scheduler``/``executor``).
        Recorded in the result's ``meta``, not in its configuration (the results are equal).

    Returns
    -------
    XFTResult
    """
    config = run_config(rbm, n_chains, beta1, beta2s, n_equil, seed, order, shard_size, bin_width, q_max,
                        trace_every, n_branch, branch_every, n_groups)
    max_shards = check_int(max_shards, "max_shards", 0, allow_none=True)
    from .sampling import check_backend
    if check_backend(backend) == "cuda" and (executor is not None or scheduler is not None or workers is not None):
        raise ValueError("backend='cuda' runs the shards in this process on one GPU; drop workers, scheduler and "
                         "executor (or use backend='cpu' to spread shards over processes).")
    if executor is not None or scheduler is not None or workers is not None:
        return _run_xft_ensemble(rbm, config, shard_size=shard_size, checkpoint_dir=checkpoint_dir,
                                 progress=progress, max_shards=max_shards, executor=executor,
                                 scheduler=scheduler, workers=workers, threads=threads, retries=retries)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "xft_checkpoint.npz"
    res = _resume(ckpt, config)
    if res.n_done >= config["n_chains"] or max_shards == 0:
        return res
    return _run_in_process(rbm, res, ckpt, shard_size=int(shard_size), max_shards=max_shards, progress=progress,
                           backend=backend)


def _resume(ckpt, config: dict) -> XFTResult:
    """The in-process run's checkpoint ``ckpt`` if it exists (it must hold this ``config``), else an empty result."""
    if ckpt is not None and (ckpt.parent / "shards" / "manifest.json").exists():
        raise ValueError(f"{ckpt.parent} holds the per-shard checkpoint of a parallel run; resume it with the "
                         "same executor options (workers/scheduler), or use another checkpoint_dir.")
    if ckpt is None or not ckpt.exists():
        return _empty_result(config)
    try:
        res = XFTResult.load(ckpt)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"The checkpoint {ckpt} is damaged (it cannot be read as an XFT checkpoint). Delete "
                         "it to start the run afresh (its chains are then recomputed), or restore it from a "
                         "backup.") from None
    if res.config != config:
        diff = {k: (res.config.get(k), config.get(k)) for k in set(res.config) | set(config)
                if res.config.get(k) != config.get(k)}
        raise ValueError(
            f"The checkpoint {ckpt} belongs to a different run; differing settings "
            f"(checkpoint, requested): {diff}. Use another checkpoint_dir, or delete the old one "
            f"to start afresh."
        )
    return res


def _run_in_process(rbm: RBM, res: XFTResult, ckpt, *, shard_size: int, max_shards, progress: bool,
                    backend: str = "cpu") -> XFTResult:
    """Run the remaining chains of ``res`` shard by shard in this process, checkpointing after each shard."""
    config = res.config
    n_chains, seed = config["n_chains"], int(config["seed"])
    session = {"started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "chains_at_start": res.n_done, "shard_size": shard_size, "backend": backend, **machine()}
    res.meta["sessions"].append(session)
    res.meta["code_version"] = code_version()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n_chains, initial=res.n_done, unit="chain", unit_scale=True, desc="XFT", smoothing=0.05)
    shards = 0
    try:
        while res.n_done < n_chains and (max_shards is None or shards < max_shards):
            t0 = time.perf_counter()
            start = res.n_done
            n = min(shard_size, n_chains - start)
            _xft_accumulate(res, _xft_shard(rbm, seed, start, n, config=config, backend=backend))
            res.meta["wall_time_s"] = float(res.meta["wall_time_s"] + (time.perf_counter() - t0))
            session["chains_at_end"] = res.n_done
            if ckpt is not None:
                counts, first = res._arrays(trim=False)
                atomic_savez(ckpt, compressed=True, counts=counts, outside=res.outside,
                             record=np.array(json.dumps(res._record(_CHECKPOINT_FORMAT, first), sort_keys=True)))
            shards += 1
            if bar is not None:
                bar.update(n)
    finally:
        if bar is not None:
            bar.close()
    return res


# =============================================================================
# analysis of the histograms
# =============================================================================
def coarse_counts(fine: np.ndarray, first_bin: int, fine_width: float, width: float):
    """Merge fine bins into coarse bins ``[j width, (j+1) width)``, symmetric about 0.

    Parameters
    ----------
    fine : array of int, shape (n_bins,)
        Counts of fine bins ``[(first_bin + k) fine_width, (first_bin + k + 1) fine_width)``.
    first_bin : int
    fine_width, width : float > 0
        ``width`` must be an integer multiple of ``fine_width``.

    Returns
    -------
    j : ndarray of int, shape (n_coarse,)
        Coarse bin indices; bin ``j`` is ``[j width, (j+1) width)`` and its mirror
        image ``(-(j+1) width, -j width]`` is bin ``-j-1`` (up to the measure-zero
        edges). The range is symmetric: ``j`` runs from ``-J`` to ``J-1``.
    counts : ndarray of int64, shape (n_coarse,)
    """
    fine = np.asarray(fine)
    if fine.ndim != 1 or not np.issubdtype(fine.dtype, np.integer):
        raise ValueError(f"fine must be a 1-D array of integer counts, got shape {fine.shape}, dtype {fine.dtype}.")
    if not (width > 0 and fine_width > 0):
        raise ValueError(f"bin widths must be > 0, got width={width!r}, fine_width={fine_width!r}.")
    m = width / fine_width
    if abs(m - round(m)) > 1e-9 * m or round(m) < 1:
        raise ValueError(f"width ({width}) must be a positive integer multiple of the fine bin width ({fine_width}).")
    m = int(round(m))
    k = int(first_bin) + np.arange(fine.size)
    j = np.floor_divide(k, m)
    J = int(max(-j.min(), j.max() + 1)) if fine.size else 1
    out = np.zeros(2 * J, np.int64)
    np.add.at(out, j + J, fine.astype(np.int64))
    return np.arange(-J, J), out


def log_ratio_table(fine: np.ndarray, first_bin: int, fine_width: float, width: float, beta_diff: float, *,
                    reverse: np.ndarray | None = None, min_expected: float = 20.0) -> dict:
    """Mirrored-bin table for the XFT: ``log(n(Q) / n_R(-Q))`` with Poisson error bars.

    One histogram (``reverse=None``, the XFT as usually stated): for every coarse bin
    ``B = [j w, (j+1) w)`` with ``j >= 0`` and its mirror ``-B``, ``n_plus = n(B)`` and
    ``n_minus = n(-B)``, and the theory is ``log(n_plus / n_minus) = beta_diff q``.

    Two histograms (``reverse`` = fine counts of the reverse process on the same grid,
    an independent sample): for *every* coarse bin ``B`` (both signs of ``j``),
    ``n_plus = n(B)``, ``n_minus = n_R(-B)``; the theory is
    ``log(n_plus / n_minus) = beta_diff q + log(N / N_R)`` (sample sizes), and
    ``y`` is reported with that offset removed.

    ``q = (j + 1/2) w`` is the bin centre. A pair is used when the *theory* expects at
    least ``min_expected`` counts on its rarer side: ``N_B min(pi, 1 - pi) >= min_expected``
    with ``N_B = n_plus + n_minus`` and ``pi = 1 / (1 + exp(-(beta_diff q + offset)))``,
    the probability of the + side. The selection depends on ``N_B`` only, never on how
    ``N_B`` splits between the two sides, so it does not bias the ratio.

    Returns
    -------
    dict of arrays (one entry per used pair): ``q`` (bin centre), ``n_plus``,
    ``n_minus``, ``y = log(n_plus / n_minus) - offset``,
    ``sigma = sqrt(1/n_plus + 1/n_minus)`` (Poisson), ``pi`` (theory);
    scalars ``width``, ``beta_diff``, ``offset``, ``n_empty``.

    A selected pair with an empty side (expected only when the data contradict the
    theory badly) keeps its counts, which the binomial test of :func:`xft_chi2` uses,
    but has ``y = sigma = nan``; ``n_empty`` counts such pairs.
    """
    j, c = coarse_counts(fine, first_bin, fine_width, width)
    if reverse is None:
        J = j.size // 2
        pos = c[J:]                      # j = 0 .. J-1
        neg = c[:J][::-1]                # j = -1 .. -J  (mirrors of 0 .. J-1)
        q = (np.arange(J) + 0.5) * width
        offset = 0.0
    else:
        if np.shape(reverse) != np.shape(fine):
            raise ValueError(f"fine and reverse must be histograms on the same grid (same shape), got "
                             f"{np.shape(fine)} and {np.shape(reverse)}.")
        jr, cr = coarse_counts(reverse, first_bin, fine_width, width)
        if not np.array_equal(j, jr):
            raise ValueError("fine and reverse must be histograms on the same grid (same shape).")
        pos, neg = c, cr[::-1]           # bin j and the mirror -j-1 of the reverse histogram
        q = (j + 0.5) * width
        offset = math.log(c.sum() / cr.sum())
    N = pos + neg
    pi = 1.0 / (1.0 + np.exp(-(beta_diff * q + offset)))
    keep = N * np.minimum(pi, 1.0 - pi) >= min_expected
    n_plus, n_minus = pos[keep], neg[keep]
    empty = (n_plus == 0) | (n_minus == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(empty, np.nan, np.log(np.maximum(n_plus, 1) / np.maximum(n_minus, 1)) - offset)
        sigma = np.where(empty, np.nan, np.sqrt(1.0 / np.maximum(n_plus, 1) + 1.0 / np.maximum(n_minus, 1)))
    return {"q": q[keep], "n_plus": n_plus, "n_minus": n_minus, "y": y, "sigma": sigma, "pi": pi[keep],
            "width": float(width), "beta_diff": float(beta_diff), "offset": float(offset),
            "n_empty": int(empty.sum())}


def fit_slope(q, y, sigma) -> dict:
    """Weighted least squares through the origin, ``y = s q``, with its uncertainty and fit quality.

    Returns
    -------
    dict: ``slope``, ``stderr`` (``1 / sqrt(sum q^2 / sigma^2)``), ``chi2`` of the
    residuals about the fitted line, ``dof`` (``n - 1``), ``p_value`` (chi-square
    survival function: a small value means the points are not on *any* line
    through the origin).
    """
    from scipy import stats
    q, y, sigma = (np.asarray(x, np.float64) for x in (q, y, sigma))
    if q.shape != y.shape or q.shape != sigma.shape or q.ndim != 1:
        raise ValueError("q, y, sigma must be 1-D arrays of the same length.")
    ok = ~(np.isnan(y) & np.isnan(sigma))          # pairs with an empty side (see log_ratio_table)
    q, y, sigma = q[ok], y[ok], sigma[ok]
    if q.size < 2:
        raise ValueError("need at least 2 points (pairs of mirrored bins) to fit a slope; use wider bins "
                         "or more chains.")
    if np.any(~np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("sigma must be finite and > 0.")
    w = 1.0 / sigma ** 2
    sxx = np.sum(w * q * q)
    slope = np.sum(w * q * y) / sxx
    chi2 = float(np.sum(w * (y - slope * q) ** 2))
    dof = q.size - 1
    return {"slope": float(slope), "stderr": float(1.0 / math.sqrt(sxx)), "chi2": chi2, "dof": dof,
            "p_value": float(stats.chi2.sf(chi2, dof))}


def xft_chi2(table: dict) -> dict:
    """Goodness of fit of the XFT line, no free parameter: Pearson chi-square of the mirrored pairs.

    Conditional on ``N_B = n_plus + n_minus``, the theorem says ``n_plus ~ Binomial(N_B, pi)``
    with the table's theory probability ``pi`` (up to the binning bias, see
    :func:`binning_bias`). The statistic ``sum (n_plus - N_B pi)^2 / (N_B pi (1 - pi))`` is
    chi-square with one degree of freedom per pair. Also returned: the same test
    on the log ratios, ``sum ((y - beta_diff q) / sigma)^2`` (pairs with an empty side left out).

    Returns
    -------
    dict: ``chi2``, ``dof``, ``p_value`` (binomial Pearson), ``chi2_log``, ``dof_log``, ``p_value_log``.
    """
    from scipy import stats
    q = np.asarray(table["q"], np.float64)
    n_plus = np.asarray(table["n_plus"], np.float64)
    N = n_plus + np.asarray(table["n_minus"], np.float64)
    pi = np.asarray(table["pi"], np.float64)
    chi2 = float(np.sum((n_plus - N * pi) ** 2 / (N * pi * (1.0 - pi))))
    r = (np.asarray(table["y"]) - table["beta_diff"] * q) / np.asarray(table["sigma"])
    r = r[np.isfinite(r)]
    chi2_log = float(np.sum(r ** 2))
    dof = int(q.size)
    return {"chi2": chi2, "dof": dof, "p_value": float(stats.chi2.sf(chi2, dof)),
            "chi2_log": chi2_log, "dof_log": int(r.size), "p_value_log": float(stats.chi2.sf(chi2_log, r.size))}


def binning_bias(fine: np.ndarray, first_bin: int, fine_width: float, width: float, beta_diff: float,
                 q: np.ndarray) -> np.ndarray:
    """Estimated bias of the coarse log ratio against ``beta_diff * q_centre``, caused by the bin width.

    If the theorem holds on the fine grid, ``n(B) / n(-B)`` estimates
    ``sum_{f in -B} n_f exp(-beta_diff q_f) / sum_{f in -B} n_f`` (an average of
    ``exp(beta_diff Q)`` over the bin, weighted by the density of ``-Q``), not
    ``exp(beta_diff q_B)``. This returns ``log`` of the former minus ``beta_diff q_B``
    for the bins centred at ``q`` (``q > 0``), using the observed fine counts as the
    density; compare it with the error bars to choose the width.
    """
    fine = np.asarray(fine, np.float64)
    m = int(round(width / fine_width))
    k = int(first_bin) + np.arange(fine.size)
    qf = (k + 0.5) * fine_width
    out = np.empty(len(q))
    for i, qc in enumerate(np.asarray(q, np.float64)):
        j = int(math.floor(qc / width))
        sel = (k >= (-j - 1) * m) & (k < -j * m)      # fine bins of the mirror bin -B
        wts = fine[sel]
        if wts.sum() == 0:
            out[i] = np.nan
            continue
        # fine bin f in -B has centre qf < 0; its mirror in B has centre -qf
        vals = beta_diff * (-qf[sel])
        mx = vals.max()
        out[i] = mx + math.log(np.sum(wts * np.exp(vals - mx)) / wts.sum()) - beta_diff * qc
    return out


def analyse(result: "XFTResult", order: str, beta2: float, width: float, *, reverse_order: str | None = None,
            min_expected: float = 20.0) -> dict:
    """XFT analysis of one histogram of an :class:`XFTResult` at coarse bin ``width``.

    ``reverse_order=None``: the one-histogram XFT for ``order`` (all chains).
    ``reverse_order='vh'`` (say): the paired statement ``P_order(Q) / P_reverse(-Q)``, with
    the forward histogram from the even chains and the reverse one from the odd
    chains, two independent samples.

    Returns
    -------
    dict: ``table`` (:func:`log_ratio_table`), ``fit`` (:func:`fit_slope`), ``gof``
    (:func:`xft_chi2`), ``bias`` (:func:`binning_bias` at the table's bins, one-histogram
    case only, else None), ``beta_diff``, ``order``, ``reverse_order``, ``beta2``,
    ``n`` (chains in the forward histogram).
    """
    if not isinstance(result, XFTResult):
        raise TypeError(f"result must be an XFTResult, got {type(result).__name__}.")
    c = result.beta1 - float(beta2)
    for o in (order,) if reverse_order is None else (order, reverse_order):
        if result.n_outside(o, beta2):
            raise ValueError(f"{result.n_outside(o, beta2)} heat values of order {o!r} at beta2 = {beta2} fell "
                             "outside the histogram range; rerun with a larger q_max.")
    if reverse_order is None:
        fine, rev = result.fine_counts(order, beta2), None
    else:
        fine, rev = result.fine_counts(order, beta2, 0), result.fine_counts(reverse_order, beta2, 1)
    table = log_ratio_table(fine, result.first_bin, result.bin_width, width, c, reverse=rev,
                            min_expected=min_expected)
    bias = None if rev is not None else binning_bias(fine, result.first_bin, result.bin_width, width, c,
                                                      table["q"])
    return {"table": table, "fit": fit_slope(table["q"], table["y"], table["sigma"]), "gof": xft_chi2(table),
            "bias": bias, "beta_diff": c, "order": order, "reverse_order": reverse_order, "beta2": float(beta2),
            "n": int(fine.sum())}


def certify_starts(result: "XFTResult", reference: dict, *, alpha: float = 0.01):
    """Certify that the starts of an XFT run were drawn from equilibrium at ``beta1``, or say why not.

    Three kinds of tests, errors from the ``G`` independent chain groups (batch means, so
    each ratio is compared with Student's t with ``G - 1`` degrees of freedom), all
    together at family-wise level ``alpha`` (Bonferroni):

    1. the mean start energy agrees with an independent equilibrium estimate
       ``reference = {'E': (mean, se)}`` (tempering, long chains from several starts);
    2. the start ensemble is stationary: the mean start energy of the second half of
       the branch points equals that of the first half (branch mode, ``n_branch >= 2``);
    3. where ``beta1`` is among the ``beta2s``: the mean heat of every order is 0 (every
       order leaves ``p_beta1`` invariant, so a non-zero mean heat at ``T2 = T1`` means the
       starts are not at ``p_beta1``; this is the most direct test of assumption (A)).

    Returns
    -------
    :class:`rbmlib.diagnostics.Certificate` (``checks`` JSON-ready, for the result's metadata).
    """
    from scipy import stats

    from .diagnostics import Certificate

    if not isinstance(result, XFTResult):
        raise TypeError(f"result must be an XFTResult, got {type(result).__name__}.")
    if result.moments is None:
        raise ValueError("this result has no per-group moments (made before they existed); rerun it.")
    if not isinstance(reference, dict) or "E" not in reference:
        raise ValueError("reference must be {'E': (mean, se)}: an independent equilibrium estimate of the mean "
                         "energy at beta1 (tempering, long chains from several starts).")
    m_ref, se_ref = (float(x) for x in reference["E"])
    tests = []
    m, se = result.moment("E0")
    tests.append(("start energy vs reference", m - m_ref, math.hypot(se, se_ref),
                  {"mean": m, "se": se, "reference_mean": m_ref, "reference_se": se_ref}))
    G, nb_ = result.branch_trace.shape
    if nb_ >= 2:
        half = nb_ // 2
        chains = np.array([len(range(g, result.n_done, G)) for g in range(G)], np.float64)
        first = result.branch_trace[:, :half].sum(axis=1) / _MFIX / half
        second = result.branch_trace[:, nb_ - half:].sum(axis=1) / _MFIX / half
        d, sd = _batch_mean(second - first, chains)
        tests.append(("stationarity: second minus first half of the branch points", d, sd,
                      {"first_half": float(first.sum() / chains.sum()),
                       "second_half": float(second.sum() / chains.sum())}))
    eq = [b for b in result.beta2s if math.isclose(b, result.beta1, rel_tol=1e-12)]
    for o in result.orders if eq else ():
        mq, sq = result.moment("Q", o, eq[0])
        tests.append((f"mean heat of order {o!r} at T2 = T1", mq, sq, {}))
    zc = float(stats.t.isf(alpha / (2 * len(tests)), G - 1))
    reasons, rows = [], []
    for name, diff, se_, extra in tests:
        z = diff / se_ if se_ > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
        rows.append({"test": name, "difference": float(diff), "se": float(se_), "z": float(z), **extra})
        if abs(z) >= zc:
            reasons.append(f"{name}: {diff:+.4g} +- {se_:.2g} (z = {z:.1f}, limit {zc:.2f}).")
    checks = {"alpha": alpha, "t_critical": zc, "dof": G - 1, "n_groups": G, "n_chains": result.n_done,
              "n_starts": result.n_starts, "tests": rows,
              "summary": [f"{len(tests)} tests (reference, stationarity, zero mean heat at T2 = T1), "
                          f"|t| < {zc:.2f} ({G - 1} dof)"]}
    return Certificate(passed=not reasons, reasons=reasons, checks=checks)


def load_energy_reference(path) -> dict:
    """``{'E': (mean, se)}`` from an equilibrium file: ``results/equilibrium/*.json`` (its tempering
    estimate) or a JSON object ``{"E": [mean, se]}``."""
    path = Path(path)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"Could not read the equilibrium reference {path} ({type(exc).__name__}: {exc}).") from None
    try:
        if "E" in rec:
            m, se = rec["E"]
        else:
            m, se = rec["tempering"]["energy"]["mean"], rec["tempering"]["energy"]["se"]
        return {"E": (float(m), float(se))}
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path} holds no mean-energy reference: expected {{\"E\": [mean, se]}} or a "
                         "results/equilibrium file with tempering.energy.mean/se.") from None


def jackknife_slope(result: "XFTResult", order: str, beta2: float, width: float, *,
                    reverse_order: str | None = None, min_expected: float = 20.0) -> dict:
    """The slope of :func:`analyse` with a delete-one-group jackknife standard error.

    For correlated starts (branch mode) the Poisson error of the fit is too small; the
    chain groups are independent, so the jackknife over groups is valid whatever the
    correlation within a chain. The bins are those selected on all the data.

    Returns
    -------
    dict: ``slope``, ``stderr`` (jackknife), ``stderr_poisson``, ``z`` (``(slope - beta_diff) /
    stderr``), ``p_value`` (two-sided, Student's t with ``n_groups - 1`` dof), ``n_groups``,
    ``beta_diff``, and ``inflation`` (``stderr / stderr_poisson``).
    """
    full = analyse(result, order, beta2, width, reverse_order=reverse_order, min_expected=min_expected)
    q_keep = full["table"]["q"]
    c = full["beta_diff"]
    G = result.n_groups
    slopes = []
    for g in range(G):
        if reverse_order is None:
            fine, rev = result.fine_counts(order, beta2, exclude=g), None
        else:
            fine = result.fine_counts(order, beta2, 0, exclude=g)
            rev = result.fine_counts(reverse_order, beta2, 1, exclude=g)
        t = log_ratio_table(fine, result.first_bin, result.bin_width, width, c, reverse=rev, min_expected=0.0)
        sel = np.isin(np.round(t["q"] / width, 6), np.round(q_keep / width, 6))
        slopes.append(fit_slope(t["q"][sel], t["y"][sel], t["sigma"][sel])["slope"])
    slopes = np.array(slopes)
    se = float(math.sqrt((G - 1) / G * np.sum((slopes - slopes.mean()) ** 2)))
    slope = full["fit"]["slope"]
    from scipy import stats
    z = (slope - c) / se
    return {"slope": slope, "stderr": se, "stderr_poisson": full["fit"]["stderr"], "z": z,
            "p_value": float(2 * stats.t.sf(abs(z), G - 1)), "n_groups": G, "beta_diff": c, "inflation": se / full["fit"]["stderr"]}


def _common_pair_slopes(result, orders, beta2, width, q_keep, exclude=None):
    """One-histogram slopes of several orders on the same mirrored pairs ``q_keep`` (optionally leaving a group out)."""
    c = result.beta1 - float(beta2)
    out = []
    for o in orders:
        t = log_ratio_table(result.fine_counts(o, beta2, exclude=exclude), result.first_bin, result.bin_width, width,
                            c, min_expected=0.0)
        sel = np.isin(np.round(t["q"] / width, 6), np.round(q_keep / width, 6))
        out.append(fit_slope(t["q"][sel], t["y"][sel], t["sigma"][sel])["slope"])
    return out


def jackknife_slope_difference(result: "XFTResult", order_a: str, order_b: str, beta2: float, width: float, *,
                               min_expected: float = 20.0) -> dict:
    """Difference of the one-histogram slopes of two orders from the same starts, with a jackknife error.

    For the block sweep and its reversal, ``y_hv(Q) = (beta1 - beta2) Q + delta(Q)`` and
    ``y_vh(Q) = (beta1 - beta2) Q - delta(Q)`` exactly (chapter 4), so the slope difference
    estimates twice the slope of the sweep's violation ``delta``, with the theory slope and
    much of the sampling noise cancelled (both orders quench the same starts). Zero if the
    one-histogram XFT held for both orders. Fitted on the mirrored pairs usable for both
    (selected on all data); the delete-one-group jackknife over the independent chain
    groups gives the error whatever the correlation between the two orders and along chains.

    Returns
    -------
    dict: ``difference``, ``stderr``, ``t``, ``p_value`` (two-sided, Student's t with
    ``n_groups - 1`` dof), ``n_groups``, ``n_pairs``.
    """
    from scipy import stats
    qa = analyse(result, order_a, beta2, width, min_expected=min_expected)["table"]["q"]
    qb = analyse(result, order_b, beta2, width, min_expected=min_expected)["table"]["q"]
    q = np.intersect1d(np.round(qa, 9), np.round(qb, 9))
    if q.size < 2:
        raise ValueError("fewer than 2 mirrored pairs are usable for both orders; use wider bins or more chains.")
    sa, sb = _common_pair_slopes(result, (order_a, order_b), beta2, width, q)
    G = result.n_groups
    loo = np.array([np.subtract(*_common_pair_slopes(result, (order_a, order_b), beta2, width, q, exclude=g))
                    for g in range(G)])
    se = float(math.sqrt((G - 1) / G * np.sum((loo - loo.mean()) ** 2)))
    d = sa - sb
    t = d / se
    return {"difference": d, "stderr": se, "t": t, "p_value": float(2 * stats.t.sf(abs(t), G - 1)),
            "n_groups": G, "n_pairs": int(q.size)}


def exact_gof(result: "XFTResult", rbm: RBM, order: str, beta2: float, *, width: float = 0.25,
              min_expected: float = 5.0) -> dict:
    """Chi-square goodness of fit of a sampled heat histogram against the exact distribution (tiny models).

    The exact ``P(Q)`` (:func:`exact_heat_distribution`, equilibrium start at the result's
    ``beta1``) is binned on the result's grid at ``width``; bins are merged from the left
    until each expects at least ``min_expected`` counts (a remainder joins the last
    group). Valid when the result's equilibration has converged (check
    ``exact.transition_matrix(rbm, 'hv', beta1, n_sweeps=n_equil)``).

    Returns
    -------
    dict: ``chi2``, ``dof`` (groups - 1), ``p_value``, ``n_groups``
    (:func:`rbmlib.stats.chisquare_merged`, bins merged from the left).
    """
    if result.config["model_fingerprint"] != rbm.fingerprint():
        raise ValueError("the result was computed with another model (fingerprints differ).")
    if result.n_outside(order, beta2):
        raise ValueError("some heat values fell outside the histogram range.")
    q, p = exact_heat_distribution(rbm, order, result.beta1, beta2)
    j, obs = coarse_counts(result.fine_counts(order, beta2), result.first_bin, result.bin_width, width)
    idx = np.floor(q / width).astype(np.int64) - j[0]
    if idx.min() < 0 or idx.max() >= obs.size:
        raise ValueError("the exact heat values exceed the result's grid.")
    exp = np.zeros(obs.size)
    np.add.at(exp, idx, p * result.n_starts)
    t = chisquare_merged(obs, exp, min_expected=min_expected, merge="adjacent")
    return {"chi2": t.statistic, "dof": t.dof, "p_value": t.pvalue, "n_groups": t.n_bins}


def homogeneity_test(counts_a, counts_b, *, min_expected: float = 5.0) -> dict:
    """Chi-square test that two histograms (same bins) come from the same distribution.

    :func:`rbmlib.stats.homogeneity`: adjacent bins merged from the left until both
    samples expect at least ``min_expected`` counts in every merged bin, then the
    2 x K contingency chi-square with ``K - 1`` degrees of freedom.

    Returns
    -------
    dict: ``chi2``, ``dof``, ``p_value``, ``n_bins`` (after merging), ``n_a``, ``n_b``.
    """
    t = homogeneity(counts_a, counts_b, min_expected=min_expected)
    return {"chi2": t.statistic, "dof": t.dof, "p_value": t.pvalue, "n_bins": t.n_bins,
            "n_a": int(np.sum(counts_a)), "n_b": int(np.sum(counts_b))}
