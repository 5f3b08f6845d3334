"""Work, heat and the fluctuation theorems of an RBM driven by a parameter protocol.

Setting
-------
A *protocol* is a sequence of models ``lambda_0, lambda_1, ..., lambda_K`` (same layer
sizes). A trajectory starts in equilibrium, ``s_0 = (v, h) ~ p_{lambda_0}``, and step
``k = 1..K`` does two things:

1. **parameter change** ``lambda_{k-1} -> lambda_k`` at fixed state: the energy changes
   by ``E_k(s) - E_{k-1}(s)``; this is the **work** increment;
2. ``n_sweeps_per_step`` Gibbs sweeps under ``lambda_k`` at fixed parameters: the energy
   changes by ``E_k(s') - E_k(s)``; this is the **heat** increment.

Summed along a trajectory, ``W + Q = E_K(s_end) - E_0(s_0) = Delta E`` (first law),
term by term (the sum telescopes).

Fluctuation theorems (derived in the book, chapter 3)
-----------------------------------------------------
With ``Delta F = -(log Z_K - log Z_0) / beta``:

* Crooks: ``P_F(W) / P_R(-W) = exp(beta (W - Delta F))``, where the *reverse process*
  runs the reversed protocol ``lambda_K, ..., lambda_0`` from ``p_{lambda_K}`` with the
  **time-reversed kernel**: ``'vh'`` sweeps if the forward process used ``'hv'`` (and
  vice versa); the half-updates ``'h'`` and ``'v'`` are their own reversal. See
  :func:`reversed_order`.
* Jarzynski: ``<exp(-beta W)>_F = exp(-beta Delta F)`` (any kernel that leaves each
  ``p_{lambda_k}`` invariant), hence ``<W> >= Delta F``.

On the visible space (``space='visible'``: energy ``F_beta(v)``, the visible free
energy) the ``'hv'`` sweep acts as the visible chain ``v -> h -> v'``, which *is*
reversible, so there the reverse process may use ``'hv'`` too.

Contents
--------
Protocols: :class:`Protocol` (``linear``, ``temperature``, ``reversed``), :func:`reversed_order`.
Equilibrium: :func:`equilibrium_stats` (cached exact ``log Z``, ``<E>``, entropy),
:func:`free_energy_difference` (exact samples: :func:`rbmlib.exact.equilibrium_sample`),
:func:`entropy_chain_rule` (entropy by an independent route).
Sampling: :func:`run_protocol` -> :class:`ProtocolRun` (per-trajectory work, heat, Delta E).
Exact (tiny models): :func:`exact_process`, :func:`exact_work_distribution`,
:func:`exact_work_log_mgf`, :func:`crooks_exact`.
Statistics: :func:`jarzynski`, :func:`jarzynski_bias`, :func:`crooks_test`.
Entropy and relative entropy live in :mod:`rbmlib.stats`; exact equilibrium samples in
:func:`rbmlib.exact.equilibrium_sample`.
Figures: :func:`rbmlib.plotting.plot_work_histograms`, explorer: :func:`rbmlib.widgets.work_explorer`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import exact
from ._validation import check_beta, check_int, check_seed
from .model import RBM, check_rbm, sigmoid
from .stats import entropy, kl_divergence, logmeanexp

__all__ = [
    "Protocol",
    "reversed_order",
    "EquilibriumStats",
    "equilibrium_stats",
    "free_energy_difference",
    "EntropyChainRule",
    "entropy_chain_rule",
    "ProtocolRun",
    "run_protocol",
    "ExactProcess",
    "exact_process",
    "WorkDistribution",
    "exact_work_distribution",
    "exact_work_log_mgf",
    "CrooksExact",
    "crooks_exact",
    "JarzynskiEstimate",
    "jarzynski",
    "JarzynskiBias",
    "jarzynski_bias",
    "CrooksTest",
    "crooks_test",
]

ORDERS = ("hv", "vh", "h", "v")
SPACES = ("joint", "visible")
_REVERSED = {"hv": "vh", "vh": "hv", "h": "h", "v": "v"}



# =============================================================================
# validation helpers
# =============================================================================
def _check_order(order) -> str:
    if order not in ORDERS:
        raise ValueError(
            f"order must be one of {ORDERS} ('hv' = h then v per sweep, 'vh' = v then h, "
            f"'h'/'v' = that half-update only), got {order!r}."
        )
    return order


def _check_space(space, order) -> str:
    if space not in SPACES:
        raise ValueError(f"space must be 'joint' (energy E(v,h)) or 'visible' (free energy F(v)), got {space!r}.")
    if space == "visible" and order != "hv":
        raise ValueError(
            f"space='visible' needs order='hv' (got {order!r}): only then does a sweep act on v alone, "
            "as the visible chain v -> h -> v'. Use space='joint' for other orders."
        )
    return space


def _check_protocol(protocol) -> "Protocol":
    if not isinstance(protocol, Protocol):
        raise TypeError(
            f"protocol must be an rbmlib.thermo.Protocol, got {type(protocol).__name__}. "
            "Build one with Protocol([rbm0, rbm1, ...]), Protocol.linear(start, end, n_steps) "
            "or Protocol.temperature(rbm, betas)."
        )
    return protocol


def reversed_order(order: str) -> str:
    """Sweep order of the time-reversed kernel: ``'hv' <-> 'vh'``; ``'h'``, ``'v'`` unchanged.

    The block sweep ``T_hv = T_h T_v`` is not reversible with respect to ``p(v, h)``;
    its time reversal is ``T_v T_h = T_vh`` because each half-update is reversible.
    The reverse process of a fluctuation theorem must use this order.
    """
    return _REVERSED[_check_order(order)]


# =============================================================================
# protocols
# =============================================================================
class Protocol:
    """A sequence of models ``lambda_0 .. lambda_K`` visited by a driven RBM.

    Parameters
    ----------
    models : sequence of RBM, length K + 1 >= 2
        The parameters after each step; ``models[0]`` is the start. All models must
        have the same layer sizes.

    Attributes
    ----------
    models : tuple of RBM
    n_steps : int
        ``K = len(models) - 1``: the number of parameter changes.
    """

    def __init__(self, models):
        models = tuple(models)
        if len(models) < 2:
            raise ValueError(
                f"a protocol needs at least two models (start and end), got {len(models)}. "
                "For a single model there is nothing to drive: use rbmlib.sampling.Chains."
            )
        for i, m in enumerate(models):
            if not isinstance(m, RBM):
                raise TypeError(f"models[{i}] must be an rbmlib.RBM, got {type(m).__name__}.")
        shape = (models[0].n_visible, models[0].n_hidden)
        for i, m in enumerate(models):
            if (m.n_visible, m.n_hidden) != shape:
                raise ValueError(
                    f"models[{i}] is {m.n_visible}x{m.n_hidden} but models[0] is {shape[0]}x{shape[1]}: "
                    "all models of a protocol must have the same layer sizes."
                )
        self.models = models

    @property
    def n_steps(self) -> int:
        return len(self.models) - 1

    @property
    def start(self) -> RBM:
        return self.models[0]

    @property
    def end(self) -> RBM:
        return self.models[-1]

    @property
    def n_visible(self) -> int:
        return self.models[0].n_visible

    @property
    def n_hidden(self) -> int:
        return self.models[0].n_hidden

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"Protocol(n_steps={self.n_steps}, {self.n_visible}x{self.n_hidden})"

    def reversed(self) -> "Protocol":
        """The protocol run backwards, ``lambda_K .. lambda_0`` (for the reverse process)."""
        return Protocol(self.models[::-1])

    @classmethod
    def linear(cls, start: RBM, end: RBM, n_steps: int, *, schedule=None) -> "Protocol":
        """Straight line in parameter space: ``theta_k = (1 - t_k) theta_start + t_k theta_end``.

        Parameters
        ----------
        start, end : RBM
            Same layer sizes.
        n_steps : int >= 1
            ``K``, the number of parameter changes.
        schedule : array-like, shape (K + 1,), optional
            The ``t_k``, non-decreasing from 0 to 1. Default ``t_k = k / K``.
        """
        n_steps = check_int(n_steps, "n_steps", 1)
        if not (isinstance(start, RBM) and isinstance(end, RBM)):
            raise TypeError("start and end must be rbmlib.RBM instances.")
        if (start.n_visible, start.n_hidden) != (end.n_visible, end.n_hidden):
            raise ValueError(
                f"start ({start.n_visible}x{start.n_hidden}) and end ({end.n_visible}x{end.n_hidden}) "
                "must have the same layer sizes."
            )
        t = _check_schedule(schedule, n_steps)
        dt = np.result_type(start.dtype, end.dtype)
        models = []
        for tk in t:
            models.append(RBM((1 - tk) * start.W + tk * end.W, (1 - tk) * start.a + tk * end.a,
                              (1 - tk) * start.b + tk * end.b, dtype=dt))
        models[0], models[-1] = start.astype(dt), end.astype(dt)
        return cls(models)

    @classmethod
    def temperature(cls, rbm: RBM, betas) -> "Protocol":
        """Change the inverse temperature: ``lambda_k = rbm.scaled(betas[k])``.

        Run it at ``beta=1``: the energy of step ``k`` is ``beta_k E(v, h)``, so the work
        is ``W = sum_k (beta_k - beta_{k-1}) E(s_{k-1})`` and ``Delta F`` (at ``beta = 1``)
        is ``-(log Z(beta_K) - log Z(beta_0))``: everything in units of ``k_B T = 1``.

        Parameters
        ----------
        rbm : RBM
        betas : array-like, shape (K + 1,), K >= 1, entries > 0
        """
        check_rbm(rbm)
        betas = np.atleast_1d(check_beta(betas, "betas", allow_array=True))
        if betas.ndim != 1 or betas.size < 2:
            raise ValueError(f"betas must be a 1-D array of at least 2 inverse temperatures, got shape {betas.shape}.")
        return cls([rbm.scaled(float(b)) for b in betas])


def _check_schedule(schedule, n_steps):
    if schedule is None:
        return np.arange(n_steps + 1) / n_steps
    t = np.asarray(schedule, dtype=np.float64)
    if t.shape != (n_steps + 1,):
        raise ValueError(f"schedule must have shape (n_steps + 1,) = ({n_steps + 1},), got {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise ValueError("schedule contains NaN or inf.")
    if t[0] != 0.0 or t[-1] != 1.0 or np.any(np.diff(t) < 0):
        raise ValueError("schedule must be non-decreasing, start at 0 and end at 1.")
    return t


# =============================================================================
# exact equilibrium quantities (cached)
# =============================================================================
@dataclass(frozen=True)
class EquilibriumStats:
    """Exact equilibrium quantities of one model at one inverse temperature.

    Attributes
    ----------
    log_z : float
        ``log Z(beta)`` (nats).
    mean_energy : float
        ``<E>_beta`` (energy units).
    entropy : float
        Gibbs entropy ``S = -sum p log p = log Z + beta <E>`` (nats).
    layer : str
        The enumerated (smaller) layer, ``'visible'`` or ``'hidden'``.
    """

    log_z: float
    mean_energy: float
    entropy: float
    layer: str


def equilibrium_stats(rbm: RBM, beta: float = 1.0) -> EquilibriumStats:
    """Exact ``log Z``, ``<E>`` and entropy ``S = log Z + beta <E>`` (cached per model and beta).

    The smaller layer (up to 24 units) is enumerated once; a 784 x 20 model takes
    about 10-30 s the first time and nothing afterwards.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    log_z, mean_e, _, layer = exact.layer_table(rbm, beta)
    return EquilibriumStats(log_z=log_z, mean_energy=mean_e, entropy=log_z + beta * mean_e, layer=layer)


