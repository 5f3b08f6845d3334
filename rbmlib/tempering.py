"""Replica exchange (parallel tempering) for many independent ensembles at once.

An *ensemble* is one set of ``K = len(betas)`` replicas of the RBM, replica ``r``
sampling ``p_beta(v, h) ∝ exp(-beta E(v, h))`` at the inverse temperature it
currently holds. One step of the dynamics is

1. a block Gibbs sweep of every replica at its own inverse temperature (exactly
   the kernel of :class:`rbmlib.sampling.Chains`, order ``'hv'``), and, every
   ``swap_every`` sweeps,
2. a *swap round*: for the pairs of neighbouring inverse temperatures
   ``(beta_k, beta_{k+1})`` of one parity, the two replicas there exchange their
   temperatures with the Metropolis probability

   ``min(1, exp((beta_{k+1} - beta_k) (E_{k+1} - E_k)))``,

   where ``E_k`` is the energy of the replica at ``beta_k``. This leaves the
   product law ``prod_k p_{beta_k}`` invariant (detailed balance for each pair),
   and the sweep leaves each factor invariant, so the state at every
   ``beta_k`` is distributed as ``p_{beta_k}`` at stationarity.

The parity alternates deterministically, even pairs (0-1, 2-3, ...) in even
rounds and odd pairs in odd rounds (``scheme='deo'``, the non-reversible
"deterministic even/odd" scheme of Okabe et al. 2001, analysed by Syed et al.
2022, whose round trips take O(K) rounds instead of the O(K^2) of a random
parity); ``scheme='seo'`` draws the parity at random per ensemble and round.

Temperatures move, states do not: a swap exchanges the inverse temperatures of
two replicas (two integers), so the chains' states, kept fields and random
streams stay where they are. :meth:`Tempering.state` gathers the state
currently at each ``beta_k``.

Reproducibility
---------------
Replica ``r`` of ensemble ``e`` is the chain with global index
``(ensemble_offset + e) K + r`` of a :class:`rbmlib.sampling.Chains` with the
same ``seed``: its stream depends on ``(seed, (ensemble_offset + e) K + r)`` only.
The swap decisions of ensemble ``e`` use their own xoshiro256** stream, seeded
exactly as the sampler seeds chains (:func:`rbmlib.kernels.seed_streams`) with
the global index ``2**60 + ensemble_offset + e`` -- beyond every chain index the
sampler allows (``< 2**60``), so swap streams never coincide with chain streams.
One uniform is drawn per attempted pair, whatever the outcome, so the streams'
consumption never depends on the states. Hence the result is bit-for-bit the
same for any number of numba threads, and ``Tempering(..., ensemble_offset=o)``
with ``n`` ensembles reproduces ensembles ``o .. o+n-1`` of a larger run. The
acceptance test ``u < exp(delta)`` uses ``np.exp`` in float64 (the platform's
libm), so across machines a decision could differ only if ``u`` fell within an
ulp of ``exp(delta)``.

Energies used by the swap are those recorded by the sampler after the sweep
(float64 sums of the model-dtype fields, see :mod:`rbmlib.kernels`): for a
float32 model they are exact to ~1e-7 of ``sum |terms|`` (~1e-4 energy units on
the 784 x 500 model), which changes an acceptance probability by at most that
relative amount, far below any measurable effect. For exact tests use a float64
model.

Statistics
----------
Per ensemble (integer counts, so merging shards is exact): attempted and
accepted swaps per pair, round trips and their summed durations, and, per
inverse temperature, how often the replica there was last at the hot end
(``up``) or at the cold end (``down``). A round trip is the walk of one replica
from the cold end (``betas[-1]``, the target) to the hot end (``betas[0]``) and
back; its time is counted in sweeps. The fraction ``up / (up + down)`` per
temperature is the flux used by Katzgraber et al. (2006) to place temperatures.

Ladders
-------
:func:`geometric_ladder` spaces ``K`` inverse temperatures geometrically;
:func:`adapt_ladder` re-spaces them so that every pair has the same rejection
rate, using the communication barrier ``Lambda(beta)`` (the cumulative rejection
rate, Syed et al. 2022, eq. 19) and its piecewise-linear inverse;
:func:`communication_barrier` returns ``Lambda`` and the round-trip time it
predicts.

References: Swendsen & Wang, PRL 57, 2607 (1986); Geyer (1991); Hukushima &
Nemoto, JPSJ 65, 1604 (1996); Okabe et al., Chem. Phys. Lett. 335, 435 (2001);
Katzgraber et al., J. Stat. Mech. P03018 (2006); Syed, Bouchard-Côté,
Deligiannidis & Doucet, JRSS B 84, 321 (2022).
"""
from __future__ import annotations

