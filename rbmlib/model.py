"""The restricted Boltzmann machine: parameters, energy, free energy, conditionals.

Conventions (used throughout the library and the book)
-----------------------------------------------------
* ``W`` has shape ``(n_visible, n_hidden)``; ``a`` (``n_visible``) are the visible
  biases and ``b`` (``n_hidden``) the hidden biases.
* Energy  ``E(v, h) = -v.W.h - a.v - b.h`` (dimensionless "energy units").
* Boltzmann distribution at inverse temperature ``beta``:
  ``p_beta(v, h) = exp(-beta E(v, h)) / Z(beta)``.
* Visible free energy ``F_beta(v) = -(1/beta) log sum_h exp(-beta E(v, h))``, so that
  ``p_beta(v) = exp(-beta F_beta(v)) / Z(beta)``; in closed form
  ``F_beta(v) = -a.v - (1/beta) sum_j log(1 + exp(beta (v.W + b)_j))``.
* Conditionals factorise:
  ``p(h_j = 1 | v) = sigmoid(beta ((v.W)_j + b_j))``,
  ``p(v_i = 1 | h) = sigmoid(beta ((W.h)_i + a_i))``.

All methods take single states (1-D) or batches (2-D, one state per row) and
return one value (or row) per state.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import numbers
from pathlib import Path

import numpy as np

from ._io import atomic_savez
from ._validation import check_beta, check_binary, check_dtype, check_finite, check_int, check_seed

__all__ = ["RBM", "check_rbm", "sigmoid", "softplus"]

_FORMAT = "rbmlib.RBM"
_FORMAT_VERSION = 1


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, overflow-free for any finite ``x``."""
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.result_type(x, np.float32))
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def softplus(x):
    """``log(1 + exp(x))`` computed without overflow."""
    return np.logaddexp(0.0, x)


