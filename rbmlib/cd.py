"""Contrastive divergence and learning as thermodynamics.

Three groups of tools, all in plain NumPy arrays (float64, nats, energy units):

1. **Likelihood gradient** (exact, by enumeration). With the sufficient
   statistics ``phi(v, h) = (v h^T, v, h)`` the energy is linear in the
   parameters, ``E(v, h) = -theta . phi(v, h)`` with ``theta = (W, a, b)``, and
   the mean log-likelihood ``L = <log p_beta(v)>_data`` has the gradient

   ``dL/dtheta = -beta (<dE/dtheta>_data - <dE/dtheta>_model)
               = beta (<phi>_data - <phi>_model)``,

   where the data average uses ``p(h | v)`` for the hidden units.
   :func:`data_statistics`, :func:`model_statistics`,
   :func:`log_likelihood_gradient`, and :func:`finite_difference_gradient`
   (a fourth-order central difference of the exact log-likelihood, to check it).

2. **CD_n as a difference of KL divergences** (tiny models, exact tables over
   the ``2**n_visible`` visible states). ``p_D`` is the data distribution on
   ``v``; ``p_n = p_D K^n`` the law of ``v`` after ``n`` full block-Gibbs sweeps
   ``v -> h -> v'`` started at the data (``K`` = :func:`rbmlib.exact.visible_chain`);
   ``p_lambda(v) = exp(-beta F(v)) / Z`` the model marginal. Then

   ``CD_n = KL(p_D || p_lambda) - KL(p_n || p_lambda)
          = beta (<F>_D - <F>_n) - (S[p_D] - S[p_n])
          = beta (F[p_D] - F[p_n])``

   with the nonequilibrium free energy ``F[p] = <F(v)>_p - S[p] / beta`` of a
   distribution on ``v`` (``log Z`` cancels). :func:`cd_decomposition`,
   :func:`relax`, :func:`half_sweep_kl`, :func:`quench_relaxation`,
   :func:`relaxation_entropy_production`.

3. **Learning as a work protocol.** Every parameter update ``lambda -> lambda'``
   does work ``W = E_lambda'(s) - E_lambda(s)`` on a chain in state ``s`` (the
   state does not move); Gibbs sweeps at fixed parameters exchange heat
   ``Q = E_lambda(s') - E_lambda(s)``. :func:`exact_learning_run` follows the
   *distribution* of the chains exactly for a tiny model (expected CD-k, PCD
   and maximum-likelihood updates), :class:`LearningLedger` is the training
   callback that books work, heat and data work for real runs
   (:func:`rbmlib.training.train` with ``callback_every='batch'``); its
   recorded parameter sequence is a protocol that :func:`rbmlib.thermo.run_protocol`
   can replay on fresh chains started in exact equilibrium.

Two state spaces are used and never mixed within one quantity: the **visible**
space, where the state is ``v`` and its energy is the free energy ``F_beta(v)``
(the hidden layer summed out; the visible chain satisfies detailed balance with
respect to ``exp(-beta F)``), and the **joint** space, state ``(v, h)`` with
energy ``E(v, h)``. Both have the same partition function ``Z`` and equilibrium
free energy ``F_eq = -log Z / beta``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import exact
from ._blas import one_blas_thread
from ._validation import check_beta, check_binary, check_int
from .model import RBM, check_rbm, sigmoid, softplus
from .stats import entropy, kl_divergence, logsumexp

__all__ = [
    "Params",
    "empirical_distribution",
    "data_statistics",
    "model_statistics",
    "log_likelihood_gradient",
    "mean_log_likelihood",
    "finite_difference_gradient",
    "relax",
    "CDDecomposition",
    "cd_decomposition",
    "half_sweep_kl",
    "quench_relaxation",
    "relaxation_entropy_production",
    "LearningRun",
    "exact_learning_run",
    "LearningLedger",
    "MAX_VISIBLE_TABLE",
]

#: Largest ``n_visible`` for the exact tables over all visible states.
MAX_VISIBLE_TABLE = 16

class Params(NamedTuple):
    """Arrays shaped like the parameters: ``W`` (n_visible, n_hidden), ``a`` (n_visible,), ``b`` (n_hidden,)."""

    W: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def flat(self) -> np.ndarray:
        """All entries as one float64 vector ``(W.ravel(), a, b)``."""
        return np.concatenate([np.ravel(self.W), np.ravel(self.a), np.ravel(self.b)]).astype(np.float64)

    def dot(self, other: "Params") -> float:
        """``sum(W * W') + a . a' + b . b'``."""
        return float(np.sum(self.W * other.W) + np.dot(self.a, other.a) + np.dot(self.b, other.b))


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _check_tiny(rbm: RBM, what: str) -> None:
    if rbm.n_visible > MAX_VISIBLE_TABLE:
        raise exact.EnumerationTooLarge(
            f"{what} tabulates all 2**{rbm.n_visible} visible states (limit n_visible <= {MAX_VISIBLE_TABLE}). "
            "Use a tiny model here; for large models use the sampled quantities (LearningLedger, "
            "replay_protocol) and rbmlib.exact.log_partition for log Z."
        )


def _check_distribution(p, n_states: int, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n_states,):
        raise ValueError(f"{name} must be a distribution over the {n_states} states, shape ({n_states},), "
                         f"got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must hold finite non-negative probabilities.")
    s = p.sum()
    if abs(s - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1 (got {s!r}); normalise it first.")
    return p


def _data_u8(data, n_visible: int, name: str = "data") -> np.ndarray:
    x, _ = check_binary(data, name, n_visible, np.float64)
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty; give at least one binary state.")
    return x.astype(np.uint8)


# ----------------------------------------------------------------------------
# distributions on the visible states
# ----------------------------------------------------------------------------
def _index(data_u8: np.ndarray) -> np.ndarray:
    n = data_u8.shape[1]
    weights = (1 << np.arange(n - 1, -1, -1, dtype=np.int64))
    return data_u8.astype(np.int64) @ weights


def empirical_distribution(data, n_visible: int | None = None) -> np.ndarray:
    """Data distribution ``p_D(v)`` over all ``2**n_visible`` states (:func:`rbmlib.exact.states` order).

    Parameters
    ----------
    data : array-like, shape (n_samples, n_visible), entries 0/1
    n_visible : int, optional
        Defaults to ``data.shape[1]``.

    Returns
    -------
    p : ndarray, shape (2**n_visible,), sums to 1
        Fraction of the samples equal to each state (duplicates count).
    """
    arr = np.asarray(data)
    if n_visible is None:
        if arr.ndim != 2:
            raise ValueError(f"data must have shape (n_samples, n_visible), got {arr.shape}.")
        n_visible = arr.shape[1]
    if n_visible > MAX_VISIBLE_TABLE:
        raise exact.EnumerationTooLarge(
            f"empirical_distribution over 2**{n_visible} states (limit n_visible <= {MAX_VISIBLE_TABLE}).")
    x = _data_u8(arr, n_visible)
    counts = np.bincount(_index(x), minlength=2 ** n_visible)
    return counts / x.shape[0]


def _states(n: int) -> np.ndarray:
    return exact.states(n).astype(np.float64)


def _free_energy(rbm: RBM, V: np.ndarray, beta: float) -> np.ndarray:
    """Float64 ``F_beta(v)`` of float64 states (no validation)."""
    W = np.asarray(rbm.W, np.float64)
    field = V @ W + np.asarray(rbm.b, np.float64)
    return -(V @ np.asarray(rbm.a, np.float64)) - softplus(beta * field).sum(axis=1) / beta


def _joint_energy(rbm: RBM, V: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Float64 ``E(v, h)`` of float64 states (no validation)."""
    W = np.asarray(rbm.W, np.float64)
    return -np.sum((V @ W) * H, axis=1) - V @ np.asarray(rbm.a, np.float64) - H @ np.asarray(rbm.b, np.float64)


# ----------------------------------------------------------------------------
# likelihood gradient
# ----------------------------------------------------------------------------
def _stats_visible(V: np.ndarray, weights: np.ndarray, P: np.ndarray) -> Params:
    """<phi> with v ~ weights over rows of V and h replaced by P = p(h=1|v)."""
    Vw = V * weights[:, None]
    return Params(Vw.T @ P, weights @ V, weights @ P)


def data_statistics(rbm: RBM, data, beta: float = 1.0) -> Params:
    """Positive-phase statistics ``<phi>_data`` with the hidden units at ``p_beta(h | v)``.

    Parameters
    ----------
    rbm : RBM
    data : array-like, shape (n_samples, n_visible), entries 0/1
    beta : float > 0

    Returns
    -------
    Params
        ``W``: ``<v_i p(h_j=1|v)>`` (n_visible, n_hidden); ``a``: ``<v_i>``;
        ``b``: ``<p(h_j=1|v)>``; dimensionless.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    V = _data_u8(data, rbm.n_visible).astype(np.float64)
    P = np.asarray(sigmoid(beta * (V @ np.asarray(rbm.W, np.float64) + np.asarray(rbm.b, np.float64))),
                   np.float64)
    w = np.full(V.shape[0], 1.0 / V.shape[0])
    return _stats_visible(V, w, P)


@one_blas_thread
def model_statistics(rbm: RBM, beta: float = 1.0, *, max_units: int = 20) -> Params:
    """Exact negative-phase statistics ``<phi>_model = <(v h^T, v, h)>_{p_beta(v, h)}``.

    Enumerates the ``2**n`` states of the smaller layer (``n <= max_units``),
    summing the other layer analytically, in chunks.

    Returns
    -------
    Params
        ``W``: ``<v_i h_j>`` (n_visible, n_hidden), ``a``: ``<v_i>``, ``b``: ``<h_j>``.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    small = "hidden" if rbm.n_hidden <= rbm.n_visible else "visible"
    n_small = min(rbm.n_hidden, rbm.n_visible)
    if n_small > max_units:
        raise exact.EnumerationTooLarge(
            f"model_statistics enumerates 2**{n_small} states of the {small} layer (limit {max_units}); "
            "estimate the model statistics by sampling instead (rbmlib.sample).")
    lw = exact.layer_log_weights(rbm, small, beta, max_units=max(max_units, 1))
    p = np.exp(lw - logsumexp(lw))
    W = np.asarray(rbm.W, np.float64)
    a = np.asarray(rbm.a, np.float64)
    b = np.asarray(rbm.b, np.float64)
    outW = np.zeros_like(W)
    out_small = np.zeros(n_small)
    out_large = np.zeros(W.shape[0] if small == "hidden" else W.shape[1])
    chunk = 1 << 12
    for start in range(0, 2 ** n_small, chunk):
        k = np.arange(start, min(start + chunk, 2 ** n_small), dtype=np.int64)[:, None]
        S = ((k >> np.arange(n_small - 1, -1, -1, dtype=np.int64)[None, :]) & 1).astype(np.float64)
        ps = p[start:start + S.shape[0]]
        if small == "hidden":
            M = np.asarray(sigmoid(beta * (S @ W.T + a)), np.float64)   # p(v_i = 1 | h)
            outW += (M * ps[:, None]).T @ S
            out_large += ps @ M
        else:
            M = np.asarray(sigmoid(beta * (S @ W + b)), np.float64)     # p(h_j = 1 | v)
            outW += (S * ps[:, None]).T @ M
            out_large += ps @ M
        out_small += ps @ S
    if small == "hidden":
        return Params(outW, out_large, out_small)
    return Params(outW, out_small, out_large)


def log_likelihood_gradient(rbm: RBM, data, beta: float = 1.0, *, max_units: int = 20) -> Params:
    """Exact gradient of the mean log-likelihood ``L = <log p_beta(v)>_data``.

    ``dL/dW = beta (<v p(h|v)^T>_data - <v h^T>_model)``,
    ``dL/da = beta (<v>_data - <v>_model)``,
    ``dL/db = beta (<p(h|v)>_data - <h>_model)``
    (:func:`data_statistics`, :func:`model_statistics`). Units: nats per unit
    parameter. Gradient *ascent* ``theta <- theta + eta dL/dtheta`` increases
    the likelihood.
    """
    beta = check_beta(beta)
    d = data_statistics(rbm, data, beta)
    m = model_statistics(rbm, beta, max_units=max_units)
    return Params(beta * (d.W - m.W), beta * (d.a - m.a), beta * (d.b - m.b))


def mean_log_likelihood(rbm: RBM, data, beta: float = 1.0, *, log_z: float | None = None) -> float:
    """Exact ``L = (1/N) sum_n log p_beta(v_n)`` in nats (via :func:`rbmlib.exact.log_likelihood`)."""
    check_rbm(rbm)
    return float(np.mean(exact.log_likelihood(rbm, _data_u8(data, rbm.n_visible), beta, log_z=log_z)))


def _shifted(rbm: RBM, which: str, index, delta: float) -> RBM:
    W = np.array(rbm.W, np.float64)
    a = np.array(rbm.a, np.float64)
    b = np.array(rbm.b, np.float64)
    {"W": W, "a": a, "b": b}[which][index] += delta
    return RBM(W, a, b)


def finite_difference_gradient(rbm: RBM, data, beta: float = 1.0, *, step: float = 1e-3) -> Params:
    """Numerical gradient of the exact mean log-likelihood (fourth-order central differences).

    ``g = [-L(t+2s) + 8 L(t+s) - 8 L(t-s) + L(t-2s)] / (12 s)`` per parameter:
    truncation error ``O(s^4)``, round-off ``~ 1e-16 |L| / s``. Costs
    ``4 (n_v n_h + n_v + n_h)`` exact log-likelihood evaluations: tiny models only.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "finite_difference_gradient")
    if not (isinstance(step, numbers.Real) and 0 < step < 1):
        raise ValueError(f"step must be a number in (0, 1), got {step!r}.")
    V = _data_u8(data, rbm.n_visible)
    out = Params(np.zeros(rbm.W.shape), np.zeros(rbm.n_visible), np.zeros(rbm.n_hidden))
    for which, arr in zip("Wab", out):
        for index in np.ndindex(arr.shape):
            f = [mean_log_likelihood(_shifted(rbm, which, index, c * step), V, beta) for c in (2, 1, -1, -2)]
            arr[index] = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * step)
    return out


# ----------------------------------------------------------------------------
# CD_n as a difference of KL divergences (visible space)
# ----------------------------------------------------------------------------
def _visible_kernel(rbm: RBM, beta: float, product: bool = True):
    """(P_hv, P_vh, K): p(h|v) (2^nv, 2^nh), p(v|h) (2^nh, 2^nv), K = P_hv @ P_vh (or None)."""
    Ch = exact.conditional_hidden(rbm, beta)
    Cv = exact.conditional_visible(rbm, beta)
    return Ch, Cv, (Ch @ Cv if product else None)


def relax(rbm: RBM, p0, n_sweeps: int, beta: float = 1.0) -> np.ndarray:
    """Laws of ``v`` along block-Gibbs relaxation: ``p_n = p0 K^n`` for ``n = 0 .. n_sweeps``.

    Parameters
    ----------
    p0 : array, shape (2**n_visible,)
        Initial law of ``v`` (e.g. :func:`empirical_distribution` of the data).
    n_sweeps : int >= 0

    Returns
    -------
    ndarray, shape (n_sweeps + 1, 2**n_visible); row ``n`` is ``p_n``.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "relax")
    n_sweeps = check_int(n_sweeps, "n_sweeps", 0)
    p = _check_distribution(p0, 2 ** rbm.n_visible, "p0")
    Ch, Cv, _ = _visible_kernel(rbm, beta, product=False)
    out = np.empty((n_sweeps + 1, p.size))
    out[0] = p
    for n in range(n_sweeps):
        out[n + 1] = (out[n] @ Ch) @ Cv
    return out


@dataclass
class CDDecomposition:
    """Every term of ``CD_n`` for a list of ``n`` (arrays of shape (len(n),); scalars for data terms).

    Attributes (nats; free energies in energy units)
    ----------
    n : int array
    kl_data : float            ``KL(p_D || p_lambda)``
    kl_n : array               ``KL(p_n || p_lambda)``
    cd : array                 ``CD_n = kl_data - kl_n``
    mean_F_data : float        ``<F>_{p_D}``
    mean_F_n : array           ``<F>_{p_n}``
    entropy_data : float       ``S[p_D]``
    entropy_n : array          ``S[p_n]``
    F_eq : float               ``-log Z / beta``
    F_neq_data, F_neq_n        ``F[p] = <F>_p - S[p]/beta``
    cd_thermo : array          ``beta (<F>_D - <F>_n) - (S[p_D] - S[p_n])``
    cd_free_energy : array     ``beta (F[p_D] - F[p_n])``
    beta : float
    """

    n: np.ndarray
    kl_data: float
    kl_n: np.ndarray
    cd: np.ndarray
    mean_F_data: float
    mean_F_n: np.ndarray
    entropy_data: float
    entropy_n: np.ndarray
    F_eq: float
    F_neq_data: float
    F_neq_n: np.ndarray
    cd_thermo: np.ndarray
    cd_free_energy: np.ndarray
    beta: float

    @property
    def identity_error(self) -> float:
        """``max_n |CD_n (KL form) - CD_n (thermodynamic form)|`` over both thermodynamic forms."""
        return float(max(np.max(np.abs(self.cd - self.cd_thermo)), np.max(np.abs(self.cd - self.cd_free_energy))))


def cd_decomposition(rbm: RBM, data, n, beta: float = 1.0) -> CDDecomposition:
    """Exact ``CD_n`` and its thermodynamic terms on a tiny model, for every ``n`` in ``n``.

    Parameters
    ----------
    rbm : RBM (n_visible <= 16)
    data : array-like, shape (n_samples, n_visible), entries 0/1 (defines ``p_D``),
        or an array of shape (2**n_visible,) holding ``p_D`` itself
    n : int or sequence of ints >= 0
        Numbers of full sweeps ``v -> h -> v'``.
    beta : float > 0

    Returns
    -------
    CDDecomposition
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "cd_decomposition")
    ns = np.atleast_1d(np.asarray(n))
    if ns.ndim != 1 or not np.issubdtype(ns.dtype, np.integer) or np.any(ns < 0):
        raise ValueError(f"n must be a non-negative integer or a 1-D sequence of them, got {n!r}.")
    pD = _as_pD(rbm, data)
    Fv = _free_energy(rbm, _states(rbm.n_visible), beta)
    lw = -beta * Fv
    logz = logsumexp(lw)
    pl = np.exp(lw - logz)
    P = relax(rbm, pD, int(ns.max()), beta)[ns]
    kl_data = kl_divergence(pD, pl)
    kl_n = np.array([kl_divergence(p, pl) for p in P])
    S_D = entropy(pD)
    S_n = np.array([entropy(p) for p in P])
    F_D = float(pD @ Fv)
    F_n = P @ Fv
    Fneq_D = F_D - S_D / beta
    Fneq_n = F_n - S_n / beta
    return CDDecomposition(
        n=ns.astype(np.int64), kl_data=kl_data, kl_n=kl_n, cd=kl_data - kl_n, mean_F_data=F_D, mean_F_n=F_n,
        entropy_data=S_D, entropy_n=S_n, F_eq=-logz / beta, F_neq_data=Fneq_D, F_neq_n=Fneq_n,
        cd_thermo=beta * (F_D - F_n) - (S_D - S_n), cd_free_energy=beta * (Fneq_D - Fneq_n), beta=beta)