import json
import numbers
import warnings
from pathlib import Path

import numba as nb
import numpy as np

from . import kernels
from ._io import atomic_savez
from ._validation import check_int, check_seed
from .model import RBM, check_rbm
from .sampling import Chains

__all__ = ["Tempering", "sample", "check_ladder", "geometric_ladder", "adapt_ladder",
           "communication_barrier", "SWAP_STREAM_OFFSET", "SCHEMES", "swap_log_acceptance"]

#: Global stream index of ensemble 0's swap stream (chain indices stay below 2**60).
SWAP_STREAM_OFFSET = 2 ** 60
#: Swap schemes: deterministic even/odd alternation, or a random parity per round.
SCHEMES = ("deo", "seo")
#: Format version of :meth:`Tempering.save` files.
FILE_VERSION = 1

_U = np.uint64
_NONE, _UP, _DOWN = 0, 1, 2


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def check_ladder(betas) -> np.ndarray:
    """Validate a ladder of inverse temperatures; return it as float64 (K,).

    Raises a clear error unless ``betas`` is a 1-d sequence of at least two
    finite, strictly positive, strictly increasing inverse temperatures (hot to
    cold; the target is usually the last, ``betas[-1] = 1``).
    """
    if isinstance(betas, (numbers.Real, np.ndarray)) and np.ndim(betas) == 0:
        raise ValueError(
            f"betas must be a ladder of at least two inverse temperatures, got the single number {betas!r}. "
            "Parallel tempering with one temperature is plain Gibbs sampling: use rbmlib.sample."
        )
    try:
        arr = np.asarray(betas, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"betas must be a sequence of numbers, got {betas!r}.") from exc
    if arr.ndim != 1:
        raise ValueError(f"betas must be one-dimensional (K,), got shape {arr.shape}.")
    if arr.size < 2:
        raise ValueError(
            f"betas must hold at least two inverse temperatures, got {arr.size}. "
            "Parallel tempering with one temperature is plain Gibbs sampling: use rbmlib.sample."
        )
    bad = ~np.isfinite(arr) | (arr <= 0.0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"every inverse temperature must be finite and > 0; betas[{i}] = {arr[i]!r}. "
            "beta -> 0 (infinite temperature) must be approached, e.g. betas[0] = 0.01, not reached."
        )
    d = np.diff(arr)
    if np.any(d <= 0.0):
        i = int(np.flatnonzero(d <= 0.0)[0])
        what = "repeated" if d[i] == 0 else "not sorted"
        raise ValueError(
            f"betas must be strictly increasing (hot to cold); it is {what} at index {i}: "
            f"betas[{i}] = {arr[i]!r}, betas[{i + 1}] = {arr[i + 1]!r}. Sort it (np.unique(betas))."
        )
    return arr


def _check_scheme(scheme) -> int:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES} (deterministic or random even/odd), got {scheme!r}.")
    return SCHEMES.index(scheme)


# ----------------------------------------------------------------------------
# ladders
# ----------------------------------------------------------------------------
def geometric_ladder(beta_min: float, beta_max: float = 1.0, n: int = 16) -> np.ndarray:
    """``n`` inverse temperatures from ``beta_min`` to ``beta_max``, geometrically spaced.

    Returns float64 (n,), strictly increasing, with ``[0] = beta_min`` and
    ``[-1] = beta_max`` exactly.
    """
    n = check_int(n, "n", 2)
    for name, x in (("beta_min", beta_min), ("beta_max", beta_max)):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real) or not np.isfinite(x) or x <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {x!r}.")
    if not beta_min < beta_max:
        raise ValueError(f"beta_min must be < beta_max, got {beta_min!r} >= {beta_max!r}.")
    out = float(beta_min) * (float(beta_max) / float(beta_min)) ** (np.arange(n) / (n - 1))
    out[0], out[-1] = beta_min, beta_max
    return check_ladder(out)


