"""Equilibration diagnostics: autocorrelation times, R-hat/ESS, multi-start agreement, certificates.

The fluctuation theorems of the course assume an ensemble that *starts in
equilibrium*. This module tests that assumption for ensembles of independent
chains (every chain its own random stream, so chains are independent and the
standard error of an ensemble mean is the spread over chains / sqrt(chains)).

* :func:`integrated_time` -- the integrated autocorrelation time of an
  observable with Sokal's automatic window (the smallest ``M`` with
  ``M >= c tau(M)``, ``emcee.autocorr.auto_window``), from the autocovariance
  averaged over independent chains around their grand mean (see the function
  for why not emcee's per-chain means). The window is returned with the estimate.
* :func:`rhat_ess` -- rank-normalised split R-hat and bulk/tail effective sample
  sizes (Vehtari, Gelman, Simpson, Carpenter & Bürkner, Bayesian Analysis 16,
  667 (2021)) from ArviZ (``arviz_stats``, the reference implementation of that
  paper, numpy/scipy only).
* :func:`window_mean`, :func:`compare` -- an ensemble mean over a window of
  sweeps with its error (chain-level, so autocorrelation within a chain is
  accounted for exactly), and z-scores between estimates from different starts
  (noise, data, tempering).
* :func:`certify` -- traces from several starts over a window: stationarity
  (first vs second half, paired per chain), agreement of the starts with each
  other and with a reference, enough effective samples; passes or says why not.
* :func:`certify_start` -- one starting ensemble ``(v, h)``: its observables
  agree with an equilibrium reference (e.g. tempering) and do not drift when the
  dynamics runs on from it (an equilibrium ensemble is stationary).
* :func:`equilibration_sweep` -- the first sweep after which a relaxing
  ensemble mean stays within ``k`` standard errors of the reference.

Why these libraries: emcee's ``autocorr`` is the standard, small (numpy-only)
implementation of Sokal's automatic window, used here for tau with its window
(chapter 2 quotes both); ArviZ's R-hat and ESS are the current recommended
convergence diagnostics and their reference implementation, and arviz-stats
brings no dependency beyond numpy and scipy (no xarray needed for arrays).

Statistical decisions use a family-wise level ``alpha`` split over the tests
made (Bonferroni): each z-test passes when ``|z| < z_crit`` with
``z_crit = Phi^-1(1 - alpha / (2 n_tests))``.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

__all__ = ["AutocorrTime", "integrated_time", "rhat_ess", "window_mean", "compare", "Certificate", "certify",
           "certify_start", "ensemble_observables", "equilibration_sweep", "z_critical"]


# ----------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------
def _traces(x, name="x", min_sweeps=4) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_chains, n_sweeps) (or (n_sweeps,) for one chain), "
                         f"got {arr.shape}.")
    if arr.shape[1] < min_sweeps:
        raise ValueError(f"{name} needs at least {min_sweeps} sweeps per chain, got {arr.shape[1]}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf.")
    return arr


def z_critical(alpha: float, n_tests: int) -> float:
    """Two-sided Bonferroni critical |z| for ``n_tests`` tests at family-wise level ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}.")
    return float(stats.norm.isf(alpha / (2 * max(1, int(n_tests)))))


# ----------------------------------------------------------------------------
# autocorrelation, R-hat, ESS
# ----------------------------------------------------------------------------
@dataclass
class AutocorrTime:
    """Integrated autocorrelation time (in sweeps) with its Sokal window.

    ``tau = 1 + 2 sum_{t=1}^{window} rho(t)``; ``reliable`` when the series is
    at least ``tol`` tau long (emcee's criterion, default 50).
    """
    tau: float
    window: int
    n_chains: int
    n_sweeps: int
    c: float
    reliable: bool

    def standard_error(self, x) -> float:
        """Standard error of the mean of ``x`` over all chains and sweeps, ``sqrt(var tau / (chains sweeps))``."""
        x = np.asarray(x, dtype=np.float64)
        return float(np.sqrt(x.var() * self.tau / x.size))