def _as_pD(rbm: RBM, data) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim == 1 and arr.shape[0] == 2 ** rbm.n_visible and arr.shape[0] != rbm.n_visible:
        return _check_distribution(arr, 2 ** rbm.n_visible, "p_D")
    return empirical_distribution(arr, rbm.n_visible)


def half_sweep_kl(rbm: RBM, data, n_sweeps: int, beta: float = 1.0) -> dict:
    """KL divergences to equilibrium at every half-sweep of CD sampling, on ``v``, on ``h`` and on ``(v, h)``.

    CD sampling from the data runs ``v_0 -> h_0 -> v_1 -> h_1 -> ...`` with
    ``h_t ~ p(h | v_t)`` and ``v_{t+1} ~ p(v | h_t)``. Writing ``p_t`` for the law
    of ``v_t`` and ``q_t`` for that of ``h_t``, the joint law of the pair
    ``(v_t, h_t)`` is ``p_t(v) p(h|v)`` and that of ``(v_{t+1}, h_t)`` is
    ``q_t(h) p(v|h)``; by the chain rule their KL divergences to the joint
    ``p_lambda(v, h)`` equal ``KL(p_t || p_lambda(v))`` and ``KL(q_t || p_lambda(h))``.

    Returns
    -------
    dict of arrays
        ``'kl_v'`` (n_sweeps + 1,): ``KL(p_t || p_lambda(v))``;
        ``'kl_h'`` (n_sweeps,): ``KL(q_t || p_lambda(h))``;
        ``'kl_joint_vh'`` (n_sweeps + 1,): ``KL(p_t(v) p(h|v) || p_lambda(v,h))`` from the joint tables;
        ``'kl_joint_hv'`` (n_sweeps,): ``KL(q_t(h) p(v|h) || p_lambda(v,h))`` from the joint tables;
        ``'interleaved'`` (2 n_sweeps + 1,): ``kl_v[0], kl_h[0], kl_v[1], ...`` (non-increasing
        by the data-processing inequality).
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "half_sweep_kl")
    n_sweeps = check_int(n_sweeps, "n_sweeps", 0)
    pD = _as_pD(rbm, data)
    joint = exact.joint_distribution(rbm, beta)   # (2^nv, 2^nh)
    pv, ph = joint.sum(1), joint.sum(0)
    Ch, Cv, _ = _visible_kernel(rbm, beta, product=False)
    kl_v, kl_h, kj_vh, kj_hv, inter = [], [], [], [], []
    p = pD
    for t in range(n_sweeps + 1):
        kl_v.append(kl_divergence(p, pv))
        kj_vh.append(kl_divergence((p[:, None] * Ch).ravel(), joint.ravel()))
        inter.append(kl_v[-1])
        if t == n_sweeps:
            break
        q = p @ Ch
        kl_h.append(kl_divergence(q, ph))
        kj_hv.append(kl_divergence((q[:, None] * Cv).T.ravel(), joint.ravel()))
        inter.append(kl_h[-1])
        p = q @ Cv
    return {"kl_v": np.array(kl_v), "kl_h": np.array(kl_h), "kl_joint_vh": np.array(kj_vh),
            "kl_joint_hv": np.array(kj_hv), "interleaved": np.array(inter)}


def quench_relaxation(rbm: RBM, data, n, beta: float = 1.0) -> dict:
    """``CD`` as the thermodynamics of a quench from a *data Hamiltonian* followed by relaxation.

    The process (visible space, energies ``F(v)``):

    1. Start in equilibrium with the data Hamiltonian ``E_D(v) = -log p_D(v) / beta``
       (its Boltzmann law is ``p_D``, its partition function is 1, so ``F_eq(D) = 0``).
    2. Quench: switch the energy to the model's ``F_lambda(v)`` at fixed ``v``;
       work ``W = F_lambda(v) - E_D(v)``, mean ``<W> = <F>_D + S[p_D]/beta``.
    3. Relax ``n`` block-Gibbs sweeps at fixed ``lambda`` (heat only).

    With ``Delta F = F_eq(lambda) - F_eq(D) = -log Z / beta``:
    ``beta <W> - beta Delta F = KL(p_D || p_lambda)`` (Kawai-Parrondo-Van den Broeck for a
    quench), which splits into the entropy produced by ``n`` sweeps, ``CD_n``, and the
    free energy not yet dissipated, ``KL(p_n || p_lambda)``.

    Returns
    -------
    dict
        ``'beta_work'``, ``'beta_delta_F'``, ``'beta_dissipated_work'`` (floats);
        ``'n'``, ``'entropy_production'`` (= ``CD_n``, from path probabilities via
        :func:`relaxation_entropy_production`), ``'kl_n'`` (arrays);
        ``'naive'``: ``beta (<F>_D - F_eq)`` (the relation without the data entropy).
    """
    beta = check_beta(beta)
    dec = cd_decomposition(rbm, data, n, beta)
    pD = _as_pD(rbm, data)
    beta_w = beta * dec.mean_F_data - dec.entropy_data          # beta <F_lambda - E_D>_D, E_D = -log p_D / beta
    beta_dF = beta * dec.F_eq                                    # beta (F_eq(lambda) - 0)
    ep = np.array([relaxation_entropy_production(rbm, pD, int(k), beta)["mean"] for k in dec.n])
    return {"beta_work": float(beta_w), "beta_delta_F": float(beta_dF),
            "beta_dissipated_work": float(beta_w - beta_dF), "n": dec.n, "entropy_production": ep,
            "kl_n": dec.kl_n, "kl_data": dec.kl_data,
            "naive": float(beta * (dec.mean_F_data - dec.F_eq))}


def relaxation_entropy_production(rbm: RBM, p0, n: int, beta: float = 1.0) -> dict:
    """Trajectory entropy production of ``n`` sweeps of visible relaxation at fixed parameters.

    For a path started at ``v_0 ~ p0`` and observed at ``v_n``,
    ``Delta s_tot = log p0(v_0) - log p_n(v_n) + beta (F(v_0) - F(v_n))``
    (system entropy change plus the heat released to the bath over ``T``; the
    visible chain obeys detailed balance with respect to ``exp(-beta F)``).
    Computed exactly over all pairs ``(v_0, v_n)`` with the law
    ``p0(v_0) K^n(v_0, v_n)``.

    Returns
    -------
    dict
        ``'mean'``: ``<Delta s_tot>`` (nats; equals ``KL(p0||p_lambda) - KL(p_n||p_lambda)``);
        ``'ift'``: ``<exp(-Delta s_tot)>``, equal to the probability that the
        time-reversed process (started from ``p_n``) ends inside the support of
        ``p0`` (1 when ``p0 > 0`` everywhere, less for an empirical ``p0``);
        ``'reverse_support_mass'``: that probability computed directly.
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "relaxation_entropy_production")
    n = check_int(n, "n", 0)
    p0 = _check_distribution(p0, 2 ** rbm.n_visible, "p0")
    Fv = _free_energy(rbm, _states(rbm.n_visible), beta)
    _, _, K = _visible_kernel(rbm, beta)
    Kn = np.linalg.matrix_power(K, n) if n > 0 else np.eye(p0.size)
    pn = p0 @ Kn
    src = np.flatnonzero(p0 > 0)
    joint = p0[src, None] * Kn[src]                       # (n_src, 2^nv)
    ok = joint > 0
    ds = (np.log(p0[src])[:, None] - np.log(np.where(pn > 0, pn, 1.0))[None, :]
          + beta * (Fv[src][:, None] - Fv[None, :]))
    mean = float(np.sum(joint[ok] * ds[ok]))
    ift = float(np.sum(joint[ok] * np.exp(-ds[ok])))
    # reverse process: v_n ~ p_n, then n sweeps; detailed balance makes its kernel K^n too
    reverse_mass = float(np.sum((pn @ Kn)[src]))
    return {"mean": mean, "ift": ift, "reverse_support_mass": reverse_mass}