def free_energy_difference(protocol: "Protocol", beta: float = 1.0) -> float:
    """Exact ``Delta F = F_K - F_0 = -(log Z_K - log Z_0) / beta`` of a protocol (energy units)."""
    protocol = _check_protocol(protocol)
    beta = check_beta(beta)
    return -(equilibrium_stats(protocol.end, beta).log_z - equilibrium_stats(protocol.start, beta).log_z) / beta



@dataclass(frozen=True)
class EntropyChainRule:
    """Entropy by the chain rule, ``S(v, h) = S(layer) + <S(other | layer)>``.

    Attributes
    ----------
    layer : str
        The enumerated (smaller) layer.
    entropy_layer : float
        Exact Gibbs entropy of that layer's marginal (nats).
    conditional_mean, conditional_stderr : float
        ``<S(other | layer)>`` averaged over ``n_samples`` exact samples of the layer
        (the conditional entropy of independent Bernoulli units is exact per sample),
        and its standard error.
    entropy, entropy_stderr : float
        ``entropy_layer + conditional_mean`` and its standard error.
    n_samples : int
    """

    layer: str
    entropy_layer: float
    conditional_mean: float
    conditional_stderr: float
    entropy: float
    entropy_stderr: float
    n_samples: int


def _bernoulli_entropy_from_logit(x):
    """Entropy (nats) of Bernoulli(sigmoid(x)), overflow-free: q softplus(-x) + (1-q) softplus(x)."""
    q = sigmoid(x)
    return q * np.logaddexp(0.0, -x) + (1.0 - q) * np.logaddexp(0.0, x)