def integrated_time(x, *, c: float = 5.0, tol: float = 50.0) -> AutocorrTime:
    """Integrated autocorrelation time of traces ``x`` (n_chains, n_sweeps) with Sokal's window.

    The autocovariance of every chain is computed by FFT around the *grand*
    mean of all chains and averaged over chains, normalised by its lag-0 value;
    ``tau(M) = 2 sum_{t<=M} rho(t) - 1`` and the window is the first
    ``M >= c tau(M)`` (Sokal 1997; ``emcee.autocorr.auto_window``). Chains must
    be independent and stationary over the given sweeps (discard the relaxation
    first).

    Why the grand mean: ``emcee.autocorr.integrated_time`` subtracts each chain's
    own mean, which removes the slow part of the fluctuations when a chain is only
    ~10 tau long. On the 784 x 500 model at beta = 1 (256 chains, sweeps
    4000-6000 from noise) emcee's estimator gives 32 sweeps, this one 113 (window
    565), and ArviZ's bulk ESS (between- and within-chain variance) implies
    N / ESS = 206: the energy also has a slow tail beyond Sokal's window, so
    quote :func:`rhat_ess` alongside. With one chain the two windowed estimators
    coincide.
    """
    from emcee import autocorr

    from .stats import autocorrelation

    x = _traces(x)
    if not (c > 0 and tol > 0):
        raise ValueError("c and tol must be > 0.")
    n = x.shape[1]
    if not np.any(x != x[0, 0]):
        raise ValueError("every chain is constant: the autocorrelation time is undefined.")
    rho = autocorrelation(x, n - 1, divisor="n")
    taus = 2.0 * np.cumsum(rho) - 1.0
    if np.all(np.arange(n) < c * taus):
        # no window fits: the series is shorter than c tau. (auto_window would return 0 here, i.e. tau = 1.)
        window = n - 1
    else:
        window = int(autocorr.auto_window(taus, c))
    tau = float(taus[window])
    return AutocorrTime(tau=tau, window=window, n_chains=x.shape[0], n_sweeps=n, c=float(c),
                        reliable=bool(n > tol * tau))


def rhat_ess(x) -> dict:
    """Rank-normalised split R-hat and bulk / tail ESS of traces ``x`` (n_chains, n_sweeps), via ArviZ.

    Returns dict ``rhat``, ``ess_bulk``, ``ess_tail`` (effective number of
    independent draws in the whole set; tail: the smaller of the ESS of the 5 %
    and 95 % quantiles) and ``ess_bulk_per_chain``.
    """
    from arviz_stats.base import array_stats

    x = _traces(x)
    if x.shape[0] < 2:
        raise ValueError("R-hat needs at least two chains.")
    r = float(array_stats.rhat(x, chain_axis=0, draw_axis=1, method="rank"))
    eb = float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk"))
    et = float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="tail", prob=0.05))  # 5 % and 95 % quantiles
    return {"rhat": r, "ess_bulk": eb, "ess_tail": et, "ess_bulk_per_chain": eb / x.shape[0]}


# ----------------------------------------------------------------------------
# ensemble means and their comparison
# ----------------------------------------------------------------------------
def window_mean(x, start: int = 0, stop: int | None = None) -> dict:
    """Mean of traces ``x`` (n_chains, n_sweeps) over sweeps ``[start, stop)`` with its standard error.

    Each chain's time average over the window is one independent number, so
    ``se = std(chain averages, ddof=1) / sqrt(n_chains)`` -- exact for
    independent chains whatever the autocorrelation inside a chain. Returns
    dict ``mean``, ``se``, ``n_chains``, ``start``, ``stop``.
    """
    x = _traces(x, min_sweeps=1)
    stop = x.shape[1] if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop <= x.shape[1]:
        raise ValueError(f"window [{start}, {stop}) is not inside [0, {x.shape[1]}).")
    m = x[:, start:stop].mean(1)
    if m.size < 2:
        raise ValueError("a standard error needs at least two independent chains.")
    return {"mean": float(m.mean()), "se": float(m.std(ddof=1) / np.sqrt(m.size)), "n_chains": int(m.size),
            "start": start, "stop": stop}