# ----------------------------------------------------------------------------
# exact learning dynamics on a tiny model
# ----------------------------------------------------------------------------
@dataclass
class LearningRun:
    """Exact thermodynamics of a learning run on a tiny model (visible space, energies ``F(v)``).

    Per-update arrays have shape (n_steps,), per-model arrays (n_steps + 1,)
    (model ``t`` = parameters before update ``t``). Energies in energy units,
    ``beta x energy`` and information quantities in nats.

    Attributes
    ----------
    method, k, learning_rate, beta
    log_likelihood : (n_steps+1,)   exact ``L_t`` of the data
    kl_data : (n_steps+1,)          ``KL(p_D || p_lambda_t)``
    cd_k : (n_steps+1,)             ``CD_k(lambda_t) = KL(p_D||p_t) - KL(p_D K_t^k || p_t)``
    F_eq : (n_steps+1,)             ``-log Z_t / beta``
    work : (n_steps,)               mean work on the chains, ``<F_{t+1} - F_t>`` over their law
    heat : (n_steps,)               mean heat absorbed by the chains during the sweeps at ``lambda_t``
    work_data : (n_steps,)          ``<F_{t+1} - F_t>_D``, work done on the data states
    work_linear_model, work_linear_data : (n_steps,)
                                    ``-Delta theta . <phi>`` over the chains' / the data's
                                    law (hidden units at ``p(h|v)``): the joint-space work
                                    averaged over ``h | v``
    dtheta_sq : (n_steps,)          ``|Delta theta|^2``
    entropy_production : (n_steps,) entropy produced by the sweeps, ``KL before - KL after`` (nats)
    kl_chain_before, kl_chain_after : (n_steps,)
                                    ``KL(chains || p_lambda_t)`` before / after the sweeps
    kl_chain_jumped : (n_steps,)    ``KL(chains || p_lambda_{t+1})`` right after update ``t``
    mean_F_chain_before, mean_F_chain_after : (n_steps,)
                                    ``<F_t>`` over the chains' law before / after the sweeps
    models : list of RBM, optional  the parameters ``lambda_0 .. lambda_T``
    """

    method: str
    k: int
    learning_rate: float
    beta: float
    log_likelihood: np.ndarray
    kl_data: np.ndarray
    cd_k: np.ndarray
    F_eq: np.ndarray
    work: np.ndarray
    heat: np.ndarray
    work_data: np.ndarray
    work_linear_model: np.ndarray
    work_linear_data: np.ndarray
    dtheta_sq: np.ndarray
    entropy_production: np.ndarray
    kl_chain_before: np.ndarray
    kl_chain_after: np.ndarray
    kl_chain_jumped: np.ndarray
    mean_F_chain_before: np.ndarray
    mean_F_chain_after: np.ndarray
    models: list = field(default_factory=list)

    @property
    def delta_F_eq(self) -> np.ndarray:
        """Equilibrium free-energy change of each update, ``F_eq(t+1) - F_eq(t)``."""
        return np.diff(self.F_eq)

    def first_law_error(self) -> float:
        """``max_t |U_{t+1} - U_t - W_t - Q_t|`` with ``U`` the mean energy ``<F>`` of the chains' law.

        ``U_t`` is taken before the sweeps of update ``t`` and ``U_{t+1}`` after
        the switch to ``lambda_{t+1}``. For PCD the law after the switch is the
        next law before the sweeps, so this also checks the bookkeeping across
        updates; for CD the chains restart at the data every update (a reset,
        neither work nor heat), for ML they re-equilibrate (an implicit
        infinite relaxation). A consistency check of the arithmetic: with exact
        laws the first law holds by construction.
        """
        U_end = self.mean_F_chain_after + self.work          # <F_{t+1}> of the law after update t
        err = np.abs(U_end - self.mean_F_chain_before - self.work - self.heat)
        if self.method == "pcd" and self.work.size > 1:
            err = np.concatenate([err, np.abs(self.mean_F_chain_before[1:] - U_end[:-1])])
        return float(err.max())

    def jump_identity_error(self) -> float:
        """``max_t |beta (W_t - Delta F_t) - [KL(c_t || p_{t+1}) - KL(c_t || p_t)]|`` (nats).

        ``c_t`` is the chains' law at update ``t``: the work of one parameter
        switch at fixed states measures exactly how much farther from (or closer
        to) equilibrium the switch puts the chains. Holds for every method.
        """
        lhs = self.beta * (self.work - self.delta_F_eq)
        rhs = self.kl_chain_jumped - self.kl_chain_after
        return float(np.max(np.abs(lhs - rhs)))

    def second_law_terms(self) -> dict:
        """PCD: exact split ``beta (W_tot - Delta F_eq) = KL_end - KL_start + Sigma`` (nats).

        ``KL_start = KL(chains_0 || p_lambda_0)`` before the first sweeps,
        ``KL_end = KL(chains || p_lambda_T)`` after the last update and
        ``Sigma >= 0`` the total entropy produced by the sweeps (the sum of
        :attr:`entropy_production`). Returns the terms and the residual of the
        identity. The dissipated work can be negative only by drawing on
        ``KL_start``, the chains' initial distance from equilibrium.
        """
        if self.method != "pcd":
            raise ValueError("second_law_terms applies to persistent chains (method 'pcd').")
        lhs = self.beta * (self.work.sum() - (self.F_eq[-1] - self.F_eq[0]))
        rhs = self.kl_chain_jumped[-1] - self.kl_chain_before[0] + self.entropy_production.sum()
        return {"beta_dissipated_work": float(lhs), "kl_start": float(self.kl_chain_before[0]),
                "kl_end": float(self.kl_chain_jumped[-1]), "entropy_production": float(self.entropy_production.sum()),
                "residual": float(lhs - rhs)}

    def likelihood_identity_error(self) -> float:
        """``max_t |L_{t+1} - L_t - beta (Delta F_eq,t - W_data,t)|`` (nats): learning gains likelihood
        exactly by the equilibrium free-energy change minus the work done on the data."""
        lhs = np.diff(self.log_likelihood)
        rhs = self.beta * (self.delta_F_eq - self.work_data)
        return float(np.max(np.abs(lhs - rhs)))