def entropy_chain_rule(rbm: RBM, beta: float = 1.0, *, n_samples: int = 20000, seed: int = 0) -> EntropyChainRule:
    """Gibbs entropy of ``p_beta(v, h)`` by a route independent of ``S = log Z + beta <E>``.

    ``S(v, h) = S(h) + sum_h p(h) S(v | h)`` (for the hidden layer enumerated): the first
    term from the exact marginal of the smaller layer (at most 24 units), the second, a
    sum of binary entropies of the independent units of the other layer, averaged over
    exact samples of the smaller layer (Monte Carlo with a standard error).
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    n_samples = check_int(n_samples, "n_samples", 2)
    seed = check_seed(seed)
    log_z, _, logw, layer = exact.layer_table(rbm, beta)
    logp = logw - log_z
    p = np.exp(logp)
    s_layer = float(-np.sum(p * logp))
    small = exact.sample_states(p, n_samples, exact.equilibrium_rng(seed))
    W = np.asarray(rbm.W, np.float64)
    if layer == "hidden":
        x = beta * (small @ W.T + np.asarray(rbm.a, np.float64))
    else:
        x = beta * (small @ W + np.asarray(rbm.b, np.float64))
    cond = _bernoulli_entropy_from_logit(x).sum(axis=1)
    m = float(cond.mean())
    se = float(cond.std(ddof=1) / math.sqrt(n_samples))
    return EntropyChainRule(layer=layer, entropy_layer=s_layer, conditional_mean=m, conditional_stderr=se,
                            entropy=s_layer + m, entropy_stderr=se, n_samples=n_samples)


# =============================================================================
# sampling: run a protocol
# =============================================================================
@dataclass(frozen=True)
class ProtocolRun:
    """Per-trajectory thermodynamics of a driven run (no trajectories are stored).

    Attributes
    ----------
    work : ndarray, shape (n_chains,)
        ``W = sum_k [E_k(s) - E_{k-1}(s)]`` at the states where the parameters changed.
    heat : ndarray, shape (n_chains,)
        ``Q = sum_k [E_k(s_after sweeps) - E_k(s_before sweeps)]``.
    delta_energy : ndarray, shape (n_chains,)
        ``E_K(s_end) - E_0(s_0)``, evaluated independently of ``work`` and ``heat``.
    initial_energy, final_energy : ndarray, shape (n_chains,)
        ``E_0(s_0)`` and ``E_K(s_end)``.
    beta, order, n_steps, n_sweeps_per_step, space, seed :
        How the run was made. Energies are in energy units (``F_beta(v)`` for
        ``space='visible'``).
    """

    work: np.ndarray
    heat: np.ndarray
    delta_energy: np.ndarray
    initial_energy: np.ndarray
    final_energy: np.ndarray
    beta: float
    order: str
    n_steps: int
    n_sweeps_per_step: int
    space: str
    seed: int

    @property
    def n_chains(self) -> int:
        return int(self.work.shape[0])

    @property
    def first_law_violation(self) -> float:
        """``max |Delta E - (W + Q)|`` over trajectories (round-off only)."""
        return float(np.max(np.abs(self.delta_energy - (self.work + self.heat))))


def _visible_free_energy(rbm: RBM, v: np.ndarray, beta: float) -> np.ndarray:
    W = np.asarray(rbm.W, np.float64)
    vf = v.astype(np.float64)
    field = vf @ W + np.asarray(rbm.b, np.float64)
    return -(vf @ np.asarray(rbm.a, np.float64)) - np.logaddexp(0.0, beta * field).sum(axis=1) / beta


def run_protocol(protocol: Protocol, n_chains: int, *, beta: float = 1.0, seed: int = 0, order: str = "hv",
                 n_sweeps_per_step: int = 1, start="equilibrium", space: str = "joint") -> ProtocolRun:
    """Drive ``n_chains`` independent chains through a protocol; record work and heat per chain.

    Step ``k = 1..K``: change the parameters to ``lambda_k`` (work), then run
    ``n_sweeps_per_step`` Gibbs sweeps of ``order`` under ``lambda_k`` (heat). The
    last step's sweeps change the heat and the final state but not the work.

    Parameters
    ----------
    protocol : Protocol
    n_chains : int >= 1
    beta : float > 0
        Inverse temperature of the dynamics and of the equilibrium start.
    seed : int >= 0
        Seeds the chains (stream of chain ``c`` keyed by ``(seed, c)``, see
        :class:`rbmlib.sampling.Chains`) and the equilibrium start. Use different seeds
        for the forward and the reverse process.
    order : {'hv', 'vh', 'h', 'v'}
        Sweep order. For the reverse process of a fluctuation theorem use
        :func:`reversed_order` of the forward order.
    n_sweeps_per_step : int >= 0
    start : 'equilibrium' or (v0, h0)
        ``'equilibrium'``: exact samples of ``p_{lambda_0}`` (:func:`rbmlib.exact.equilibrium_sample`).
        Or explicit start states: ``v0`` shape (n_chains, n_visible), ``h0`` shape
        (n_chains, n_hidden), entries 0/1.
    space : {'joint', 'visible'}
        ``'joint'``: energy ``E(v, h)``. ``'visible'``: the visible free energy
        ``F_beta(v)`` (needs ``order='hv'``; see the module docstring).

    Returns
    -------
    ProtocolRun

    Notes
    -----
    Energies are those of :class:`rbmlib.sampling.Chains`: fields in the model's
    dtype, sums in float64. For a float32 model they carry float32 round-off
    (~1e-7 relative), and the first law then holds to that precision; cast the
    models to float64 (``rbm.astype(np.float64)``) for bookkeeping exact to ~1e-13.
    """
    from .sampling import Chains  # local import: sampling imports numba kernels

    protocol = _check_protocol(protocol)
    n_chains = check_int(n_chains, "n_chains", 1)
    beta = check_beta(beta)
    seed = check_seed(seed)
    order = _check_order(order)
    space = _check_space(space, order)
    n_sweeps = check_int(n_sweeps_per_step, "n_sweeps_per_step", 0)
    if isinstance(start, str):
        if start != "equilibrium":
            raise ValueError(f"start must be 'equilibrium' or a pair (v0, h0) of state arrays, got {start!r}.")
        v0, h0 = exact.equilibrium_sample(protocol.start, n_chains, beta=beta, seed=seed)
    else:
        try:
            v0, h0 = start
        except (TypeError, ValueError):
            raise ValueError("start must be 'equilibrium' or a pair (v0, h0) of state arrays.") from None
        v0 = np.asarray(v0)
        h0 = np.asarray(h0)
        if v0.ndim != 2 or h0.ndim != 2 or v0.shape[0] != n_chains or h0.shape[0] != n_chains:
            raise ValueError(
                f"start=(v0, h0) must have shapes ({n_chains}, {protocol.n_visible}) and "
                f"({n_chains}, {protocol.n_hidden}) (one state per chain), got {v0.shape} and {h0.shape}."
            )
    models = protocol.models
    chains = Chains(models[0], n_chains, seed=seed, v0=v0, h0=h0)

    if space == "joint":
        def energy():
            return chains.energy()
    else:
        def energy():
            return _visible_free_energy(chains.rbm, chains.v, beta)

    e = energy()
    e0 = e.copy()
    work = np.zeros(n_chains)
    heat = np.zeros(n_chains)
    for k in range(1, len(models)):
        chains.set_model(models[k])
        e_new = energy()
        work += e_new - e
        if n_sweeps > 0:
            if space == "joint":
                e_after = chains.run(n_sweeps, beta=beta, order=order, record_energy=True)[:, -1].copy()
            else:
                chains.run(n_sweeps, beta=beta, order=order)
                e_after = energy()
        else:
            e_after = e_new
        heat += e_after - e_new
        e = e_after
    e_end = energy()  # evaluated afresh: Delta E does not reuse the increments
    return ProtocolRun(work=work, heat=heat, delta_energy=e_end - e0, initial_energy=e0, final_energy=e_end,
                       beta=beta, order=order, n_steps=protocol.n_steps, n_sweeps_per_step=n_sweeps,
                       space=space, seed=seed)


# =============================================================================
# exact: tiny models
# =============================================================================
def _exact_tables(protocol, beta, order, n_sweeps, space):
    """Energies (K+1, S), kernels (K of (S,S)), p_0, p_K, log Z_0, log Z_K."""
    protocol = _check_protocol(protocol)
    beta = check_beta(beta)
    order = _check_order(order)
    space = _check_space(space, order)
    n_sweeps = check_int(n_sweeps, "n_sweeps_per_step", 0)
    nv, nh = protocol.n_visible, protocol.n_hidden
    if nv + nh > exact.MAX_JOINT_UNITS:
        raise exact.EnumerationTooLarge(
            f"exact protocol calculations need the full transition matrices of a {nv}x{nh} RBM "
            f"(limit n_visible + n_hidden <= {exact.MAX_JOINT_UNITS}). Use run_protocol to sample instead."
        )
    models = protocol.models
    if space == "joint":
        E = np.array([-exact.joint_log_weights(m, 1.0).ravel() for m in models])
        S = E.shape[1]
        T = [exact.transition_matrix(m, order, beta, n_sweeps=n_sweeps) if n_sweeps else np.eye(S)
             for m in models[1:]]
        p0 = exact.joint_distribution(models[0], beta).ravel()
        pK = exact.joint_distribution(models[-1], beta).ravel()
    else:
        V = exact.states(nv)
        E = np.array([np.asarray(m.free_energy(V, beta), np.float64) for m in models])
        S = E.shape[1]
        T = [exact.visible_chain(m, beta, n_sweeps=n_sweeps) if n_sweeps else np.eye(S) for m in models[1:]]
        p0 = exact.marginal_visible(models[0], beta)
        pK = exact.marginal_visible(models[-1], beta)
    log_z0 = exact.log_partition(models[0], beta)
    log_zK = exact.log_partition(models[-1], beta)
    return E, T, p0, pK, log_z0, log_zK, beta


@dataclass(frozen=True)
class ExactProcess:
    """Exact averages of a driven process on a tiny RBM (any number of steps).

    Attributes
    ----------
    beta : float
    delta_f : float
        ``F_K - F_0`` (energy units).
    mean_work, var_work : float
        ``<W>`` and ``Var W``.
    mean_heat, mean_delta_energy : float
        ``<Q>`` (propagated step by step) and ``<E_K(s_end)> - <E_0(s_0)>``.
    jarzynski_average : float
        ``<exp(-beta W)>``.
    p_start, p_end, p_eq_end : ndarray (S,)
        Initial distribution ``p_{lambda_0}``, distribution after the last sweeps, and
        the equilibrium ``p_{lambda_K}``.
    entropy_start, entropy_end, entropy_eq_end : float
        Gibbs entropies of those three distributions (nats).
    kl_end : float
        ``D(p_end || p_{lambda_K})`` (nats).
    """

    beta: float
    delta_f: float
    mean_work: float
    var_work: float
    mean_heat: float
    mean_delta_energy: float
    jarzynski_average: float
    p_start: np.ndarray
    p_end: np.ndarray
    p_eq_end: np.ndarray
    entropy_start: float
    entropy_end: float
    entropy_eq_end: float
    kl_end: float

    @property
    def dissipated_work(self) -> float:
        """``<W> - Delta F`` (energy units), >= 0 by the second law."""
        return self.mean_work - self.delta_f


def exact_process(protocol: Protocol, *, beta: float = 1.0, order: str = "hv", n_sweeps_per_step: int = 1,
                  space: str = "joint") -> ExactProcess:
    """Exact first and second moments of work, mean heat, final distribution and entropies.

    Propagates the state distribution together with ``E[W 1{s}]``, ``E[W^2 1{s}]`` and
    ``E[exp(-beta W) 1{s}]`` through the protocol (cost ``K S^2``, any ``K``).
    Same conventions as :func:`run_protocol`; ``n_visible + n_hidden <= 12``.
    """
    E, T, p0, pK, log_z0, log_zK, beta = _exact_tables(protocol, beta, order, n_sweeps_per_step, space)
    p = p0.copy()
    m1 = np.zeros_like(p)
    m2 = np.zeros_like(p)
    g = p0.copy()
    log_g = 0.0
    heat = 0.0
    for k in range(1, E.shape[0]):
        dE = E[k] - E[k - 1]
        m2 = m2 + 2.0 * dE * m1 + dE * dE * p
        m1 = m1 + dE * p
        x = -beta * dE
        xm = float(np.max(x))
        g = g * np.exp(x - xm)
        log_g += xm
        e_before = float(p @ E[k])
        Tk = T[k - 1]
        p, m1, m2, g = p @ Tk, m1 @ Tk, m2 @ Tk, g @ Tk
        heat += float(p @ E[k]) - e_before
    mean_w = float(m1.sum())
    var_w = float(m2.sum()) - mean_w ** 2
    jar = float(g.sum()) * math.exp(log_g)
    d_e = float(p @ E[-1] - p0 @ E[0])
    return ExactProcess(beta=beta, delta_f=-(log_zK - log_z0) / beta, mean_work=mean_w, var_work=var_w,
                        mean_heat=heat, mean_delta_energy=d_e, jarzynski_average=jar, p_start=p0, p_end=p,
                        p_eq_end=pK, entropy_start=entropy(p0), entropy_end=entropy(p),
                        entropy_eq_end=entropy(pK), kl_end=kl_divergence(p, pK))


def exact_work_log_mgf(protocol: Protocol, u, *, beta: float = 1.0, order: str = "hv",
                       n_sweeps_per_step: int = 1, space: str = "joint") -> np.ndarray:
    """Exact ``log <exp(-u W)>`` of the forward process for each ``u`` (any number of steps).

    Crooks' theorem is equivalent to ``<e^{-uW}>_F = e^{-beta Delta F} <e^{-(beta-u)W}>_R``
    for every real ``u``, which this function lets one check for long protocols where
    the work distribution itself has too many atoms to list.

    Parameters
    ----------
    u : array-like, shape (n_u,)
        Real arguments (inverse energy units).

    Returns
    -------
    ndarray, shape (n_u,)
    """
    E, T, p0, _, _, _, beta = _exact_tables(protocol, beta, order, n_sweeps_per_step, space)
    u = np.atleast_1d(np.asarray(u, np.float64))
    if u.ndim != 1 or not np.all(np.isfinite(u)):
        raise ValueError("u must be a 1-D array of finite numbers.")
    G = np.tile(p0, (u.size, 1))
    log_scale = np.zeros(u.size)
    K = E.shape[0] - 1
    for k in range(1, K + 1):
        x = -u[:, None] * (E[k] - E[k - 1])[None, :]
        xm = x.max(axis=1)
        G = G * np.exp(x - xm[:, None])
        s = G.sum(axis=1)
        G = G / s[:, None]
        log_scale += xm + np.log(s)
        if k < K:
            G = G @ T[k - 1]
    return log_scale + np.log(G.sum(axis=1))


@dataclass(frozen=True)
class WorkDistribution:
    """A discrete work distribution: distinct values and their probabilities.

    Attributes
    ----------
    values : ndarray, shape (n_atoms,)
        Distinct work values, increasing (energy units).
    probs : ndarray, shape (n_atoms,)
        Their probabilities (sum to 1).
    max_spread : float
        Widest group of round-off-equal values that was merged into one atom.
    min_gap : float
        Smallest distance between distinct atoms. The merge is unambiguous when
        ``max_spread < tol << min_gap``.
    """

    values: np.ndarray
    probs: np.ndarray
    max_spread: float
    min_gap: float

    def mean(self) -> float:
        return float(self.probs @ self.values)

    def expectation(self, f) -> float:
        """``sum_W P(W) f(W)`` for a vectorised ``f``."""
        return float(self.probs @ f(self.values))


def _merge(keys, w, p, tol):
    """Merge entries with equal integer key and |w - w'| <= tol (single linkage on sorted w)."""
    order = np.lexsort((w, keys))
    ks, ws, ps = keys[order], w[order], p[order]
    new = np.ones(ks.size, dtype=bool)
    dw = np.diff(ws)
    new[1:] = (ks[1:] != ks[:-1]) | (dw > tol)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], ks.size] - 1
    spread = float(np.max(ws[ends] - ws[starts])) if ks.size else 0.0
    same_key_gap = (ks[1:] == ks[:-1]) & (dw > tol)
    gap = float(dw[same_key_gap].min()) if np.any(same_key_gap) else math.inf
    return ks[starts], ws[starts], np.add.reduceat(ps, starts), spread, gap


