"""``rbmlib models {list,show,train,evaluate,samples}``: the reference models (:mod:`rbmlib.reference_models`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._io import atomic_write, check_output
from ..reference_models import RECIPES, cache_path, evaluate, reference_path, resolve_model, train_reference
from .common import CLIError

__all__ = ["add_cli"]


def add_cli(subparsers) -> None:
    """Add ``rbmlib models {list,show,train,evaluate,samples}``."""
    p = subparsers.add_parser("models", help="reference MNIST models: list, show, train, evaluate, sample",
                              description="The reference models trained on the embedded MNIST copy "
                                          f"({', '.join(sorted(RECIPES))}).")
    sub = p.add_subparsers(dest="models_command", required=True, metavar="{list,show,train,evaluate,samples}")
    sub.add_parser("list", help="names, recipes and where each model is").set_defaults(func=_cmd_list)
    s = sub.add_parser("show", help="print the metadata (provenance) of a model as JSON")
    s.add_argument("name", help="reference name or path of an .npz model")
    s.set_defaults(func=_cmd_show)
    t = sub.add_parser("train", help="train a reference model from its recipe and save it")
    t.add_argument("name", choices=sorted(RECIPES))
    t.add_argument("--out", default=None, help="output .npz (default: the user cache, replaced if present)")
    t.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    t.add_argument("--checkpoint", default=None)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--no-evaluate", action="store_true", help="skip the held-out log-likelihood")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)
    e = sub.add_parser("evaluate", help="held-out log-likelihood and hidden activity of a model")
    e.add_argument("name", help="reference name or path of an .npz model")
    e.add_argument("--ais-runs", type=int, default=32)
    e.add_argument("--ais-steps", type=int, default=10000)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=_cmd_evaluate)
    g = sub.add_parser("samples", help="save a PNG of equilibrium samples (Gibbs chains from noise)")
    g.add_argument("name", help="reference name or path of an .npz model")
    g.add_argument("--out", required=True, help="PNG file")
    g.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    g.add_argument("-n", type=int, default=100)
    g.add_argument("--sweeps", type=int, default=1000)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_cmd_samples)


def _get(name_or_path):
    return resolve_model(name_or_path, train_if_missing=False)


def _cmd_list(args):
    for name, recipe in RECIPES.items():
        where = [str(p) for p in (reference_path(name), cache_path(name)) if p.exists()]
        print(f"{name}: {', '.join(where) if where else 'not present (rbmlib models train ' + name + ')'}")
        print("    " + json.dumps(recipe, sort_keys=True))


def _cmd_show(args):
    rbm = _get(args.name)
    print(json.dumps({"shape": [rbm.n_visible, rbm.n_hidden], "dtype": rbm.dtype.name,
                      "fingerprint": rbm.fingerprint(), "metadata": rbm.metadata}, indent=2, sort_keys=True))


def _cmd_train(args):
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix != ".npz":
        raise CLIError(f"--out must end in .npz (got {out}).")
    if out is None:
        check_output(cache_path(args.name), overwrite=True, what="model cache file")
    else:
        check_output(out, overwrite=args.force, what="--out file", hint="pass --force to overwrite it")
    rbm = train_reference(args.name, out, checkpoint=args.checkpoint, resume=args.resume,
                          progress=not args.no_progress, evaluate_model=not args.no_evaluate)
    print(f"saved {out or cache_path(args.name)} (fingerprint {rbm.fingerprint()[:16]})")
    if "evaluation" in rbm.metadata:
        print(json.dumps(rbm.metadata["evaluation"], sort_keys=True))


def _cmd_evaluate(args):
    print(json.dumps(evaluate(_get(args.name), ais_runs=args.ais_runs, ais_steps=args.ais_steps,
                              seed=args.seed), indent=2, sort_keys=True))


def _cmd_samples(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..sampling import sample

    rbm = _get(args.name)
    check_output(args.out, overwrite=args.force, what="--out file", hint="pass --force to overwrite it")
    v, _ = sample(rbm, args.n, args.sweeps, seed=args.seed)      # Gibbs chains from uniform noise
    cols = int(np.ceil(np.sqrt(args.n)))
    rows = int(np.ceil(args.n / cols))
    canvas = np.ones((rows * 29 + 1, cols * 29 + 1))
    for k in range(args.n):
        r, c = divmod(k, cols)
        canvas[1 + r * 29: 1 + r * 29 + 28, 1 + c * 29: 1 + c * 29 + 28] = 1 - v[k].reshape(28, 28)
    fig, ax = plt.subplots(figsize=(cols * 0.5, rows * 0.5), dpi=100)
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{args.name}: {args.sweeps} Gibbs sweeps from noise", fontsize=8)
    out = Path(args.out)
    try:
        atomic_write(out, lambda fh: fig.savefig(fh, format="png", bbox_inches="tight"))
    finally:
        plt.close(fig)
    print(f"saved {out}")