def communication_barrier(betas, rejection) -> dict:
    """Communication barrier of a ladder and the round-trip time it implies.

    Parameters
    ----------
    betas : (K,) increasing inverse temperatures
    rejection : (K-1,) swap rejection rates ``1 - acceptance`` of the pairs

    Returns
    -------
    dict with ``Lambda`` (float, the summed rejection rates, an estimate of the
    barrier ``Lambda = integral of lambda(beta) d beta`` of Syed et al. 2022),
    ``cumulative`` ((K,), ``Lambda`` up to each ``beta_k``) and
    ``round_trip_rounds_deo``: the mean round-trip time of one replica in swap
    rounds under deterministic even/odd swaps, ``K (2 + 2 sum r/(1-r))``, i.e. K
    over the system's round-trip rate of their Theorem 3 (exact when successive
    swap outcomes are independent, the "efficient local exchange" assumption;
    with every swap accepted it is 2K, the deterministic zig-zag).
    """
    b = check_ladder(betas)
    r = np.asarray(rejection, dtype=np.float64)
    if r.shape != (b.size - 1,):
        raise ValueError(f"rejection must have shape (K-1,) = ({b.size - 1},), got {r.shape}.")
    if np.any(~np.isfinite(r) | (r < 0) | (r > 1)):
        raise ValueError("rejection rates must lie in [0, 1].")
    with np.errstate(divide="ignore"):
        s = float(np.sum(r / (1.0 - r)))
    return {"Lambda": float(r.sum()), "cumulative": np.concatenate([[0.0], np.cumsum(r)]),
            "round_trip_rounds_deo": b.size * (2.0 + 2.0 * s)}


def adapt_ladder(betas, rejection, n: int | None = None) -> np.ndarray:
    """A ladder with equal rejection rates, from the measured ones.

    The cumulative rejection ``Lambda(beta)`` is interpolated linearly between
    the current temperatures (a rejection rate ``r_k`` spread uniformly over
    ``[beta_k, beta_{k+1}]``) and inverted at ``n`` equally spaced levels
    (Syed et al. 2022, Algorithm 4). Endpoints are kept. Iterate (measure,
    adapt) two or three times; choose ``n`` so that ``Lambda / (n - 1)``, the
    rejection per pair, is about 0.2-0.3 or less.

    Parameters
    ----------
    betas : (K,) increasing inverse temperatures
    rejection : (K-1,) measured rejection rates ``1 - acceptance``
    n : int >= 2, default K
        Size of the new ladder.

    Returns
    -------
    float64 (n,) strictly increasing ladder.
    """
    b = check_ladder(betas)
    n = b.size if n is None else check_int(n, "n", 2)
    lam = communication_barrier(b, rejection)["cumulative"]
    # a pair that never rejects still gets a sliver of barrier so Lambda stays strictly increasing
    floor = 1e-6 * max(lam[-1], 1e-12)
    lam = np.concatenate([[0.0], np.cumsum(np.maximum(np.diff(lam), floor))])
    levels = np.linspace(0.0, lam[-1], n)
    out = np.interp(levels, lam, b)
    out[0], out[-1] = b[0], b[-1]
    return check_ladder(out)


# ----------------------------------------------------------------------------
# numba: swap streams and swap rounds
# ----------------------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@nb.njit(cache=True)
def _next_uniform(s):
    """Next float64 uniform in (0, 1) from lane 0 of the xoshiro256** state row ``s``.

    Lane 0's words are ``s[0], s[4], s[8], s[12]`` (the layout of
    :func:`rbmlib.kernels.seed_streams`); ``u = ((w >> 11) + 1/2) 2**-53``.
    """
    s0, s1, s2, s3 = s[0], s[4], s[8], s[12]
    w = _rotl(s1 * _U(5), 7) * _U(9)
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0], s[4], s[8], s[12] = s0, s1, s2, s3
    return (np.float64(w >> _U(11)) + 0.5) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
def swap_log_acceptance(beta_lo, beta_hi, e_lo, e_hi):
    """log of the Metropolis probability to swap the replicas at ``beta_lo < beta_hi``.

    ``e_lo`` / ``e_hi`` are the energies of the replicas at ``beta_lo`` / ``beta_hi``.
    Returns ``min(0, (beta_hi - beta_lo) (e_hi - e_lo))``; the swap is accepted when a
    uniform ``u`` satisfies ``u < exp(.)`` (always when it is 0).
    """
    d = (beta_hi - beta_lo) * (e_hi - e_lo)
    return d if d < 0.0 else 0.0