class RBM:
    """A binary-binary restricted Boltzmann machine.

    Parameters
    ----------
    W : array-like, shape (n_visible, n_hidden)
        Couplings between visible unit ``i`` and hidden unit ``j``.
    a : array-like, shape (n_visible,)
        Visible biases.
    b : array-like, shape (n_hidden,)
        Hidden biases.
    dtype : {numpy.float64, numpy.float32}, default float64
        Floating type of the parameters and of all computed quantities.
    metadata : dict, optional
        JSON-serialisable description of how the model was made (data, seed,
        hyper-parameters, ...). Saved with :meth:`save`.

    Raises
    ------
    ValueError
        If shapes disagree or a parameter holds NaN/inf.
    """

    def __init__(self, W, a, b, *, dtype=np.float64, metadata: dict | None = None):
        dt = check_dtype(dtype)
        for x, name in ((W, "W"), (a, "a"), (b, "b")):
            if np.iscomplexobj(x):
                raise TypeError(f"{name} is complex (dtype {np.asarray(x).dtype}); RBM parameters must be real. "
                                f"Pass np.real({name}) if the imaginary part is meant to be dropped.")
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict (JSON-serialisable), got {type(metadata).__name__}.")
        W = np.array(W, dtype=dt, copy=True)
        a = np.array(a, dtype=dt, copy=True)
        b = np.array(b, dtype=dt, copy=True)
        if W.ndim != 2:
            raise ValueError(f"W must be 2-D with shape (n_visible, n_hidden), got shape {W.shape}.")
        n_v, n_h = W.shape
        if n_v == 0 or n_h == 0:
            raise ValueError(f"W has shape {W.shape}; an RBM needs at least one visible and one hidden unit.")
        if a.shape != (n_v,):
            raise ValueError(
                f"a (visible biases) must have shape ({n_v},) to match W of shape {W.shape}, got {a.shape}."
                + (" Did you swap a and b?" if a.shape == (n_h,) else "")
            )
        if b.shape != (n_h,):
            raise ValueError(
                f"b (hidden biases) must have shape ({n_h},) to match W of shape {W.shape}, got {b.shape}."
                + (" Did you swap a and b?" if b.shape == (n_v,) else "")
            )
        for arr, name in ((W, "W"), (a, "a"), (b, "b")):
            check_finite(arr, name)
            arr.setflags(write=False)
        self._W, self._a, self._b = W, a, b
        self.metadata = dict(metadata or {})
        try:
            json.dumps(self.metadata)
        except TypeError as exc:
            raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None

    # ------------------------------------------------------------------ basics
    @property
    def W(self) -> np.ndarray:
        """Couplings, shape (n_visible, n_hidden), read-only."""
        return self._W

    @property
    def a(self) -> np.ndarray:
        """Visible biases, shape (n_visible,), read-only."""
        return self._a

    @property
    def b(self) -> np.ndarray:
        """Hidden biases, shape (n_hidden,), read-only."""
        return self._b

    @property
    def n_visible(self) -> int:
        return self._W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self._W.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self._W.dtype

    def __repr__(self) -> str:
        return f"RBM(n_visible={self.n_visible}, n_hidden={self.n_hidden}, dtype={self.dtype.name})"

    @classmethod
    def random(cls, n_visible: int, n_hidden: int, *, scale: float = 1.0, bias_scale: float | None = None,
               seed: int = 0, dtype=np.float64) -> "RBM":
        """A model with i.i.d. normal parameters (for tests and tiny examples).

        ``W ~ N(0, scale^2)``, ``a, b ~ N(0, bias_scale^2)`` with ``bias_scale``
        defaulting to ``scale``. Deterministic for a given ``seed``.
        """
        n_visible, n_hidden = check_int(n_visible, "n_visible", 1), check_int(n_hidden, "n_hidden", 1)
        bias_scale = scale if bias_scale is None else bias_scale
        for name, x in (("scale", scale), ("bias_scale", bias_scale)):
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real) or not (np.isfinite(x) and x >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {x!r}.")
        seed = check_seed(seed)
        rng = np.random.default_rng(seed)
        W = scale * rng.standard_normal((n_visible, n_hidden))
        a = bias_scale * rng.standard_normal(n_visible)
        b = bias_scale * rng.standard_normal(n_hidden)
        meta = {"made_by": "RBM.random", "scale": scale, "bias_scale": bias_scale, "seed": seed}
        return cls(W, a, b, dtype=dtype, metadata=meta)

    def astype(self, dtype) -> "RBM":
        """Copy of the model with parameters in ``dtype`` (float32 or float64)."""
        return RBM(self._W, self._a, self._b, dtype=dtype, metadata=self.metadata)

    def copy(self) -> "RBM":
        return RBM(self._W, self._a, self._b, dtype=self.dtype, metadata=self.metadata)

    def scaled(self, beta: float) -> "RBM":
        """The model with all parameters multiplied by ``beta``.

        ``p_beta`` of this model equals ``p_1`` of the scaled one: temperature
        is a rescaling of the energy.
        """
        beta = check_beta(beta)
        return RBM(beta * self._W, beta * self._a, beta * self._b, dtype=self.dtype, metadata=self.metadata)

    def perturbed(self, relative: float, *, seed: int = 0) -> "RBM":
        """The model with every parameter multiplied by ``1 + relative * z``, ``z ~ N(0, 1)`` i.i.d.

        A probe of round-off sensitivity: with ``relative`` of a few units of the
        last place (``1e-15`` in float64), a computation whose result moves by
        more than round-off is unstable (chaotic) and its printed value would
        depend on the machine's arithmetic. Deterministic for a given ``seed``.
        """
        relative = float(relative)
        if not (np.isfinite(relative) and relative >= 0):
            raise ValueError(f"relative must be a finite number >= 0, got {relative!r}.")
        rng = np.random.default_rng(seed)
        W, a, b = (x * (1.0 + relative * rng.standard_normal(x.shape)) for x in (self._W, self._a, self._b))
        return RBM(W, a, b, dtype=self.dtype, metadata=self.metadata)

    def transpose(self) -> "RBM":
        """The same model with the roles of the layers swapped (``W -> W.T``, ``a <-> b``)."""
        return RBM(self._W.T, self._b, self._a, dtype=self.dtype, metadata=self.metadata)

    def fingerprint(self) -> str:
        """SHA-256 of the parameters (shape, dtype and bytes): identifies a model in result files."""
        h = hashlib.sha256()
        for arr in (self._W, self._a, self._b):
            h.update(str(arr.shape).encode())
            h.update(arr.dtype.str.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def __eq__(self, other) -> bool:
        if not isinstance(other, RBM):
            return NotImplemented
        return (self.dtype == other.dtype and self._W.shape == other._W.shape
                and np.array_equal(self._W, other._W) and np.array_equal(self._a, other._a)
                and np.array_equal(self._b, other._b))

    __hash__ = None  # mutable metadata; compare with ==, identify with fingerprint()

    # ------------------------------------------------------------- validation
    def _v(self, v, name="v"):
        return check_binary(v, name, self.n_visible, self.dtype)

    def _h(self, h, name="h"):
        return check_binary(h, name, self.n_hidden, self.dtype)

    @staticmethod
    def _out(x, was_1d):
        return x[0] if was_1d else x

    # ---------------------------------------------------------------- physics
    def hidden_field(self, v) -> np.ndarray:
        """Local fields on the hidden units, ``v.W + b``; shape (n_samples, n_hidden) or (n_hidden,)."""
        v2, one = self._v(v)
        return self._out(v2 @ self._W + self._b, one)

    def visible_field(self, h) -> np.ndarray:
        """Local fields on the visible units, ``W.h + a``; shape (n_samples, n_visible) or (n_visible,)."""
        h2, one = self._h(h)
        return self._out(h2 @ self._W.T + self._a, one)

    def energy(self, v, h) -> np.ndarray:
        """Energy ``E(v, h) = -v.W.h - a.v - b.h``.

        Parameters
        ----------
        v : array-like, shape (n_visible,) or (n_samples, n_visible)
        h : array-like, shape (n_hidden,) or (n_samples, n_hidden)
            Binary states; batches must have the same number of rows (a single
            state is broadcast against a batch).

        Returns
        -------
        E : float or ndarray, shape (n_samples,)
        """
        v2, one_v = self._v(v)
        h2, one_h = self._h(h)
        if v2.shape[0] != h2.shape[0] and 1 not in (v2.shape[0], h2.shape[0]):
            raise ValueError(
                f"v and h batches differ in length ({v2.shape[0]} vs {h2.shape[0]}); "
                "pass one (v, h) pair per row."
            )
        e = -np.sum((v2 @ self._W) * h2, axis=1) - v2 @ self._a - h2 @ self._b
        return e[0] if (one_v and one_h) else e

    def free_energy(self, v, beta: float = 1.0) -> np.ndarray:
        """Visible free energy ``F_beta(v) = -(1/beta) log sum_h exp(-beta E(v, h))``.

        Parameters
        ----------
        v : array-like, shape (n_visible,) or (n_samples, n_visible)
        beta : float > 0
            Inverse temperature.

        Returns
        -------
        F : float or ndarray, shape (n_samples,)
            In energy units; ``p_beta(v) = exp(-beta F) / Z(beta)``.
        """
        beta = check_beta(beta)
        v2, one = self._v(v)
        field = v2 @ self._W + self._b
        with np.errstate(over="ignore", invalid="ignore"):
            f = -(v2 @ self._a) - softplus(beta * field).sum(axis=1) / beta
        return self._out(self._finite_free_energy(f, v2, self._a, field, beta), one)

    def hidden_free_energy(self, h, beta: float = 1.0) -> np.ndarray:
        """Hidden free energy ``F_beta(h) = -(1/beta) log sum_v exp(-beta E(v, h))``.

        Same conventions as :meth:`free_energy`, with the layers swapped.
        """
        beta = check_beta(beta)
        h2, one = self._h(h)
        field = h2 @ self._W.T + self._a
        with np.errstate(over="ignore", invalid="ignore"):
            f = -(h2 @ self._b) - softplus(beta * field).sum(axis=1) / beta
        return self._out(self._finite_free_energy(f, h2, self._b, field, beta), one)

    def _finite_free_energy(self, f, x2, bias, field, beta):
        """Replace the entries of ``f`` that overflowed (huge ``beta * field``) by the same free energy
        in a form that cannot overflow, ``-bias.x - sum_j [max(field_j, 0) + softplus(-beta |field_j|) / beta]``
        in float64; raise if even that is not finite. Finite entries are returned unchanged."""
        bad = ~np.isfinite(f)
        if not bad.any():
            return f
        x = np.asarray(field[bad], np.float64)
        with np.errstate(over="ignore"):
            tail = np.logaddexp(0.0, -beta * np.abs(x)) / beta
        g = -(np.asarray(x2[bad], np.float64) @ np.asarray(bias, np.float64)) - (np.maximum(x, 0.0) + tail).sum(axis=1)
        with np.errstate(over="ignore"):
            g = g.astype(f.dtype)
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(f"the free energy overflows {f.dtype} (|field| sums beyond its range) at "
                                     f"beta = {beta:.6g}; rescale the parameters.")
        f = f.copy()
        f[bad] = g
        return f

    def _probabilities(self, field, beta):
        """``sigmoid(beta * field)``; entries where ``beta`` overflows the model's dtype (``inf * 0``) are
        recomputed in float64 (finite entries are unchanged)."""
        with np.errstate(over="ignore", invalid="ignore"):
            p = sigmoid(beta * field)
        bad = np.isnan(p)
        if bad.any():
            p = p.copy()
            p[bad] = sigmoid(beta * np.asarray(field[bad], np.float64)).astype(p.dtype)
        return p

    def p_h_given_v(self, v, beta: float = 1.0) -> np.ndarray:
        """``p(h_j = 1 | v) = sigmoid(beta (v.W + b)_j)``; shape (n_samples, n_hidden) or (n_hidden,)."""
        beta = check_beta(beta)
        v2, one = self._v(v)
        return self._out(self._probabilities(v2 @ self._W + self._b, beta), one)

    def p_v_given_h(self, h, beta: float = 1.0) -> np.ndarray:
        """``p(v_i = 1 | h) = sigmoid(beta (W.h + a)_i)``; shape (n_samples, n_visible) or (n_visible,)."""
        beta = check_beta(beta)
        h2, one = self._h(h)
        return self._out(self._probabilities(h2 @ self._W.T + self._a, beta), one)

    # ----------------------------------------------------------------- I/O
    def save(self, path, **metadata) -> Path:
        """Write the model to a single ``.npz`` file, atomically.

        The file holds ``W``, ``a``, ``b`` and a JSON metadata record (format,
        shapes, dtype, parameter fingerprint, creation time, plus
        ``self.metadata`` updated with ``metadata``). No pickled objects are
        written, and :meth:`load` never unpickles. The file is written to a
        temporary name in the same folder and renamed, so an interrupted save
        never leaves a half-written model behind.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        meta = dict(self.metadata)
        meta.update(metadata)
        record = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "dtype": self.dtype.name,
            "fingerprint": self.fingerprint(),
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "metadata": meta,
        }
        try:
            text = json.dumps(record, sort_keys=True)
        except TypeError as exc:
            raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
        return atomic_savez(path, W=self._W, a=self._a, b=self._b, meta=np.array(text))

    @classmethod
    def load(cls, path) -> "RBM":
        """Read a model written by :meth:`save` (never executes code from the file).

        Raises
        ------
        FileNotFoundError, ValueError
            If the file is missing, not an rbmlib model, corrupted (fingerprint
            mismatch) or truncated.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No model file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"W", "a", "b", "meta"} - set(z.files)
                if missing:
                    raise ValueError(
                        f"{path} is not an rbmlib model file: missing arrays {sorted(missing)}. "
                        "Save models with RBM.save()."
                    )
                W, a, b = z["W"], z["a"], z["b"]
                text = str(z["meta"])
        except ValueError:
            raise
        except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, ...
            raise ValueError(
                f"Could not read model file {path} ({type(exc).__name__}: {exc}). The file is "
                "truncated or corrupted: re-create it (e.g. retrain or re-download)."
            ) from None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path} is not a valid rbmlib model file: its metadata record is not JSON "
                             f"({exc}). Re-create the file with RBM.save().") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path} is not a valid rbmlib model file: its metadata record is a "
                             f"{type(record).__name__}, not a JSON object. Re-create the file with RBM.save().")
        if record.get("format") != _FORMAT:
            raise ValueError(f"{path} is not an rbmlib model file (format={record.get('format')!r}).")
        meta = record.get("metadata", {})
        if not isinstance(meta, dict):
            raise ValueError(f"{path}: the model's 'metadata' is a {type(meta).__name__}, not a JSON object; "
                             "the file is damaged or was not written by RBM.save(). Re-create it.")
        if not isinstance(record.get("dtype"), str):
            raise ValueError(f"{path} is not a valid rbmlib model file: no 'dtype' in its metadata record.")
        try:
            model = cls(W, a, b, dtype=record["dtype"], metadata=meta)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path} holds an invalid model: {' '.join(str(exc).split())}") from None
        if model.fingerprint() != record.get("fingerprint"):
            raise ValueError(
                f"{path}: parameter fingerprint does not match the one recorded at save time; "
                "the file is corrupted. Re-create it."
            )
        return model


def check_rbm(rbm, name: str = "rbm") -> RBM:
    """Return ``rbm`` if it is an :class:`RBM`, else raise a ``TypeError`` saying how to build one."""
    if not isinstance(rbm, RBM):
        raise TypeError(f"{name} must be an rbmlib.RBM, got {type(rbm).__name__}. Build one with rbmlib.RBM(W, a, b).")
    return rbm
