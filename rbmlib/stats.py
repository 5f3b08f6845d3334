"""Statistics used across rbmlib and the book, over scipy: one home for each.

Support layer: it imports numpy, scipy and :mod:`rbmlib._validation` only, so any
module of the library (and any chapter) may use it.

=====================================  =============================================================
what                                   functions
=====================================  =============================================================
log-sum-exp                            :func:`logsumexp` (``scipy.special.logsumexp``), :func:`logmeanexp`
entropy and relative entropy           :func:`entropy`, :func:`kl_divergence` (``scipy.special.entr`` /
                                       ``rel_entr``), in nats, on normalised tables
chi-square with merged bins            :func:`chisquare_merged` (adjacent bins merged from the left, or
                                       the small bins pooled into one; ``scipy.stats.chisquare``)
homogeneity of two histograms          :func:`homogeneity` (``scipy.stats.chi2_contingency``)
symmetry of a transition count table   :func:`symmetry_test` (Bowker)
autocorrelation of Markov chains       :func:`autocorrelation`, :func:`integrated_time_chain_means`,
                                       :func:`integrated_time_window`
=====================================  =============================================================

All inputs are plain arrays; results are floats, arrays or a small named result.
Probabilities are natural-log based (nats).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import special
from scipy import stats as _sps

from ._validation import check_int

__all__ = [
    "logsumexp",
    "logmeanexp",
    "entropy",
    "kl_divergence",
    "ChiSquare",
    "merge_adjacent_bins",
    "chisquare_merged",
    "homogeneity",
    "symmetry_test",
    "autocorrelation",
    "integrated_time_chain_means",
    "integrated_time_window",
]


# ----------------------------------------------------------------------------
# log-sum-exp
# ----------------------------------------------------------------------------
def logsumexp(x, axis=None):
    """``log sum exp(x)`` without overflow (``scipy.special.logsumexp``); a float if ``axis`` is None.

    ``-inf`` entries (zero weights) are allowed; all ``-inf`` gives ``-inf``.
    """
    out = special.logsumexp(np.asarray(x, dtype=np.float64), axis=axis)
    return float(out) if axis is None else out


def logmeanexp(x, axis=None):
    """``log mean exp(x)`` (e.g. a Jarzynski or AIS estimate from log-weights): :func:`logsumexp` ``- log n``."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size if axis is None else x.shape[axis]
    if n == 0:
        raise ValueError("logmeanexp of an empty array is undefined: give at least one value.")
    return logsumexp(x, axis=axis) - math.log(n)


# ----------------------------------------------------------------------------
# entropy and relative entropy
# ----------------------------------------------------------------------------
def _probabilities(p, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).ravel()
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must hold finite probabilities >= 0.")
    return p


def entropy(p) -> float:
    """Shannon (Gibbs) entropy ``S[p] = -sum p log p`` in nats, ``0 log 0 = 0`` (``scipy.special.entr``).

    ``p`` is a probability table of any shape, already normalised (it is not rescaled).
    """
    return float(np.sum(special.entr(_probabilities(p, "p"))))


def kl_divergence(p, q) -> float:
    """Relative entropy ``KL(p || q) = sum p log(p / q)`` in nats (``scipy.special.rel_entr``), ``>= 0``.

    ``inf`` where ``q = 0`` and ``p > 0``. ``p`` and ``q`` are normalised tables of the same shape.
    """
    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}.")
    return float(np.sum(special.rel_entr(p, q)))


# ----------------------------------------------------------------------------
# chi-square tests with merged bins
# ----------------------------------------------------------------------------
class ChiSquare(NamedTuple):
    """A chi-square test: ``statistic``, ``pvalue``, ``dof`` and the number of bins after merging."""

    statistic: float
    pvalue: float
    dof: int
    n_bins: int


def merge_adjacent_bins(observed, expected, min_expected: float = 5.0):
    """Merge adjacent bins from the left until each group expects at least ``min_expected``.

    A remainder at the right end (expecting less) joins the last group.

    Returns
    -------
    observed, expected : float64 arrays of the merged groups (same totals as the inputs)
    """
    obs = np.asarray(observed, dtype=np.float64).ravel()
    exp = np.asarray(expected, dtype=np.float64).ravel()
    if obs.shape != exp.shape:
        raise ValueError(f"observed and expected must have the same bins, got {obs.shape} and {exp.shape}.")
    go, ge, ao, ae = [], [], 0.0, 0.0
    for o_, e_ in zip(obs, exp):
        ao += float(o_)
        ae += float(e_)
        if ae >= min_expected:
            go.append(ao)
            ge.append(ae)
            ao, ae = 0.0, 0.0
    if go:
        go[-1] += ao
        ge[-1] += ae
    return np.array(go, np.float64), np.array(ge, np.float64)


