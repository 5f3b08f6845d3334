"""Input validation shared by every public entry point of :mod:`rbmlib`.

Errors raised here name the offending argument, what was found and how to fix it.
They are plain ``ValueError``/``TypeError`` so callers can catch them the usual way.
(Whether an object is an :class:`rbmlib.RBM` is checked by :func:`rbmlib.model.check_rbm`,
next to the class.)
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_beta",
    "check_binary",
    "check_finite",
    "check_dtype",
    "check_int",
    "check_seed",
    "IntegerTypeError",
    "one_line",
]

#: Seeds key the random streams as unsigned 64-bit integers: every seed of the library lies in [0, 2**64).
SEED_LIMIT = 2 ** 64

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in _FLOAT_DTYPES:
        raise TypeError(
            f"dtype must be float32 or float64, got {dt}. "
            "Pass dtype=np.float64 (default) or dtype=np.float32."
        )
    return dt


def check_beta(beta, name: str = "beta", *, allow_array: bool = False):
    """Validate an inverse temperature: finite and strictly positive.

    Returns a Python float, or a float64 array if ``allow_array`` and ``beta``
    is array-like.
    """
    if isinstance(beta, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive number, got a bool ({beta}).")
    if isinstance(beta, numbers.Real):
        value = float(beta)
        if not np.isfinite(value) or value <= 0.0:
            raise ValueError(
                f"{name} must be a finite number > 0 (inverse temperature), got {beta!r}. "
                "Use beta = 1/T with T > 0; beta -> 0 is the infinite-temperature limit "
                "and must be approached, not reached."
            )
        return value
    if not allow_array:
        raise TypeError(f"{name} must be a positive real number, got {type(beta).__name__}.")
    arr = np.asarray(beta, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; give at least one inverse temperature.")
    bad = ~np.isfinite(arr) | (arr <= 0.0)
    if np.any(bad):
        idx = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{name} must hold finite values > 0; entry {idx} is {arr.ravel()[idx]!r}. "
            "Every inverse temperature must be strictly positive."
        )
    return arr


def check_finite(x: np.ndarray, name: str) -> np.ndarray:
    """Raise if ``x`` holds NaN or inf, pointing at the first bad entry."""
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{name} contains a non-finite value ({x[tuple(bad)]!r} at index {tuple(int(i) for i in bad)}). "
            "RBM parameters must be finite: check the training run that produced them "
            "(a too-large learning rate is the usual cause) or reload a good checkpoint."
        )
    return x


def check_binary(x, name: str, n_units: int, dtype) -> tuple[np.ndarray, bool]:
    """Validate a batch of binary states.

    Parameters
    ----------
    x : array-like, shape (n_units,) or (n_samples, n_units)
        States with entries in {0, 1} (bool, integer or float).
    name : str
        Argument name used in error messages.
    n_units : int
        Required length of the last axis.
    dtype : numpy dtype
        Float dtype of the returned array.

    Returns
    -------
    x2 : ndarray, shape (n_samples, n_units), dtype ``dtype``
    was_1d : bool
        Whether the input was a single state (callers squeeze their output).
    """
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array of 0/1 states, got dtype=object.")
    was_1d = arr.ndim == 1
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape ({n_units},) or (n_samples, {n_units}), got shape {arr.shape}."
        )
    if arr.shape[-1] != n_units:
        raise ValueError(
            f"{name} has {arr.shape[-1]} units on its last axis but the model has {n_units}; "
            f"expected shape ({n_units},) or (n_samples, {n_units}), got {arr.shape}. "
            "(Is the batch transposed, or are visible and hidden states swapped?)"
        )
    if arr.dtype != np.bool_:
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf; states must be 0 or 1.")
        if not np.all((arr == 0) | (arr == 1)):
            vals = np.unique(arr[(arr != 0) & (arr != 1)])[:5]
            raise ValueError(
                f"{name} must be binary (entries 0 or 1), found values such as {vals.tolist()}. "
                "For probabilities or grey-scale pixels, binarize first "
                "(e.g. x > 0.5, or a Bernoulli draw)."
            )
    out = np.ascontiguousarray(arr, dtype=dtype)
    if was_1d:
        out = out[None, :]
    return out, was_1d


class IntegerTypeError(TypeError, ValueError):
    """A non-integer (a float, a bool, a string, ...) where an integer is required.

    Both a ``TypeError`` and a ``ValueError``, so callers that catch either (the command
    line catches both) report it the same way.
    """


def check_int(x, name: str, minimum: int = 0, *, allow_none: bool = False):
    """Validate an integer argument ``>= minimum`` and return it as a Python int.

    ``bool`` is refused (``True`` is not a count). With ``allow_none``, ``None`` passes
    through unchanged.
    """
    if x is None and allow_none:
        return None
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise IntegerTypeError(f"{name} must be an integer >= {minimum}, got {x!r} ({type(x).__name__}).")
    x = int(x)
    if x < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x}.")
    return x


def check_seed(seed, name: str = "seed") -> int:
    """Validate a seed: an integer in ``[0, 2**64)`` (the random streams key on it as uint64)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise IntegerTypeError(
            f"{name} must be an integer >= 0 and < 2**64, got {seed!r} ({type(seed).__name__}). "
            "Results are reproducible from the seed alone, so pass a plain int."
        )
    seed = int(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer >= 0 and < 2**64, got {seed}.")
    return seed


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace collapsed), or its type name if it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
