"""Speed of block Gibbs sampling on a 784 x 500 RBM: rbmlib vs scikit-learn vs NumPy/BLAS.

Run (a script, not a test; it is never collected by pytest)::

    .venv/bin/python benchmarks/bench_sampler.py            # 10,000 chains
    .venv/bin/python benchmarks/bench_sampler.py --quick    # a few seconds
    .venv/bin/python benchmarks/bench_sampler.py --model path/to/model.npz --threads 2

What is timed (wall clock, all threads; every method warmed up first):

* ``rbmlib`` float32 / float64 -- :meth:`rbmlib.sampling.Chains.run`, the engine of
  :func:`rbmlib.sample` (one sweep = h ~ p(h|v), then v ~ p(v|h)).
* ``sklearn`` float32 / float64 -- ``BernoulliRBM.gibbs`` (one full sweep v -> h -> v
  per call) with ``components_``, ``intercept_hidden_``, ``intercept_visible_`` and
  ``random_state`` set to the same model.
* ``numpy`` float32 -- a plain NumPy/BLAS sweep (sgemm, expit, uniform draws).
* ``dense sgemm bound`` -- the two float32 products alone
  (n x 784 @ 784 x 500 and n x 500 @ 500 x 784): no dense implementation can be
  faster than this.

Rates are chain-sweeps per second (chains x sweeps / seconds); each method is
timed ``--repeats`` times and the median (and best) reported. On a machine
shared with other work, ``--threads 1 --clock cpu`` gives per-core rates that
time-sharing disturbs much less than wall-clock rates do. The chains are
first brought near equilibrium so that the activity (fraction of units on) is
the one of the model, which matters for rbmlib's sparse field updates.

The model: ``--model PATH`` (an ``RBM.save`` file), else a trained 784 x 500 model
shipped in ``rbmlib/data`` if there is one, else a random model with MNIST-like
equilibrium activity (~13 % of units on: biases -2, couplings N(0, 0.05^2)).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _cpu_name() -> str:
    """The CPU model, as every result of rbmlib records it (:func:`rbmlib.provenance.machine`)."""
    from rbmlib.provenance import machine
    return machine()["cpu"]


def _find_model(path: str | None):
    from rbmlib import RBM

    if path:
        return RBM.load(path), f"loaded from {path}"
    data = Path(__file__).resolve().parent.parent / "rbmlib" / "data"
    for f in sorted(data.glob("*.npz")):
        try:
            m = RBM.load(f)
        except Exception:  # not an RBM file (e.g. a data set)
            continue
        if (m.n_visible, m.n_hidden) == (784, 500):
            return m, f"trained model {f.name}"
    rng = np.random.default_rng(0)
    W = 0.05 * rng.standard_normal((784, 500))
    m = RBM(W, np.full(784, -2.0), np.full(500, -2.0),
            metadata={"made_by": "benchmarks/bench_sampler.py", "seed": 0})
    return m, "random MNIST-like model (a = b = -2, W ~ N(0, 0.05^2), seed 0)"


def _time(fn, repeats: int, clock) -> list[float]:
    out = []
    for _ in range(repeats):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chains", type=int, default=10_000, help="number of chains (default 10000)")
    p.add_argument("--sweeps", type=int, default=10, help="sweeps per timed repeat (default 10)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per method (default 5)")
    p.add_argument("--quick", action="store_true", help="2000 chains, 3 sweeps, 2 repeats")
    p.add_argument("--model", default=None, help="an .npz written by RBM.save (784 x 500 or any size)")
    p.add_argument("--threads", type=int, default=None,
                   help="numba and BLAS threads (default: numba's default / BLAS's default)")
    p.add_argument("--skip-sklearn", action="store_true", help="do not time scikit-learn")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (default); cpu: CPU time of this process, summed over its "
                        "threads -- with --threads 1 a per-core rate that other processes sharing the "
                        "machine disturb much less")
    args = p.parse_args(argv)
    if args.quick:
        args.chains, args.sweeps, args.repeats = 2000, 3, 2

    import numba
    from scipy.special import expit
    from threadpoolctl import threadpool_info, threadpool_limits

    import rbmlib
    from rbmlib.sampling import Chains

    if args.threads:
        numba.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    rbm64, origin = _find_model(args.model)
    rbm64 = rbm64.astype(np.float64)
    rbm32 = rbm64.astype(np.float32)
    n, S, R = args.chains, args.sweeps, args.repeats
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    nv, nh = rbm64.n_visible, rbm64.n_hidden

    print(f"rbmlib {rbmlib.__version__} sampler benchmark")
    print(f"machine : {_cpu_name()}, {os.cpu_count()} logical CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes make timings noisy)")
    print(f"python  : {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"threads : numba {numba.get_num_threads()}; BLAS: "
          + ", ".join(f"{i['internal_api']} {i.get('version', '')} x{i['num_threads']}"
                      for i in threadpool_info() if i.get("user_api") == "blas"))
    print(f"model   : {nv} x {nh}, {origin}")
    print(f"run     : {n} chains, {S} sweeps per repeat, {R} repeats (median and best reported), "
          f"{args.clock} clock\n")

    results = []  # (name, dtype, seconds list)

    # -- rbmlib -------------------------------------------------------------
    activity = {}
    for rbm in (rbm32, rbm64):
        ch = Chains(rbm, n, seed=0)
        ch.run(30)                      # compile + approach equilibrium
        activity[rbm.dtype.name] = (float(ch.v.mean()), float(ch.h.mean()))
        results.append(("rbmlib.sample", rbm.dtype.name, _time(lambda: ch.run(S), R, clock)))
    print(f"threading layer used by numba: {numba.threading_layer()}")
    va, ha = activity["float32"]
    print(f"equilibrium activity (rbmlib float32 chains): visible {va:.3f}, hidden {ha:.3f}\n")

    # starting states for the others: rbmlib's equilibrated chains
    ch = Chains(rbm32, n, seed=1)
    ch.run(30)
    v_start = ch.v

    # -- scikit-learn -------------------------------------------------------
    if not args.skip_sklearn:
        from sklearn.neural_network import BernoulliRBM

        for rbm in (rbm32, rbm64):
            dt = rbm.dtype
            sk = BernoulliRBM(n_components=nh, random_state=0)
            sk.components_ = np.ascontiguousarray(rbm.W.T, dtype=dt)
            sk.intercept_hidden_ = np.array(rbm.b, dtype=dt)
            sk.intercept_visible_ = np.array(rbm.a, dtype=dt)
            sk.random_state_ = np.random.RandomState(0)
            state = {"v": v_start.astype(dt)}

            def run_sk(sk=sk, state=state):
                v = state["v"]
                for _ in range(S):
                    v = sk.gibbs(v)
                state["v"] = v

            run_sk()                                            # warm-up
            results.append(("sklearn BernoulliRBM.gibbs", dt.name, _time(run_sk, R, clock)))

    # -- plain NumPy / BLAS ---------------------------------------------------
    W32 = np.ascontiguousarray(rbm32.W)
    WT32 = np.ascontiguousarray(rbm32.W.T)
    a32, b32 = np.array(rbm32.a), np.array(rbm32.b)
    gen = np.random.default_rng(0)
    st = {"v": v_start.astype(np.float32)}

    def run_np():
        v = st["v"]
        for _ in range(S):
            ph = expit(v @ W32 + b32)
            h = (gen.random(ph.shape, dtype=np.float32) < ph).astype(np.float32)
            pv = expit(h @ WT32 + a32)
            v = (gen.random(pv.shape, dtype=np.float32) < pv).astype(np.float32)
        st["v"] = v

    run_np()
    results.append(("numpy/BLAS sweep", "float32", _time(run_np, R, clock)))

    # -- the two dense products alone ----------------------------------------
    V = v_start.astype(np.float32)
    H = (gen.random((n, nh), dtype=np.float32) < 0.13).astype(np.float32)

    def run_gemm():
        for _ in range(S):
            np.matmul(V, W32)
            np.matmul(H, WT32)

    run_gemm()
    results.append(("dense sgemm bound (2 products)", "float32", _time(run_gemm, R, clock)))

    # -- table -----------------------------------------------------------------
    def rate(sec):
        return n * S / sec

    rows = [(name, dt, rate(statistics.median(t)), rate(min(t))) for name, dt, t in results]
    ref = {(r[0], r[1]): r[2] for r in rows}
    ours32 = ref[("rbmlib.sample", "float32")]
    sk32 = ref.get(("sklearn BernoulliRBM.gibbs", "float32"))
    dense = ref[("dense sgemm bound (2 products)", "float32")]
    head = f"{'method':32s} {'dtype':8s} {'median /s':>12s} {'best /s':>12s} {'rbmlib32 is x faster':>21s}"
    print(head)
    print("-" * len(head))
    for name, dt, med, best in rows:
        print(f"{name:32s} {dt:8s} {med:12.4g} {best:12.4g} {ours32 / med:21.2f}")
    print("\n(rates are chain-sweeps per second at", n, "chains)")
    if sk32:
        print(f"rbmlib float32 / sklearn float32      : {ours32 / sk32:.2f}x   (goal >= 3)")
    print(f"rbmlib float32 / dense sgemm bound    : {ours32 / dense:.2f}x   (> 1: faster than any dense method)")
    ours64 = ref[("rbmlib.sample", "float64")]
    total = 2_000_000 * 301
    print(f"\nprojected XFT ensemble of the paper (2,000,000 chains x 301 sweeps = {total:.3g} chain-sweeps) "
          f"on this machine:")
    for label, r in (("rbmlib float32", ours32), ("rbmlib float64", ours64), ("dense sgemm bound", dense)):
        sec = total / r
        print(f"  {label:18s}: {sec / 60:8.1f} min  ({sec / 3600:.2f} h)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
