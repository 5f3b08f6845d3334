"""Command line: ``rbmlib <command> ...`` or ``python -m rbmlib <command> ...``.

Built-in commands
-----------------
``train``   train an RBM (CD-k / PCD) on MNIST and save it atomically;
``data``    full-MNIST download/verification, cache folder, embedded-copy info.

More commands come from the modules listed in :data:`SUBCOMMAND_MODULES`: each
exposes ``add_cli(subparsers)``, which adds its sub-parser(s) with
``subparsers.add_parser(name, help=...)`` and binds the handler with
``parser.set_defaults(func=handler)``; ``handler(args)`` returns an exit status
(or None for 0). To add a command, write ``add_cli`` in your module and append
the module name to the list.

Parallel and cluster execution
------------------------------
``xft`` and ``ais`` take ``--workers N`` (a local pool of N worker processes),
``--scheduler ADDRESS`` (a Dask cluster; ``local`` starts a Dask LocalCluster of
``--workers`` processes), ``--threads`` and ``--retries``, added by
:func:`rbmlib.ensemble.add_cli_arguments`; results are bit-identical to a run in
one process.

Errors
------
User errors (bad arguments, missing or corrupted files, no network, a
checkpoint from another run, ...) print one line ``rbmlib: error: ...`` on
stderr and exit with status 1 (2 for argument syntax errors, 130 on Ctrl-C),
without a traceback; ``--traceback`` (or ``RBMLIB_TRACEBACK=1``) shows it.

Interruption
------------
``SIGTERM`` is handled like Ctrl-C (``SIGINT``): the run stops at the next point
where Python runs, its worker processes are terminated, finished checkpoints stay,
and a line says how to continue (exit status 143 for SIGTERM, 130 for SIGINT).
Output paths (``--out``) are checked -- folder writable, existing file only
replaced with ``--force`` -- before any computation starts.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shlex
import signal
import sys
import time
from pathlib import Path

#: Modules that add sub-commands through ``add_cli(subparsers)``.
SUBCOMMAND_MODULES = ["rbmlib.models", "rbmlib.ais", "rbmlib.xft", "rbmlib.tempering"]

_USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, LookupError)


class CLIError(Exception):
    """An error reported to the user as one line (raise it from handlers)."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (handled like Ctrl-C)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _interrupt_hint(args) -> str:
    """What the user can do after an interrupted command (depends on the command and its options)."""
    if args is None:
        return ""
    cmd = getattr(args, "command", None)
    if cmd == "train" or (cmd == "models" and getattr(args, "models_command", None) == "train"):
        if getattr(args, "checkpoint", None):
            return (f"the last finished epoch is in {args.checkpoint}; rerun the same command with --resume "
                    "to continue")
        return "nothing was saved; pass --checkpoint PATH (and --resume when rerunning) to make training resumable"
    if cmd in ("xft", "ais"):
        ck = getattr(args, "checkpoint_dir", None)
        if ck:
            return f"finished shards are saved in {ck}; rerun the same command to continue"
        return "nothing was saved; pass --checkpoint-dir DIR to make the run resumable"
    return ""


# ----------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    from .models import RECIPES

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
    from . import models

    recipe = dict(models.RECIPES[args.preset])
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
    from ._io import check_output
    check_output(out, overwrite=args.force, what="--out file", hint="pass --force to overwrite it")
    if args.checkpoint and Path(args.checkpoint).resolve() == out.resolve():
        raise CLIError("--checkpoint and --out must be different files.")
    if args.resume and not args.checkpoint:
        raise CLIError("--resume needs --checkpoint PATH (the file to resume from).")
    preset = args.preset if not changed else f"{args.preset} with {', '.join(sorted(changed))} changed"
    t0 = time.perf_counter()
    rbm = models.train_recipe(recipe, checkpoint=args.checkpoint, resume=args.resume,
                              progress=not args.no_progress, threads=args.threads,
                              extra_metadata={"recipe_name": preset, "command": _command_line(args)})
    path = rbm.save(out)
    print(f"saved {path}: {rbm.n_visible}x{rbm.n_hidden} {rbm.dtype.name}, fingerprint {rbm.fingerprint()[:16]}, "
          f"{recipe['epochs']} epochs in {time.perf_counter() - t0:.0f} s wall")
    return 0


def _command_line(args) -> str:
    return "rbmlib " + shlex.join(getattr(args, "argv", sys.argv[1:]))


# ----------------------------------------------------------------------------- data
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="MNIST data: download/verify the full set, show the cache folder",
                       description="Manage the MNIST data used by rbmlib. The embedded 10,000-digit copy ships "
                                   "with the package; the full 60k/10k set is downloaded once into the cache "
                                   "folder (override with the RBMLIB_DATA_DIR environment variable).")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="{fetch,verify,path,info}")
    f = dsub.add_parser("fetch", help="download the full MNIST files that are missing (checked by MD5)")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=_cmd_data_fetch)
    dsub.add_parser("verify", help="check the cached full-MNIST files (no download)").set_defaults(
        func=_cmd_data_verify)
    dsub.add_parser("path", help="print the folder holding the full-MNIST files").set_defaults(
        func=lambda a: print(_ds().mnist_dir()))
    dsub.add_parser("info", help="provenance of the embedded copy (JSON)").set_defaults(
        func=lambda a: print(json.dumps(_ds().embedded_info(), indent=2, sort_keys=True)))


def _ds():
    from . import datasets

    return datasets


def _cmd_data_fetch(args) -> int:
    paths = _ds().fetch_mnist(progress=not args.no_progress)
    for name, path in paths.items():
        print(f"ok  {path}")
    return 0


def _cmd_data_verify(args) -> int:
    ds = _ds()
    report = ds.verify_mnist()
    print(f"folder: {ds.mnist_dir()}")
    for name, status in report.items():
        print(f"{status:<9} {name}" if status in ("ok", "missing") else f"BAD       {name}: {status}")
    if all(s == "ok" for s in report.values()):
        return 0
    print("Run `rbmlib data fetch` (needs network), or copy the canonical files into the folder above.",
          file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="rbmlib",
        description="rbmlib: restricted Boltzmann machines as nonequilibrium thermodynamic systems.")
    parser.add_argument("--version", action="version", version=f"rbmlib {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_data(sub)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``rbmlib`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    show_tb = "--traceback" in argv or os.environ.get("RBMLIB_TRACEBACK") == "1"
    args = None
    old_term = None
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (main() called from a thread): leave SIGTERM alone
        pass
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv
        status = args.func(args)
        return 0 if status is None else int(status)
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        hint = _interrupt_hint(args)
        print(f"rbmlib: {what}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:
        from ._locking import RunLocked
        from .datasets import DataError

        if show_tb or not isinstance(exc, (CLIError, DataError, RunLocked) + _USER_ERRORS):
            raise
        print(f"rbmlib: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
