"""Relaxation of the 784x500 reference model at beta = 1 from noise and from held-out digits.

Runs ``--chains`` block-Gibbs chains for ``--sweeps`` sweeps from each start and saves, under
``--out`` (uncommitted, e.g. runs/equilibrium/), per start:

* ``E_mean``, ``E_var``: mean and variance over chains of the energy after every sweep;
* ``E_block``: per-chain means of the energy over consecutive blocks of ``--block`` sweeps
  (shape (chains, sweeps // block)), from which window means with chain-level errors follow
  (chains are independent, so the standard error of a window mean is the std of the per-chain
  window means over sqrt(chains));
* ``E_trace``: the full float32 energy traces of the first ``--trace-chains`` chains (for the
  integrated autocorrelation time);
* ``mv_block``, ``mh_block``: the same block means of the fraction of visible / hidden units on.

Seeds: noise start ``--seed``, data start ``--seed + 1`` (each chain its own stream).
Used by tools/equilibrium_784x500.py, which writes the committed result.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import rbmlib
from rbmlib._io import atomic_savez


def relax(rbm, v0, n_chains, n_sweeps, seed, block, n_trace, label):
    ch = rbmlib.sampling.Chains(rbm, n_chains, seed=seed, v0=v0)
    nb = n_sweeps // block
    E_mean = np.empty(n_sweeps)
    E_var = np.empty(n_sweeps)
    E_block = np.empty((n_chains, nb))
    mv_block = np.empty((n_chains, nb))
    mh_block = np.empty((n_chains, nb))
    E_trace = np.empty((n_trace, n_sweeps), np.float32)
    t0 = time.time()
    for k in range(nb):
        mv = np.zeros(n_chains)
        mh = np.zeros(n_chains)
        E = np.empty((n_chains, block))
        for t in range(block):           # states needed every sweep for the activity means
            E[:, t:t + 1] = ch.run(1, record_energy=True)
            mv += ch.v.mean(1)
            mh += ch.h.mean(1)
        s = slice(k * block, (k + 1) * block)
        E_mean[s] = E.mean(0)
        E_var[s] = E.var(0, ddof=1)
        E_block[:, k] = E.mean(1)
        mv_block[:, k] = mv / block
        mh_block[:, k] = mh / block
        E_trace[:, s] = E[:n_trace]
        if k % 20 == 0 or k == nb - 1:
            print(f"{label}: sweep {(k + 1) * block}/{n_sweeps}  <E> = {E_block[:, k].mean():.2f}  "
                  f"({time.time() - t0:.0f} s)", flush=True)
    return dict(E_mean=E_mean, E_var=E_var, E_block=E_block, mv_block=mv_block, mh_block=mh_block,
                E_trace=E_trace, seconds=np.float64(time.time() - t0))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist-784x500")
    p.add_argument("--chains", type=int, default=2000)
    p.add_argument("--sweeps", type=int, default=20000)
    p.add_argument("--block", type=int, default=50)
    p.add_argument("--trace-chains", type=int, default=256)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--starts", nargs="+", default=["noise", "data"], choices=["noise", "data"])
    p.add_argument("--out", default="runs/equilibrium")
    args = p.parse_args(argv)
    rbm = rbmlib.reference_models.load_reference(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for start in args.starts:
        if start == "noise":
            v0, seed = None, args.seed
        else:
            X = rbmlib.load_mnist("embedded", "heldout")
            if args.chains > len(X):
                sys.exit(f"--chains {args.chains} exceeds the {len(X)} held-out digits")
            v0, seed = X[:args.chains], args.seed + 1
        r = relax(rbm, v0, args.chains, args.sweeps, seed, args.block, min(args.trace_chains, args.chains), start)
        meta = dict(model=args.model, start=start, chains=args.chains, sweeps=args.sweeps, block=args.block,
                    seed=seed, beta=1.0, rbmlib=rbmlib.__version__)
        atomic_savez(out / f"relax-{start}.npz", meta=np.array(json.dumps(meta)), **r)
        print(f"{start}: {r['seconds']:.0f} s -> {out / f'relax-{start}.npz'}", flush=True)


if __name__ == "__main__":
    main()
