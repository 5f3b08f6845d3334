"""One-shot check of rbmlib's GPU backend on a machine with an NVIDIA GPU: bits, speed, XFT estimate.

Run from the repository root (about 2-4 minutes; prints a summary and writes JSON)::

    python benchmarks/gpu_check.py --out gpu_check.json
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_check.py --smoke --out /tmp/x.json   # the script itself, no GPU

Needs numpy, numba and numba-cuda with the CUDA compiler libraries (``pip install 'rbmlib[cuda]'``,
or ``'rbmlib[cuda13]'`` for a CUDA 13 driver) and the NVIDIA driver; rbmlib is imported from the
checkout (no install needed). PyTorch is optional (``--torch auto``: used if importable).

Steps, each recorded in the JSON (an error in one is recorded and the others still run):

1. ``environment``: GPU, memory, driver/NVVM/numba-cuda versions, CPU.
2. ``bit_identity``: float32 and float64 chains of the model run on the GPU (``--check-chains``,
   default 65,536) through every sweep order, an annealing schedule, per-chain inverse
   temperatures, recorded energies and ``energy()``; for a sample of ``--sample`` chains (the
   first, the last and random ones) the CPU reruns each chain alone (``chain_offset`` = its global
   index: a chain's stream depends only on ``(seed, index)``) and every state, generator word,
   kept field and energy is compared bit for bit. This is the hardware check of the FMA/ordering
   argument in :mod:`rbmlib.kernels.cuda` (the tests prove the algorithm in the simulator).
3. ``throughput``: GPU chain-sweeps per second for float32 and float64 and 32-256 threads per
   chain, sized from a probe so each timing takes about a second; the best float32 setting again
   at the paper's 2,000,000 chains (memory permitting), with and without recorded energies; the CPU
   path (all cores); ``results/xft/gpu_xft.py`` (PyTorch) if present.
4. ``ais_float32`` / ``ais_float64``: 4,096 forward AIS runs of a 300-step schedule on the GPU and
   reverse runs from sampled states; the CPU computes the first 8 of each, compared bit for bit;
   run-steps per second on both and the Salakhutdinov-Murray setting (100 x 14,500) projected.
5. ``xft_estimate``: the paper-scale XFT ensemble (2,000,000 chains x 301 sweeps) on this GPU,
   from the measured float32 rate, and on the CPU and with PyTorch for comparison.

Exit status 0 when every sampled chain and AIS run was bit-identical and no step failed, else 1.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

SEED = 20170427


def beta_chain_of(g):
    """Per-chain inverse-temperature factor of global chain g (so one chain alone gets the same)."""
    g = np.asarray(g, dtype=np.float64)
    return 0.75 + 0.5 * np.mod(g * 0.6180339887498949, 1.0)


def protocol(ch, bc):
    """Every order, beta != 1, a schedule, per-chain factors, energies: returns (recorded energies, energy())."""
    E = [ch.run(12, beta=0.9, order="hv", record_energy=True),
         ch.run(5, beta=np.linspace(0.6, 1.4, 5), beta_chain=bc, order="vh", record_energy=True)]
    ch.run(7, beta=1.3, order="h")
    E.append(ch.run(6, beta=0.8, order="v", record_energy=True))
    return E, ch.energy()


def fields(ch):
    return {k: (x.copy_to_host() if hasattr(x, "copy_to_host") else x) for k, x in ch._fields.items()
            if k in ("FH", "FV", "VS", "HS")}


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")))
    return bool(np.array_equal(a, b))


def check_bits(rbm, n_chains: int, n_sample: int, rng) -> dict:
    """GPU run of n_chains; the CPU reruns a sample of them one by one; compare everything."""
    from rbmlib.sampling import Chains

    t = time.perf_counter()
    g = Chains(rbm, n_chains, seed=SEED, backend="cuda")
    E_gpu, e_gpu = protocol(g, beta_chain_of(np.arange(n_chains)))
    V, H, S, F = g.v, g.h, g.rng_state, fields(g)
    gpu_s = time.perf_counter() - t
    idx = sorted({0, n_chains - 1, *rng.choice(n_chains, size=min(n_sample, n_chains), replace=False).tolist()})
    mismatches = []
    t = time.perf_counter()
    for c in idx:
        ch = Chains(rbm, 1, seed=SEED, chain_offset=c)
        E, e = protocol(ch, beta_chain_of([c]))
        f = fields(ch)
        checks = {"v": (V[c], ch.v[0]), "h": (H[c], ch.h[0]), "rng_state": (S[c], ch.rng_state[0]),
                  "energy()": (e_gpu[c], e[0])}
        checks.update({f"recorded energies {i}": (E_gpu[i][c], E[i][0]) for i in range(len(E))})
        checks.update({f"kept {k}": (F[k][c], f[k][0]) for k in f})
        bad = [name for name, (x, y) in checks.items() if not same_bits(x, y)]
        if bad:
            mismatches.append({"chain": int(c), "differ": bad})
    return {"dtype": rbm.dtype.name, "gpu_chains": n_chains, "sampled_chains": [int(c) for c in idx],
            "identical": not mismatches, "mismatches": mismatches[:20], "n_mismatched": len(mismatches),
            "gpu_s": gpu_s, "cpu_s": time.perf_counter() - t}


def check_ais(rbm, n_runs: int, n_cpu: int, n_steps: int) -> dict:
    """Forward AIS on the GPU (n_runs runs of an n_steps schedule) and reverse AIS from sampled states;
    the CPU computes the first n_cpu runs of each and they are compared bit for bit; rates in run-steps/s."""
    import rbmlib
    from rbmlib import ais

    sched = ais.make_schedule(n_steps)
    ais.log_partition(rbm, n_runs=2, schedule=3, seed=SEED, backend="cuda")          # compile
    t = time.perf_counter()
    g = ais.log_partition(rbm, n_runs=n_runs, schedule=sched, seed=SEED, backend="cuda")
    gpu_s = time.perf_counter() - t
    t = time.perf_counter()
    c = ais.log_partition(rbm, n_runs=n_cpu, schedule=sched, seed=SEED)
    cpu_s = time.perf_counter() - t
    V0 = rbmlib.sample(rbm, n_cpu, 20, seed=SEED)[0]
    rg = ais.reverse_log_partition(rbm, V0, schedule=sched, seed=SEED, backend="cuda")
    rc = ais.reverse_log_partition(rbm, V0, schedule=sched, seed=SEED)
    fwd_same = same_bits(g.log_weights[:n_cpu], c.log_weights)
    rev_same = same_bits(rg.log_weights, rc.log_weights)
    return {"dtype": rbm.dtype.name, "gpu_runs": n_runs, "cpu_runs": n_cpu, "steps": int(len(sched) - 1),
            "identical": bool(fwd_same and rev_same), "forward_identical": bool(fwd_same),
            "reverse_identical": bool(rev_same), "gpu_s": gpu_s, "cpu_s": cpu_s,
            "gpu_run_steps_per_s": n_runs * (len(sched) - 1) / gpu_s,
            "cpu_run_steps_per_s": n_cpu * (len(sched) - 1) / cpu_s,
            "salakhutdinov_100_runs_gpu_s": 100 * 14_500 / (n_runs * (len(sched) - 1) / gpu_s),
            "gpu_log_z": g.log_z, "gpu_log_z_std": g.log_z_std}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="gpu_check.json", help="JSON file to write (default gpu_check.json)")
    p.add_argument("--model", default=None, help="an .npz written by RBM.save (default: the trained 784 x 500)")
    p.add_argument("--check-chains", type=int, default=65_536)
    p.add_argument("--sample", type=int, default=30, help="random chains rerun on the CPU per dtype (default 30)")
    p.add_argument("--torch", choices=["auto", "yes", "no"], default="auto")
    p.add_argument("--budget", type=float, default=240.0, help="seconds after which optional steps are skipped")
    p.add_argument("--smoke", action="store_true",
                   help="tiny model and sizes (runs in numba's CUDA simulator: tests this script without a GPU)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    report = {"script": "benchmarks/gpu_check.py", "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "argv": list(sys.argv[1:] if argv is None else argv), "errors": []}

    def left() -> float:
        return args.budget - (time.perf_counter() - t_start)

    def step(name, fn):
        t = time.perf_counter()
        try:
            report[name] = fn()
        except Exception as e:
            report["errors"].append({"step": name, "error": f"{type(e).__name__}: {e}",
                                     "traceback": traceback.format_exc()[-4000:]})
            print(f"[{name}] FAILED: {type(e).__name__}: {e}", flush=True)
        print(f"[{name}] {time.perf_counter() - t:.1f} s", flush=True)

    def write():
        report["wall_s"] = time.perf_counter() - t_start
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))

    # -- 1. environment ---------------------------------------------------------------------
    try:
        import numba

        import rbmlib
        from rbmlib.sampling import cuda_backend
        kc = cuda_backend()
        import bench_gpu
        from bench_sampler import _cpu_name, _find_model
    except Exception as e:
        report["errors"].append({"step": "environment", "error": f"{type(e).__name__}: {e}"})
        print(f"cannot use the GPU backend here: {type(e).__name__}: {e}", flush=True)
        write()
        return 1
    report["environment"] = {"gpu": bench_gpu.gpu_info(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
                             "python": platform.python_version(), "numpy": np.__version__,
                             "numba": numba.__version__, "rbmlib": rbmlib.__version__}
    print(f"environment: {json.dumps(report['environment'])}", flush=True)
    if args.smoke:
        rbm64 = rbmlib.RBM.random(12, 9, scale=1.0, seed=4)
        origin = "tiny random 12 x 9 model (--smoke)"
        args.check_chains, args.sample = 6, 2
        sizes = {"probe": 4, "max": 6, "paper": 6}
        threads_list = [4, 8]
        timing = {"sweeps": 1, "repeats": 1, "warm": 1}
    else:
        rbm64, origin = _find_model(args.model)
        sizes = {"probe": 65_536, "max": 4_000_000, "paper": 2_000_000}
        threads_list = [32, 64, 128, 256]
        timing = {"sweeps": 10, "repeats": 2, "warm": 20}
    models = {"float32": rbm64.astype(np.float32), "float64": rbm64.astype(np.float64)}
    report["model"] = {"origin": origin, "n_visible": rbm64.n_visible, "n_hidden": rbm64.n_hidden,
                       "fingerprint": rbm64.fingerprint()}
    write()

    # -- 2. bit identity ------------------------------------------------------------------------
    rng = np.random.default_rng(SEED)
    for dt in ("float32", "float64"):
        step(f"bit_identity_{dt}", lambda dt=dt: check_bits(models[dt], args.check_chains, args.sample, rng))
        r = report.get(f"bit_identity_{dt}")
        if r:
            print(f"  {dt}: {len(r['sampled_chains'])} chains compared, identical: {r['identical']}"
                  + ("" if r["identical"] else f" ({r['n_mismatched']} differ: {r['mismatches'][:3]})"), flush=True)
        write()

    # -- 3. throughput --------------------------------------------------------------------------
    tp = report["throughput"] = {"gpu": [], "cpu": None, "torch": None}

    def gpu_sweep():
        probe = bench_gpu.time_gpu(models["float32"], sizes["probe"], min(5, timing["sweeps"]), 1,
                                   warm=min(5, timing["warm"]))
        tp["gpu"].append(probe)
        # chains such that 10 sweeps take ~1 s at the probe's rate, within memory
        n = int(min(sizes["max"], max(sizes["probe"], probe["rate_median"] / 10)))
        for dt in ("float32", "float64"):
            fit = kc.chains_that_fit(rbm64.n_visible, rbm64.n_hidden, np.dtype(dt))
            for t in threads_list:
                if left() < 60:
                    return
                tp["gpu"].append(bench_gpu.time_gpu(models[dt], min(n, fit), timing["sweeps"], timing["repeats"],
                                                    threads=t, warm=timing["warm"]))
                r = tp["gpu"][-1]
                print(f"  cuda {dt} {r['chains']:,} chains {r['threads_per_chain']} threads/chain: "
                      f"{r['rate_median']:.4g} chain-sweeps/s", flush=True)
        best = max((r for r in tp["gpu"] if r["dtype"] == "float32" and r["chains"] > sizes["probe"] // 2),
                   key=lambda r: r["rate_median"])
        fit = kc.chains_that_fit(rbm64.n_visible, rbm64.n_hidden, np.float32, n_record=10)
        n_paper = min(sizes["paper"], fit)
        for record in (False, True):
            if left() < 40:
                return
            r = bench_gpu.time_gpu(models["float32"], n_paper, timing["sweeps"], timing["repeats"],
                                   threads=best["threads_per_chain"], warm=min(10, timing["warm"]), record=record)
            tp["gpu"].append(r)
            print(f"  cuda float32 {n_paper:,} chains, record_energy={record}: {r['rate_median']:.4g} /s", flush=True)

    step("throughput_gpu", gpu_sweep)
    report.pop("throughput_gpu", None)
    write()
    step("throughput_cpu", lambda: bench_gpu.time_cpu(models["float32"], 2_000 if args.smoke else 10_000, 5, 2,
                                                      warm=10))
    tp["cpu"] = report.pop("throughput_cpu", None)
    write()
    use_torch = args.torch == "yes"
    if args.torch == "auto" and not args.smoke:
        try:
            import torch
            use_torch = bool(torch.cuda.is_available())
        except Exception:
            use_torch = False
    if use_torch and left() > 50:
        step("throughput_torch", lambda: bench_gpu.time_torch(models["float32"], 500_000, 5, 25, timeout=max(30, left())))
        tp["torch"] = report.pop("throughput_torch", None)
    else:
        tp["torch"] = {"skipped": "PyTorch with CUDA not available (or --torch no / --smoke / no time left)"}
    write()

    # -- 3b. AIS: bits and rate -------------------------------------------------------------------
    if left() > 30 or args.smoke:
        for dt in ("float32", "float64"):
            step(f"ais_{dt}", lambda dt=dt: check_ais(models[dt], 6 if args.smoke else 4_096, 2 if args.smoke else 8,
                                                      4 if args.smoke else 300))
            r = report.get(f"ais_{dt}")
            if r:
                print(f"  AIS {dt}: identical {r['identical']}, GPU {r['gpu_run_steps_per_s']:.4g} run-steps/s, "
                      f"CPU {r['cpu_run_steps_per_s']:.4g}", flush=True)
            write()

    # -- 4. XFT estimate ----------------------------------------------------------------------------
    est = report["xft_estimate"] = {"chain_sweeps": bench_gpu.XFT_CHAIN_SWEEPS,
                                    "what": "2,000,000 chains x 301 sweeps of the 784 x 500 model (the paper's XFT "
                                            "ensemble), sampler time only"}
    g32 = [r for r in tp["gpu"] if r["dtype"] == "float32" and not r["record_energy"]]
    if g32:
        best = max(g32, key=lambda r: r["rate_median"])
        est["gpu_float32_min"] = bench_gpu.XFT_CHAIN_SWEEPS / best["rate_median"] / 60
        est["gpu_setting"] = {k: best[k] for k in ("chains", "threads_per_chain", "rate_median")}
        rec = [r for r in tp["gpu"] if r["record_energy"]]
        if rec:
            est["gpu_float32_every_sweep_recorded_min"] = bench_gpu.XFT_CHAIN_SWEEPS / rec[-1]["rate_median"] / 60
    if tp["cpu"]:
        est["cpu_float32_min"] = bench_gpu.XFT_CHAIN_SWEEPS / tp["cpu"]["rate_median"] / 60
    if tp["torch"] and "rate" in tp["torch"]:
        est["torch_min"] = bench_gpu.XFT_CHAIN_SWEEPS / tp["torch"]["rate"] / 60
    ok = all(report.get(f"bit_identity_{dt}", {}).get("identical") for dt in ("float32", "float64"))
    ok = ok and all(report.get(f"ais_{dt}", {"identical": True}).get("identical") for dt in ("float32", "float64"))
    report["bit_identical"] = ok
    write()
    print("\nsummary:")
    print(f"  bit-identical to the CPU on the sampled chains: {ok}")
    for k, v in est.items():
        if k.endswith("_min"):
            print(f"  XFT ensemble {k[:-4]:40s}: {v:9.2f} min")
    print(f"  errors: {len(report['errors'])}; JSON written to {args.out} ({time.perf_counter() - t_start:.0f} s)")
    return 0 if ok and not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