def chisquare_merged(observed, expected, *, min_expected: float = 5.0, merge: str = "adjacent") -> ChiSquare:
    """Pearson chi-square goodness of fit, bins with small expectation merged first.

    Parameters
    ----------
    observed : array-like
        Counts per bin.
    expected : array-like, same shape
        Expected counts (same total as ``observed``).
    min_expected : float
        Bins expecting fewer counts are merged.
    merge : {'adjacent', 'pool'}
        ``'adjacent'``: neighbouring bins merged from the left (:func:`merge_adjacent_bins`;
        for ordered bins such as a histogram). ``'pool'``: every bin expecting fewer than
        ``min_expected`` goes into one extra bin (for unordered cells such as the states
        of a tiny model), the others are kept.

    Returns
    -------
    ChiSquare
        ``dof`` = number of bins after merging - 1 (``scipy.stats.chisquare``).
    """
    obs = np.asarray(observed, dtype=np.float64).ravel()
    exp = np.asarray(expected, dtype=np.float64).ravel()
    if obs.shape != exp.shape:
        raise ValueError(f"observed and expected must have the same bins, got {obs.shape} and {exp.shape}.")
    if merge == "adjacent":
        obs, exp = merge_adjacent_bins(obs, exp, min_expected)
    elif merge == "pool":
        small = exp < min_expected
        if np.any(small):
            obs = np.append(obs[~small], obs[small].sum())
            exp = np.append(exp[~small], exp[small].sum())
    else:
        raise ValueError(f"merge must be 'adjacent' or 'pool', got {merge!r}.")
    if obs.size < 2:
        raise ValueError("too few counts for a chi-square test (fewer than 2 bins after merging).")
    res = _sps.chisquare(obs, exp)
    return ChiSquare(float(res.statistic), float(res.pvalue), int(obs.size - 1), int(obs.size))


def homogeneity(counts_a, counts_b, *, min_expected: float = 5.0) -> ChiSquare:
    """Chi-square test that two histograms on the same bins come from one distribution.

    Adjacent bins are merged from the left until both samples expect at least
    ``min_expected`` counts in every merged bin (the smaller sample's share of the
    pooled count; a remainder joins the last group), then the 2 x K contingency table
    is tested with ``scipy.stats.chi2_contingency`` (no continuity correction),
    ``K - 1`` degrees of freedom.
    """
    a = np.asarray(counts_a, np.int64)
    b = np.asarray(counts_b, np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"counts_a and counts_b must be 1-D with the same bins, got {a.shape} and {b.shape}.")
    na, nb_ = int(a.sum()), int(b.sum())
    if na == 0 or nb_ == 0:
        raise ValueError("both histograms must hold at least one count.")
    share = min(na, nb_) / (na + nb_)
    groups_a, groups_b = [], []
    ca = cb = 0
    for x, y in zip(a, b):
        ca += int(x)
        cb += int(y)
        if (ca + cb) * share >= min_expected:
            groups_a.append(ca)
            groups_b.append(cb)
            ca = cb = 0
    if ca + cb:
        if groups_a:
            groups_a[-1] += ca
            groups_b[-1] += cb
        else:
            groups_a.append(ca)
            groups_b.append(cb)
    if len(groups_a) < 2:
        raise ValueError("too few counts for a chi-square test (fewer than 2 bins after merging).")
    res = _sps.chi2_contingency(np.array([groups_a, groups_b], np.float64), correction=False)
    return ChiSquare(float(res.statistic), float(res.pvalue), int(res.dof), len(groups_a))