@nb.njit(cache=True, parallel=True)
def _swap_round(E, betas, position, replica_at, S, parity, random_parity, t_now,
                attempted, accepted, label, t_cold, n_trips, trip_sweeps, n_up, n_down):
    """One swap round for every ensemble, in place.

    E : float64 (n, K) energy of replica r of ensemble e. position / replica_at : int64 (n, K)
    (beta index of replica r / replica at beta index k). S : uint64 (n, 16) swap streams.
    parity : int (used if not random_parity). t_now : int, sweeps done (time stamp of the round).
    Statistics arrays (int64, leading axis n) are accumulated; label (int8 (n, K)) and t_cold
    (int64 (n, K)) are the round-trip bookkeeping of each replica.
    """
    n, K = position.shape
    for e in nb.prange(n):
        s = S[e]
        p = parity
        if random_parity:
            p = 0 if _next_uniform(s) < 0.5 else 1
        for k in range(p, K - 1, 2):
            r_lo = replica_at[e, k]
            r_hi = replica_at[e, k + 1]
            la = swap_log_acceptance(betas[k], betas[k + 1], E[e, r_lo], E[e, r_hi])
            u = _next_uniform(s)
            attempted[e, k] += 1
            if la == 0.0 or u < np.exp(la):
                accepted[e, k] += 1
                replica_at[e, k] = r_hi
                replica_at[e, k + 1] = r_lo
                position[e, r_hi] = k
                position[e, r_lo] = k + 1
        # round trips: hot end = index 0, cold end (target) = index K-1
        r = replica_at[e, 0]
        label[e, r] = _UP
        r = replica_at[e, K - 1]
        if label[e, r] == _UP:
            if t_cold[e, r] >= 0:
                n_trips[e] += 1
                trip_sweeps[e] += t_now - t_cold[e, r]
            t_cold[e, r] = t_now
        elif label[e, r] == _NONE:
            t_cold[e, r] = t_now
        label[e, r] = _DOWN
        for k in range(K):
            lb = label[e, replica_at[e, k]]
            if lb == _UP:
                n_up[e, k] += 1
            elif lb == _DOWN:
                n_down[e, k] += 1


# ----------------------------------------------------------------------------
# the sampler
# ----------------------------------------------------------------------------
_STAT_KEYS = ("attempted", "accepted", "n_trips", "trip_sweeps", "n_up", "n_down")