def exact_work_distribution(protocol: Protocol, *, beta: float = 1.0, order: str = "hv",
                            n_sweeps_per_step: int = 1, space: str = "joint", tol: float | None = None,
                            max_atoms: int = 2_000_000) -> WorkDistribution:
    """The exact work distribution ``P(W)`` of the forward process, atom by atom.

    Propagates the joint distribution of (state, accumulated work): work values that
    agree to within ``tol`` (round-off of different summation orders) are merged.

    Parameters
    ----------
    protocol : Protocol
        Tiny model (``n_visible + n_hidden <= 12``) and few steps: the number of atoms
        grows like ``S**(K-1)`` with ``S`` the number of states.
    tol : float, optional
        Merge tolerance (energy units). Default ``1e-10 * max(1, K * max|E|)``.
    max_atoms : int
        Refuse (with the reason) beyond this many (state, work) pairs.

    Raises
    ------
    ValueError
        If two distinct work values come closer than ``100 * tol`` (the merge would
        be ambiguous): change the parameters slightly or lower ``tol``.
    """
    E, T, p0, _, _, _, beta = _exact_tables(protocol, beta, order, n_sweeps_per_step, space)
    K = E.shape[0] - 1
    S = E.shape[1]
    if tol is None:
        tol = 1e-10 * max(1.0, K * float(np.max(np.abs(E))))
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}.")
    state = np.arange(S, dtype=np.int64)
    w = np.zeros(S)
    p = p0.copy()
    spread, gap = 0.0, math.inf
    for k in range(1, K + 1):
        w = w + (E[k] - E[k - 1])[state]
        if k < K:
            n_new = state.size * S
            if n_new > max_atoms:
                raise exact.EnumerationTooLarge(
                    f"step {k}: {state.size} (state, work) atoms x {S} states = {n_new} > max_atoms={max_atoms}. "
                    "Use fewer steps or units, or exact_work_log_mgf / exact_process for long protocols."
                )
            Tk = T[k - 1]
            p = (p[:, None] * Tk[state, :]).ravel()
            w = np.repeat(w, S)
            state = np.tile(np.arange(S, dtype=np.int64), state.size)
            keep = p > 0
            state, w, p, sp, gp = _merge(state[keep], w[keep], p[keep], tol)
            spread, gap = max(spread, sp), min(gap, gp)
    _, w, p, sp, gp = _merge(np.zeros(w.size, dtype=np.int64), w, p, tol)
    spread, gap = max(spread, sp), min(gap, gp)
    if gap < 100 * tol:
        raise ValueError(
            f"two distinct work values are only {gap:.3g} apart (merge tolerance {tol:.3g}): the atoms "
            "cannot be told apart reliably. Perturb the parameters slightly or pass a smaller tol."
        )
    return WorkDistribution(values=w, probs=p, max_spread=spread, min_gap=gap)


