"""``rbmlib xft``: the paper's heat-exchange experiment (:func:`rbmlib.xft.run_xft`), checkpointed and resumable."""
from __future__ import annotations

import math
from pathlib import Path

from .._io import check_output
from ..ensemble import add_cli_arguments, executor_options
from ..xft import ORDERS, XFTResult, certify_starts, load_energy_reference, run_config, run_xft
from .common import load_model

__all__ = ["add_cli", "main"]


def _check_out(args, config) -> None:
    """Before computing: --out must be writable, and an existing file is replaced only with --force or
    when it is a result of this same run (an earlier export, e.g. by --write-partial)."""
    out = Path(args.out)
    if out.exists() and not args.force and out.is_file():
        try:
            same = XFTResult.load(out).config == config
        except (ValueError, KeyError, TypeError, OSError):
            same = False
        if same:
            check_output(out, overwrite=True, what="--out file")
            return
    check_output(out, overwrite=args.force, what="--out file",
                 hint="it is not a result of this run; pass --force to overwrite it")


def add_cli(subparsers) -> None:
    """Register the ``xft`` subcommand on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "xft", help="heat-exchange fluctuation theorem experiment (Salazar 2017): equilibrate, quench, histogram",
        description="Equilibrate an ensemble of chains at T1 by --sweeps block Gibbs sweeps from random states, "
                    "then make one sweep at each T2 and histogram the heat Q = E(s') - E(s). Checkpoints after "
                    "every shard; rerunning the same command resumes. Writes a small result file (.npz).")
    _add_arguments(p)
    p.set_defaults(func=_cli_run)


def _add_arguments(p):
    p.add_argument("--model", default="mnist-784x500",
                   help="reference model name (rbmlib.reference_models.load_reference) or path of a saved RBM (.npz)")
    p.add_argument("--chains", type=int, default=2_000_000, help="ensemble size (paper: 2,000,000)")
    p.add_argument("--sweeps", type=int, default=300, help="equilibration sweeps at T1 (paper: 300)")
    p.add_argument("--t1", type=float, default=1.0, help="temperature of the initial equilibrium (paper: 1)")
    p.add_argument("--t2", type=float, nargs="+", required=True, help="temperature(s) of the quench sweep")
    p.add_argument("--order", nargs="+", default=["hv", "vh"], choices=list(ORDERS),
                   help="kernel(s) of the quench step (default: the sweep 'hv' and its reversal 'vh'; "
                        "'hvh' = the palindromic sweep)")
    p.add_argument("--branches", type=int, default=1,
                   help="branch mode: quench from the running chain this many times (default 1: once, the paper)")
    p.add_argument("--branch-every", type=int, default=1, help="sweeps at T1 between branch points")
    p.add_argument("--groups", type=int, default=2,
                   help="independent chain groups kept apart in the result (batch-means errors; default 2)")
    p.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                   help="where the chains run: 'cpu' (default) or 'cuda' (an NVIDIA GPU, pip install 'rbmlib[cuda]'; "
                        "same bits; shards run one after another in this process)")
    p.add_argument("--certify-against", default=None, metavar="JSON",
                   help="equilibrium reference of the mean energy at T1 (a results/equilibrium/*.json file, or a "
                        "JSON {\"E\": [mean, se]}): certify the starts (xft.certify_starts) and store the "
                        "certificate in the result's metadata")
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument("--shard-size", type=int, default=10000, help="chains per shard = checkpoint interval")
    p.add_argument("--bin-width", type=float, default=1 / 32, help="fine histogram bin (energy units)")
    p.add_argument("--q-max", type=float, default=1024.0, help="histogram range [-q_max, q_max)")
    p.add_argument("--out", required=True, help="result file (.npz) written when the run is complete; an existing "
                                                "file is replaced only if it is a result of the same run, or with "
                                                "--force")
    p.add_argument("--force", action="store_true", help="overwrite --out even if it holds another result")
    p.add_argument("--checkpoint-dir", required=True,
                   help="folder of the checkpoint (resume by rerunning; locked while a run uses it)")
    p.add_argument("--max-shards", type=int, default=None, help="stop after this many shards (time-boxed run)")
    p.add_argument("--write-partial", action="store_true",
                   help="also write --out when stopped early (labelled with the number of chains done); with "
                        "--max-shards 0 it exports the checkpoint of a run in progress without computing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cli_arguments(p)


def _cli_run(args) -> int:
    ex = executor_options(args)
    rbm = load_model(args.model)
    for t in [args.t1, *args.t2]:
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperatures must be finite and > 0, got {t}.")
    beta2s = [1.0 / t for t in args.t2]
    branch = {"n_branch": args.branches, "branch_every": args.branch_every, "n_groups": args.groups}
    _check_out(args, run_config(rbm, args.chains, 1.0 / args.t1, beta2s, args.sweeps, args.seed,
                                 tuple(args.order), args.shard_size, args.bin_width, args.q_max, 10, **branch))
    res = run_xft(rbm, args.chains, beta1=1.0 / args.t1, beta2s=beta2s, n_equil=args.sweeps, seed=args.seed,
                  order=tuple(args.order), shard_size=args.shard_size, checkpoint_dir=args.checkpoint_dir,
                  progress=not args.no_progress, bin_width=args.bin_width, q_max=args.q_max,
                  max_shards=args.max_shards, **branch, backend=args.backend, **ex)
    res.meta["model"] = args.model
    res.meta["temperatures"] = {"t1": args.t1, "t2": list(args.t2)}
    res.meta["command"] = (f"python -m rbmlib xft --model {args.model} --chains {args.chains} --sweeps {args.sweeps} "
                           f"--t1 {args.t1:g} --t2 {' '.join(f'{t:g}' for t in args.t2)} --order {' '.join(args.order)} "
                           f"--seed {args.seed} --shard-size {args.shard_size} --bin-width {args.bin_width:g} "
                           f"--q-max {args.q_max:g} --branches {args.branches} --branch-every {args.branch_every} "
                           f"--groups {args.groups} --out {args.out} --checkpoint-dir {args.checkpoint_dir}")
    if args.certify_against is not None and res.n_done:
        cert = certify_starts(res, load_energy_reference(args.certify_against))
        res.meta["certificate"] = {"reference": str(args.certify_against), **cert.to_dict()}
        print(cert)
    done = f"{res.n_done:,} of {args.chains:,} chains"
    if res.complete or args.write_partial:
        res.save(args.out)
        print(f"{'complete' if res.complete else 'PARTIAL'}: {done}; compute time {res.meta['wall_time_s']:.0f} s; "
              f"wrote {args.out}")
    else:
        print(f"stopped after {done}; rerun the same command to resume from {args.checkpoint_dir}")
    for o in res.orders:
        for b2 in res.beta2s:
            if res.n_outside(o, b2):
                print(f"warning: {res.n_outside(o, b2)} heat values outside [-q_max, q_max) for order {o}, "
                      f"beta2 {b2:g}; rerun with a larger --q-max")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry point: ``python -m rbmlib.cli.xft --t2 ... --out ... --checkpoint-dir ...``."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m rbmlib xft")
    _add_arguments(parser)
    return _cli_run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