class Tempering:
    """Parallel tempering of ``n_chains`` independent ensembles over the ladder ``betas``.

    Parameters
    ----------
    rbm : RBM
        The model (float32 or float64).
    betas : array-like (K,), K >= 2
        Strictly increasing, finite, positive inverse temperatures (hot to cold).
        Estimates at the target use the last one (usually 1).
    n_chains : int >= 1
        Number of independent ensembles (each holds K replicas, so K * n_chains
        Gibbs chains run).
    seed : int in [0, 2**64), default 0
    v0 : array-like, optional
        Start states: (n_visible,) for all, (n_chains, n_visible) per ensemble
        (the same for every temperature), or (K, n_chains, n_visible) per
        temperature and ensemble. Default: uniform noise from each chain's stream.
    ensemble_offset : int >= 0, default 0
        Global index of the first ensemble (sharding; see module docstring).
    swap_every : int >= 1, default 1
        Sweeps between swap rounds.
    scheme : {'deo', 'seo'}, default 'deo'
        Deterministic even/odd alternation, or a random parity per ensemble and round.
    backend : {'cpu', 'cuda'}, default 'cpu'
        Where the Gibbs sweeps run (:class:`rbmlib.sampling.Chains`); ``'cuda'`` gives the
        same bits on an NVIDIA GPU (the swap moves stay on the host: they only permute the
        chains' inverse temperatures).

    Attributes
    ----------
    betas : float64 (K,)
    chains : rbmlib.sampling.Chains
        The K * n_chains replicas; replica r of ensemble e is chain e K + r.
    position : int64 (n_chains, K)
        Index into ``betas`` held by replica r of ensemble e.
    replica_at : int64 (n_chains, K)
        The replica holding ``betas[k]`` in ensemble e (inverse of ``position``).
    n_sweeps, n_rounds : int
        Sweeps and swap rounds done.
    """

    def __init__(self, rbm: RBM, betas, n_chains: int, *, seed: int = 0, v0=None, ensemble_offset: int = 0,
                 swap_every: int = 1, scheme: str = "deo", backend: str = "cpu"):
        rbm = check_rbm(rbm)
        self.betas = check_ladder(betas)
        self.n_chains = check_int(n_chains, "n_chains", 1)
        self.seed = check_seed(seed)
        self.ensemble_offset = check_int(ensemble_offset, "ensemble_offset", 0)
        self.swap_every = check_int(swap_every, "swap_every", 1)
        self._scheme = _check_scheme(scheme)
        self.scheme = scheme
        K, n, nv = self.n_temperatures, self.n_chains, rbm.n_visible
        if (self.ensemble_offset + n) * K > 2 ** 60:
            raise ValueError("(ensemble_offset + n_chains) * len(betas) must be below 2**60.")
        self.chains = Chains(rbm, n * K, seed=self.seed, chain_offset=self.ensemble_offset * K,
                             v0=self._expand_v0(v0, K, n, nv), backend=backend)
        self.position = np.tile(np.arange(K, dtype=np.int64), (n, 1))
        self.replica_at = self.position.copy()
        self.swap_state = kernels.seed_streams(_U(self.seed), _U(SWAP_STREAM_OFFSET + self.ensemble_offset), n)
        self.n_sweeps = 0
        self.n_rounds = 0
        self.label = np.zeros((n, K), np.int8)
        self.label[:, 0] = _UP
        self.label[:, K - 1] = _DOWN
        self.t_cold = np.full((n, K), -1, np.int64)     # a trip is timed from an arrival at the cold end
        self.stats = {"attempted": np.zeros((n, K - 1), np.int64), "accepted": np.zeros((n, K - 1), np.int64),
                      "n_trips": np.zeros(n, np.int64), "trip_sweeps": np.zeros(n, np.int64),
                      "n_up": np.zeros((n, K), np.int64), "n_down": np.zeros((n, K), np.int64)}
        self._E_last = None

    @staticmethod
    def _expand_v0(v0, K, n, nv):
        if v0 is None:
            return None
        arr = np.asarray(v0)
        if arr.ndim == 1:
            return arr
        if arr.ndim == 2:
            if arr.shape != (n, nv):
                raise ValueError(f"v0 of 2 dimensions must have shape (n_chains, n_visible) = ({n}, {nv}), "
                                 f"got {arr.shape}.")
            return np.repeat(arr, K, axis=0)              # ensemble-major: chain e K + r
        if arr.ndim == 3:
            if arr.shape != (K, n, nv):
                raise ValueError(f"v0 of 3 dimensions must have shape (K, n_chains, n_visible) = ({K}, {n}, {nv}), "
                                 f"got {arr.shape}.")
            return np.ascontiguousarray(np.swapaxes(arr, 0, 1)).reshape(n * K, nv)
        raise ValueError(f"v0 must have shape (n_visible,), (n_chains, n_visible) or (K, n_chains, n_visible); "
                         f"got {arr.shape}.")

    # ------------------------------------------------------------------ basics
    @property
    def rbm(self) -> RBM:
        return self.chains.rbm

    @property
    def n_temperatures(self) -> int:
        return int(self.betas.size)

    def __repr__(self) -> str:
        return (f"Tempering(n_chains={self.n_chains}, K={self.n_temperatures}, betas=[{self.betas[0]:.4g} .. "
                f"{self.betas[-1]:.4g}], seed={self.seed}, ensemble_offset={self.ensemble_offset}, "
                f"n_sweeps={self.n_sweeps}, rbm={self.rbm!r})")

    def _gather(self, x):
        """(n*K, ...) per-replica array -> (K, n, ...) per temperature."""
        n, K = self.n_chains, self.n_temperatures
        x = x.reshape((n, K) + x.shape[1:])
        idx = self.replica_at.reshape((n, K) + (1,) * (x.ndim - 2))
        return np.ascontiguousarray(np.swapaxes(np.take_along_axis(x, idx, axis=1), 0, 1))

    def state(self):
        """Current states at each temperature.

        Returns
        -------
        v : uint8 (K, n_chains, n_visible), h : uint8 (K, n_chains, n_hidden)
            ``v[k, e]`` is the visible state of the replica of ensemble e at ``betas[k]`` (copies).
        """
        return self._gather(self.chains.v), self._gather(self.chains.h)

    def energies(self) -> np.ndarray:
        """``E(v, h)`` at each temperature, float64 (K, n_chains), recomputed from the states."""
        return self._gather(self.chains.energy())

    # ---------------------------------------------------------------- dynamics
    def run(self, n_sweeps: int, *, record_energy=False, progress=None):
        """Advance every ensemble by ``n_sweeps`` sweeps, with a swap round after every
        sweep whose count (since construction) is a multiple of ``swap_every``.

        Parameters
        ----------
        n_sweeps : int >= 0
        record_energy : bool, int or sequence of int
            ``True``: record the energy at every temperature after every sweep
            (before that sweep's swap round); an int or a sequence: only at those
            indices into ``betas`` (e.g. ``-1`` for the target).
        progress : callable(n_done, n_total), optional
            Called after each chunk of sweeps.

        Returns
        -------
        None, or float64 (len(indices), n_chains, n_sweeps): ``E`` (energy units)
        of the replica at each recorded temperature after each sweep.
        """
        n_sweeps = check_int(n_sweeps, "n_sweeps", 0)
        idx = self._record_indices(record_energy)
        K, n = self.n_temperatures, self.n_chains
        out = None if idx is None else np.empty((len(idx), n, n_sweeps))
        done = 0
        while done < n_sweeps:
            m = min(self.swap_every - self.n_sweeps % self.swap_every, n_sweeps - done)
            E = self.chains.run(m, beta=1.0, beta_chain=self.betas[self.position].ravel(), record_energy=True)
            E = E.reshape(n, K, m)
            if out is not None:
                ra = self.replica_at[:, idx]                                  # (n, len(idx))
                out[:, :, done:done + m] = np.swapaxes(np.take_along_axis(E, ra[:, :, None], axis=1), 0, 1)
            self.n_sweeps += m
            done += m
            self._E_last = E[:, :, -1]
            if self.n_sweeps % self.swap_every == 0:
                self._swap(np.ascontiguousarray(self._E_last))
            if progress is not None:
                progress(done, n_sweeps)
        return out

    def _record_indices(self, record_energy):
        K = self.n_temperatures
        if record_energy is False or record_energy is None:
            return None
        if record_energy is True:
            return np.arange(K)
        idx = np.atleast_1d(np.asarray(record_energy))
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"record_energy must be True/False or integer indices into betas, got {record_energy!r}.")
        if np.any((idx < -K) | (idx >= K)):
            raise ValueError(f"record_energy indices must lie in [-{K}, {K - 1}], got {idx.tolist()}.")
        return idx % K

    def _swap(self, E):
        st = self.stats
        parity = self.n_rounds % 2
        _swap_round(E, self.betas, self.position, self.replica_at, self.swap_state, parity, self._scheme == 1,
                    self.n_sweeps, st["attempted"], st["accepted"], self.label, self.t_cold, st["n_trips"],
                    st["trip_sweeps"], st["n_up"], st["n_down"])
        self.n_rounds += 1

    def reset_statistics(self) -> None:
        """Zero the swap and round-trip counters (e.g. after burn-in); states and streams are kept.

        Round trips then count only those timed from an arrival at the cold end
        (coming from the hot end) after the reset.
        """
        for x in self.stats.values():
            x[...] = 0
        self.t_cold[:] = -1
        self.label[:] = _NONE
        self.label[np.arange(self.n_chains), self.replica_at[:, 0]] = _UP
        self.label[np.arange(self.n_chains), self.replica_at[:, -1]] = _DOWN

    # -------------------------------------------------------------- statistics
    @property
    def acceptance(self) -> np.ndarray:
        """Swap acceptance rate of each pair (beta_k, beta_k+1), float64 (K-1,) (NaN if never attempted)."""
        a = self.stats["attempted"].sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.stats["accepted"].sum(0) / a

    @property
    def flux(self) -> np.ndarray:
        """Fraction of the visits of each temperature by replicas last at the hot end, float64 (K,)."""
        up, down = self.stats["n_up"].sum(0), self.stats["n_down"].sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return up / (up + down)

    @property
    def round_trips(self) -> int:
        """Completed round trips (cold -> hot -> cold) over all ensembles."""
        return int(self.stats["n_trips"].sum())

    @property
    def round_trip_time(self) -> float:
        """Mean duration of a completed round trip in sweeps (NaN if none)."""
        n = self.round_trips
        return float(self.stats["trip_sweeps"].sum()) / n if n else float("nan")

    def summary(self) -> dict:
        """Swap and round-trip statistics as a JSON-ready dict."""
        acc = self.acceptance
        rej = np.where(np.isfinite(acc), 1.0 - acc, 1.0)
        cb = communication_barrier(self.betas, rej)
        return {"n_chains": self.n_chains, "K": self.n_temperatures, "betas": self.betas.tolist(),
                "swap_every": self.swap_every, "scheme": self.scheme, "n_sweeps": self.n_sweeps,
                "n_rounds": self.n_rounds, "acceptance": acc.tolist(), "flux": self.flux.tolist(),
                "round_trips": self.round_trips, "round_trip_time_sweeps": self.round_trip_time,
                "round_trips_per_ensemble_per_1000_sweeps":
                    1000.0 * self.round_trips / max(1, self.n_chains * self.n_sweeps),
                "communication_barrier": cb["Lambda"],
                "predicted_round_trip_sweeps_deo": self.swap_every * cb["round_trip_rounds_deo"]}

    # ------------------------------------------------------------- persistence
    def save(self, path) -> Path:
        """Write the complete state (states, streams, permutation, counters) to ``path`` (.npz, atomic).

        A run resumed with :meth:`load` continues bit for bit like the original when
        ``n_sweeps`` is a multiple of :data:`rbmlib.kernels.REFRESH` (the sampler's kept
        fields are then recomputed at the next sweep either way); otherwise it continues
        with the same law (see :mod:`rbmlib.sampling`).
        """
        meta = {"file_version": FILE_VERSION, "sampler_version": kernels.SAMPLER_VERSION,
                "fingerprint": self.rbm.fingerprint(), "seed": self.seed, "n_chains": self.n_chains,
                "ensemble_offset": self.ensemble_offset, "swap_every": self.swap_every, "scheme": self.scheme,
                "n_sweeps": self.n_sweeps, "n_rounds": self.n_rounds,
                "exact_resume": self.n_sweeps % kernels.REFRESH == 0}
        return atomic_savez(path, meta=np.array(json.dumps(meta)), betas=self.betas, v=self.chains.v,
                            h=self.chains.h, rng_state=self.chains.rng_state, swap_state=self.swap_state,
                            position=self.position, replica_at=self.replica_at, label=self.label,
                            t_cold=self.t_cold, **{f"stat_{k}": v for k, v in self.stats.items()})

    @classmethod
    def load(cls, path, rbm: RBM) -> "Tempering":
        """Restore a :meth:`save`-d run for the same model (checked by fingerprint)."""
        rbm = check_rbm(rbm)
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        meta = json.loads(str(d["meta"]))
        if meta.get("file_version") != FILE_VERSION:
            raise ValueError(f"{path}: tempering file version {meta.get('file_version')}, expected {FILE_VERSION}.")
        if meta["fingerprint"] != rbm.fingerprint():
            raise ValueError(f"{path} was written for another model (fingerprint {meta['fingerprint'][:12]}..., "
                             f"this model {rbm.fingerprint()[:12]}...).")
        if meta["sampler_version"] != kernels.SAMPLER_VERSION:
            raise ValueError(f"{path} was written by sampler version {meta['sampler_version']}, this is "
                             f"{kernels.SAMPLER_VERSION}: its streams would not continue the same way.")
        if not meta["exact_resume"]:
            warnings.warn(f"{path} was saved at sweep {meta['n_sweeps']}, not a multiple of REFRESH = "
                          f"{kernels.REFRESH}: the run continues with the same law but not bit for bit.",
                          stacklevel=2)
        K, n = d["betas"].size, meta["n_chains"]
        self = cls(rbm, d["betas"], n, seed=meta["seed"], ensemble_offset=meta["ensemble_offset"],
                   swap_every=meta["swap_every"], scheme=meta["scheme"],
                   v0=np.swapaxes(d["v"].reshape(n, K, -1), 0, 1))
        self.chains.h[...] = d["h"]
        self.chains.rng_state[...] = d["rng_state"]
        self.swap_state[...] = d["swap_state"]
        self.position[...] = d["position"]
        self.replica_at[...] = d["replica_at"]
        self.label[...] = d["label"]
        self.t_cold[...] = d["t_cold"]
        for k in _STAT_KEYS:
            self.stats[k][...] = d[f"stat_{k}"]
        self.n_sweeps, self.n_rounds = meta["n_sweeps"], meta["n_rounds"]
        return self