@dataclass(frozen=True)
class CrooksExact:
    """Exact comparison of ``P_F(W)`` with ``P_R(-W) exp(beta (W - Delta F))``.

    Attributes
    ----------
    work : ndarray (n,)
        Work values present in either distribution (forward sign convention).
    p_forward : ndarray (n,)
        ``P_F(W)``.
    p_reverse : ndarray (n,)
        ``P_R(-W)``.
    log_ratio_error : ndarray (n,)
        ``log P_F(W) - log P_R(-W) - beta (W - Delta F)`` where both are > 0.
    max_abs_error : float
        ``max |log_ratio_error|`` (nats): zero where Crooks holds.
    total_variation : float
        ``(1/2) sum_W |P_F(W) - P_R(-W) e^{beta (W - Delta F)}|``.
    support_mismatch : int
        Atoms present in one distribution only.
    """

    work: np.ndarray
    p_forward: np.ndarray
    p_reverse: np.ndarray
    log_ratio_error: np.ndarray
    max_abs_error: float
    total_variation: float
    support_mismatch: int


def crooks_exact(forward: WorkDistribution, reverse: WorkDistribution, *, beta: float, delta_f: float,
                 tol: float | None = None) -> CrooksExact:
    """Match ``W`` of the forward with ``-W`` of the reverse distribution and test Crooks.

    Parameters
    ----------
    forward, reverse : WorkDistribution
        From :func:`exact_work_distribution` on a protocol and on its reversal.
    beta : float > 0
    delta_f : float
        ``F_K - F_0`` of the forward protocol.
    tol : float, optional
        Matching tolerance; default ``max(1e-9, 1e3 * max_spread)``, which must stay
        well below the gaps between atoms.
    """
    beta = check_beta(beta)
    if not (isinstance(forward, WorkDistribution) and isinstance(reverse, WorkDistribution)):
        raise TypeError("forward and reverse must be WorkDistribution objects (see exact_work_distribution).")
    if tol is None:
        tol = max(1e-9, 1e3 * max(forward.max_spread, reverse.max_spread))
    wf, pf = forward.values, forward.probs
    wr, pr = -reverse.values, reverse.probs
    w = np.r_[wf, wr]
    src = np.r_[np.zeros(wf.size, np.int64), np.ones(wr.size, np.int64)]
    prob = np.r_[pf, pr]
    order = np.argsort(w, kind="stable")
    ws, ss, ps = w[order], src[order], prob[order]
    new = np.r_[True, np.diff(ws) > tol]
    label = np.cumsum(new) - 1
    n = int(label[-1]) + 1
    PF = np.bincount(label, weights=np.where(ss == 0, ps, 0.0), minlength=n)
    PR = np.bincount(label, weights=np.where(ss == 1, ps, 0.0), minlength=n)
    cnt_f = np.bincount(label, weights=(ss == 0).astype(float), minlength=n)
    cnt_r = np.bincount(label, weights=(ss == 1).astype(float), minlength=n)
    if np.any(cnt_f > 1) or np.any(cnt_r > 1):
        raise ValueError("matching tolerance merges distinct atoms of one distribution; pass a smaller tol.")
    W = ws[new]
    both = (PF > 0) & (PR > 0)
    err = np.full(n, np.nan)
    err[both] = np.log(PF[both]) - np.log(PR[both]) - beta * (W[both] - delta_f)
    pred = PR * np.exp(beta * (W - delta_f))
    return CrooksExact(work=W, p_forward=PF, p_reverse=PR, log_ratio_error=err,
                       max_abs_error=float(np.nanmax(np.abs(err))) if np.any(both) else math.inf,
                       total_variation=0.5 * float(np.sum(np.abs(PF - pred))),
                       support_mismatch=int(np.sum((PF > 0) != (PR > 0))))


