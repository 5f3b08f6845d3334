"""``rbmlib ais``: forward AIS log Z, held-out log-likelihood and the RAISE bound of a model (:func:`rbmlib.ais.paper_scale_run`)."""
from __future__ import annotations

import argparse

from .._io import check_output
from ..ais import paper_scale_run
from ..ensemble import add_cli_arguments, executor_options
from .common import load_model

__all__ = ["add_cli"]


def _cli_schedule(text):
    if text == "salakhutdinov":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("schedule must be 'salakhutdinov' or a number of steps") from None


def _cli_run(args) -> int:
    opts = executor_options(args)
    if args.out:
        check_output(args.out, overwrite=args.force, what="--out file", hint="pass --force to overwrite it")
    if args.heldout_points is not None and args.heldout_points < 0:
        raise ValueError(f"--heldout-points must be >= 0 (0 skips the RAISE bound), got {args.heldout_points}.")
    for flag, v in (("--shard-size", args.shard_size), ("--reverse-shard-size", args.reverse_shard_size)):
        if v is not None and v < 1:
            raise ValueError(f"{flag} must be >= 1, got {v}.")
    if args.backend == "cuda":
        if opts["scheduler"] is not None or opts["workers"] is not None or args.checkpoint_dir:
            raise ValueError("--backend cuda runs every AIS run in this process on one GPU; drop --workers, "
                             "--scheduler and --checkpoint-dir (or use --backend cpu).")
        opts = {"backend": "cuda"}
    elif opts["scheduler"] is None and opts["workers"] is None:
        # in this process, shard by shard: Ctrl-C / SIGTERM then stop between shards instead of
        # after the whole pass (identical weights: every run has its own random stream)
        opts["executor"] = "inline"
    rec = paper_scale_run(load_model(args.model), model_name=str(args.model), n_runs=args.runs, schedule=args.schedule, seed=args.seed,
                          n_heldout=args.heldout_points, n_reverse_chains=args.reverse_chains,
                          reverse_schedule=args.reverse_schedule, out=args.out, checkpoint_dir=args.checkpoint_dir,
                          shard_size=args.shard_size, reverse_shard_size=args.reverse_shard_size, **opts)
    f, ll = rec["forward"], rec["heldout_ll"]
    print(f"log Z = {f['log_z']:.3f} +- {f['log_z_std']:.3f} ({rec['n_runs']} runs x {rec['n_steps']} steps, "
          f"{f['wall_s']:.0f} s)")
    print(f"held-out log-likelihood = {ll['mean']:.3f} +- {ll['std']:.3f} nats")
    if "raise" in rec:
        r = rec["raise"]
        print(f"RAISE lower bound ({r['n_points']} digits) = {r['mean']:.3f} +- {r['mean_std']:.3f} nats")
    if args.out:
        print(f"written to {args.out}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``rbmlib ais``: the paper-scale AIS run (see :func:`paper_scale_run`)."""
    p = subparsers.add_parser(
        "ais", help="AIS estimate of log Z and held-out log-likelihood of a reference model",
        description="Forward AIS (Salakhutdinov & Murray 2008 setting by default) and the RAISE "
                    "lower bound; writes a JSON result with provenance.")
    p.add_argument("--model", default="mnist-784x500", help="reference model name or .npz file")
    p.add_argument("--runs", type=int, default=100, help="number of AIS runs (default 100)")
    p.add_argument("--schedule", type=_cli_schedule, default="salakhutdinov",
                   help="'salakhutdinov' (14,500 steps) or a number of steps of that shape")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout-points", type=int, default=None,
                   help="held-out digits for the RAISE bound (default all; 0 skips it)")
    p.add_argument("--reverse-chains", type=int, default=1)
    p.add_argument("--reverse-schedule", type=_cli_schedule, default=None,
                   help="schedule of the RAISE runs (default: same as --schedule)")
    p.add_argument("--out", default=None, help="JSON result file (e.g. results/ais/mnist-784x500.json); checked "
                                              "before the run, an existing file is replaced only with --force")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--checkpoint-dir", default=None,
                   help="keep every finished shard of runs here (forward/ and raise/); rerun the same command "
                        "to resume; locked while a run uses it")
    p.add_argument("--shard-size", type=int, default=None,
                   help="forward AIS runs per shard (checkpoint interval; default 10); results do not depend on it")
    p.add_argument("--reverse-shard-size", type=int, default=None,
                   help="RAISE runs per shard (default 100); results do not depend on it")
    p.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: every run on an NVIDIA GPU (pip install 'rbmlib[cuda]'), the same weights bit for bit")
    add_cli_arguments(p)
    p.set_defaults(func=_cli_run)