@one_blas_thread
def exact_learning_run(rbm: RBM, data, *, method: str = "pcd", k: int = 1, learning_rate: float = 0.1,
                       n_steps: int = 100, beta: float = 1.0, chains0=None, keep_models: bool = False) -> LearningRun:
    """Train a tiny RBM with the *expected* update of CD-k, PCD-k or maximum likelihood, exactly.

    No sampling: the chains are represented by their law over the visible
    states (the limit of infinitely many chains), so every thermodynamic
    quantity along the run is exact.

    * ``'ml'``: ``theta += eta dL/dtheta`` (exact gradient); the "chains" are in
      equilibrium with the current model before each update (work is done on
      ``p_lambda_t``).
    * ``'cd'``: chains restarted at ``p_D`` and relaxed ``k`` sweeps at ``lambda_t``
      (law ``p_D K_t^k``); update with their statistics.
    * ``'pcd'``: persistent law ``q``: ``q <- q K_t^k``, update with ``q``'s
      statistics, keep ``q`` (the parameter jump does work on it).

    Update: ``Delta theta = eta beta (<phi>_D - <phi>_chains)`` with hidden units at
    ``p(h|v)`` in both averages (as :func:`rbmlib.training.train` does), no momentum.

    Parameters
    ----------
    rbm : RBM (n_visible <= 16)
        Starting parameters ``lambda_0``.
    data : array-like, shape (n_samples, n_visible), entries 0/1
    method : {'pcd', 'cd', 'ml'}
    k : int >= 1
        Sweeps per update (ignored for ``'ml'``).
    learning_rate : float > 0
    n_steps : int >= 1
    beta : float > 0
    chains0 : array, shape (2**n_visible,), optional
        PCD: initial law of the persistent chains (default ``p_D``: the chains
        start at training vectors, as in :func:`rbmlib.training.train`).
    keep_models : bool
        Store every ``lambda_t`` in ``LearningRun.models``.

    Returns
    -------
    LearningRun
    """
    check_rbm(rbm)
    beta = check_beta(beta)
    _check_tiny(rbm, "exact_learning_run")
    if method not in ("pcd", "cd", "ml"):
        raise ValueError(f"method must be 'pcd', 'cd' or 'ml', got {method!r}.")
    k = check_int(k, "k", 1)
    n_steps = check_int(n_steps, "n_steps", 1)
    if not (isinstance(learning_rate, numbers.Real) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}.")
    lr = float(learning_rate)
    V = _data_u8(data, rbm.n_visible)
    nv = rbm.n_visible
    pD = empirical_distribution(V, nv)
    S = _states(nv)
    q = pD.copy() if chains0 is None else _check_distribution(chains0, 2 ** nv, "chains0").copy()

    W = np.array(rbm.W, np.float64)
    a = np.array(rbm.a, np.float64)
    b = np.array(rbm.b, np.float64)
    rec = {key: [] for key in ("work", "heat", "work_data", "wl_model", "wl_data", "dtheta_sq", "ep",
                               "kl_before", "kl_after", "kl_jumped", "F_before", "F_after")}
    L, KLD, CDK, FEQ, models = [], [], [], [], []

    def tables(W, a, b):
        F = -(S @ a) - softplus(beta * (S @ W + b)).sum(1) / beta
        lw = -beta * F
        logz = logsumexp(lw)
        P = sigmoid(beta * (S @ W + b))                             # p(h=1|v), (2^nv, nh)
        r = RBM(W, a, b)
        return F, logz, np.exp(lw - logz), P, (exact.conditional_hidden(r, beta), exact.conditional_visible(r, beta))

    def sweep(p, Kv):                                               # one v -> h -> v' sweep of a law on v
        return (p @ Kv[0]) @ Kv[1]

    F, logz, pl, P, Kv = tables(W, a, b)
    for t in range(n_steps + 1):
        # diagnostics of model t
        L.append(float(pD @ (-beta * F)) - logz)
        KLD.append(kl_divergence(pD, pl))
        pk = pD
        for _ in range(k):
            pk = sweep(pk, Kv)
        CDK.append(KLD[-1] - kl_divergence(pk, pl))
        FEQ.append(-logz / beta)
        if keep_models:
            models.append(RBM(W, a, b))
        if t == n_steps:
            break
        # chains: law before and after the sweeps at lambda_t
        if method == "ml":
            before = pl
            after = pl
        elif method == "cd":
            before = pD
            after = pk
        else:
            before = q
            after = q
            for _ in range(k):
                after = sweep(after, Kv)
        kl_b, kl_a = kl_divergence(before, pl), kl_divergence(after, pl)
        # update
        d = _stats_visible(S, pD, P)
        m = _stats_visible(S, after, P)
        dW, da, db = (lr * beta * (x - y) for x, y in zip(d, m))
        W2, a2, b2 = W + dW, a + da, b + db
        F2, logz2, pl2, P2, Kv2 = tables(W2, a2, b2)
        rec["work"].append(float(after @ (F2 - F)))
        rec["heat"].append(float(after @ F - before @ F))
        rec["work_data"].append(float(pD @ (F2 - F)))
        rec["wl_model"].append(-(np.sum(dW * m.W) + da @ m.a + db @ m.b))
        rec["wl_data"].append(-(np.sum(dW * d.W) + da @ d.a + db @ d.b))
        rec["dtheta_sq"].append(float(np.sum(dW * dW) + da @ da + db @ db))
        rec["ep"].append(kl_b - kl_a)
        rec["kl_before"].append(kl_b)
        rec["kl_after"].append(kl_a)
        rec["kl_jumped"].append(kl_divergence(after, pl2))
        rec["F_before"].append(float(before @ F))
        rec["F_after"].append(float(after @ F))
        if method == "pcd":
            q = after
        W, a, b, F, logz, pl, P, Kv = W2, a2, b2, F2, logz2, pl2, P2, Kv2
        if not np.all(np.isfinite(F)):
            raise FloatingPointError(f"exact_learning_run diverged at step {t}: lower the learning rate ({lr}).")
    arr = {key: np.array(v, dtype=np.float64) for key, v in rec.items()}
    return LearningRun(
        method=method, k=k, learning_rate=lr, beta=beta, log_likelihood=np.array(L), kl_data=np.array(KLD),
        cd_k=np.array(CDK), F_eq=np.array(FEQ), work=arr["work"], heat=arr["heat"], work_data=arr["work_data"],
        work_linear_model=arr["wl_model"], work_linear_data=arr["wl_data"], dtheta_sq=arr["dtheta_sq"],
        entropy_production=arr["ep"], kl_chain_before=arr["kl_before"], kl_chain_after=arr["kl_after"],
        kl_chain_jumped=arr["kl_jumped"], mean_F_chain_before=arr["F_before"], mean_F_chain_after=arr["F_after"],
        models=models)


