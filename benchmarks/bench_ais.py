"""Timing of forward AIS in the Salakhutdinov & Murray (2008) setting: 100 runs x 14,500 steps, 784 x 500.

Compares, in the same process and on the same model,

* ``rbmlib.ais.log_partition`` (numba, one RNG stream per run, the sampler's kept fields),
* the sampler itself (``Chains.run``) along the same inverse temperatures, from base-rate
  states: an AIS step is one such sweep plus the importance weight, so this is the speed
  AIS can approach, and
* a plain NumPy implementation of the same algorithm (vectorised over runs, dense
  BLAS products, ``numpy.random.Generator``), timed on fewer steps (``--numpy-steps``)
  and extrapolated linearly to the full schedule (the cost per step does not
  depend on the step: every step does the same two products and the same draws).

Both estimate the same ``log Z``; the NumPy one uses other random numbers, so the
two estimates agree within their errors, not bit for bit.

Usage::

    python benchmarks/bench_ais.py                 # full setting (minutes on 2 cores)
    python benchmarks/bench_ais.py --steps 1450    # a tenth of the schedule, for a quick look

The machine this was written on has 2 cores shared with other jobs: repeat the
timings (``--repeat``) and read the minimum; timings vary by tens of percent.
This file is never collected as a test.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numba
import numpy as np

import rbmlib
from rbmlib import ais, datasets
from rbmlib.sampling import Chains


def ais_numpy(rbm, betas, aA, n_runs, seed=0):
    """Forward AIS exactly as rbmlib.ais.log_partition, in plain NumPy. Returns log-weights (n_runs,)."""
    rng = np.random.default_rng(seed)
    W = np.asarray(rbm.W, np.float64)
    aB = np.asarray(rbm.a, np.float64)
    b = np.asarray(rbm.b, np.float64)
    dA = aB - aA
    sig = lambda t: 0.5 * (1.0 + np.tanh(0.5 * t))  # noqa: E731  (overflow-free logistic)
    v = (rng.random((n_runs, W.shape[0])) < sig(aA)).astype(np.float64)
    x = v @ W + b
    lw = np.zeros(n_runs)
    K = betas.size - 1
    for k in range(1, K + 1):
        b0, b1 = betas[k - 1], betas[k]
        lw += (b1 - b0) * (v @ dA) + (np.logaddexp(0.0, b1 * x) - np.logaddexp(0.0, b0 * x)).sum(axis=1)
        if k < K:
            h = (rng.random(x.shape) < sig(b1 * x)).astype(np.float64)
            y = h @ W.T + aB
            v = (rng.random(y.shape) < sig(b1 * y + (1.0 - b1) * aA)).astype(np.float64)
            x = v @ W + b
    return lw


def _model():
    try:
        from rbmlib import reference_models
        return reference_models.load_reference("mnist-784x500", train_if_missing=False), "mnist-784x500 (reference)"
    except Exception as exc:  # reference model not available: a stand-in of the same size
        rng = np.random.default_rng(0)
        X = datasets.load_mnist("embedded", "train")
        rbm = rbmlib.RBM(0.05 * rng.standard_normal((784, 500)), ais.base_rate_biases(X), -np.ones(500))
        return rbm, f"random 784x500 stand-in ({type(exc).__name__}: reference model not loaded)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--steps", type=int, default=14500, help="AIS steps for the numba run (default: the full schedule)")
    p.add_argument("--numpy-steps", type=int, default=290, help="steps for the NumPy run (extrapolated)")
    p.add_argument("--repeat", type=int, default=1, help="repetitions of each timing (the minimum is reported)")
    args = p.parse_args(argv)

    rbm, name = _model()
    X = datasets.load_mnist("embedded", "train")
    aA = ais.base_rate_biases(X)
    print(f"model: {name}; machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numba threads {numba.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")

    full = ais.make_schedule(14500)
    sched = full if args.steps == 14500 else ais.make_schedule(args.steps)
    t0 = time.perf_counter()
    ais.log_partition(rbm, n_runs=2, schedule=20, base=aA, seed=0)    # compile (or load the cache)
    print(f"numba compile/cache load: {time.perf_counter() - t0:.1f} s")

    times = []
    for _ in range(args.repeat):
        res = ais.log_partition(rbm, n_runs=args.runs, schedule=sched, base=aA, seed=0)
        times.append(res.wall_s)
    t_nb = min(times)
    chain_steps = args.runs * (sched.size - 1)
    scale_nb = 14500 / (sched.size - 1)
    print(f"numba : {args.runs} runs x {sched.size - 1} steps in {t_nb:.1f} s "
          f"({chain_steps / t_nb:,.0f} run-steps/s); full setting: {t_nb * scale_nb:.0f} s"
          + ("" if scale_nb == 1 else " (extrapolated)")
          + f"; log Z = {res.log_z:.2f} +- {res.log_z_std:.2f}")

    times = []
    pA = 1.0 / (1.0 + np.exp(-aA))
    for _ in range(args.repeat):
        v0 = (np.random.default_rng(0).random((args.runs, rbm.n_visible)) < pA).astype(np.uint8)
        ch = Chains(rbm, args.runs, seed=0, v0=v0)
        t0 = time.perf_counter()
        ch.run(sched.size - 2, beta=np.ascontiguousarray(sched[1:-1]))
        times.append(time.perf_counter() - t0)
    t_s = min(times)
    print(f"sampler on the same path: {args.runs} chains x {sched.size - 2} sweeps in {t_s:.1f} s "
          f"({args.runs * (sched.size - 2) / t_s:,.0f} chain-sweeps/s); AIS / sampler time: {t_nb / t_s:.2f}")

    nsched = ais.make_schedule(args.numpy_steps)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        lw = ais_numpy(rbm, nsched, aA, args.runs, seed=0)
        times.append(time.perf_counter() - t0)
    t_np = min(times)
    scale_np = 14500 / (nsched.size - 1)
    lz_np = ais.base_log_partition(aA, rbm.n_hidden) + float(np.log(np.mean(np.exp(lw - lw.max()))) + lw.max())
    print(f"numpy : {args.runs} runs x {nsched.size - 1} steps in {t_np:.1f} s "
          f"({args.runs * (nsched.size - 1) / t_np:,.0f} run-steps/s); full setting: "
          f"{t_np * scale_np:.0f} s (extrapolated x{scale_np:.0f}); log Z ({nsched.size - 1} steps) = {lz_np:.2f}")
    print(f"speed-up numba / numpy (per run-step): {(t_np * scale_np) / (t_nb * scale_nb):.1f}x")
    check = ais.log_partition(rbm, n_runs=args.runs, schedule=nsched, base=aA, seed=1)
    w = np.exp(lw - lw.max())
    se_np = float(np.std(w, ddof=1) / math.sqrt(lw.size) / np.mean(w))   # delta method, as AISResult.log_z_std
    z = (lz_np - check.log_z) / math.hypot(check.log_z_std, se_np)
    print(f"same-schedule check: numba log Z ({nsched.size - 1} steps) = {check.log_z:.2f} +- {check.log_z_std:.2f}"
          f" vs numpy {lz_np:.2f} +- {se_np:.2f} (z = {z:.1f})")


if __name__ == "__main__":
    main()
