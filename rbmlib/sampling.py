"""Block Gibbs sampling of many independent chains, reproducibly and fast.

Two levels:

* :func:`sample` -- draw ``n_chains`` states after ``n_sweeps`` block Gibbs sweeps.
* :class:`Chains` -- persistent chains for everything else: annealing schedules
  (``beta`` per sweep), replicas at different temperatures (``beta`` per chain),
  work protocols and persistent contrastive divergence (:meth:`Chains.set_model`),
  energies recorded along each chain without storing states, and the sweep order
  (``'hv'``, ``'vh'``, ``'h'``, ``'v'``).

Dynamics
--------
One sweep of order ``'hv'`` (the default) is ``h ~ p_beta(h | v)`` followed by
``v ~ p_beta(v | h)``, with the conditionals of :class:`rbmlib.RBM`
(``p(h_j = 1 | v) = sigmoid(beta (v.W + b)_j)``, ...). ``'vh'`` is the reverse
order, ``'h'`` and ``'v'`` are the half-updates alone; they are exactly the
kernels of :func:`rbmlib.exact.transition_matrix`.

Reproducibility
---------------
Chain ``c`` owns its own random stream, determined by ``(seed, chain_offset + c)``
only (xoshiro256** seeded by SplitMix64, see :mod:`rbmlib.kernels`). Results are
therefore bit-for-bit identical for any number of numba threads, and a run split
into shards (``Chains(..., chain_offset=o)`` holding chains ``o .. o+n-1``)
reproduces exactly the corresponding chains of the whole run. ``run(a)`` followed
by ``run(b)`` gives the same bits as ``run(a + b)``, and :meth:`Chains.copy`
continues exactly like the original. The arithmetic avoids fast-math, so the same
states come out on any x86-64 machine.

Each chain keeps its two fields between sweeps and updates them from the units
that flipped, recomputing them from scratch at every
:data:`rbmlib.kernels.REFRESH`-th update (see :mod:`rbmlib.kernels`). The
last bits of a field therefore depend on how many updates were made since the
last recomputation: a ``Chains`` rebuilt from saved ``v``, ``h`` and
``rng_state`` starts with a recomputation, so it continues bit for bit like the
original only from a point where the original recomputed too (right after
construction or :meth:`Chains.set_model`, or after a multiple of ``REFRESH``
sweeps); otherwise its states agree in distribution and, for a while, almost
everywhere. Restarting from saved states after :meth:`Chains.set_model` (as
training does every step) is always exact.

Precision
---------
Fields ``v.W + b`` and ``W.h + a`` are computed in the model's dtype. For a
float32 model the fields, the inverse temperature and the uniforms are float32
(31-bit uniforms in both tails of the Bernoulli draw). On the trained 784 x 500
MNIST model the float32 fields are within 2e-5 of the exact ones when recomputed
and within 9e-5 after the ``REFRESH - 1`` updates by flips (2e-6 of
``|b| + sum |W|``), so each conditional probability is realised to within ~2e-5
(the change of ``sigmoid`` is at most a quarter of the change of its argument),
far below any statistical error reachable by sampling. Use a float64 model
(``rbm.astype(np.float64)``) when fields must be exact to ~1e-15. Recorded
energies are accumulated in float64 from those fields.

Speed
-----
States are binary and sparse (13-25 % of units on in MNIST models), so a field
is a sum of a few rows of ``W`` (or of its transpose, both stored with 64-byte
aligned rows) rather than a dense product, and between recomputations only the
rows of the units that flipped (about half as many) are added or subtracted. The
sums run at the cache bandwidth of the machine; random numbers (four xoshiro256**
lanes per chain as one SIMD vector) and Bernoulli draws (a branch-free,
vectorised exp) cost about a quarter of a sweep. On the trained 784 x 500 model at
10,000 chains this is 3.5-3.8x faster than scikit-learn's ``BernoulliRBM.gibbs``
and 1.6-1.8x faster than the two dense sgemm products alone, per core
(``benchmarks/bench_sampler.py``, ``benchmarks/README.md``). Chains are processed
in parallel (numba ``prange``) in blocks of up to :data:`rbmlib.kernels.gibbs.PHASE_BLOCK` chains
that do each half-sweep together (the rows of one matrix stay in the L2 cache).

Memory: ``v``/``h`` take ``n_visible + n_hidden`` bytes per chain, the RNG state
128 bytes, and the kept fields with their states ``(n_visible + n_hidden)
(itemsize + 1)`` bytes (6.4 kB per chain for a float32 784 x 500 model);
``record_energy`` returns ``8 n_sweeps`` bytes per chain. For ensembles too large
for memory, run shards with ``chain_offset``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import kernels
from ._validation import check_beta, check_int, check_seed
from .model import RBM, check_rbm

__all__ = ["Chains", "CudaChains", "sample", "ORDERS", "BACKENDS", "check_backend", "cuda_backend"]

#: Valid sweep orders.
ORDERS = ("hv", "vh", "h", "v")
#: Valid backends: ``'cpu'`` (numba, the default) and ``'cuda'`` (numba-cuda on an NVIDIA GPU, the
#: same bits; optional extra ``pip install 'rbmlib[cuda]'``; :class:`CudaChains` on the kernels of
#: :mod:`rbmlib.kernels.cuda`).
BACKENDS = ("cpu", "cuda")


# ----------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------
def _check_states(x, name: str, n_chains: int, n_units: int, layer: str) -> np.ndarray:
    """Binary states -> uint8 array (n_chains, n_units) (a single state is broadcast)."""
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array of 0/1 states, got dtype=object.")
    if arr.ndim == 1:
        if arr.shape[0] != n_units:
            raise ValueError(
                f"{name} has {arr.shape[0]} units but the model has {n_units} {layer} units; "
                f"pass one state of shape ({n_units},) or one per chain, shape ({n_chains}, {n_units})."
            )
    elif arr.ndim == 2:
        if arr.shape != (n_chains, n_units):
            hint = " (is it transposed?)" if arr.shape == (n_units, n_chains) else ""
            raise ValueError(
                f"{name} must have shape ({n_units},) or (n_chains, {n_units}) = ({n_chains}, {n_units}), "
                f"got {arr.shape}{hint}."
            )
    else:
        raise ValueError(
            f"{name} must have shape ({n_units},) or ({n_chains}, {n_units}), got shape {arr.shape}."
        )
    if arr.dtype == np.bool_:
        out = arr.astype(np.uint8)
    elif arr.dtype == np.uint8:
        if arr.size and arr.max() > 1:
            raise ValueError(f"{name} must be binary (entries 0 or 1), found the value {int(arr.max())}.")
        out = arr
    else:
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf; states must be 0 or 1.")
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold numbers 0/1, got dtype {arr.dtype}.")
        bad = (arr != 0) & (arr != 1)
        if np.any(bad):
            vals = np.unique(arr[bad])[:5]
            raise ValueError(
                f"{name} must be binary (entries 0 or 1), found values such as {vals.tolist()}. "
                "For probabilities or grey-scale pixels, binarize first (e.g. x > 0.5, or a Bernoulli draw)."
            )
        out = arr.astype(np.uint8)
    # always a private C-contiguous copy: the chains overwrite it in place
    return np.array(np.broadcast_to(out, (n_chains, n_units)), dtype=np.uint8, order="C", copy=True)


def check_backend(backend) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else :class:`ValueError` (the check of every ``backend=``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} ('cuda': an NVIDIA GPU, the same results), got {backend!r}.")
    return backend


def cuda_backend():
    """:mod:`rbmlib.kernels.cuda`, after checking that numba-cuda is installed and a GPU (or its simulator)
    is usable: :class:`ImportError` / :class:`rbmlib.kernels.cuda.CudaUnavailableError` saying what to install
    otherwise. Imported on first use only, so ``import rbmlib`` needs no numba-cuda."""
    from .kernels import cuda  # ImportError saying what to install when numba-cuda is missing
    cuda.require_device()
    return cuda


def _kc():
    """:mod:`rbmlib.kernels.cuda` (already imported and checked by :func:`cuda_backend` when a CudaChains exists)."""
    from .kernels import cuda
    return cuda


def _check_order(order) -> int:
    if order not in kernels.ORDER_CODES:
        raise ValueError(
            f"order must be one of {ORDERS} ('hv' = h then v per sweep, 'vh' = v then h, "
            f"'h'/'v' = that half-update only), got {order!r}."
        )
    return kernels.ORDER_CODES[order]


def _model_arrays(rbm: RBM):
    """W (n_visible, >= n_hidden) and W.T (n_hidden, >= n_visible) with aligned rows, a, b."""
    W = np.asarray(rbm.W)
    return (kernels.aligned_rows(W), kernels.aligned_rows(W.T), np.ascontiguousarray(rbm.a),
            np.ascontiguousarray(rbm.b))


# ----------------------------------------------------------------------------
# persistent chains
# ----------------------------------------------------------------------------
class Chains:
    """A set of persistent block Gibbs chains, each with its own random stream.

    Parameters
    ----------
    rbm : RBM
        The model (float32 or float64; the sampler computes in its dtype).
    n_chains : int >= 1
        Number of independent chains.
    seed : int in [0, 2**64), default 0
        Together with the global chain index ``chain_offset + c`` it fixes the
        random stream of chain ``c``.
    v0 : array-like, shape (n_visible,) or (n_chains, n_visible), optional
        Initial visible states (0/1; a single state is copied to every chain).
        Default: every unit on with probability 1/2, from the chain's own stream.
    chain_offset : int >= 0, default 0
        Global index of the first chain, for sharding a large run:
        ``Chains(rbm, n, seed=s, chain_offset=o)`` reproduces chains ``o .. o+n-1``
        of ``Chains(rbm, N, seed=s)`` bit for bit (give it the matching rows of v0).
    h0 : array-like, shape (n_hidden,) or (n_chains, n_hidden), optional
        Initial hidden states. Default: every unit on with probability 1/2 (drawn
        after v). The default ``'hv'`` sweep overwrites ``h`` before using it.
    backend : {'cpu', 'cuda'}, default 'cpu'
        ``'cuda'``: states, streams and fields live on an NVIDIA GPU and the sweeps run
        there (:class:`CudaChains`), with the same states as the CPU
        bit for bit. Needs ``pip install 'rbmlib[cuda]'`` and the NVIDIA driver.

    Attributes
    ----------
    v : ndarray of uint8, shape (n_chains, n_visible)
    h : ndarray of uint8, shape (n_chains, n_hidden)
        Current states; they may be read or overwritten in place with 0/1 values.
    n_chains, seed, chain_offset : int
    rng_state : ndarray of uint64, shape (n_chains, 4 * kernels.N_LANES)
        The chains' generator states (copy it to checkpoint; see :meth:`copy`).

    Notes
    -----
    Subclass API (used by :class:`CudaChains`, which keeps the states on another device):
    :meth:`_set` (take a checked model's arrays), :meth:`_field_cache` (the kept fields and
    their update counters), :meth:`_check_live_states` (validate states written by the user
    before a run), :meth:`_run_kernel` (the sweeps, after :meth:`run`'s checks), and
    :meth:`copy` / :meth:`energy`. A subclass sets the class attribute ``backend``.
    """

    backend = "cpu"

    def __new__(cls, *args, backend: str = "cpu", **kwargs):
        if check_backend(backend) == "cuda" and cls.backend != "cuda":
            cuda_backend()
            return object.__new__(CudaChains)
        return object.__new__(cls)

    def __init__(self, rbm: RBM, n_chains: int, *, seed: int = 0, v0=None, chain_offset: int = 0, h0=None,
                 backend: str = "cpu"):
        self._set(check_rbm(rbm))
        self.n_chains = check_int(n_chains, "n_chains", 1)
        self.seed = check_seed(seed)
        self.chain_offset = check_int(chain_offset, "chain_offset", 0)
        if self.chain_offset + self.n_chains > 2 ** 60:
            raise ValueError("chain_offset + n_chains must be below 2**60.")
        nv, nh = rbm.n_visible, rbm.n_hidden
        v = None if v0 is None else _check_states(v0, "v0", self.n_chains, nv, "visible")
        h = None if h0 is None else _check_states(h0, "h0", self.n_chains, nh, "hidden")
        self.rng_state = kernels.seed_streams(np.uint64(self.seed), np.uint64(self.chain_offset), self.n_chains)
        self.v = np.empty((self.n_chains, nv), np.uint8) if v is None else v
        self.h = np.empty((self.n_chains, nh), np.uint8) if h is None else h
        if v is None or h is None:
            kernels.init_states(self.rng_state, self.v, self.h, v is None, h is None)

    def _set(self, rbm: RBM):
        """Take the (checked) model: its kernel arrays; the kept fields are recomputed at the next update."""
        self._rbm = rbm
        self._W, self._WT, self._a, self._b = _model_arrays(rbm)
        # The kept fields belong to the old parameters: zero update counts make the next update
        # of each field a recomputation (the arrays are reused when the dtype stays).
        if getattr(self, "_fields", None) is not None and self._fields["FH"].dtype == self._W.dtype:
            self._fields["n_upd_h"] = self._fields["n_upd_v"] = 0
        else:
            self._fields = None

    def _field_cache(self):
        """Per-chain fields and the states they belong to, with update counters (see kernels)."""
        if self._fields is None:
            n, nv, nh = self.n_chains, self._rbm.n_visible, self._rbm.n_hidden
            dt = self._W.dtype
            self._fields = {"FH": np.zeros((n, nh), dt), "FV": np.zeros((n, nv), dt),
                            "VS": np.zeros((n, nv), np.uint8), "HS": np.zeros((n, nh), np.uint8),
                            "n_upd_h": 0, "n_upd_v": 0}
        return self._fields

    # ------------------------------------------------------------------ basics
    @property
    def rbm(self) -> RBM:
        """The model the chains currently sample."""
        return self._rbm

    def __repr__(self) -> str:
        return (f"Chains(n_chains={self.n_chains}, rbm={self._rbm!r}, seed={self.seed}, "
                f"chain_offset={self.chain_offset})")

    def set_model(self, rbm: RBM) -> None:
        """Switch to new parameters, keeping the states and random streams.

        The new model must have the same layer sizes. Used by work protocols
        (the parameters change between sweeps) and persistent contrastive
        divergence. The dtype may change; float32 and float64 models consume
        the random streams differently, so the later states then differ from a
        run that kept the old dtype.
        """
        rbm = check_rbm(rbm)
        if (rbm.n_visible, rbm.n_hidden) != (self._rbm.n_visible, self._rbm.n_hidden):
            raise ValueError(
                f"set_model needs a model with the same layer sizes: the chains have "
                f"{self._rbm.n_visible} visible x {self._rbm.n_hidden} hidden units, the new model "
                f"{rbm.n_visible} x {rbm.n_hidden}. Start new Chains for a different architecture."
            )
        self._set(rbm)

    def copy(self) -> "Chains":
        """An independent copy: states, random streams and model (shared read-only)."""
        new = object.__new__(Chains)
        new.__dict__.update(self.__dict__)
        new.v = self.v.copy()
        new.h = self.h.copy()
        new.rng_state = self.rng_state.copy()
        if self._fields is not None:
            new._fields = {k: (x.copy() if isinstance(x, np.ndarray) else x) for k, x in self._fields.items()}
        return new

    def _check_live_states(self):
        """Validate ``v`` and ``h`` (the user may have overwritten them) before the kernels use them."""
        nv, nh = self._rbm.n_visible, self._rbm.n_hidden
        for name, x, n in (("v", self.v, nv), ("h", self.h, nh)):
            if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.shape == (self.n_chains, n)
                    and x.flags.c_contiguous):
                setattr(self, name, _check_states(x, f"Chains.{name}", self.n_chains, n,
                                                  "visible" if name == "v" else "hidden"))
        if self.v.max(initial=0) > 1 or self.h.max(initial=0) > 1:
            raise ValueError("Chains.v / Chains.h were overwritten with values other than 0 and 1.")

    # ---------------------------------------------------------------- dynamics
    def run(self, n_sweeps: int, *, beta=1.0, beta_chain=None, order: str = "hv",
            record_energy: bool = False):
        """Advance every chain by ``n_sweeps`` sweeps, in place.

        Parameters
        ----------
        n_sweeps : int >= 0
        beta : float > 0, or array of shape (n_sweeps,)
            Inverse temperature (per sweep for an annealing schedule).
        beta_chain : array of shape (n_chains,), optional
            Per-chain factor: chain ``c`` at sweep ``t`` uses
            ``beta[t] * beta_chain[c]``.
        order : {'hv', 'vh', 'h', 'v'}
            ``'hv'``: ``h ~ p(h|v)`` then ``v ~ p(v|h)``; ``'vh'``: the reverse;
            ``'h'`` / ``'v'``: only that half-update (one "sweep" = one half).
        record_energy : bool
            Also return the energy of every chain after every sweep.

        Returns
        -------
        None, or ndarray of float64, shape (n_chains, n_sweeps)
            ``E(v, h)`` (energy units, at the current model) after each sweep, if
            ``record_energy``; states are not stored.
        """
        n_sweeps = check_int(n_sweeps, "n_sweeps", 0)
        code = _check_order(order)
        if isinstance(beta, np.ndarray) and beta.ndim == 0:
            beta = beta.item()
        if isinstance(beta, numbers.Real) and not isinstance(beta, (bool, np.bool_)):
            betas = np.full(n_sweeps, check_beta(beta), dtype=np.float64)
        else:
            betas = np.ascontiguousarray(check_beta(beta, "beta", allow_array=True), dtype=np.float64)
            if betas.shape != (n_sweeps,):
                raise ValueError(
                    f"beta must be a positive number or an array of shape (n_sweeps,) = ({n_sweeps},) "
                    f"(one inverse temperature per sweep), got shape {betas.shape}."
                )
        if beta_chain is None:
            bc = np.ones(self.n_chains, dtype=np.float64)
        else:
            if isinstance(beta_chain, numbers.Real):
                raise TypeError(
                    "beta_chain must be an array of shape (n_chains,); for one inverse temperature "
                    "for all chains pass beta=... instead."
                )
            bc = np.ascontiguousarray(check_beta(beta_chain, "beta_chain", allow_array=True), dtype=np.float64)
            if bc.shape != (self.n_chains,):
                raise ValueError(
                    f"beta_chain must have shape (n_chains,) = ({self.n_chains},), got {bc.shape}."
                )
        if record_energy not in (True, False):
            raise TypeError(f"record_energy must be True or False, got {record_energy!r}.")
        if n_sweeps > 0:
            _check_beta_range(float(betas.max()) * float(bc.max()), self._W.dtype)
        self._check_live_states()
        E = np.empty((self.n_chains, n_sweeps) if record_energy else (1, 1), dtype=np.float64)
        if n_sweeps > 0:
            f = self._field_cache()
            self._run_kernel(f, betas, bc, code, E, bool(record_energy))
            f["n_upd_h"] += n_sweeps if order in ("hv", "vh", "h") else 0
            f["n_upd_v"] += n_sweeps if order in ("hv", "vh", "v") else 0
        return E if record_energy else None

    def _run_kernel(self, f, betas, bc, code, E, record):
        """Advance the chains by ``len(betas)`` sweeps (checked float64 ``betas`` and ``bc``, order
        code ``code``), energies into ``E`` when ``record``; :meth:`run` then advances the counters."""
        kernels.run_chains(self._W, self._WT, self._a, self._b, self.v, self.h, self.rng_state,
                           f["FH"], f["FV"], f["VS"], f["HS"], f["n_upd_h"], f["n_upd_v"],
                           betas, bc, code, E, record, kernels.phase_block(self.n_chains))

    def energy(self) -> np.ndarray:
        """``E(v, h)`` of every chain under the current model, float64 shape (n_chains,)."""
        self._check_live_states()
        return kernels.chain_energies(self._W, self._a, self._b, self.v, self.h)


def _check_beta_range(top: float, dtype) -> None:
    """The kernels multiply fields by ``beta`` in the model's dtype: beyond its largest number beta
    is inf there, and ``inf * 0`` is NaN (every draw silently 0). Refuse instead."""
    limit = float(np.finfo(dtype).max)
    if not top <= limit:
        fix = ("convert the model with rbm.astype(np.float64), which samples correctly up to beta ~1e308"
               if np.dtype(dtype) == np.float32 else "use a smaller inverse temperature")
        raise ValueError(
            f"beta = {top:.3g} (largest beta * beta_chain) exceeds the largest {np.dtype(dtype).name} number "
            f"({limit:.3g}) of this {np.dtype(dtype).name} model: beta * field would be inf or NaN. Any beta "
            f"above ~1e3 / |smallest nonzero field| is already the zero-temperature limit; {fix}.")


# ----------------------------------------------------------------------------
# one-call sampler
# ----------------------------------------------------------------------------
def sample(rbm: RBM, n_chains: int, n_sweeps: int, *, beta=1.0, seed: int = 0, v0=None,
           chain_offset: int = 0, backend: str = "cpu"):
    """Block Gibbs samples of ``n_chains`` independent chains.

    Each chain starts from ``v0`` (or a uniformly random visible state drawn from
    its own stream) and performs ``n_sweeps`` sweeps ``h ~ p_beta(h|v)``,
    ``v ~ p_beta(v|h)``.

    Parameters
    ----------
    rbm : RBM
    n_chains : int >= 1
    n_sweeps : int >= 0
        With ``n_sweeps = 0`` the returned ``v`` is the start state and ``h`` is
        drawn once from ``p_beta(h | v)`` (the first half of a sweep), so
        ``(v, h)`` is always a pair the dynamics produces.
    beta : float > 0 or array of shape (n_sweeps,)
        Inverse temperature (per sweep: an annealing schedule).
    seed : int, default 0
        Chain ``c`` uses the stream of ``(seed, chain_offset + c)``.
    v0 : array-like, shape (n_visible,) or (n_chains, n_visible), optional
        Start states (0/1).
    chain_offset : int, default 0
        Global index of the first chain (see :class:`Chains`).
    backend : {'cpu', 'cuda'}, default 'cpu'
        ``'cuda'``: on an NVIDIA GPU, in shards that fit in its memory (the same states bit
        for bit; see :class:`Chains`).

    Returns
    -------
    v : ndarray of uint8, shape (n_chains, n_visible)
    h : ndarray of uint8, shape (n_chains, n_hidden)
        The state after the last sweep.

    Examples
    --------
    >>> import rbmlib
    >>> rbm = rbmlib.RBM.random(6, 4, seed=1)
    >>> v, h = rbmlib.sample(rbm, n_chains=1000, n_sweeps=50, beta=1.0, seed=0)
    >>> v.shape, h.shape
    ((1000, 6), (1000, 4))
    """
    if check_backend(backend) == "cuda":
        cuda_backend()
        return _sample_cuda(rbm, n_chains, n_sweeps, beta=beta, seed=seed, v0=v0, chain_offset=chain_offset)
    chains = Chains(rbm, n_chains, seed=seed, v0=v0, chain_offset=chain_offset)
    return _sample_run(chains, n_sweeps, beta)


def _sample_run(chains: Chains, n_sweeps, beta):
    """The sweeps of :func:`sample` on new chains; returns (v, h)."""
    n_sweeps = check_int(n_sweeps, "n_sweeps", 0)
    if n_sweeps == 0:
        if not (isinstance(beta, numbers.Real) and not isinstance(beta, (bool, np.bool_))):
            raise ValueError("with n_sweeps=0, beta must be a single positive number.")
        chains.run(1, beta=beta, order="h")
    else:
        chains.run(n_sweeps, beta=beta, order="hv")
    return chains.v, chains.h


# ----------------------------------------------------------------------------
# Chains on the GPU (the kernels: rbmlib.kernels.cuda, imported on first use)
# ----------------------------------------------------------------------------
def _mirror(name):
    def get(self):
        return self._fetch(name)

    def put(self, value):
        self._host[name] = value
        self._on_host[name] = True

    return property(get, put, doc=f"``{name}`` of every chain (host copy of the device state; see CudaChains).")


class CudaChains(Chains):
    """:class:`Chains` whose states, streams and fields live on the GPU (:mod:`rbmlib.kernels.cuda`).

    Made by ``Chains(..., backend='cuda')``; same arguments, methods and results (bit for bit).
    ``v``, ``h`` and ``rng_state`` are host copies: reading one copies the device state to the host,
    and a copy that was read or assigned is copied back before the next :meth:`run` (so
    ``chains.v[...] = x`` and ``chains.v = x`` work as on the CPU). A reference kept across a
    ``run`` is a snapshot: read the attribute again for the new states.
    """

    backend = "cuda"
    v = _mirror("v")
    h = _mirror("h")
    rng_state = _mirror("rng_state")

    def __init__(self, rbm, n_chains, *, seed=0, v0=None, chain_offset=0, h0=None, backend="cuda"):
        kc = cuda_backend()
        self._host = {}
        self._on_host = {}
        self._dev = {}
        self._threads = None
        super().__init__(rbm, n_chains, seed=seed, v0=v0, chain_offset=chain_offset, h0=h0, backend=backend)
        nv, nh = self._rbm.n_visible, self._rbm.n_hidden
        kc.check_chains_fit(self.n_chains, nv, nh, self._W.dtype)
        try:
            for name in ("v", "h", "rng_state"):
                self._dev[name] = kc.device_array(self._host[name].shape, self._host[name].dtype)
            self._dev["beta_chain"] = kc.to_device(np.ones(self.n_chains))
            self._bc_host = np.ones(self.n_chains)
            self._field_cache()
        except Exception as e:
            if kc.is_out_of_memory(e):
                raise kc.too_many_chains(self.n_chains, nv, nh, self._W.dtype) from e
            raise

    # ------------------------------------------------------------- host copies
    def _fetch(self, name):
        if not self._on_host.get(name, False):
            d = self._dev[name]
            x = self._host.get(name)
            if not (isinstance(x, np.ndarray) and x.shape == d.shape and x.dtype == d.dtype
                    and x.flags.c_contiguous and x.flags.writeable):
                x = np.empty(d.shape, d.dtype)
            d.copy_to_host(x)
            self._host[name] = x
            self._on_host[name] = True
        return self._host[name]

    def _check_live_states(self):
        """Validate the host copies that were read or assigned, and copy them to the device."""
        nv, nh = self._rbm.n_visible, self._rbm.n_hidden
        for name, n, layer in (("v", nv, "visible"), ("h", nh, "hidden")):
            if self._on_host.get(name, False):
                x = self._host[name]
                if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.shape == (self.n_chains, n)
                        and x.flags.c_contiguous):
                    x = _check_states(x, f"Chains.{name}", self.n_chains, n, layer)
                if x.max(initial=0) > 1:
                    raise ValueError(f"Chains.{name} was overwritten with values other than 0 and 1.")
                self._dev[name].copy_to_device(x)
                self._host[name] = x
                self._on_host[name] = False
        if self._on_host.get("rng_state", False):
            x = self._host["rng_state"]
            shape = (self.n_chains, 4 * kernels.N_LANES)
            if not (isinstance(x, np.ndarray) and x.dtype == np.uint64 and x.shape == shape):
                raise ValueError(f"Chains.rng_state must be a uint64 array of shape {shape}.")
            self._dev["rng_state"].copy_to_device(np.ascontiguousarray(x))
            self._on_host["rng_state"] = False

    # ---------------------------------------------------------------- model
    def _set(self, rbm):
        super()._set(rbm)
        kc = _kc()
        self._dW, self._dWT = kc.to_device(self._W), kc.to_device(self._WT)
        self._da, self._db = kc.to_device(self._a), kc.to_device(self._b)
        self._d64 = None

    def energies_float64(self) -> np.ndarray:
        """``rbmlib.xft.energies(chains.rbm, chains.v, chains.h)`` computed on the GPU (the same bits),
        without copying the states to the host: float64 (n_chains,)."""
        kc = _kc()
        self._check_live_states()
        if self._d64 is None:
            W = np.asarray(self._rbm.W)
            self._d64 = (kc.to_device(np.ascontiguousarray(W.T, np.float64)),
                         kc.to_device(np.ascontiguousarray(self._rbm.a, np.float64)),
                         kc.to_device(np.ascontiguousarray(self._rbm.b, np.float64)))
        return kc.energies_f64(*self._d64, self._dev["v"], self._dev["h"], threads=self._threads).copy_to_host()

    def _field_cache(self):
        if self._fields is None:
            kc = _kc()
            n, nv, nh = self.n_chains, self._rbm.n_visible, self._rbm.n_hidden
            dt = self._W.dtype
            # no initial values needed: with zero update counts the next update of each field is a
            # recomputation, which also sets the kept state (VS / HS)
            self._fields = {"FH": kc.device_array((n, nh), dt), "FV": kc.device_array((n, nv), dt),
                            "VS": kc.device_array((n, nv), np.uint8), "HS": kc.device_array((n, nh), np.uint8),
                            "n_upd_h": 0, "n_upd_v": 0}
        return self._fields

    # ---------------------------------------------------------------- dynamics
    def _run_kernel(self, f, betas, bc, code, E, record):
        """Advance the chains on the GPU (called by :meth:`Chains.run` after its checks)."""
        kc = _kc()
        if not np.array_equal(bc, self._bc_host):
            self._dev["beta_chain"].copy_to_device(bc)
            self._bc_host = bc.copy()
        kc.run_sweeps(self._dW, self._dWT, self._da, self._db, self._dev["v"], self._dev["h"],
                      self._dev["rng_state"], f["FH"], f["FV"], f["VS"], f["HS"], f["n_upd_h"], f["n_upd_v"],
                      betas, self._dev["beta_chain"], code, E, record, threads=self._threads)

    def energy(self) -> np.ndarray:
        """``E(v, h)`` of every chain under the current model, float64 shape (n_chains,) (computed on the GPU)."""
        self._check_live_states()
        return _kc().chain_energies(self._dW, self._da, self._db, self._dev["v"], self._dev["h"],
                                    threads=self._threads).copy_to_host()

    def copy(self) -> "CudaChains":
        """An independent copy (device states, streams and fields copied on the device; model shared)."""
        kc = _kc()
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._host = {k: (x.copy() if isinstance(x, np.ndarray) else x) for k, x in self._host.items()}
        new._on_host = dict(self._on_host)
        try:
            new._dev = {k: kc.device_copy(x) for k, x in self._dev.items()}
            if self._fields is not None:
                new._fields = {k: (kc.device_copy(x) if hasattr(x, "copy_to_host") else x)
                               for k, x in self._fields.items()}
        except Exception as e:
            if kc.is_out_of_memory(e):
                raise kc.too_many_chains(2 * self.n_chains, self._rbm.n_visible, self._rbm.n_hidden,
                                         self._W.dtype) from e
            raise
        new._bc_host = self._bc_host.copy()
        return new

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + ", backend='cuda')"


def _sample_cuda(rbm, n_chains, n_sweeps, *, beta=1.0, seed=0, v0=None, chain_offset=0):
    """:func:`sample` on the GPU, in shards that fit in its memory (the same bits as one run)."""
    kc = cuda_backend()
    if not (isinstance(rbm, RBM) and isinstance(n_chains, numbers.Integral) and not isinstance(n_chains, bool)
            and n_chains >= 1):      # one Chains, which raises the sampler's own errors
        return _sample_run(CudaChains(rbm, n_chains, seed=seed, v0=v0, chain_offset=chain_offset), n_sweeps, beta)
    n_chains = int(n_chains)
    nv, nh = rbm.n_visible, rbm.n_hidden
    if v0 is not None:
        v0 = _check_states(v0, "v0", n_chains, nv, "visible")
    dtype = np.asarray(rbm.W).dtype
    shard = kc.shard_chains(nv, nh, dtype)
    if shard < 1:
        raise kc.too_many_chains(n_chains, nv, nh, dtype)
    if shard >= n_chains:
        chains = CudaChains(rbm, n_chains, seed=seed, v0=v0, chain_offset=chain_offset)
        return _sample_run(chains, n_sweeps, beta)
    V = np.empty((n_chains, nv), np.uint8)
    H = np.empty((n_chains, nh), np.uint8)
    for start in range(0, n_chains, shard):
        stop = min(n_chains, start + shard)
        chains = CudaChains(rbm, stop - start, seed=seed, v0=None if v0 is None else v0[start:stop],
                            chain_offset=chain_offset + start)
        V[start:stop], H[start:stop] = _sample_run(chains, n_sweeps, beta)
        del chains
    return V, H
