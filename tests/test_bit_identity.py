"""The library's "same bits on any machine" claim, tested against committed digests.

Each case below runs one family of rbmlib's stochastic or enumerating kernels on a small
model with a fixed seed and hashes every output array (dtype, shape and raw bytes). The
SHA-256 digests are committed in ``tests/data/golden_bits.json``. The tests fail when a
result differs from the committed one in any bit.

CI runs these tests twice (``make test`` and ``make test-portable``): once as compiled for
the machine's CPU, once with numba compiling for a generic x86-64 CPU (``NUMBA_CPU_NAME=generic``,
no AVX) and numpy's highest SIMD dispatch level switched off. On an AVX-512 CPU the first
pass uses 512-bit vectors (:mod:`rbmlib.kernels.target`); :func:`test_bits_with_numbas_own_vector_width`
reruns a few cases with numba's own choice (256-bit there). Passing all shows that the bits do
not depend on the vector width the code was compiled for.

A deliberate change of the arithmetic (a new sampler version, say) changes the digests:
regenerate them with ``python tests/test_bit_identity.py --update`` and say why in the commit.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import rbmlib
from rbmlib import ais, exact, thermo, training, xft
from rbmlib.sampling import Chains

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_bits.json"


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for x in arrays:
        x = np.ascontiguousarray(np.asarray(x))
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(x.tobytes())
    return h.hexdigest()


def _model(nv, nh, dtype=np.float64, seed=3, scale=0.6):
    return rbmlib.RBM.random(nv, nh, scale=scale, bias_scale=0.3, seed=seed, dtype=dtype)


def _data(n, nv, seed=5):
    return (np.random.default_rng(seed).random((n, nv)) < 0.3).astype(np.uint8)


def case_chains(dtype, order):
    # 40 sweeps cross several kept-field refreshes (kernels.REFRESH); energies recorded per sweep
    ch = Chains(_model(40, 30, dtype), 64, seed=11, chain_offset=5)
    energy = ch.run(40, beta=1.0, order=order, record_energy=True)
    return ch.v, ch.h, energy


def case_chains_beta_per_chain(dtype):
    ch = Chains(_model(25, 18, dtype), 48, seed=12, v0=_data(48, 25))
    ch.run(7, beta_chain=np.linspace(0.2, 2.0, 48).astype(np.float64), order="vh")
    return ch.v, ch.h


def case_sample(dtype):
    return rbmlib.sample(_model(30, 20, dtype), 50, 9, beta=0.7, seed=13)


def case_train(method, dtype):
    rbm = training.train(12, _data(40, 20), method=method, k=2, epochs=2, batch_size=10, learning_rate=0.05,
                         momentum=0.5, weight_decay=1e-4, seed=14, progress=False, dtype=dtype, threads=1)
    return rbm.W, rbm.a, rbm.b


def case_ais_forward():
    res = ais.log_partition(_model(16, 10, scale=0.3), n_runs=12, schedule=ais.make_schedule(300, "linear"),
                            seed=15, threads=1)
    return np.asarray(res.log_weights)


def case_ais_reverse():
    res = ais.reverse_log_partition(_model(16, 10, scale=0.3), n_runs=12, schedule=ais.make_schedule(300, "linear"),
                                    seed=16)
    return np.asarray(res.log_weights)


def case_xft():
    res = xft.run_xft(_model(20, 12, np.float32, scale=0.4), 3000, beta2s=[0.8, 1.25], n_equil=20, seed=17,
                      shard_size=1000, threads=1)
    exact_sums = np.frombuffer(json.dumps(res.sums, sort_keys=True).encode(), dtype=np.uint8)
    return res.counts, res.outside, np.array([str(int(x)) for x in np.ravel(res.trace)]), exact_sums


def case_exact():
    rbm = _model(30, 16, scale=0.2)
    return np.array([exact.log_partition(rbm, b) for b in (0.5, 1.0, 3.0)]), exact.mean_energy(rbm, 1.0)


def case_protocol():
    base = _model(10, 6, scale=0.5)
    protocol = thermo.Protocol([base.scaled(b) for b in np.linspace(1.0, 0.7, 6)])
    run = thermo.run_protocol(protocol, 200, seed=18, order="hv")
    return run.work, run.heat


CASES = {
    **{f"chains-{np.dtype(d).name}-{o}": (lambda d=d, o=o: case_chains(d, o))
       for d in (np.float64, np.float32) for o in ("hv", "vh", "h", "v")},
    **{f"chains-beta-per-chain-{np.dtype(d).name}": (lambda d=d: case_chains_beta_per_chain(d))
       for d in (np.float64, np.float32)},
    **{f"sample-{np.dtype(d).name}": (lambda d=d: case_sample(d)) for d in (np.float64, np.float32)},
    **{f"train-{m}-{np.dtype(d).name}": (lambda m=m, d=d: case_train(m, d))
       for m in ("pcd", "cd") for d in (np.float64, np.float32)},
    "ais-forward": case_ais_forward,
    "ais-reverse": case_ais_reverse,
    "xft": case_xft,
    "exact-log-partition": case_exact,
    "protocol-work-heat": case_protocol,
}


def compute(name) -> str:
    out = CASES[name]()
    return digest(*(out if isinstance(out, (tuple, list)) else [out]))


def _golden() -> dict:
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: create it with `python tests/test_bit_identity.py --update`.")
    return json.loads(GOLDEN.read_text())["digests"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bits_match_the_committed_digest(name):
    golden = _golden()
    assert name in golden, f"no committed digest for {name!r}: run `python tests/test_bit_identity.py --update`."
    assert compute(name) == golden[name], (
        f"{name}: the bits differ from the committed digest (tests/data/golden_bits.json). Either the arithmetic "
        f"changed on purpose (then regenerate the digests and say why in the commit) or the result depends on the "
        f"machine, the thread count or the SIMD level it was compiled for, which breaks the reproducibility promise.")


def test_bits_with_numbas_own_vector_width(tmp_path):
    """The sampler, AIS and enumeration cases again with RBMLIB_VECTOR_WIDTH=native (numba's own vector
    width: 256-bit on AVX-512 Xeons) in a fresh process and numba cache: the committed digests."""
    import os
    import subprocess

    names = ["chains-float32-hv", "chains-float64-vh", "ais-forward", "exact-log-partition"]
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")}
    env.update(RBMLIB_VECTOR_WIDTH="native", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_bit_identity as t; "
            "from rbmlib.kernels import target; "
            f"print(json.dumps({{'status': target.STATUS, 'digests': {{n: t.compute(n) for n in {names!r}}}}}))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "unchanged: RBMLIB_VECTOR_WIDTH=native"
    golden = _golden()
    for n in names:
        assert out["digests"][n] == golden[n], f"{n}: bits depend on the vector width"


def test_every_committed_digest_has_a_case():
    assert sorted(_golden()) == sorted(CASES)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_bit_identity.py --update   (rewrites tests/data/golden_bits.json)")
    from rbmlib import kernels
    digests = {name: compute(name) for name in sorted(CASES)}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps({
        "about": "SHA-256 of the outputs of tests/test_bit_identity.py's cases; same bits on any machine",
        "sampler_version": getattr(kernels, "SAMPLER_VERSION", None),
        "digests": digests}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(digests)} digests to {GOLDEN}")
