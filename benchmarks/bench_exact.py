"""Exact log Z of a 784 x 20 RBM (2**20 Gray-code states x 784 softplus): this kernel vs the one before it.

Run (a script, not a test; it is never collected by pytest)::

    .venv/bin/python benchmarks/bench_exact.py                 # mnist-784x20, 1 and 2 threads, best of 5
    .venv/bin/python benchmarks/bench_exact.py --quick         # its first 16 hidden units (16 x fewer states)
    .venv/bin/python benchmarks/bench_exact.py --energy        # also rbmlib.exact.mean_energy
    .venv/bin/python benchmarks/bench_exact.py --threads 2 --repeats 9
    .venv/bin/python benchmarks/bench_exact.py --model model.npz --old-rev <commit>

What is timed, in the same process and on the same model, alternating the two so that
changes in the machine's load hit both alike:

* ``new``: :func:`rbmlib.exact.log_partition` (and :func:`~rbmlib.exact.mean_energy`) as they
  are in the working tree: :mod:`rbmlib.kernels.enumeration` (softplus / sigmoid in plain
  arithmetic, vectorised, three passes per state, 16-lane sums);
* ``old``: the same functions from ``rbmlib/exact.py`` at ``--old-rev`` (default: the last
  commit with the libm kernel, scalar ``math.exp`` / ``math.log1p`` per element), read with
  ``git show`` into a temporary module. Nothing of it is kept in the library.

Each (implementation, threads) pair is run once to compile, then ``--repeats`` times; the
best and median wall-clock times are printed with the CPU time of the best run, the
1-minute load average when it ran, and ``ns/elem``: wall time x threads per state x unit
(per core). The two results are compared (relative difference; they differ in the last
bits, since the new kernel's arithmetic is its own). Timings on a machine shared with other
jobs vary by tens of percent: read the best of many runs and the load next to it.

The model: ``--model PATH`` (an ``RBM.save`` file), else the committed ``mnist-784x20``
reference model (``rbmlib.reference_models``), else a random 784 x 20 model.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import rbmlib
from rbmlib import exact
from rbmlib.provenance import machine

ROOT = Path(__file__).resolve().parent.parent
#: The last commit whose rbmlib/exact.py enumerates with the libm kernel (math.exp / math.log1p per element).
OLD_REV = "0d1436b8842f670d0bc57b0028d160659daa89f6"


def _load_old(rev: str, tmp: Path):
    """``rbmlib/exact.py`` at ``rev`` as the module ``rbmlib._bench_old_exact`` (its relative imports resolve
    against the installed rbmlib, which must still provide them)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:rbmlib/exact.py"], check=True,
                         capture_output=True, text=True).stdout
    path = tmp / "bench_old_exact.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("rbmlib._bench_old_exact", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _model(path: str | None, quick: bool):
    if path:
        rbm = rbmlib.RBM.load(path)
        name = path
    else:
        try:
            from rbmlib.reference_models import load_reference
            rbm = load_reference("mnist-784x20", train_if_missing=False)
            name = "mnist-784x20 (committed reference model)"
        except Exception as exc:                                   # noqa: BLE001 - any failure: random model
            rbm = rbmlib.RBM.random(784, 20, scale=0.05, bias_scale=1.0, seed=0)
            name = f"random 784 x 20 ({type(exc).__name__}: no reference model)"
    if quick:
        W = np.asarray(rbm.W)
        if rbm.n_hidden <= rbm.n_visible:
            rbm = rbmlib.RBM(W[:, :16].copy(), np.asarray(rbm.a).copy(), np.asarray(rbm.b)[:16].copy())
        else:
            rbm = rbmlib.RBM(W[:16].copy(), np.asarray(rbm.a)[:16].copy(), np.asarray(rbm.b).copy())
        name += ", first 16 units of the smaller layer"
    return rbm, name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="an RBM.save file (default: the mnist-784x20 reference model)")
    p.add_argument("--quick", action="store_true", help="only 16 units of the smaller layer (16 x fewer states)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="numba thread counts (default: 1 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per implementation and thread count")
    p.add_argument("--energy", action="store_true", help="also time rbmlib.exact.mean_energy")
    p.add_argument("--old-rev", default=OLD_REV, help="commit of the reference implementation (default: %(default)s)")
    p.add_argument("--no-old", action="store_true", help="time the working tree's kernel only")
    p.add_argument("--beta", type=float, default=1.0)
    args = p.parse_args(argv)

    rbm, name = _model(args.model, args.quick)
    n_small, n_large = min(rbm.n_visible, rbm.n_hidden), max(rbm.n_visible, rbm.n_hidden)
    elements = 2.0 ** n_small * n_large
    print(f"machine : {machine()['cpu']}, {os.cpu_count()} logical CPUs, numba {numba.__version__} "
          f"({numba.config.THREADING_LAYER} threading, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}), "
          f"NUMBA_CPU_NAME={os.environ.get('NUMBA_CPU_NAME', '(host)')}, python {platform.python_version()}")
    print(f"model   : {name}: {rbm.n_visible} x {rbm.n_hidden}, 2**{n_small} states x {n_large} units = "
          f"{elements:.3g} softplus per log Z; beta = {args.beta}")
    print(f"load    : {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start (1, 5, 15 min averages)")

    funcs = {"new": exact}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_old:
            funcs["old"] = _load_old(args.old_rev, Path(tmp))
            print(f"old     : rbmlib/exact.py at {args.old_rev[:12]}")
        what = [("log Z", "log_partition")] + ([("<E>", "mean_energy")] if args.energy else [])
        limit = dict(max_units=n_small)
        print()
        print(f"{'quantity':8s} {'impl':4s} {'threads':>7s} {'best s':>8s} {'median s':>9s} {'cpu/wall':>8s} "
              f"{'ns/elem':>8s} {'load':>5s}  value")
        for label, fname in what:
            results = {}
            for threads in args.threads:
                numba.set_num_threads(threads)
                times = {impl: [] for impl in funcs}
                for impl, mod in funcs.items():                                 # compile + first result
                    results[impl] = getattr(mod, fname)(rbm, args.beta, **limit)
                for _ in range(args.repeats):
                    for impl, mod in funcs.items():
                        load = os.getloadavg()[0]
                        c0, t0 = time.process_time(), time.perf_counter()
                        getattr(mod, fname)(rbm, args.beta, **limit)
                        t1, c1 = time.perf_counter(), time.process_time()
                        times[impl].append((t1 - t0, c1 - c0, load))
                best = {}
                for impl in funcs:
                    wall, cpu, load = min(times[impl])
                    best[impl] = wall
                    med = statistics.median(t[0] for t in times[impl])
                    print(f"{label:8s} {impl:4s} {threads:7d} {wall:8.3f} {med:9.3f} {cpu / wall:8.2f} "
                          f"{wall * threads / elements * 1e9:8.3f} {load:5.2f}  {results[impl]!r}")
                if "old" in best:
                    print(f"{'':8s} speed-up with {threads} thread(s): {best['old'] / best['new']:.2f}x (best times)")
            if "old" in results:
                rel = abs(results["new"] - results["old"]) / abs(results["old"])
                print(f"{'':8s} |new - old| / |old| = {rel:.1e}")
            print()
    print(f"load    : {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