def compare(estimates: dict) -> dict:
    """Pairwise z-scores of independent estimates ``{name: {'mean': m, 'se': s}}`` (or (m, s) pairs).

    Returns dict with ``pairs`` (list of ``{a, b, diff, se, z}``) and
    ``chi2``/``dof``/``p``: the consistency of all of them with one common value
    (inverse-variance weighted mean; ``p`` is the chi-square probability).
    """
    est = {k: (dict(mean=v[0], se=v[1]) if isinstance(v, (tuple, list)) else v) for k, v in estimates.items()}
    if len(est) < 2:
        raise ValueError("compare needs at least two estimates.")
    names = list(est)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = est[a]["mean"] - est[b]["mean"]
            s = math.hypot(est[a]["se"], est[b]["se"])
            pairs.append({"a": a, "b": b, "diff": d, "se": s, "z": _z(d, s)})
    m = np.array([est[k]["mean"] for k in names])
    s = np.array([est[k]["se"] for k in names])
    if np.all(s > 0):
        w = 1 / s ** 2
        mu = float(np.sum(w * m) / np.sum(w))
        chi2 = float(np.sum(w * (m - mu) ** 2))
        p = float(stats.chi2.sf(chi2, len(m) - 1))
    else:
        mu, chi2, p = float("nan"), float("nan"), float("nan")
    return {"pairs": pairs, "weighted_mean": mu, "chi2": chi2, "dof": len(m) - 1, "p": p}


def equilibration_sweep(x, reference: float, reference_se: float = 0.0, *, alpha: float = 0.01, block: int = 1):
    """First sweep from which the ensemble mean of ``x`` stays consistent with ``reference``.

    ``x`` (n_chains, n_points) holds independent chains, one point per sweep or
    per block of ``block`` sweeps (the returned count is in sweeps: the start of
    the first point of the final consistent stretch). A point is consistent when
    ``|mean - reference| < z se`` with ``se`` the spread over chains / sqrt(chains)
    combined with ``reference_se``, and ``z = z_critical(alpha, n_points)`` (the
    Bonferroni level over all points, so a stationary series at the reference is
    declared equilibrated from its start with probability >= 1 - alpha).
    Returns None if the last point is not consistent (not yet equilibrated).
    """
    x = _traces(x, min_sweeps=1)
    if x.shape[0] < 2:
        raise ValueError("equilibration_sweep needs at least two independent chains.")
    m = x.mean(0)
    se = np.sqrt(x.var(0, ddof=1) / x.shape[0] + float(reference_se) ** 2)
    ok = np.abs(m - reference) < z_critical(alpha, m.size) * se
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    first = 0 if bad.size == 0 else int(bad[-1]) + 1
    return first * int(block)


# ----------------------------------------------------------------------------
# certificates
# ----------------------------------------------------------------------------
@dataclass
class Certificate:
    """Outcome of an equilibrium certification.

    ``passed`` is True when every check passed; ``reasons`` lists, in words,
    every check that failed; ``checks`` holds the numbers of every check (JSON-
    ready, for committing with a result).
    """
    passed: bool
    reasons: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=float)

    def __str__(self) -> str:
        if self.passed:
            return "Certificate: PASSED (" + ", ".join(self.checks.get("summary", [])) + ")"
        return "Certificate: FAILED\n  - " + "\n  - ".join(self.reasons)


def _z(diff, se):
    """diff / se, with 0 / 0 = 0 and d / 0 = +-inf (a certain difference)."""
    if se > 0:
        return float(diff / se)
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def _halves_z(x):
    """Paired z of the second-half minus first-half chain means of x (n_chains, n_sweeps)."""
    h = x.shape[1] // 2
    d = x[:, h:].mean(1) - x[:, :h].mean(1)
    se = d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(se), _z(d.mean(), se)


