"""Independent re-implementation of the XFT experiment on a GPU (PyTorch), for a cross-check at full scale.

This is *not* rbmlib's sampler: it uses PyTorch's Philox generator, float32 fields
computed by cuBLAS GEMMs (TF32 disabled) and ``torch.sigmoid``, so its results
are not bit-identical with :func:`rbmlib.xft.run_xft`, only equal in distribution.
It exists because the paper-scale ensemble (2,000,000 chains x 300 sweeps of a
784 x 500 RBM) takes hours on the 2 CPU cores of the book's build machine and
about a minute on one GPU. It writes a file in the format of
:class:`rbmlib.xft.XFTResult` (same fine grid, same fields), so the chapter loads and
analyses it with the same code.

Experiment (as rbmlib.xft.run_xft): every chain starts from uniformly random
``v`` and ``h``, makes ``--sweeps`` block Gibbs sweeps 'hv' (h ~ p(h|v), then
v ~ p(v|h)) at ``beta1 = 1/T1``; then for every order in ``--order`` and every ``T2``,
a copy makes one sweep of that order at ``beta2 = 1/T2`` and the heat
``Q = E(v', h') - E(v, h)`` (float64 energies) is histogrammed on the grid
``[k w, (k+1) w)``, ``w = --bin-width``, separately for even and odd chain indices.

Usage (on a machine with PyTorch and a CUDA GPU; ``--backend numpy`` runs the same
code on the CPU for testing):

    python3 results/xft/gpu_xft.py --model rbmlib/data/mnist-784x500.npz --chains 2000000 \\
        --sweeps 300 --t2 0.9 1.0 1.1 1.25 --seed 20170427 --out xft-gpu.npz
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import tempfile
import time

import numpy as np

FIX_BITS = 20                      # energies rounded to 2**-20 for exact integer sums (as rbmlib.xft)


class Backend:
    """The few array operations the experiment needs, on torch (cuda) or numpy."""

    def __init__(self, name: str, seed: int):
        self.name = name
        if name == "torch":
            import torch
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            self.t = torch
            self.dev = torch.device("cuda")
            self.gen = torch.Generator(device=self.dev)
            self.gen.manual_seed(seed)
        else:
            self.rng = np.random.default_rng(seed)

    def asarray(self, x, dtype):
        if self.name == "torch":
            return self.t.as_tensor(np.ascontiguousarray(x), dtype=getattr(self.t, dtype), device=self.dev)
        return np.ascontiguousarray(x, dtype=dtype)

    def rand(self, n, m):
        if self.name == "torch":
            return self.t.rand((n, m), generator=self.gen, device=self.dev, dtype=self.t.float32)
        return self.rng.random((n, m), dtype=np.float32)

    def bernoulli(self, p):
        u = self.rand(*p.shape)
        return (u < p).to(self.t.float32) if self.name == "torch" else (u < p).astype(np.float32)

    def coin(self, n, m):
        """Uniformly random 0/1 states (each unit on with probability 1/2)."""
        u = self.rand(n, m)
        return (u < 0.5).to(self.t.float32) if self.name == "torch" else (u < 0.5).astype(np.float32)

    def sigmoid(self, x):
        if self.name == "torch":
            return self.t.sigmoid(x)
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)

    def f64(self, x):
        return x.to(self.t.float64) if self.name == "torch" else x.astype(np.float64)

    def i64(self, x):
        return x.to(self.t.int64) if self.name == "torch" else x.astype(np.int64)

    def round(self, x):
        return self.t.round(x) if self.name == "torch" else np.rint(x)

    def floor(self, x):
        return self.t.floor(x) if self.name == "torch" else np.floor(x)

    def bincount(self, idx, n):
        if self.name == "torch":
            return self.t.bincount(idx, minlength=n).cpu().numpy().astype(np.int64)
        return np.bincount(idx, minlength=n).astype(np.int64)

    def arange(self, start, stop):
        if self.name == "torch":
            return self.t.arange(start, stop, device=self.dev, dtype=self.t.int64)
        return np.arange(start, stop, dtype=np.int64)

    def sum_int(self, x) -> int:
        return int(x.sum().item()) if self.name == "torch" else int(x.sum())

    def sync(self):
        if self.name == "torch":
            self.t.cuda.synchronize()


def fingerprint(W, a, b) -> str:
    """rbmlib.RBM.fingerprint of the parameters as stored in the model file."""
    h = hashlib.sha256()
    for arr in (W, a, b):
        h.update(str(arr.shape).encode())
        h.update(arr.dtype.str.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def fixed_sums(B, x) -> tuple[int, int]:
    """Exact sum of rint(x 2^20) and of its square (split into 20-bit halves: no int64 overflow)."""
    k = B.i64(B.round(x * float(2 ** FIX_BITS)))
    hi = k >> FIX_BITS                      # floor division by 2^20
    lo = k - (hi << FIX_BITS)               # in [0, 2^20)
    s1 = B.sum_int(k)
    s_hh, s_hl, s_ll = B.sum_int(hi * hi), B.sum_int(hi * lo), B.sum_int(lo * lo)
    return s1, (s_hh << (2 * FIX_BITS)) + (2 * s_hl << FIX_BITS) + s_ll


def run(args) -> dict:
    with np.load(args.model, allow_pickle=False) as z:
        W, a, b = z["W"], z["a"], z["b"]
    fp = fingerprint(W, a, b)
    nv, nh = W.shape
    B = Backend(args.backend, args.seed)
    W32, a32, b32 = B.asarray(W, "float32"), B.asarray(a, "float32"), B.asarray(b, "float32")
    W64, a64, b64 = B.asarray(W, "float64"), B.asarray(a, "float64"), B.asarray(b, "float64")
    WT32 = W32.T
    beta1 = 1.0 / args.t1
    beta2s = [1.0 / t for t in args.t2]
    orders = list(args.order)
    k_min = -int(round(args.q_max / args.bin_width))
    n_bins = -2 * k_min
    inv_w = 1.0 / args.bin_width
    n_o, n_t = len(orders), len(beta2s)
    counts = np.zeros((n_o, n_t, 2, n_bins), np.int64)
    outside = np.zeros((n_o, n_t, 2, 2), np.int64)
    sums = {"E0": 0, "E0sq": 0, **{k: [[0] * n_t for _ in range(n_o)] for k in ("Q", "Qsq", "D", "Dsq")}}
    n_trace = args.sweeps // 10
    trace = [0] * n_trace

    def energy(v, h):                       # float64, (n,)
        v64, h64 = B.f64(v), B.f64(h)
        return -((v64 @ W64) * h64).sum(1) - v64 @ a64 - h64 @ b64

    def half_h(v, beta):
        return B.bernoulli(B.sigmoid(beta * (v @ W32 + b32)))

    def half_v(h, beta):
        return B.bernoulli(B.sigmoid(beta * (h @ WT32 + a32)))

    B.sync()
    t0 = time.perf_counter()
    done = 0
    while done < args.chains:
        n = min(args.chunk, args.chains - done)
        v = B.coin(n, nv)
        h = B.coin(n, nh)
        for t in range(args.sweeps):
            h = half_h(v, beta1)
            v = half_v(h, beta1)
            if (t + 1) % 10 == 0 and (t + 1) // 10 <= n_trace:
                trace[(t + 1) // 10 - 1] += fixed_sums(B, energy(v, h))[0]
        E0 = energy(v, h)
        s1, s2 = fixed_sums(B, E0)
        sums["E0"] += s1
        sums["E0sq"] += s2
        parity = B.arange(done, done + n) % 2
        Q_first = [None] * n_t
        for io, o in enumerate(orders):
            for it, b2 in enumerate(beta2s):
                v1, h1 = v, h
                for half in o:
                    if half == "h":
                        h1 = half_h(v1, b2)
                    else:
                        v1 = half_v(h1, b2)
                Q = energy(v1, h1) - E0
                k = B.i64(B.floor(Q * inv_w)) - k_min
                under, over = k < 0, k >= n_bins
                for p in (0, 1):
                    outside[io, it, p, 0] += B.sum_int(under & (parity == p))
                    outside[io, it, p, 1] += B.sum_int(over & (parity == p))
                inside = ~(under | over)
                idx = (parity * n_bins + k)[inside]
                counts[io, it] += B.bincount(idx, 2 * n_bins).reshape(2, n_bins)
                s1, s2 = fixed_sums(B, Q)
                sums["Q"][io][it] += s1
                sums["Qsq"][io][it] += s2
                if io == 0:
                    Q_first[it] = Q
                else:
                    s1, s2 = fixed_sums(B, Q - Q_first[it])
                    sums["D"][io][it] += s1
                    sums["Dsq"][io][it] += s2
        done += n
        B.sync()
        print(f"{done:,} / {args.chains:,} chains, {time.perf_counter() - t0:.1f} s", flush=True)
    wall = time.perf_counter() - t0

    device = "cpu (numpy backend)"
    versions = {"numpy": np.__version__}
    if args.backend == "torch":
        device = B.t.cuda.get_device_name(0)
        versions["torch"] = B.t.__version__
        versions["cuda"] = B.t.version.cuda
    config = {"model_fingerprint": fp, "n_visible": int(nv), "n_hidden": int(nh), "model_dtype": W.dtype.name,
              "n_chains": int(args.chains), "beta1": beta1, "beta2s": beta2s, "n_equil": int(args.sweeps),
              "seed": int(args.seed), "orders": orders, "equil_order": "hv", "bin_width": float(args.bin_width),
              "q_max": float(args.q_max), "trace_every": 10}
    meta = {"implementation": "results/xft/gpu_xft.py: PyTorch, Philox RNG, float32 fields (TF32 off), float64 "
                              "energies; independent of rbmlib's sampler (equal in distribution, not in bits)",
            "wall_time_s": wall, "device": device, "versions": versions,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
            "model": args.model, "temperatures": {"t1": args.t1, "t2": list(args.t2)},
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": "python3 results/xft/gpu_xft.py " + " ".join(args.argv)}
    nz = np.flatnonzero(counts.reshape(-1, n_bins).sum(0))
    lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
    record = {"format": "rbmlib.xft.XFTResult", "format_version": 1, "config": config, "first_bin": k_min + lo,
              "n_done": int(args.chains), "sums": sums, "trace": [str(t) for t in trace], "meta": meta}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez_compressed(fh, counts=counts[..., lo:hi], outside=outside,
                            record=np.array(json.dumps(record, sort_keys=True)))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {args.chains:,} chains in {wall:.1f} s on {device}; outside the grid: "
          f"{int(outside.sum())}", flush=True)
    return record


def main(argv=None):
    import sys
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model file written by rbmlib.RBM.save (.npz)")
    p.add_argument("--chains", type=int, default=2_000_000)
    p.add_argument("--sweeps", type=int, default=300)
    p.add_argument("--t1", type=float, default=1.0)
    p.add_argument("--t2", type=float, nargs="+", required=True)
    p.add_argument("--order", nargs="+", default=["hv", "vh"], choices=["hv", "vh", "h", "v"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bin-width", type=float, default=1 / 32)
    p.add_argument("--q-max", type=float, default=1024.0)
    p.add_argument("--chunk", type=int, default=500_000, help="chains per GPU batch")
    p.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    args.argv = argv
    run(args)


if __name__ == "__main__":
    main()
