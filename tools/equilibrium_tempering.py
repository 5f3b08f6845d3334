"""Parallel tempering of the 784x500 reference model: the equilibrium reference at beta = 1.

Runs ``--ensembles`` independent tempering ensembles over a geometric ladder
``--beta-min .. 1`` of ``--K`` temperatures for ``--sweeps`` sweeps (swap round after
every sweep, deterministic even/odd), from uniform noise, and saves to ``--out``
(uncommitted, e.g. runs/equilibrium/pt.npz):

* ``E_target``: float64 (ensembles, sweeps), the energy at beta = 1 after every sweep;
* ``E_mean_beta``: float64 (K, sweeps // block), the mean energy at every beta per block;
* ``mv``, ``mh``: fraction of visible / hidden units on at beta = 1 every ``--block`` sweeps;
* ``summary``: swap rates, round trips, flux (rbmlib.tempering.Tempering.summary()).

A checkpoint (``--out`` + ``.ckpt.npz``) is written every ``--block`` sweeps (a multiple of
rbmlib.kernels.REFRESH, so the resumed run is bit-identical); rerun the same command to resume.
Rerunning with a larger ``--sweeps`` extends a finished run (bit-identical to one long run only
if the old ``--sweeps`` was a multiple of REFRESH = 16; otherwise the same law).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import rbmlib
from rbmlib import tempering as tp
from rbmlib._io import atomic_savez


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist-784x500")
    p.add_argument("--ensembles", type=int, default=64)
    p.add_argument("--K", type=int, default=24)
    p.add_argument("--beta-min", type=float, default=0.3)
    p.add_argument("--sweeps", type=int, default=3000)
    p.add_argument("--block", type=int, default=96)
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument("--out", default="runs/equilibrium/pt.npz")
    args = p.parse_args(argv)
    rbm = rbmlib.reference_models.load_reference(args.model)
    betas = tp.geometric_ladder(args.beta_min, 1.0, args.K)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = out.with_name(out.stem + ".ckpt.npz")
    series = out.with_name(out.stem + ".series.npz")
    n, K, T, B = args.ensembles, args.K, args.sweeps, args.block
    if ckpt.exists():
        pt = tp.Tempering.load(ckpt, rbm)
        with np.load(series) as z:
            E_target, E_mean_beta, mv, mh = (z[k].copy() for k in ("E_target", "E_mean_beta", "mv", "mh"))
            seconds = float(z["seconds"])
        if E_target.shape[1] < T:                          # extended run: pad the series
            pad = lambda x, m: np.concatenate([x, np.full(x.shape[:-1] + (m - x.shape[-1],), np.nan)], -1)
            E_target, E_mean_beta, mv, mh = (pad(E_target, T), pad(E_mean_beta, T // B), pad(mv, T // B),
                                             pad(mh, T // B))
        print(f"resumed at sweep {pt.n_sweeps}", flush=True)
    else:
        pt = tp.Tempering(rbm, betas, n, seed=args.seed)
        E_target = np.full((n, T), np.nan)
        E_mean_beta = np.full((K, T // B), np.nan)
        mv = np.full((n, T // B), np.nan)
        mh = np.full((n, T // B), np.nan)
        seconds = 0.0
    while pt.n_sweeps < T:
        t0 = time.time()
        k = pt.n_sweeps // B
        m = min(B, T - pt.n_sweeps)
        s = slice(pt.n_sweeps, pt.n_sweeps + m)
        E = pt.run(m, record_energy=True)                 # (K, n, m)
        E_target[:, s] = E[-1]
        if m == B:
            E_mean_beta[:, k] = E.mean((1, 2))
            v, h = pt.state()
            mv[:, k] = v[-1].mean(1)
            mh[:, k] = h[-1].mean(1)
        seconds += time.time() - t0
        atomic_savez(series, E_target=E_target, E_mean_beta=E_mean_beta, mv=mv, mh=mh, seconds=np.float64(seconds))
        pt.save(ckpt)
        acc = pt.acceptance
        print(f"sweep {pt.n_sweeps}/{T}  <E>_1 = {np.nanmean(E[-1]):.2f}  acc {np.nanmin(acc):.2f}-{np.nanmax(acc):.2f}  "
              f"round trips {pt.round_trips}  ({seconds:.0f} s)", flush=True)
    meta = dict(model=args.model, fingerprint=rbm.fingerprint(), ensembles=n, K=K, beta_min=args.beta_min,
                sweeps=T, block=B, seed=args.seed, swap_every=1, scheme="deo", start="noise",
                rbmlib=rbmlib.__version__)
    atomic_savez(out, meta=np.array(json.dumps(meta)), summary=np.array(json.dumps(pt.summary())),
                 betas=betas, E_target=E_target, E_mean_beta=E_mean_beta, mv=mv, mh=mh,
                 seconds=np.float64(seconds))
    print(f"done: {seconds:.0f} s -> {out}", flush=True)


if __name__ == "__main__":
    main()
