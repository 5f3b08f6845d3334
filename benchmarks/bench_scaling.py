"""Scaling of the XFT experiment over worker processes (rbmlib.ensemble), with a paper-scale projection.

Times :func:`rbmlib.xft.run_xft` on one workload under several executors and checks
that every executor returns the same bits:

* in-process, 1 and 2 numba threads (the default executor);
* a spawn process pool of 1 and 2 worker processes, 1 numba thread each;
* a Dask ``LocalCluster`` of 1 and 2 worker processes (processes=True, 1 thread each).

Executors are started and warmed up (every worker imports rbmlib and loads the
cached numba kernels) before the clock starts; the start-up time is printed
separately. Each configuration is run ``--repeats`` times; the median and the best
wall time are printed, with the 1-minute load average (``os.getloadavg``) at each
run, since on a shared machine the numbers are only as good as the load lets them
be. The repeats are interleaved (round robin over the configurations, all executors
started beforehand), so that a change of load affects every configuration alike.

The projection for the paper's run (2,000,000 chains x 300 sweeps at T1, then one
quench sweep per order and T2) divides its chain-sweeps by the measured per-worker
rate of the 1-worker pool, times the number of cores, times the measured 2-worker
parallel efficiency (an optimistic bound when the efficiency was measured under
load: it is capped at 1).

Usage::

    .venv/bin/python benchmarks/bench_scaling.py                     # 4,000 chains x 60 sweeps, 3 repeats
    .venv/bin/python benchmarks/bench_scaling.py --chains 20000 --sweeps 100 --repeats 5
    .venv/bin/python benchmarks/bench_scaling.py --quick             # 1,000 chains x 20 sweeps, 1 repeat
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numba
import numpy as np

import rbmlib
from rbmlib import ensemble, xft
from rbmlib.provenance import machine


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def same(a, b) -> bool:
    return (np.array_equal(a.counts, b.counts) and np.array_equal(a.outside, b.outside) and a.sums == b.sums
            and a.trace == b.trace and a.n_done == b.n_done)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mnist-784x500", help="reference model name or .npz file")
    ap.add_argument("--chains", type=int, default=4000)
    ap.add_argument("--sweeps", type=int, default=60, help="equilibration sweeps at T1")
    ap.add_argument("--t2", type=float, nargs="+", default=[0.9, 1.1])
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1,000 chains x 20 sweeps, 1 repeat")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.chains, args.sweeps, args.repeats = 1000, 20, 1

    rbm = rbmlib.RBM.load(args.model) if args.model.endswith(".npz") else rbmlib.reference_models.load_reference(args.model)
    orders = ("hv", "vh")
    kw = dict(beta1=1.0, beta2s=[1.0 / t for t in args.t2], n_equil=args.sweeps, seed=2017, order=orders,
              shard_size=args.shard_size)
    sweeps_per_chain = args.sweeps + len(orders) * len(args.t2)
    work = args.chains * sweeps_per_chain
    print(f"machine: {machine()['cpu']}, {os.cpu_count()} logical CPUs, {platform.platform()}")
    print(f"numba {numba.__version__}, numpy {np.__version__}, "
          f"rbmlib {rbmlib.__version__}")
    print(f"model: {args.model} ({rbm.n_visible}x{rbm.n_hidden} {rbm.dtype.name}); workload: {args.chains:,} chains x "
          f"({args.sweeps} + {len(orders) * len(args.t2)} quench) sweeps = {work:,} chain-sweeps, "
          f"shards of {args.shard_size} ({-(-args.chains // args.shard_size)} shards)")
    print(f"load average at start (1/5/15 min): {load()}\n")

    # one small warm-up in this process (compilation / cache load is not timed)
    xft.run_xft(rbm, 64, **{**kw, "shard_size": 64, "n_equil": 2})

    import numba
    configs = []

    def inproc(threads):
        def run():
            numba.set_num_threads(threads)
            try:
                return xft.run_xft(rbm, args.chains, **kw)
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        return run

    configs.append(("in-process, 1 numba thread", 1, None, inproc(1)))
    configs.append(("in-process, 2 numba threads", 2, None, inproc(2)))
    for n in (1, 2):
        def start(n=n):
            ex = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                     initializer=ensemble._pool_initializer, initargs=(1,))
            # warm every worker: import rbmlib and load the cached kernels
            list(ex.map(_warm, [rbm] * (2 * n)))
            return ex
        configs.append((f"process pool, {n} worker{'s' if n > 1 else ''} x 1 thread", n, start,
                        lambda ex: xft.run_xft(rbm, args.chains, executor=ex, threads=1, **kw)))
    if not args.skip_dask:
        for n in (1, 2):
            def start(n=n):
                from distributed import Client, LocalCluster
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
                client = Client(cluster)
                client.gather(client.map(_warm, [rbm] * (2 * n), pure=False))
                client._bench_cluster = cluster
                return client
            configs.append((f"dask LocalCluster, {n} worker{'s' if n > 1 else ''} x 1 thread", n, start,
                            lambda c: xft.run_xft(rbm, args.chains, executor=c, threads=1, **kw)))

    # start and warm every executor first, then interleave the repeats (round robin over the
    # configurations) so that a change of the machine's load hits all of them alike
    executors, t_starts = [], []
    for name, n_proc, start, run in configs:
        t0 = time.perf_counter()
        executors.append(start() if start else None)
        t_starts.append(time.perf_counter() - t0)
    times = [[] for _ in configs]
    cpus = [[] for _ in configs]
    loads = [[] for _ in configs]
    reference = None
    for rep in range(args.repeats):
        for k, (name, n_proc, start, run) in enumerate(configs):
            loads[k].append(os.getloadavg()[0])
            t0, c0 = time.perf_counter(), time.process_time()
            res = run(executors[k]) if start else run()
            times[k].append(time.perf_counter() - t0)
            # CPU seconds of the computing processes: this one (in-process) or the workers' shards
            cpus[k].append(res.meta["sessions"][-1].get("shard_cpu_s", time.process_time() - c0))
            if reference is None:
                reference = res
            elif not same(res, reference):
                raise SystemExit(f"RESULTS DIFFER under {name}: this must never happen")
            print(f"repeat {rep + 1}: {name:<40} {times[k][-1]:7.2f} s  (1-min load {loads[k][-1]:.1f})", flush=True)
    for ex in executors:
        if ex is None:
            continue
        if hasattr(ex, "_bench_cluster"):
            ex.close()
            ex._bench_cluster.close()
        else:
            ex.shutdown()
    rows = []
    print()
    for k, (name, n_proc, start, run) in enumerate(configs):
        med, best = statistics.median(times[k]), min(times[k])
        cpu = statistics.median(cpus[k])
        lb = f"{min(loads[k]):.1f}-{max(loads[k]):.1f}"
        rows.append((name, n_proc, t_starts[k], med, best, lb, "", cpu))
        print(f"{name:<40} start {t_starts[k]:5.1f} s  median {med:7.2f} s  best {best:7.2f} s  "
              f"{work / med:9,.0f} chain-sweeps/s  CPU {cpu:6.2f} s  1-min load {lb}  "
              f"(all: {', '.join(f'{t:.2f}' for t in times[k])} s)", flush=True)

    print("\nAll executors returned bit-identical results.\n")
    base = {r[0]: r for r in rows}
    ref_name = "process pool, 1 worker x 1 thread"
    t1 = base[ref_name][3]
    print("| executor | worker processes | start-up (s) | wall, median (s) | best (s) | chain-sweeps/s (wall) | "
          "speed-up vs 1 worker | chain-sweeps per CPU-second | 1-min load during the runs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, n, ts, med, best, lb, la, cpu in rows:
        procs = f"0 (this process, {n} thread{'s' if n > 1 else ''})" if name.startswith("in-process") else n
        print(f"| {name} | {procs} | "
              f"{ts:.1f} | {med:.2f} | {best:.2f} | {work / med:,.0f} | {t1 / med:.2f} | {work / cpu:,.0f} | "
              f"{lb} |")

    # projection: per-core rate from CPU time (independent of the load), parallel efficiency from wall time
    rate_cpu = work / base[ref_name][7]     # chain-sweeps per CPU-second of one worker process
    rate_wall = work / t1
    t2 = base["process pool, 2 workers x 1 thread"][3]
    eff = min(1.0, t1 / t2 / 2)
    paper_sweeps = 300 + 2 * 5              # paper: 300 sweeps at T1; say 2 orders x 5 temperatures T2
    paper = 2_000_000 * paper_sweeps
    print(f"\nMeasured per worker process: {rate_cpu:,.0f} chain-sweeps per CPU-second "
          f"({rate_wall:,.0f} per wall-second under this load); 2-worker parallel efficiency (wall) "
          f"{t1 / t2 / 2:.2f}.")
    print(f"Paper-scale run: 2,000,000 chains x {paper_sweeps} sweeps = {paper:.2e} chain-sweeps "
          f"= {paper / rate_cpu / 3600:.1f} core-hours of CPU.")
    print("Projected wall time with one worker process per core, each getting a whole core (ideal; and x the "
          "measured efficiency):")
    print("| machines x cores | workers | ideal | at the measured efficiency |")
    print("| --- | ---: | ---: | ---: |")
    for machines, cores in [(1, 2), (1, 16), (4, 16), (16, 16), (64, 16)]:
        w = machines * cores
        t = paper / (rate_cpu * w)
        print(f"| {machines} x {cores} | {w} | {t / 60:.1f} min | {t / eff / 60:.1f} min |")
    return 0


def _warm(rbm):
    """Runs in a worker: import rbmlib.xft and load its cached kernels (not timed)."""
    from rbmlib import xft as _x
    _x.run_xft(rbm, 8, beta2s=[0.9], n_equil=1, order=("hv", "vh"), shard_size=8)
    return os.getpid()


if __name__ == "__main__":
    raise SystemExit(main())
