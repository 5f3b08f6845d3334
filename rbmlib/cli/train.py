"""``rbmlib train``: train an RBM on MNIST (CD-k / PCD) from a reference recipe, with overrides, and save it."""
from __future__ import annotations

import math
import time
from pathlib import Path

from .common import CLIError, command_line

__all__ = ["add_cli"]


def add_cli(sub) -> None:
    """Register ``rbmlib train``."""
    from ..reference_models import RECIPES

    p = sub.add_parser(
        "train", help="train an RBM on MNIST (CD-k / PCD) and save it",
        description="Train an RBM on binarized MNIST and save it atomically as an .npz model file "
                    "(rbmlib.RBM.load). Defaults: the recipe of the reference model given by --preset "
                    "(mnist-784x500 unless said otherwise); any flag overrides its value. Example (offline, "
                    "a few minutes): rbmlib train --out mnist-784x500.npz --checkpoint run.ckpt.npz --resume")
    p.add_argument("--preset", choices=sorted(RECIPES), default="mnist-784x500",
                   help="reference recipe that supplies the defaults (default: mnist-784x500)")
    ref = RECIPES["mnist-784x500"]

    def dflt(key, text=""):
        return f"{text}{' ' if text else ''}(default: from --preset; {ref[key]} for mnist-784x500)"

    p.add_argument("--dataset", choices=["embedded", "mnist-full"], default=None,
                   help=dflt("dataset", "'embedded': 8,000 packaged digits (offline); 'mnist-full': 60,000 "
                                        "(downloaded once)"))
    p.add_argument("--hidden", type=int, default=None, help=dflt("n_hidden", "number of hidden units"))
    p.add_argument("--method", choices=["pcd", "cd"], default=None, help=dflt("method"))
    p.add_argument("-k", type=int, default=None, help=dflt("k", "Gibbs sweeps per update"))
    p.add_argument("--epochs", type=int, default=None, help=dflt("epochs"))
    p.add_argument("--batch-size", type=int, default=None, help=dflt("batch_size"))
    p.add_argument("--lr", type=float, default=None, help=dflt("learning_rate", "initial learning rate"))
    p.add_argument("--lr-schedule", choices=["linear", "constant"], default=None,
                   help=dflt("lr_schedule", "'linear': decays linearly from --lr towards --lr-end over the epochs"))
    p.add_argument("--lr-end", type=float, default=None, help=dflt("lr_end", "end point of the linear schedule"))
    p.add_argument("--momentum", type=float, default=None, help=dflt("momentum"))
    p.add_argument("--weight-decay", type=float, default=None, help=dflt("weight_decay"))
    p.add_argument("--beta", type=float, default=None, help=dflt("beta", "inverse temperature of the model"))
    p.add_argument("--n-persistent", type=int, default=None, help=dflt("n_persistent", "PCD: persistent chains"))
    p.add_argument("--seed", type=int, default=None, help=dflt("seed"))
    p.add_argument("--dtype", choices=["float32", "float64"], default=None, help=dflt("dtype", "of the saved model"))
    p.add_argument("--out", required=True, help="output model file (.npz), written atomically")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file, written atomically after every epoch (locked while the run uses it)")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint if it exists (same arguments required)")
    p.add_argument("--threads", type=int, default=None, help="numba threads (results do not depend on it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from .. import reference_models

    recipe = dict(reference_models.RECIPES[args.preset])
    overrides = {"dataset": args.dataset, "n_hidden": args.hidden, "method": args.method, "k": args.k,
                 "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                 "lr_schedule": args.lr_schedule, "lr_end": args.lr_end, "momentum": args.momentum,
                 "weight_decay": args.weight_decay, "beta": args.beta, "n_persistent": args.n_persistent,
                 "seed": args.seed, "dtype": args.dtype}
    for flag, key in (("--lr", "learning_rate"), ("--lr-end", "lr_end"), ("--momentum", "momentum"),
                      ("--weight-decay", "weight_decay"), ("--beta", "beta")):
        v = overrides[key]
        if v is not None and not math.isfinite(v):
            raise CLIError(f"{flag} must be a finite number, got {v}.")
    changed = {k: v for k, v in overrides.items() if v is not None and v != recipe.get(k)}
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    if recipe["method"] == "cd":
        recipe["n_persistent"] = None
    out = Path(args.out)
    if out.suffix != ".npz":
        raise CLIError(f"--out must end in .npz (got {out}).")
    from .._io import check_output
    check_output(out, overwrite=args.force, what="--out file", hint="pass --force to overwrite it")
    if args.checkpoint and Path(args.checkpoint).resolve() == out.resolve():
        raise CLIError("--checkpoint and --out must be different files.")
    if args.resume and not args.checkpoint:
        raise CLIError("--resume needs --checkpoint PATH (the file to resume from).")
    preset = args.preset if not changed else f"{args.preset} with {', '.join(sorted(changed))} changed"
    t0 = time.perf_counter()
    rbm = reference_models.train_recipe(recipe, checkpoint=args.checkpoint, resume=args.resume,
                              progress=not args.no_progress, threads=args.threads,
                              extra_metadata={"recipe_name": preset, "command": command_line(args)})
    path = rbm.save(out)
    print(f"saved {path}: {rbm.n_visible}x{rbm.n_hidden} {rbm.dtype.name}, fingerprint {rbm.fingerprint()[:16]}, "
          f"{recipe['epochs']} epochs in {time.perf_counter() - t0:.0f} s wall")
    return 0