def symmetry_test(counts, *, min_count: int = 10) -> ChiSquare:
    """Bowker's test that a square table of transition counts ``C[i, j]`` (i -> j) is symmetric.

    ``sum_{i<j} (C_ij - C_ji)^2 / (C_ij + C_ji)`` over the pairs with at least ``min_count``
    transitions (the others are left out), chi-square with one degree of freedom per pair
    used. A reversible chain in equilibrium has a symmetric flux table.
    """
    C = np.asarray(counts, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"counts must be a square table, got shape {C.shape}.")
    iu = np.triu_indices(len(C), 1)
    m = C[iu] + C.T[iu]
    ok = m >= min_count
    stat = float(np.sum((C[iu] - C.T[iu])[ok] ** 2 / m[ok]))
    dof = int(ok.sum())
    return ChiSquare(stat, float(_sps.chi2.sf(stat, dof)), dof, dof)


# ----------------------------------------------------------------------------
# autocorrelation of Markov chains
# ----------------------------------------------------------------------------
def _traces(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be finite traces of shape (n_chains, n_sweeps) with n_sweeps >= 2, "
                         f"got shape {x.shape}.")
    return x


def autocorrelation(x, max_lag: int, *, divisor: str = "lag") -> np.ndarray:
    """Normalised autocorrelation ``rho(t)``, ``t = 0 .. max_lag``, of traces ``x`` (n_chains, n_sweeps).

    Deviations from the grand mean of all chains (not each chain's own mean, which would
    remove the slow part of the fluctuations of short chains); the lag-``t`` autocovariance
    is the sum over chains of ``sum_s e_s e_{s+t}`` (FFT, zero-padded to twice the next
    power of two of ``T``) divided by ``n_chains (T - t)`` (``divisor='lag'``, unbiased
    at every lag) or by ``n_chains T`` (``divisor='n'``, the positive-definite estimator of
    emcee and Sokal, which :func:`rbmlib.diagnostics.integrated_time` uses). Chains must be
    independent and stationary (drop the relaxation first).
    """
    E = _traces(x)
    T = E.shape[1]
    max_lag = check_int(max_lag, "max_lag", 0)
    if max_lag >= T:
        raise ValueError(f"max_lag must be < n_sweeps = {T}, got {max_lag}.")
    if divisor not in ("lag", "n"):
        raise ValueError(f"divisor must be 'lag' or 'n', got {divisor!r}.")
    e = E - E.mean()
    m = 2 ** int(math.ceil(math.log2(T))) * 2
    f = np.fft.rfft(e, m, axis=1)
    c = np.fft.irfft(f * np.conj(f), m, axis=1)[:, : max_lag + 1].sum(axis=0)
    c /= E.shape[0] * (T - np.arange(max_lag + 1) if divisor == "lag" else T)
    if not c[0] > 0:
        raise ValueError("every chain is constant: the autocorrelation is undefined.")
    return c / c[0]


def integrated_time_chain_means(x, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Integrated autocorrelation time from the spread of independent chains' time averages.

    ``tau = T var(chain averages) / var(x)`` for traces ``x`` (n_chains, T) after burn-in,
    with its ``confidence`` interval from ``s^2 ~ sigma^2 chi^2_{n-1} / (n - 1)`` (chain
    averages close to Gaussian). Needs no window; biased low only by correlations at
    lags comparable with ``T``.

    Returns
    -------
    tau, lower, upper : float (sweeps)
    """
    E = _traces(x)
    if E.shape[0] < 2:
        raise ValueError("integrated_time_chain_means needs at least 2 independent chains.")
    k = E.shape[0] - 1
    tau = E.shape[1] * E.mean(axis=1).var(ddof=1) / E.var()
    tail = (1.0 - confidence) / 2
    return tau, tau * k / _sps.chi2.ppf(1.0 - tail, k), tau * k / _sps.chi2.ppf(tail, k)


def integrated_time_window(x, *, c: float = 5.0) -> tuple[float, int, float]:
    """Integrated autocorrelation time ``1 + 2 sum_{t <= M} rho(t)`` at Sokal's self-consistent window.

    ``M`` is the smallest window with ``M >= c tau(M)`` (``rho`` from :func:`autocorrelation`
    up to half the trace length); the standard error is ``tau sqrt(2 (2M + 1) / (n_chains T))``.

    Returns
    -------
    tau : float (sweeps), M : int, standard_error : float
    """
    E = _traces(x)
    tau = 1 + 2 * np.cumsum(autocorrelation(E, E.shape[1] // 2)[1:])
    M = np.arange(1, len(tau) + 1)
    m = int(np.argmax(M >= c * tau))
    return tau[m], int(M[m]), tau[m] * np.sqrt(2 * (2 * M[m] + 1) / E.size)
