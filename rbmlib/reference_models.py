"""Reference MNIST models: fixed training recipes, committed weights, one loader (``rbmlib models`` on the command line).

Two reference models are trained on the 8,000-digit ``'train'`` split of the
embedded MNIST copy (:mod:`rbmlib.datasets`) by the recipes in :data:`RECIPES`:

``'mnist-784x500'``
    The size of Salazar's paper (784 visible, 500 hidden units).
``'mnist-784x20'``
    Small enough hidden layer for the exact partition function
    (:func:`rbmlib.exact.log_partition` enumerates ``2**20`` hidden states).

Both are committed as ``rbmlib/data/<name>.npz`` (float32, written by
:meth:`rbmlib.RBM.save`) with full provenance in ``rbm.metadata``: the recipe,
the data hash, seed, code version (git commit), training time, machine, and an
evaluation (held-out log-likelihood, mean hidden activity). :func:`load_reference`
returns the committed file; if it is absent (e.g. a stripped install) it looks
in the user cache (``rbmlib.datasets.data_dir() / "models"``) and otherwise
retrains the model from its recipe (minutes) and caches it. Training is
deterministic, so a retrained model has the same parameters as the committed one
when the code and the machine's floating-point behaviour are the same.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .model import RBM

__all__ = ["RECIPES", "load_reference", "reference_path", "cache_path", "train_recipe", "train_reference",
           "evaluate", "resolve_model"]

_COMMON = dict(dataset="embedded", split="train", method="pcd", k=1, batch_size=100, lr_schedule="linear",
               lr_end=0.0, weight_decay=1e-4, beta=1.0, n_persistent=100, seed=0, init_scale=0.01,
               dtype="float32")

#: Training recipes of the reference models (the defaults of ``rbmlib train --preset NAME``).
RECIPES = {
    "mnist-784x500": dict(_COMMON, n_hidden=500, epochs=40, learning_rate=0.02, momentum=0.5),
    "mnist-784x20": dict(_COMMON, n_hidden=20, epochs=40, learning_rate=0.1, momentum=0.5),
}


def reference_path(name: str) -> Path:
    """Path of the committed model file ``rbmlib/data/<name>.npz`` (it may be absent)."""
    _check_name(name)
    return Path(__file__).resolve().parent / "data" / f"{name}.npz"


def cache_path(name: str) -> Path:
    """Path of the user-cache copy ``<data_dir>/models/<name>.npz`` (it may be absent)."""
    from .datasets import data_dir

    return data_dir() / "models" / f"{name}.npz"


def _check_name(name):
    if name not in RECIPES:
        raise ValueError(f"Unknown reference model {name!r}; choose from {sorted(RECIPES)}.")


def train_recipe(recipe: dict, *, checkpoint=None, resume: bool = False, progress: bool = True,
                 threads=None, extra_metadata: dict | None = None) -> RBM:
    """Train a model from a recipe dict (keys as in :data:`RECIPES`).

    Returns the model with ``metadata['recipe']`` (the recipe), ``metadata['data']``
    (dataset, split, size, SHA-256) and ``metadata['training']`` (see
    :func:`rbmlib.training.train`).
    """
    from . import training
    from .datasets import dataset_hash, load_mnist

    r = dict(recipe)
    X = load_mnist(r["dataset"], r["split"], progress=progress)
    if r["lr_schedule"] == "linear":
        lr = training.linear_schedule(r["learning_rate"], r["epochs"], r.get("lr_end", 0.0))
    elif r["lr_schedule"] == "constant":
        lr = r["learning_rate"]
    else:
        raise ValueError(f"lr_schedule must be 'linear' or 'constant', got {r['lr_schedule']!r}.")
    meta = {"recipe": r, "data": {"dataset": r["dataset"], "split": r["split"], "n": int(X.shape[0]),
                                  "sha256": dataset_hash(X)}}
    if extra_metadata:
        meta.update(extra_metadata)
    return training.train(
        (X.shape[1], int(r["n_hidden"])), X, method=r["method"], k=int(r["k"]), epochs=int(r["epochs"]),
        batch_size=int(r["batch_size"]), learning_rate=lr, momentum=r["momentum"],
        weight_decay=r["weight_decay"], beta=r["beta"],
        n_persistent=r["n_persistent"] if r["method"] == "pcd" else None, seed=int(r["seed"]),
        init_scale=r["init_scale"], checkpoint=checkpoint, resume=resume, progress=progress,
        dtype=np.dtype(r["dtype"]), threads=threads, metadata=meta)


def train_reference(name: str, out=None, *, checkpoint=None, resume: bool = False, progress: bool = True,
                    evaluate_model: bool = True) -> RBM:
    """Train the reference model ``name`` from its recipe and save it (atomically) to ``out``.

    ``out`` defaults to the user cache (where :func:`load_reference` looks when
    the committed file is absent). With ``evaluate_model`` the held-out
    log-likelihood and hidden activity are added to the metadata (exact within
    :func:`rbmlib.exact.log_partition`'s default limit, a rough AIS estimate otherwise).
    """
    _check_name(name)
    rbm = train_recipe(RECIPES[name], checkpoint=checkpoint, resume=resume, progress=progress,
                       extra_metadata={"reference": name})
    if evaluate_model:
        rbm.metadata["evaluation"] = evaluate(rbm, progress=progress)
    out = cache_path(name) if out is None else Path(out)
    rbm.save(out)
    return rbm


def load_reference(name: str, *, train_if_missing: bool = True, progress: bool = True) -> RBM:
    """Load a reference model by name (see :data:`RECIPES`).

    Looks for the committed file (:func:`reference_path`), then the user cache;
    if neither exists and ``train_if_missing``, trains it from its recipe
    (a few minutes on 2 cores) and caches it.

    Raises
    ------
    ValueError
        Unknown name, or the file on disk was trained with a recipe other than
        the current one (stale file): regenerate it with
        ``rbmlib models train NAME``.
    FileNotFoundError
        Not found and ``train_if_missing=False``.
    """
    _check_name(name)
    for path in (reference_path(name), cache_path(name)):
        if path.exists():
            rbm = RBM.load(path)
            if rbm.metadata.get("recipe") != RECIPES[name]:
                raise ValueError(
                    f"{path} was trained with a different recipe than the current RECIPES[{name!r}]; "
                    f"regenerate it with `rbmlib models train {name} --out {path}` (or delete it).")
            return rbm
    if not train_if_missing:
        raise FileNotFoundError(
            f"Reference model {name!r} is neither in {reference_path(name)} nor in {cache_path(name)}; "
            f"train it with `rbmlib models train {name}` or load_reference({name!r}, train_if_missing=True).")
    print(f"rbmlib: reference model {name!r} not found; training it from its recipe (minutes) ...",
          file=sys.stderr)
    return train_reference(name, progress=progress)


# ----------------------------------------------------------------------------- evaluation
def evaluate(rbm: RBM, *, dataset: str = "embedded", split: str = "heldout", ais_runs: int = 32,
             ais_steps: int = 10000, seed: int = 0, progress: bool = False) -> dict:
    """Held-out log-likelihood (nats per digit) and mean hidden activity of a model.

    ``log p(v) = -F(v) - log Z`` averaged over the ``dataset``/``split`` digits.
    ``log Z`` is exact (:func:`rbmlib.exact.log_partition`) when the smaller layer
    is within its default limit (21 units for 784 visible units); otherwise it is a rough forward-AIS estimate
    (:func:`rbmlib.ais.log_partition`: ``ais_runs`` runs, ``ais_steps`` steps of
    the Salakhutdinov-Murray schedule shape, base-rate base model from the
    embedded training split). AIS estimates of ``log Z`` are biased low, so the
    AIS log-likelihood is biased high; use :mod:`rbmlib.ais` for the careful
    paper-scale estimate. Returns a JSON-able dict.
    """
    from . import exact
    from .datasets import load_mnist

    X = load_mnist(dataset, split, progress=progress)
    rbm64 = rbm.astype(np.float64)
    out = {"data": f"{dataset}/{split}", "n": int(X.shape[0]),
           "mean_hidden_activity": round(float(rbm64.p_h_given_v(X).mean()), 4)}
    free = -np.asarray(rbm64.free_energy(X), dtype=np.float64)
    t = time.perf_counter()
    try:
        log_z = exact.log_partition(rbm64)   # the default limit: about a minute on 2 cores
    except exact.EnumerationTooLarge:
        log_z = None
    if log_z is not None:
        out.update(log_z=round(log_z, 4), log_z_method="exact enumeration",
                   log_likelihood=round(float(free.mean() - log_z), 3))
    else:
        from . import ais

        res = ais.log_partition(rbm64, n_runs=ais_runs, schedule=ais_steps, base=load_mnist("embedded", "train"),
                                seed=seed)
        out.update(log_z=round(res.log_z, 2), log_z_stderr=round(res.log_z_std, 2),
                   log_z_method=(f"forward AIS (rbmlib.ais), {ais_runs} runs x {ais_steps} steps, base-rate base, "
                                 f"seed {seed}: rough, biased low"),
                   log_likelihood=round(float(free.mean() - res.log_z), 2))
    out["log_z_seconds"] = round(time.perf_counter() - t, 1)
    return out


# ----------------------------------------------------------------------------- models named on a command line
def resolve_model(spec, *, train_if_missing: bool = True) -> RBM:
    """A model from a command-line ``--model`` value: a reference name (:data:`RECIPES`) or an ``.npz`` file.

    Raises ``FileNotFoundError`` naming the file, or listing the reference names when
    ``spec`` is neither a reference model nor an existing file.
    """
    spec = str(spec)
    if spec in RECIPES:
        return load_reference(spec, train_if_missing=train_if_missing)
    path = Path(spec)
    if path.is_file():
        return RBM.load(path)
    if path.suffix == ".npz" or path.parent != Path(".") or path.exists():
        raise FileNotFoundError(f"No model file at {path} (a model is an .npz file written by RBM.save, or a "
                                f"reference name: {', '.join(sorted(RECIPES))}).")
    raise FileNotFoundError(f"{spec!r} is neither a reference model ({', '.join(sorted(RECIPES))}) nor an "
                            "existing model file; check the spelling or give the path of an .npz model.")
