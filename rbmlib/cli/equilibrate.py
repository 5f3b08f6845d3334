"""``rbmlib equilibrate``: a certified equilibrium start ensemble by parallel tempering (:mod:`rbmlib.tempering`)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import diagnostics, ensemble, kernels
from .._io import atomic_savez
from .._validation import check_int
from ..model import RBM
from ..provenance import code_version, machine
from ..reference_models import load_reference
from ..tempering import check_ladder, communication_barrier, equilibrate_shard, geometric_ladder

__all__ = ["add_cli"]


def _ladder_from_args(args):
    if args.betas:
        return check_ladder([float(x) for x in args.betas.split(",")])
    return geometric_ladder(args.beta_min, args.beta_max, args.K)


def add_cli(subparsers) -> None:
    """Register ``rbmlib equilibrate``: a certified equilibrium start ensemble by parallel tempering."""
    p = subparsers.add_parser(
        "equilibrate", help="certified equilibrium start ensemble at beta_max by parallel tempering",
        description="Parallel tempering of N independent ensembles; writes the states at the target "
                    "inverse temperature (.npz) with the swap statistics, the energy estimate and the "
                    "certificate of the start (rbmlib.diagnostics.certify_start) as provenance.")
    p.add_argument("--model", default="mnist-784x500", help="reference model name or .npz file")
    p.add_argument("--ensembles", type=int, default=2000, help="independent tempering ensembles = chains of the "
                                                              "start ensemble (default 2000)")
    p.add_argument("--beta-min", type=float, default=0.3)
    p.add_argument("--beta-max", type=float, default=1.0, help="the target (default 1)")
    p.add_argument("--K", type=int, default=24, help="temperatures of the geometric ladder (default 24)")
    p.add_argument("--betas", default=None, help="explicit ladder 'b1,b2,...' (increasing; overrides the above)")
    p.add_argument("--sweeps", type=int, default=3000, help="sweeps in all (default 3000)")
    p.add_argument("--burn-in", type=int, default=1000, help="sweeps discarded before the window (default 1000)")
    p.add_argument("--swap-every", type=int, default=1)
    p.add_argument("--snapshots", type=int, default=1,
                   help="start states taken per ensemble (default 1): after the run, every --spacing sweeps")
    p.add_argument("--spacing", type=int, default=0, help="sweeps between snapshots (>= 1 when --snapshots > 1; "
                                                          "choose several autocorrelation times)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--certify-sweeps", type=int, default=400,
                   help="Gibbs sweeps run on from the start to test its stationarity (default 400)")
    p.add_argument("--reference-energy", type=float, nargs=2, metavar=("MEAN", "SE"), default=None,
                   help="independent equilibrium mean energy at beta_max and its error (default: the tempering "
                        "window average, which is not independent of the final states)")
    p.add_argument("--out", required=True, help=".npz file for the start ensemble and its certificate")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--checkpoint-dir", default=None, help="keep finished shards here; rerun the same command "
                                                          "to resume")
    p.add_argument("--shard-size", type=int, default=100, help="ensembles per shard (default 100); results do "
                                                               "not depend on it")
    ensemble.add_cli_arguments(p)
    p.set_defaults(func=_cli_equilibrate)


def _cli_equilibrate(args) -> int:
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {out}.")
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; pass --force to replace it.")
    if not out.parent.exists():
        raise ValueError(f"the folder of --out, {out.parent}, does not exist.")
    betas = _ladder_from_args(args)
    n = check_int(args.ensembles, "--ensembles", 2)
    burn = check_int(args.burn_in, "--burn-in", 0)
    sweeps = check_int(args.sweeps, "--sweeps", burn + 2)
    rbm = RBM.load(args.model) if str(args.model).endswith(".npz") else load_reference(args.model)
    t0 = time.time()
    res = ensemble.run_ensemble(equilibrate_shard, rbm, n, seed=args.seed, reduce="concat",
                                params={"betas": betas, "n_sweeps": sweeps, "burn_in": burn,
                                        "swap_every": args.swap_every, "scheme": "deo",
                                        "snapshots": args.snapshots, "spacing": args.spacing},
                                shard_size=args.shard_size, checkpoint_dir=args.checkpoint_dir, progress=True,
                                desc="ensembles", **ensemble.executor_options(args))
    r = res.value
    att, acc = r["attempted"].sum(0), r["accepted"].sum(0)
    acceptance = acc / np.maximum(att, 1)
    n_trips = int(r["n_trips"].sum())
    window = diagnostics.window_mean(r["E_mean"][:, None])
    drift = r["E_second"] - r["E_first"]
    ref = tuple(args.reference_energy) if args.reference_energy else (window["mean"], window["se"])
    cert = diagnostics.certify_start(rbm, r["v"], r["h"], reference={"E": ref}, beta=float(betas[-1]),
                                     n_sweeps=args.certify_sweeps, seed=args.seed + 1)
    cb = communication_barrier(betas, 1.0 - acceptance)
    meta = {"command": "equilibrate", "model": str(args.model), "fingerprint": rbm.fingerprint(),
            "ensembles": n, "snapshots": args.snapshots, "spacing": args.spacing, "start_states": int(len(r["v"])),
            "betas": betas.tolist(), "sweeps": sweeps, "burn_in": burn,
            "swap_every": args.swap_every, "scheme": "deo", "seed": args.seed,
            "sampler_version": kernels.SAMPLER_VERSION, "acceptance": acceptance.tolist(),
            "round_trips": n_trips,
            "round_trip_time_sweeps": float(r["trip_sweeps"].sum()) / n_trips if n_trips else None,
            "communication_barrier": cb["Lambda"],
            "energy_window": window, "energy_window_drift": {"mean": float(drift.mean()),
                                                            "se": float(drift.std(ddof=1) / np.sqrt(n))},
            "reference_energy": list(ref), "reference_is_independent": args.reference_energy is not None,
            "certificate": cert.to_dict(), "wall_s": time.time() - t0, "shard_seconds": res.shard_seconds,
            "code_version": code_version(), **machine()}
    atomic_savez(out, v=r["v"], h=r["h"], E_final=r["E_final"], meta=np.array(json.dumps(meta, default=float)))
    print(json.dumps({k: meta[k] for k in ("ensembles", "round_trips", "round_trip_time_sweeps",
                                            "energy_window", "reference_energy")}, default=float))
    print(str(cert))
    print(f"wrote {out}")
    return 0 if cert.passed else 3