# ----------------------------------------------------------------------------
# one-call sampler
# ----------------------------------------------------------------------------
def sample(rbm: RBM, betas, n_chains: int, n_sweeps: int, *, seed: int = 0, v0=None, ensemble_offset: int = 0,
           swap_every: int = 1, scheme: str = "deo", backend: str = "cpu"):
    """States of ``n_chains`` independent parallel-tempering ensembles after ``n_sweeps`` sweeps.

    See :class:`Tempering` for the parameters and the dynamics.

    Returns
    -------
    v : uint8 (K, n_chains, n_visible), h : uint8 (K, n_chains, n_hidden)
        The state at each ``betas[k]`` (``v[-1]`` samples the target ``betas[-1]``).

    Examples
    --------
    >>> import rbmlib
    >>> rbm = rbmlib.RBM.random(6, 4, seed=1)
    >>> v, h = rbmlib.tempering.sample(rbm, [0.25, 0.5, 1.0], n_chains=100, n_sweeps=20)
    >>> v.shape, h.shape
    ((3, 100, 6), (3, 100, 4))
    """
    pt = Tempering(rbm, betas, n_chains, seed=seed, v0=v0, ensemble_offset=ensemble_offset,
                   swap_every=swap_every, scheme=scheme, backend=backend)
    pt.run(n_sweeps)
    return pt.state()