def certify(traces: dict, *, reference: dict | None = None, alpha: float = 0.01, min_ess: float = 400.0,
            rhat_max: float | None = None) -> Certificate:
    """Certify that ensembles from several starts sample the same stationary law over a window.

    Parameters
    ----------
    traces : dict ``{start: {observable: array (n_chains, n_sweeps)}}``
        Traces over the window to certify (relaxation already discarded), e.g.
        ``{'noise': {'E': E_noise[:, 4000:6000]}, 'data': {'E': ...}}``; chains
        independent. At least one start; every start must have the same observables.
    reference : dict ``{observable: (mean, se)}``, optional
        An independent equilibrium estimate (tempering, exact enumeration).
    alpha : float
        Family-wise level of all z-tests together (Bonferroni).
    min_ess : float
        Required bulk ESS (ArviZ) of each start's traces of each observable.
    rhat_max : float, optional
        If given, also require the rank-normalised R-hat over the chains of each
        start (and over all starts pooled) below it (1.01 is the recommendation of
        Vehtari et al.). Off by default: R-hat tests whether each chain's *time
        average* has converged, which needs windows of ~100 tau; an ensemble's
        equilibrium is tested by the other checks.

    Checks: (1) no drift inside each start's window, (2) the starts agree with
    each other, (3) and with the reference, (4) ESS >= min_ess, (5) R-hat if asked.
    """
    if not isinstance(traces, dict) or not traces:
        raise ValueError("traces must be a non-empty dict {start: {observable: (n_chains, n_sweeps) array}}.")
    starts = list(traces)
    obs = list(traces[starts[0]])
    for s in starts:
        if not isinstance(traces[s], dict) or list(traces[s]) != obs:
            raise ValueError(f"every start must give the same observables {obs}; start {s!r} gives "
                             f"{list(traces[s]) if isinstance(traces[s], dict) else type(traces[s]).__name__}.")
    tr = {s: {o: _traces(traces[s][o], f"traces[{s!r}][{o!r}]") for o in obs} for s in starts}
    reference = {} if reference is None else {o: tuple(map(float, v)) for o, v in reference.items()}
    for o in reference:
        if o not in obs:
            raise ValueError(f"reference observable {o!r} is not among the traces' {obs}.")
    n_tests = len(starts) * len(obs) + len(obs) * (len(starts) * (len(starts) - 1) // 2) \
        + len(starts) * len(reference)
    zc = z_critical(alpha, n_tests)
    reasons, checks = [], {"alpha": alpha, "z_critical": zc, "n_tests": n_tests, "starts": {}, "agreement": {}}
    for o in obs:
        est = {}
        for s in starts:
            x = tr[s][o]
            wm = window_mean(x)
            d, se, z = _halves_z(x)
            re = rhat_ess(x) if x.shape[0] >= 2 else {}
            try:
                at = integrated_time(x)
                tau = {"tau": at.tau, "window": at.window, "reliable": at.reliable}
            except ValueError as exc:
                tau = {"error": str(exc)}
            checks["starts"].setdefault(s, {})[o] = {**wm, "drift": d, "drift_se": se, "drift_z": z, **re, **tau}
            est[s] = wm
            if abs(z) >= zc:
                reasons.append(f"{o} drifts within the {s!r} window: second half - first half = {d:.4g} +- {se:.2g} "
                               f"(z = {z:.1f}, limit {zc:.2f}); the window is not stationary yet.")
            if re and re["ess_bulk"] < min_ess:
                reasons.append(f"{o} from {s!r}: bulk ESS {re['ess_bulk']:.0f} < {min_ess:.0f}; run more chains or "
                               "longer.")
            if rhat_max is not None and re and re["rhat"] >= rhat_max:
                reasons.append(f"{o} from {s!r}: R-hat {re['rhat']:.4f} >= {rhat_max}.")
        if o in reference:
            est["reference"] = {"mean": reference[o][0], "se": reference[o][1]}
        if len(est) >= 2:
            cmp = compare(est)
            checks["agreement"][o] = cmp
            for p in cmp["pairs"]:
                if abs(p["z"]) >= zc:
                    reasons.append(f"{o}: {p['a']!r} and {p['b']!r} disagree by {p['diff']:.4g} +- {p['se']:.2g} "
                                   f"(z = {p['z']:.1f}, limit {zc:.2f}).")
        if rhat_max is not None and len(starts) > 1:
            pooled = rhat_ess(np.concatenate([tr[s][o] for s in starts]))
            checks.setdefault("pooled", {})[o] = pooled
            if pooled["rhat"] >= rhat_max:
                reasons.append(f"{o}: pooled R-hat over all starts {pooled['rhat']:.4f} >= {rhat_max}.")
    checks["summary"] = [f"{len(starts)} start(s) x {len(obs)} observable(s), {n_tests} z-tests at |z| < {zc:.2f}"]
    return Certificate(passed=not reasons, reasons=reasons, checks=checks)


def ensemble_observables(rbm, v, h) -> dict:
    """Per-chain observables of states: energy ``E`` (float64), fractions ``mv``, ``mh`` of units on.

    v : (n_chains, n_visible) 0/1, h : (n_chains, n_hidden) 0/1. Returns dict of float64 (n_chains,).
    """
    v = np.asarray(v)
    h = np.asarray(h)
    return {"E": np.asarray(rbm.energy(v, h), dtype=np.float64), "mv": v.mean(1, dtype=np.float64),
            "mh": h.mean(1, dtype=np.float64)}


def certify_start(rbm, v, h, *, reference: dict, beta: float = 1.0, n_sweeps: int = 400, seed: int = 0,
                  alpha: float = 0.01) -> Certificate:
    """Certify a starting ensemble ``(v, h)`` at inverse temperature ``beta``, or say why not.

    Two properties of an equilibrium ensemble are tested:

    1. its observables (energy ``E``, fractions ``mv``/``mh`` of units on) agree
       with an independent equilibrium ``reference = {observable: (mean, se)}``
       (tempering, or exact enumeration with ``se = 0``), by z-tests;
    2. it is stationary: after ``n_sweeps`` more block Gibbs sweeps (each chain
       its own stream from ``seed``) the ensemble means have not moved (paired
       per chain, which cancels most of the sampling noise). Choose ``n_sweeps``
       of a few autocorrelation times.

    All z-tests together at family-wise level ``alpha`` (Bonferroni).

    Parameters
    ----------
    rbm : RBM
    v : (n_chains, n_visible), h : (n_chains, n_hidden) 0/1 states (n_chains >= 2)
    reference : dict, observables among ``'E'``, ``'mv'``, ``'mh'``

    Returns
    -------
    Certificate; ``checks`` holds every mean, error and z.
    """
    from .sampling import Chains

    v = np.asarray(v)
    h = np.asarray(h)
    if v.ndim != 2 or h.ndim != 2 or v.shape[0] != h.shape[0] or v.shape[0] < 2:
        raise ValueError(f"v and h must be (n_chains, n_units) arrays with the same n_chains >= 2; got {v.shape}, "
                         f"{h.shape}.")
    if not isinstance(reference, dict) or not reference:
        raise ValueError("certify_start needs reference={observable: (mean, se)} from an independent equilibrium "
                         "estimate (tempering or exact enumeration).")
    before = ensemble_observables(rbm, v, h)
    bad = [o for o in reference if o not in before]
    if bad:
        raise ValueError(f"unknown reference observables {bad}; use 'E', 'mv', 'mh'.")
    ch = Chains(rbm, v.shape[0], seed=seed, v0=v, h0=h)
    ch.run(n_sweeps, beta=beta)
    after = ensemble_observables(rbm, ch.v, ch.h)
    n_tests = 2 * len(reference)
    zc = z_critical(alpha, n_tests)
    reasons, checks = [], {"alpha": alpha, "z_critical": zc, "n_chains": int(v.shape[0]), "beta": float(beta),
                           "n_sweeps": int(n_sweeps), "seed": int(seed), "observables": {}}
    for o, (m_ref, se_ref) in reference.items():
        x0, x1 = before[o], after[o]
        m0, s0 = float(x0.mean()), float(x0.std(ddof=1) / np.sqrt(x0.size))
        s_ref = math.hypot(s0, float(se_ref))
        z_ref = _z(m0 - m_ref, s_ref)
        d = x1 - x0
        dm, ds = float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
        z_drift = _z(dm, ds)
        checks["observables"][o] = {"start_mean": m0, "start_se": s0, "reference_mean": float(m_ref),
                                    "reference_se": float(se_ref), "z_reference": z_ref,
                                    "mean_after": float(x1.mean()), "drift": dm, "drift_se": ds, "z_drift": z_drift}
        if abs(z_ref) >= zc:
            reasons.append(f"{o}: the start's mean {m0:.5g} +- {s0:.2g} differs from the equilibrium reference "
                           f"{m_ref:.5g} +- {float(se_ref):.2g} (z = {z_ref:.1f}, limit {zc:.2f}).")
        if abs(z_drift) >= zc:
            reasons.append(f"{o}: drifts by {dm:.4g} +- {ds:.2g} over {n_sweeps} further sweeps (z = {z_drift:.1f}, "
                           f"limit {zc:.2f}): the ensemble is not stationary.")
    checks["summary"] = [f"{len(reference)} observable(s) vs reference and stationarity over {n_sweeps} sweeps, "
                         f"|z| < {zc:.2f}"]
    return Certificate(passed=not reasons, reasons=reasons, checks=checks)