# =============================================================================
# statistics
# =============================================================================
def _check_work(work, name="work") -> np.ndarray:
    w = np.asarray(work, dtype=np.float64)
    if w.ndim != 1 or w.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 work values, got shape {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains NaN or inf: check the run that produced it.")
    return w


@dataclass(frozen=True)
class JarzynskiEstimate:
    """Jarzynski estimate ``Delta F_hat = -(1/beta) log mean exp(-beta W)``.

    Attributes
    ----------
    delta_f : float
        The estimate (energy units).
    stderr : float
        Delta-method standard error: ``std(x) / (beta sqrt(n) mean(x))`` with
        ``x = exp(-beta W)``; reliable only when ``ess`` is large.
    stderr_bootstrap : float or None
        Bootstrap standard error (if requested).
    ess : float
        Effective sample size ``(sum x)^2 / sum x^2`` of the exponential weights.
    n : int
    mean_work : float
        ``<W>``: an upper bound on ``Delta F`` (second law).
    """

    delta_f: float
    stderr: float
    stderr_bootstrap: float | None
    ess: float
    n: int
    mean_work: float


def jarzynski(work, beta: float = 1.0, *, n_bootstrap: int = 0, seed: int = 0) -> JarzynskiEstimate:
    """Estimate ``Delta F`` from forward work samples (Jarzynski's equality).

    Parameters
    ----------
    work : array-like, shape (n,)
        Work values (energy units) of independent trajectories started in equilibrium.
    beta : float > 0
    n_bootstrap : int >= 0
        If positive, also a bootstrap standard error from that many resamples.
    seed : int
        Seed of the bootstrap resampling.
    """
    w = _check_work(work)
    beta = check_beta(beta)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", 0)
    x = -beta * w
    lme = logmeanexp(x)
    y = np.exp(x - x.max())
    se = float(np.std(y, ddof=1) / (math.sqrt(w.size) * np.mean(y)) / beta)
    ess = float(y.sum() ** 2 / np.sum(y * y))
    se_b = None
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        est = np.empty(n_bootstrap)
        for i in range(n_bootstrap):
            est[i] = -logmeanexp(x[rng.integers(0, w.size, w.size)]) / beta
        se_b = float(np.std(est, ddof=1))
    return JarzynskiEstimate(delta_f=-lme / beta, stderr=se, stderr_bootstrap=se_b, ess=ess, n=int(w.size),
                             mean_work=float(w.mean()))


@dataclass(frozen=True)
class JarzynskiBias:
    """Finite-sample behaviour of the Jarzynski estimator at batch size ``n``.

    The samples are split into ``n_batches`` disjoint batches of ``n``; each gives an
    estimate ``Delta F_hat``.

    Attributes
    ----------
    n, n_batches : int
    bias : float
        ``mean(Delta F_hat) - Delta F`` (energy units); > 0 typically.
    bias_stderr : float
        Standard error of ``bias`` (spread / sqrt(n_batches)).
    spread : float
        Standard deviation of ``Delta F_hat`` across batches.
    rmse : float
        ``sqrt(mean((Delta F_hat - Delta F)^2))``.
    bias_delta_method : float
        Leading-order prediction ``Var(x) / (2 beta n <x>^2)``, ``x = e^{-beta W}``,
        from all samples pooled.
    """

    n: int
    n_batches: int
    bias: float
    bias_stderr: float
    spread: float
    rmse: float
    bias_delta_method: float


def jarzynski_bias(work, beta: float, delta_f: float, n: int) -> JarzynskiBias:
    """Bias, spread and RMSE of the Jarzynski estimator with ``n`` samples, using the exact ``Delta F``."""
    w = _check_work(work)
    beta = check_beta(beta)
    n = check_int(n, "n", 1)
    n_b = w.size // n
    if n_b < 2:
        raise ValueError(f"need at least 2 batches of n={n} samples, have {w.size} samples.")
    x = (-beta * w[: n_b * n]).reshape(n_b, n)
    est = -logmeanexp(x, axis=1) / beta
    d = est - delta_f
    xx = -beta * w
    y = np.exp(xx - xx.max())
    pred = float(np.var(y, ddof=1) / np.mean(y) ** 2 / (2.0 * beta * n))
    return JarzynskiBias(n=n, n_batches=n_b, bias=float(d.mean()),
                         bias_stderr=float(d.std(ddof=1) / math.sqrt(n_b)), spread=float(d.std(ddof=1)),
                         rmse=float(np.sqrt(np.mean(d * d))), bias_delta_method=pred)


@dataclass(frozen=True)
class CrooksTest:
    """Histogram test of Crooks' theorem on sampled forward and reverse work.

    Per bin ``B`` (both counts >= ``min_count``), with ``n_F(B)``, ``n_R(B)`` the numbers
    of forward samples with ``W`` in ``B`` and of reverse samples with ``-W_R`` in ``B``:

    * ``log_ratio = log[(n_F/N_F) / (n_R/N_R)]`` and its error ``sqrt(1/n_F + 1/n_R)``
      (Poisson), plotted against ``work_eff``;
    * ``work_eff = (1/beta) log mean_{reverse in B} e^{beta W}``: Crooks integrated over
      the bin gives exactly ``P_F(B) / P_R(B) = exp(beta (work_eff - Delta F))`` in
      expectation, so there is no binning bias (``work_eff`` is within the bin);
    * ``residual = log_ratio - beta (work_eff - Delta F)``, ``residual_err`` from the delta
      method (forward Poisson term + reverse weighted term).

    ``chi2 = sum (residual / residual_err)^2`` is compared with a chi-square law with
    ``dof`` = number of bins (no fitted parameter: ``Delta F`` is exact); ``p_value`` is its
    upper tail. ``delta_f_crossing`` (+- ``delta_f_crossing_err``) is the weighted fit of
    ``Delta F`` with the slope fixed at ``beta`` (where the histograms cross), and
    ``slope`` (+- ``slope_err``) the weighted straight-line fit of the slope.
    """

    edges: np.ndarray
    used: np.ndarray
    counts_forward: np.ndarray
    counts_reverse: np.ndarray
    work_center: np.ndarray
    work_eff: np.ndarray
    log_ratio: np.ndarray
    log_ratio_err: np.ndarray
    residual: np.ndarray
    residual_err: np.ndarray
    chi2: float
    dof: int
    p_value: float
    delta_f_crossing: float
    delta_f_crossing_err: float
    slope: float
    slope_err: float


def crooks_test(work_forward, work_reverse, *, beta: float, delta_f: float, bins=30,
                min_count: int = 20) -> CrooksTest:
    """Weighted chi-square test of ``P_F(W)/P_R(-W) = exp(beta (W - Delta F))`` on histograms.

    Parameters
    ----------
    work_forward : array-like (N_F,)
        Work of the forward process.
    work_reverse : array-like (N_R,)
        Work of the reverse process (its own sign: the theorem compares ``W`` with ``-W_R``).
    beta : float > 0
    delta_f : float
        Exact ``F_K - F_0`` of the forward protocol.
    bins : int or array of edges
        An int gives equal-width bins spanning the overlap of the two samples.
    min_count : int
        Bins where either count is below it are left out (decided before looking at
        residuals; keeps the log-normal error approximation valid).

    Returns
    -------
    CrooksTest
    """
    from scipy import stats

    wf = _check_work(work_forward, "work_forward")
    wr = -_check_work(work_reverse, "work_reverse")
    beta = check_beta(beta)
    min_count = check_int(min_count, "min_count", 1)
    if isinstance(bins, numbers.Integral):
        lo, hi = max(wf.min(), wr.min()), min(wf.max(), wr.max())
        if not lo < hi:
            raise ValueError(
                "the forward work W and the reversed work -W_R do not overlap: Crooks' theorem cannot be "
                "tested on these samples (use a slower protocol or more samples)."
            )
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be an int or an increasing 1-D array of edges.")
    nb = edges.size - 1
    nF = np.histogram(wf, edges)[0].astype(np.float64)
    nR = np.histogram(wr, edges)[0].astype(np.float64)
    idx = np.clip(np.searchsorted(edges, wr, side="right") - 1, 0, nb - 1)
    inside = (wr >= edges[0]) & (wr <= edges[-1])
    shift = float(np.max(beta * wr[inside])) if np.any(inside) else 0.0
    ew = np.exp(beta * wr[inside] - shift)
    s1 = np.bincount(idx[inside], weights=ew, minlength=nb)
    s2 = np.bincount(idx[inside], weights=ew * ew, minlength=nb)
    used = (nF >= min_count) & (nR >= min_count)
    if used.sum() < 2:
        raise ValueError(
            f"fewer than 2 bins hold >= {min_count} forward and reverse samples: more samples, fewer bins "
            "or a slower protocol are needed."
        )
    NF, NR = wf.size, wr.size
    with np.errstate(divide="ignore", invalid="ignore"):
        work_eff = (np.log(s1 / nR) + shift) / beta
        log_ratio = np.log(nF / NF) - np.log(nR / NR)
        lr_err = np.sqrt(1.0 / nF + 1.0 / nR)
        residual = log_ratio - beta * (work_eff - delta_f)
        # log(n_F/N_F) has variance ~ 1/n_F; log(sum_B e^{beta W}) ~ sum e^{2 beta W}/(sum e^{beta W})^2;
        # work_eff subtracts log n_R exactly, which cancels the reverse count term of log_ratio.
        res_err = np.sqrt(1.0 / nF + s2 / s1 ** 2)
    u = used
    chi2 = float(np.sum((residual[u] / res_err[u]) ** 2))
    dof = int(u.sum())
    p = float(stats.chi2.sf(chi2, dof))
    # crossing: fit Delta F with slope beta fixed; and a free straight-line slope
    wts = 1.0 / lr_err[u] ** 2
    dfs = work_eff[u] - log_ratio[u] / beta
    df_cross = float(np.sum(wts * dfs) / np.sum(wts))
    df_cross_err = float(1.0 / (beta * math.sqrt(np.sum(wts))))
    X = np.vstack([work_eff[u], np.ones(dof)]).T
    A = X.T @ (X * wts[:, None])
    coef = np.linalg.solve(A, X.T @ (wts * log_ratio[u]))
    cov = np.linalg.inv(A)
    return CrooksTest(edges=edges, used=used, counts_forward=nF, counts_reverse=nR,
                      work_center=0.5 * (edges[1:] + edges[:-1]), work_eff=work_eff, log_ratio=log_ratio,
                      log_ratio_err=lr_err, residual=residual, residual_err=res_err, chi2=chi2, dof=dof,
                      p_value=p, delta_f_crossing=df_cross, delta_f_crossing_err=df_cross_err,
                      slope=float(coef[0]), slope_err=float(math.sqrt(cov[0, 0])))