# ----------------------------------------------------------------------------
# shard function and command line: a certified equilibrium start ensemble
# ----------------------------------------------------------------------------
def equilibrate_shard(rbm: RBM, seed: int, chain_offset: int, n_chains: int, *, betas, n_sweeps: int,
                      burn_in: int, swap_every: int = 1, scheme: str = "deo", snapshots: int = 1,
                      spacing: int = 0) -> dict:
    """Shard function for :func:`rbmlib.ensemble.run_ensemble` (``reduce='concat'``): ensembles
    ``chain_offset .. chain_offset + n_chains - 1`` (the ensemble's "chains" are tempering ensembles).

    Runs ``burn_in`` sweeps, resets the statistics, runs to ``n_sweeps`` recording the
    energy at the target ``betas[-1]``, and returns per ensemble (axis 0, in ensemble order):
    ``v``, ``h`` (uint8, the final state at the target), ``E_mean``, ``E_first``, ``E_second``
    (float64: the target energy averaged over the window ``[burn_in, n_sweeps)`` and over its
    two halves), ``E_final``, and the tempering counters (``attempted``, ``accepted``,
    ``n_trips``, ``trip_sweeps``, ``n_up``, ``n_down``).

    With ``snapshots = S > 1`` the run goes on for ``(S - 1) spacing`` more sweeps and the
    target state is taken every ``spacing`` sweeps: ``v``, ``h`` and ``E_final`` then have
    ``n_chains * S`` rows, row ``e S + s`` for snapshot ``s`` of ensemble ``e`` (every row an
    equilibrium sample; rows of one ensemble are correlated unless ``spacing`` is several
    autocorrelation times of the target energy under tempering).
    """
    pt = Tempering(rbm, betas, n_chains, seed=seed, ensemble_offset=chain_offset, swap_every=swap_every,
                   scheme=scheme)
    pt.run(burn_in)
    pt.reset_statistics()
    E = pt.run(n_sweeps - burn_in, record_energy=-1)[0]
    half = E.shape[1] // 2
    snapshots = check_int(snapshots, "snapshots", 1)
    spacing = check_int(spacing, "spacing", 1 if snapshots > 1 else 0)
    vs, hs, es = [], [], []
    for s in range(snapshots):
        if s:
            pt.run(spacing)
        v, h = pt.state()
        vs.append(v[-1])
        hs.append(h[-1])
        es.append(pt.energies()[-1])
    stack = lambda xs: np.stack(xs, axis=1).reshape((n_chains * snapshots,) + xs[0].shape[1:])
    out = {"v": stack(vs), "h": stack(hs), "E_mean": E.mean(1), "E_first": E[:, :half].mean(1),
           "E_second": E[:, half:].mean(1), "E_final": stack(es)}
    out.update({k: pt.stats[k] for k in _STAT_KEYS})
    return out