# ----------------------------------------------------------------------------
# work bookkeeping for real training runs
# ----------------------------------------------------------------------------
class LearningLedger:
    """Training callback that books the thermodynamics of learning, update by update.

    Use with ``rbmlib.training.train(..., callback=ledger, callback_every='batch')``.
    At each parameter update ``lambda_t -> lambda_{t+1}`` it receives the model
    before and after, the chains in the state used for the negative phase
    (sampled under ``lambda_t``) and the minibatch, and records, as means over
    the chains (energy units):

    * ``work``: ``E_{t+1}(s) - E_t(s)`` at the chains' states ``s`` (the update
      moves the parameters, not the states);
    * ``heat``: the energy the chains absorbed while they were sampled under
      ``lambda_t``. PCD: ``E_t(s_t) - E_t(s_{t-1})`` since the previous update
      (nothing for the first update, whose earlier sweeps are not seen); CD:
      ``F_t(v_k) - F_t(v_data)``, from the minibatch to the negative states;
    * ``work_data``: ``<F_{t+1}(v) - F_t(v)>`` over the minibatch, the work the
      update does on the data;
    * ``work_linear_model`` / ``work_linear_data``: ``-Delta theta . <phi>``
      over the chains / the minibatch with the hidden units at ``p(h|v)`` -- the
      averages the learning rule uses; with plain SGD (no momentum, no weight
      decay) ``work_linear_model - work_linear_data = |Delta theta|^2 / (eta beta)``
      exactly;
    * ``work_linear_self``: ``(eta beta / N) <|phi_bar(v_c)|^2>`` over the ``N``
      chains -- the part of ``work_linear_model`` that a chain receives
      because its *own* state entered the update (feedback: the protocol
      depends on the chains). Exact for plain SGD; with momentum it covers the
      current gradient only;
    * ``dtheta_sq``, ``learning_rate``, ``momentum``, ``epoch``, ``step``.

    Parameters
    ----------
    method : {'pcd', 'cd'}
        Must match the training run.
    space : {'visible', 'joint'}
        ``'visible'``: the state is ``v``, its energy ``F_beta(v)`` (the only
        choice for CD, whose chains start at data vectors without a hidden
        state). ``'joint'``: the state is ``(v, h)`` with energy ``E(v, h)`` (PCD).
    beta : float > 0
        Inverse temperature of the run.
    keep_models : bool
        Keep every ``lambda_t`` (``models[0]`` is the model before the first
        update), e.g. to replay the run as a fixed protocol with
        :func:`rbmlib.thermo.run_protocol`.

    Notes
    -----
    For PCD the ledger also keeps, per chain, the energy at the first update and
    the cumulative work and heat; :meth:`first_law_residual` compares their sum
    with the energy computed afresh from the chains (first law).
    """

    def __init__(self, *, method: str = "pcd", space: str = "visible", beta: float = 1.0,
                 keep_models: bool = False):
        if method not in ("pcd", "cd"):
            raise ValueError(f"method must be 'pcd' or 'cd' (as in the training run), got {method!r}.")
        if space not in ("visible", "joint"):
            raise ValueError(f"space must be 'visible' (energies F(v)) or 'joint' (energies E(v,h)), got {space!r}.")
        if method == "cd" and space == "joint":
            raise ValueError("CD chains restart at data vectors with no hidden state: use space='visible'.")
        self.method, self.space, self.beta = method, space, check_beta(beta)
        self.keep_models = bool(keep_models)
        self.models: list = []
        self._rows: list = []
        self._last_rbm = None
        self._last_e = None          # per-chain energy under lambda_{t+1} after update t
        self.energy_start = None     # PCD: per-chain energy at the first update, under lambda_0
        self.work_per_chain = None
        self.heat_per_chain = None
        self.last_chains = None      # the chains seen at the last update

    # energies of the chain states
    def _energies(self, rbm: RBM, chains) -> np.ndarray:
        V = np.asarray(chains.v, np.float64)
        if self.space == "visible":
            return _free_energy(rbm, V, self.beta)
        return _joint_energy(rbm, V, np.asarray(chains.h, np.float64))

    @one_blas_thread
    def __call__(self, step) -> None:
        rb, ra, chains = step.rbm_before, step.rbm_after, step.chains
        if step.v_data is None:
            raise ValueError("LearningLedger needs the per-minibatch callback: train(..., callback_every='batch').")
        beta = self.beta
        e_b = self._energies(rb, chains)
        e_a = self._energies(ra, chains)
        w = e_a - e_b
        Vd = np.asarray(step.v_data, np.float64)
        if self.method == "pcd":
            if self._last_rbm is None:
                heat = np.zeros_like(e_b)
                self.energy_start = e_b.copy()
                self.work_per_chain = np.zeros_like(e_b)
                self.heat_per_chain = np.zeros_like(e_b)
                if self.keep_models:
                    self.models.append(rb)
            else:
                if rb.fingerprint() != self._last_rbm.fingerprint():
                    raise ValueError("LearningLedger: the model before this update is not the model after the "
                                     "previous one; use one ledger per training run, with callback_every='batch'.")
                heat = e_b - self._last_e
            self.work_per_chain += w
            self.heat_per_chain += heat
        else:
            heat = e_b - _free_energy(rb, Vd, beta)
            if self.keep_models and not self.models:
                self.models.append(rb)
        if self.keep_models:
            self.models.append(ra)
        self._last_rbm, self._last_e = ra, e_a
        self.last_chains = chains
        # linear (joint-space, hidden at p(h|v)) works and |Delta theta|^2
        dW = np.asarray(ra.W, np.float64) - np.asarray(rb.W, np.float64)
        da = np.asarray(ra.a, np.float64) - np.asarray(rb.a, np.float64)
        db = np.asarray(ra.b, np.float64) - np.asarray(rb.b, np.float64)
        Vm = np.asarray(chains.v, np.float64)
        Wb, bb = np.asarray(rb.W, np.float64), np.asarray(rb.b, np.float64)
        Pm = sigmoid(beta * (Vm @ Wb + bb))
        Pd = sigmoid(beta * (Vd @ Wb + bb))
        wl_m = -(np.sum((Vm @ dW) * Pm) / Vm.shape[0] + Vm.mean(0) @ da + Pm.mean(0) @ db)
        # |phi_bar(v_c)|^2 = |v|^2 |p|^2 + |v|^2 + |p|^2: the chain's own share of the update
        nv2 = Vm.sum(1)
        np2 = np.sum(Pm * Pm, axis=1)
        w_self = step.learning_rate * beta / Vm.shape[0] * float(np.mean(nv2 * np2 + nv2 + np2))
        wl_d = -(np.sum((Vd @ dW) * Pd) / Vd.shape[0] + Vd.mean(0) @ da + Pd.mean(0) @ db)
        self._rows.append((
            step.epoch, step.step, float(w.mean()), float(heat.mean()),
            float(np.mean(_free_energy(ra, Vd, beta) - _free_energy(rb, Vd, beta))),
            float(wl_m), float(wl_d), w_self, float(np.sum(dW * dW) + da @ da + db @ db),
            float(step.learning_rate), float(step.momentum), float(e_b.mean()), float(e_a.mean())))

    _FIELDS = ("epoch", "step", "work", "heat", "work_data", "work_linear_model", "work_linear_data",
               "work_linear_self", "dtheta_sq", "learning_rate", "momentum", "energy_before", "energy_after")

    def history(self) -> dict:
        """Per-update records as arrays of shape (n_updates,); keys as in the class docstring plus
        ``energy_before`` / ``energy_after`` (mean chain energy under ``lambda_t`` / ``lambda_{t+1}``)."""
        if not self._rows:
            return {k: np.zeros(0) for k in self._FIELDS}
        cols = list(zip(*self._rows))
        out = {k: np.array(c, dtype=np.float64) for k, c in zip(self._FIELDS, cols)}
        out["epoch"] = out["epoch"].astype(np.int64)
        out["step"] = out["step"].astype(np.int64)
        return out

    def first_law_residual(self, chains=None, rbm: RBM | None = None) -> float:
        """PCD: ``max_c |E(s_c) - E_start,c - W_c - Q_c|`` with ``E(s_c)`` recomputed now (energy units).

        ``chains`` and ``rbm`` default to the chains and the model after the last
        update seen. For ``space='joint'`` the energy is recomputed by the
        sampler's own kernel (:meth:`rbmlib.sampling.Chains.energy`), for
        ``'visible'`` by :meth:`rbmlib.RBM.free_energy` -- code paths
        independent of the ledger's.
        """
        if self.method != "pcd" or self.energy_start is None:
            raise ValueError("first_law_residual needs a PCD ledger that has seen at least one update.")
        chains = self.last_chains if chains is None else chains
        rbm = self._last_rbm if rbm is None else rbm
        if self.space == "joint":
            c = chains.copy()
            c.set_model(rbm)
            e_now = c.energy()
        else:
            e_now = np.asarray(rbm.free_energy(chains.v, self.beta), np.float64)
        return float(np.max(np.abs(e_now - self.energy_start - self.work_per_chain - self.heat_per_chain)))
