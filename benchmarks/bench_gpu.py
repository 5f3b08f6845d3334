"""Speed of the GPU backend (``Chains(..., backend='cuda')``) on a 784 x 500 RBM, against the CPU path.

Run on a machine with an NVIDIA GPU and ``pip install 'rbmlib[cuda]'`` (a script, never collected
by pytest)::

    python benchmarks/bench_gpu.py                                   # 500,000 chains, float32 and float64
    python benchmarks/bench_gpu.py --chains 100000 2000000 --threads 32 64 128 256
    python benchmarks/bench_gpu.py --record                          # with energies recorded every sweep
    python benchmarks/bench_gpu.py --torch                           # also results/xft/gpu_xft.py (PyTorch)

What is timed (wall clock; every configuration warmed up first, which also compiles the kernels):

* ``rbmlib cuda`` float32 / float64 -- :meth:`rbmlib.sampling.Chains.run` with ``backend='cuda'``
  (one sweep = h ~ p(h|v), then v ~ p(v|h)), for each number of chains and of threads per chain
  (:data:`rbmlib.kernels.cuda.THREADS_PER_CHAIN`; the bits do not depend on it), after
  ``--warm`` sweeps towards equilibrium (rbmlib's sparse field updates depend on the activity);
* ``rbmlib cpu`` float32 -- the same on the CPU (all cores), ``--cpu-chains`` chains;
* ``gpu_xft.py`` (``--torch``) -- the independent PyTorch implementation of the XFT experiment
  (cuBLAS GEMMs, Philox), run twice with different sweep counts; the difference of the two wall
  times divided by the extra chain-sweeps is its cost per chain-sweep, free of start-up costs.

Rates are chain-sweeps per second. The projected time of the paper's XFT ensemble
(2,000,000 chains x 301 sweeps = 6.02e8 chain-sweeps) is printed for each. The model: ``--model``,
else the trained ``rbmlib/data/mnist-784x500.npz``, else a random MNIST-like model (see
``bench_sampler.py``). ``benchmarks/gpu_check.py`` runs a short selection of this plus a bit-identity
check and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))
from bench_sampler import _cpu_name, _find_model  # noqa: E402

XFT_CHAIN_SWEEPS = 2_000_000 * 301


def gpu_info() -> dict:
    """The GPU, its memory and the versions of the CUDA stack (what numba-cuda reports)."""
    from importlib import metadata

    from numba import cuda

    from rbmlib.kernels import cuda as kc

    info = {"simulator": kc.SIMULATOR}
    try:
        info["numba_cuda"] = metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        info["numba_cuda"] = None
    try:
        dev = cuda.get_current_device()
        name = dev.name
        info["name"] = name.decode() if isinstance(name, bytes) else str(name)
        info["compute_capability"] = list(dev.compute_capability)
        free, total = kc.free_memory()
        info["memory_free_gib"], info["memory_total_gib"] = free / 2 ** 30, total / 2 ** 30
    except Exception as e:  # pragma: no cover - reported, not fatal
        info["device_error"] = f"{type(e).__name__}: {e}"
    if not kc.SIMULATOR:
        try:
            from numba.cuda.cudadrv import driver as drv
            info["driver_cuda_version"] = list(drv.driver.get_version())
        except Exception as e:  # pragma: no cover
            info["driver_error"] = f"{type(e).__name__}: {e}"
        try:
            from numba.cuda.cudadrv import nvvm
            info["nvvm_version"] = list(nvvm.NVVM().get_version())
        except Exception as e:  # pragma: no cover
            info["nvvm_error"] = f"{type(e).__name__}: {e}"
    return info


def _sync():
    from numba import cuda
    cuda.synchronize()


def time_gpu(rbm, n_chains: int, sweeps: int, repeats: int, *, threads=None, warm: int = 30, record=False,
             seed: int = 0) -> dict:
    """Chain-sweeps per second of ``Chains(..., backend='cuda').run(sweeps)`` (median and best of ``repeats``)."""
    from rbmlib.kernels import cuda as kc
    from rbmlib.sampling import Chains

    old = kc.THREADS_PER_CHAIN
    kc.THREADS_PER_CHAIN = threads
    try:
        t = time.perf_counter()
        ch = Chains(rbm, n_chains, seed=seed, backend="cuda")
        setup = time.perf_counter() - t
        t = time.perf_counter()
        ch.run(max(warm, 1))
        _sync()
        warm_s = time.perf_counter() - t
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            ch.run(sweeps, record_energy=record)
            _sync()
            times.append(time.perf_counter() - t)
        out = {"backend": "cuda", "dtype": rbm.dtype.name, "chains": n_chains, "sweeps": sweeps,
               "threads_per_chain": kc.threads_per_chain(rbm.n_visible, rbm.n_hidden), "record_energy": bool(record),
               "seconds": times, "rate_median": n_chains * sweeps / statistics.median(times),
               "rate_best": n_chains * sweeps / min(times), "setup_s": setup, "warm_s": warm_s,
               "activity_v": float(ch.v.mean()), "activity_h": float(ch.h.mean())}
        del ch
        return out
    finally:
        kc.THREADS_PER_CHAIN = old


def time_cpu(rbm, n_chains: int, sweeps: int, repeats: int, *, warm: int = 30, seed: int = 0) -> dict:
    """The same on the CPU (numba, all threads)."""
    import numba

    from rbmlib.sampling import Chains

    ch = Chains(rbm, n_chains, seed=seed)
    ch.run(warm)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        ch.run(sweeps)
        times.append(time.perf_counter() - t)
    return {"backend": "cpu", "dtype": rbm.dtype.name, "chains": n_chains, "sweeps": sweeps,
            "numba_threads": numba.get_num_threads(), "seconds": times,
            "rate_median": n_chains * sweeps / statistics.median(times), "rate_best": n_chains * sweeps / min(times)}


def time_torch(rbm, chains: int, sweeps_short: int, sweeps_long: int, *, timeout: float = 240) -> dict:
    """Cost per chain-sweep of results/xft/gpu_xft.py (PyTorch), from two runs that differ only in sweeps."""
    script = ROOT / "results" / "xft" / "gpu_xft.py"
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.npz"
        rbm.save(model)
        for s in (sweeps_short, sweeps_long):
            out = Path(tmp) / f"xft-{s}.npz"
            cmd = [sys.executable, str(script), "--model", str(model), "--chains", str(chains), "--sweeps", str(s),
                   "--t2", "1.0", "--order", "hv", "--seed", "1", "--chunk", str(chains), "--out", str(out)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
            if proc.returncode != 0:
                raise RuntimeError(f"gpu_xft.py failed: {proc.stderr[-2000:]}")
            with np.load(out) as z:
                rec = json.loads(str(z["record"]))
            walls[s] = {"script_wall_s": time.perf_counter() - t, "experiment_wall_s": rec["meta"]["wall_time_s"],
                        "device": rec["meta"]["device"]}
    extra = walls[sweeps_long]["experiment_wall_s"] - walls[sweeps_short]["experiment_wall_s"]
    per = extra / (chains * (sweeps_long - sweeps_short))
    return {"backend": "torch (results/xft/gpu_xft.py)", "dtype": "float32", "chains": chains,
            "sweeps": [sweeps_short, sweeps_long], "runs": walls, "seconds_per_chain_sweep": per,
            "rate": 1.0 / per if per > 0 else float("inf")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chains", type=int, nargs="+", default=[500_000], help="numbers of GPU chains (default 500000)")
    p.add_argument("--sweeps", type=int, default=10, help="sweeps per timed repeat (default 10)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm", type=int, default=30, help="sweeps before timing (default 30)")
    p.add_argument("--threads", type=int, nargs="+", default=[None],
                   help="threads per chain to try (default: rbmlib's choice)")
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--record", action="store_true", help="record energies every sweep")
    p.add_argument("--cpu-chains", type=int, default=10_000, help="chains for the CPU rate (0: skip)")
    p.add_argument("--torch", action="store_true", help="also time results/xft/gpu_xft.py (needs PyTorch)")
    p.add_argument("--model", default=None, help="an .npz written by RBM.save")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    import rbmlib
    from rbmlib.sampling import cuda_backend

    cuda_backend()                      # clear error without numba-cuda or a GPU
    rbm64, origin = _find_model(args.model)
    models = {"float32": rbm64.astype(np.float32), "float64": rbm64.astype(np.float64)}
    info = gpu_info()
    print(f"rbmlib {rbmlib.__version__} GPU sampler benchmark")
    print(f"GPU    : {json.dumps(info)}")
    print(f"CPU    : {_cpu_name()}, {os.cpu_count()} logical CPUs")
    print(f"model  : {rbm64.n_visible} x {rbm64.n_hidden}, {origin}\n")
    rows = []
    for dt in args.dtype:
        for n in args.chains:
            for t in args.threads:
                r = time_gpu(models[dt], n, args.sweeps, args.repeats, threads=t, warm=args.warm, record=args.record)
                rows.append(r)
                print(f"cuda  {dt:8s} {n:>10,} chains  {r['threads_per_chain']:4d} threads/chain  "
                      f"{r['rate_median']:12.4g} /s (best {r['rate_best']:.4g})  activity v {r['activity_v']:.3f} "
                      f"h {r['activity_h']:.3f}", flush=True)
    if args.cpu_chains:
        r = time_cpu(models["float32"], args.cpu_chains, max(1, args.sweeps // 2), args.repeats)
        rows.append(r)
        print(f"cpu   float32  {args.cpu_chains:>10,} chains  {r['numba_threads']:4d} threads        "
              f"{r['rate_median']:12.4g} /s", flush=True)
    if args.torch:
        r = time_torch(models["float32"], 500_000, 5, 25)
        rows.append(r)
        print(f"torch float32  {500_000:>10,} chains  (gpu_xft.py)          {r['rate']:12.4g} /s", flush=True)
    print(f"\nprojected XFT ensemble of the paper ({XFT_CHAIN_SWEEPS:.3g} chain-sweeps):")
    for r in rows:
        rate = r.get("rate_median", r.get("rate"))
        print(f"  {r['backend']:32s} {r['dtype']:8s} {r['chains']:>10,} chains: {XFT_CHAIN_SWEEPS / rate / 60:8.2f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": info, "model": origin, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
