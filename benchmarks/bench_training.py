#!/usr/bin/env python
"""One training epoch of a 784x500 RBM on the 8,000 embedded MNIST digits: rbmlib vs scikit-learn.

Usage::

    python benchmarks/bench_training.py [--repeats 3] [--threads N] [--hidden 500] [--batch-size 100]

Both sides do the same work per minibatch of 100 digits: persistent CD with one
Gibbs sweep (scikit-learn's BernoulliRBM is PCD-1 with as many persistent chains
as the batch size), mean-field hidden probabilities in both phases, learning rate
0.05, no momentum, no weight decay; scikit-learn with ``n_iter=1`` (one epoch).
rbmlib is also timed for CD-1. Each timing is the wall time of one full call
(after a warm-up call that compiles the numba kernels), repeated; the minimum
and the median are reported with the thread settings, since timings on a
shared machine are noisy. Never run as a test.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="numba and BLAS threads (default: all)")
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args(argv)

    import numba
    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_info, threadpool_limits

    from rbmlib import datasets, training

    if args.threads:
        numba.set_num_threads(args.threads)
    n_threads = numba.get_num_threads()
    X = datasets.load_mnist()  # (8000, 784) uint8 0/1
    Xf = X.astype(np.float64)
    nh, bs = args.hidden, args.batch_size

    def rbmlib_run(method):
        return training.train(nh, X, method=method, k=1, epochs=1, batch_size=bs, learning_rate=0.05,
                              momentum=0.0, seed=0, progress=False, threads=n_threads)

    def sklearn_run():
        return BernoulliRBM(n_components=nh, batch_size=bs, n_iter=1, learning_rate=0.05, random_state=0).fit(Xf)

    with threadpool_limits(args.threads):
        training.train(nh, X[:2 * bs], epochs=1, batch_size=bs, progress=False)  # compile / load numba cache
        training.train(nh, X[:2 * bs], method="cd", epochs=1, batch_size=bs, progress=False)
        rows = [
            ("rbmlib PCD-1 (train, method='pcd')", timed(lambda: rbmlib_run("pcd"), args.repeats)),
            ("rbmlib CD-1  (train, method='cd')", timed(lambda: rbmlib_run("cd"), args.repeats)),
            ("scikit-learn BernoulliRBM.fit (PCD-1, n_iter=1)", timed(sklearn_run, args.repeats)),
        ]
        blas = [f"{d.get('internal_api')} {d.get('num_threads')} threads" for d in threadpool_info()
                if d.get("user_api") == "blas"]

    print(f"One epoch, {X.shape[0]} digits, 784x{nh} RBM, minibatch {bs} ({-(-X.shape[0] // bs)} updates)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"numba threads {n_threads}; BLAS: {', '.join(blas) or 'none found'}")
    print(f"{'':50s} {'min [s]':>8s} {'median [s]':>10s}")
    for name, ts in rows:
        print(f"{name:50s} {min(ts):8.2f} {statistics.median(ts):10.2f}")
    base = min(rows[2][1])
    print(f"speed-up of rbmlib PCD-1 over scikit-learn (min/min): {base / min(rows[0][1]):.1f}x")


if __name__ == "__main__":
    main()
