"""The GPU backend (:mod:`rbmlib.kernels.cuda`) against the CPU sampler, bit for bit, without a GPU.

Each test runs its GPU part in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (numba's CUDA
simulator, which numba reads when ``numba.cuda`` is first imported, so it cannot be switched on
inside this pytest process without changing other tests) and compares what the subprocess
wrote with the CPU path computed here. Select them with ``pytest -k "cuda or gpu"``.

The simulator runs the kernels as Python on NumPy scalars, one Python thread per GPU thread: a
bit-for-bit match proves the algorithm, the order of every floating-point operation and the
layout of the random streams, not how the hardware rounds. That the compiled kernels round like
the CPU rests on every product being a ``mul.rn`` (never contracted into an FMA), which
``test_cuda_ptx_has_no_fma`` checks in the PTX when NVVM is installed, and
``benchmarks/gpu_check.py`` checks on a real GPU. Models are tiny (the simulator is slow).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rbmlib
from rbmlib.sampling import Chains

ROOT = Path(__file__).resolve().parents[1]
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(
    not HAVE_NUMBA_CUDA, reason="numba-cuda is not installed (pip install -r requirements.txt, or 'rbmlib[cuda]')")

PRELUDE = """
import sys
import numpy as np
import rbmlib
from rbmlib.sampling import Chains
from rbmlib.kernels import cuda as kc
OUT = {}
def save():
    np.savez(sys.argv[1], **{k: np.asarray(v) for k, v in OUT.items()})
"""


def run_gpu(tmp_path, body: str, *, simulator: bool = True, timeout: int = 900) -> dict:
    """Run PRELUDE + body in a fresh interpreter (simulator on or off); returns what it saved in OUT."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    out = tmp_path / "gpu.npz"
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"GPU subprocess failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def assert_bits(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
    if got.dtype.kind == "f":
        same = got.view(f"u{got.itemsize}") == want.view(f"u{want.itemsize}")
    else:
        same = got == want
    assert np.all(same), f"{what}: {np.count_nonzero(~same)} of {same.size} entries differ"


# The protocol of the main test: every order, beta != 1, an annealing schedule, per-chain
# factors, energies recorded, more than REFRESH (16) updates of each field (recomputations and
# updates by flips), energy().
PROTOCOL = """
def protocol(ch, bc):
    E = [ch.run(7, beta=0.8, order="hv", record_energy=True),
         ch.run(4, beta=np.linspace(0.5, 1.3, 4), beta_chain=bc, order="vh", record_energy=True),
         ch.run(6, beta=1.7, order="h", record_energy=True),
         ch.run(5, beta=0.6, order="v", record_energy=True)]
    e = ch.energy()
    ch.run(3, beta=1.1, order="hv")
    E.append(ch.run(2, beta=0.9, order="vh", record_energy=True))
    return E, e
"""
MODELS = [(6, 5, 1.0, 3, 4), (37, 6, 2.5, 5, 9)]      # (nv, nh, scale, seed, threads per chain)
N_CHAINS, SEED, OFFSET = 5, 11, 3


def _model(nv, nh, scale, seed, dtype):
    return rbmlib.RBM.random(nv, nh, scale=scale, seed=seed).astype(dtype)


def _fields(ch):
    f = ch._fields
    return {k: (x.copy_to_host() if hasattr(x, "copy_to_host") else x) for k, x in f.items()}


@needs_numba_cuda
@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_chains_bit_identical_to_cpu(tmp_path, dtype):
    """Chains(..., backend='cuda') == the CPU: states, streams, kept fields, energies; every order."""
    got = run_gpu(tmp_path, PROTOCOL + f"""
for m, (nv, nh, scale, seed, threads) in enumerate({MODELS!r}):
    rbm = rbmlib.RBM.random(nv, nh, scale=scale, seed=seed).astype("{dtype}")
    kc.THREADS_PER_CHAIN = threads
    ch = Chains(rbm, {N_CHAINS}, seed={SEED}, chain_offset={OFFSET}, backend="cuda")
    assert type(ch).__name__ == "CudaChains" and ch.backend == "cuda"
    E, e = protocol(ch, np.linspace(0.7, 1.6, {N_CHAINS}))
    for i, x in enumerate(E):
        OUT[f"{{m}}E{{i}}"] = x
    OUT[f"{{m}}e"] = e
    OUT[f"{{m}}v"], OUT[f"{{m}}h"], OUT[f"{{m}}rng"] = ch.v, ch.h, ch.rng_state
    for k in ("FH", "FV", "VS", "HS"):
        OUT[f"{{m}}{{k}}"] = ch._fields[k].copy_to_host()
    OUT[f"{{m}}n"] = [ch._fields["n_upd_h"], ch._fields["n_upd_v"]]
save()
""")
    ns = {}
    exec(PROTOCOL, {"np": np}, ns)
    for m, (nv, nh, scale, seed, _) in enumerate(MODELS):
        ch = Chains(_model(nv, nh, scale, seed, dtype), N_CHAINS, seed=SEED, chain_offset=OFFSET)
        E, e = ns["protocol"](ch, np.linspace(0.7, 1.6, N_CHAINS))
        for i, x in enumerate(E):
            assert_bits(got[f"{m}E{i}"], x, f"model {m} energies of run {i}")
        assert_bits(got[f"{m}e"], e, f"model {m} energy()")
        assert_bits(got[f"{m}v"], ch.v, f"model {m} v")
        assert_bits(got[f"{m}h"], ch.h, f"model {m} h")
        assert_bits(got[f"{m}rng"], ch.rng_state, f"model {m} rng_state")
        f = _fields(ch)
        for k in ("FH", "FV", "VS", "HS"):
            assert_bits(got[f"{m}{k}"], f[k], f"model {m} kept field {k}")
        assert got[f"{m}n"].tolist() == [f["n_upd_h"], f["n_upd_v"]] == [22, 21]


@needs_numba_cuda
@pytest.mark.slow
def test_cuda_shards_sample_and_memory_limits(tmp_path):
    """Shards (chain_offset), sample(..., backend='cuda') sharded by hand and by free memory, energies
    recorded in pieces that fit, and the out-of-memory message, all against the CPU."""
    got = run_gpu(tmp_path, """
rbm = rbmlib.RBM.random(9, 7, scale=1.2, seed=8).astype(np.float32)
parts = [Chains(rbm, 3, seed=5, backend="cuda"), Chains(rbm, 4, seed=5, chain_offset=3, backend="cuda")]
for p in parts:
    p.run(9, beta=0.9)
OUT["shard_v"] = np.concatenate([p.v for p in parts])
OUT["shard_h"] = np.concatenate([p.h for p in parts])
OUT["shard_rng"] = np.concatenate([p.rng_state for p in parts])
kc.SHARD_CHAINS = 3
OUT["s_v"], OUT["s_h"] = rbmlib.sample(rbm, 7, 9, beta=0.9, seed=5, chain_offset=2, backend="cuda")
v0 = (np.arange(7 * 9).reshape(7, 9) % 3 == 0).astype(np.uint8)
OUT["s0_v"], OUT["s0_h"] = rbmlib.sample(rbm, 7, 0, beta=1.4, seed=5, v0=v0, backend="cuda")
kc.SHARD_CHAINS = None
per = kc.device_bytes_per_chain(9, 7, np.float32)
kc.free_memory = lambda: (2.6 * per / kc.MEMORY_FRACTION, 1e9)        # room for 2 chains
assert kc.chains_that_fit(9, 7, np.float32) == 2
OUT["m_v"], OUT["m_h"] = rbmlib.sample(rbm, 7, 9, beta=0.9, seed=5, chain_offset=2, backend="cuda")
try:
    Chains(rbm, 7, seed=5, backend="cuda")
except MemoryError as e:
    OUT["oom"] = str(e)
kc.free_memory = lambda: (1e9, 1e9)
ch = Chains(rbm, 4, seed=6, backend="cuda")
kc.free_memory = lambda: (3.5 * 8 * 4 / kc.MEMORY_FRACTION, 1e9)     # energies of 3 sweeps at a time
OUT["E"] = ch.run(8, beta=0.7, order="vh", record_energy=True)
OUT["E_v"] = ch.v
save()
""")
    rbm = rbmlib.RBM.random(9, 7, scale=1.2, seed=8).astype(np.float32)
    whole = Chains(rbm, 7, seed=5)
    whole.run(9, beta=0.9)
    assert_bits(got["shard_v"], whole.v, "shards v")
    assert_bits(got["shard_h"], whole.h, "shards h")
    assert_bits(got["shard_rng"], whole.rng_state, "shards rng_state")
    v, h = rbmlib.sample(rbm, 7, 9, beta=0.9, seed=5, chain_offset=2)
    for key in ("s", "m"):
        assert_bits(got[f"{key}_v"], v, f"sample ({key}) v")
        assert_bits(got[f"{key}_h"], h, f"sample ({key}) h")
    v0 = (np.arange(7 * 9).reshape(7, 9) % 3 == 0).astype(np.uint8)
    v, h = rbmlib.sample(rbm, 7, 0, beta=1.4, seed=5, v0=v0)
    assert_bits(got["s0_v"], v, "sample n_sweeps=0 v")
    assert_bits(got["s0_h"], h, "sample n_sweeps=0 h")
    msg = str(got["oom"])
    assert "about 2 chains fit" in msg and "chain_offset" in msg and "rbmlib.sample" in msg, msg
    ch = Chains(rbm, 4, seed=6)
    assert_bits(got["E"], ch.run(8, beta=0.7, order="vh", record_energy=True), "energies recorded in pieces")
    assert_bits(got["E_v"], ch.v, "v after energies in pieces")


@needs_numba_cuda
@pytest.mark.slow
def test_cuda_chains_api_like_cpu(tmp_path):
    """v0/h0, states written between runs (in place and by assignment), rng_state restored,
    copy(), set_model (also to another dtype): the GPU follows the CPU bit for bit."""
    script = """
def story(ch, other):
    out = {}
    ch.run(5, beta=1.3)
    v = ch.v
    v[0] = 1 - v[0]                       # in place, through the attribute's array
    ch.h = np.ones_like(ch.h)             # by assignment
    ch.run(3, beta=0.7, order="vh")
    twin = ch.copy()
    ch.run(4)
    twin.run(4)
    out["twin_v"], out["twin_h"] = twin.v.copy(), twin.h.copy()
    saved = ch.rng_state.copy()
    ch.run(2)
    ch.rng_state[...] = saved             # restore a checkpointed stream in place
    ch.set_model(other)
    out["E"] = ch.run(6, beta=0.95, record_energy=True)
    out["e"] = ch.energy()
    ch.set_model(other.astype(np.float32))
    out["E32"] = ch.run(18, beta=1.05, order="v", record_energy=True)
    out["v"], out["h"], out["rng"] = ch.v, ch.h, ch.rng_state
    return out
"""
    setup = """
rbm = rbmlib.RBM.random(8, 5, scale=1.5, seed=21)
other = rbmlib.RBM.random(8, 5, scale=0.8, seed=22)
v0 = (np.arange(8) % 2).astype(np.uint8)
h0 = np.zeros((3, 5), np.uint8)
"""
    got = run_gpu(tmp_path, script + setup + """
kc.ENERGY_CHUNK = 2                       # energy() of the 3 chains in two launches
OUT.update(story(Chains(rbm, 3, seed=4, v0=v0, h0=h0, chain_offset=9, backend="cuda"), other))
save()
""")
    ns = {"np": np, "rbmlib": rbmlib}
    exec(script + setup, ns)
    want = ns["story"](Chains(ns["rbm"], 3, seed=4, v0=ns["v0"], h0=ns["h0"], chain_offset=9), ns["other"])
    for k, x in want.items():
        assert_bits(got[k], x, k)


def test_cuda_backend_name_is_checked():
    rbm = rbmlib.RBM.random(3, 2, seed=1)
    with pytest.raises(ValueError, match="backend must be one of"):
        Chains(rbm, 2, backend="gpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        rbmlib.sample(rbm, 2, 1, backend="GPU")


def test_cuda_without_the_extra_says_what_to_install(tmp_path):
    """numba-cuda missing: ImportError naming the extra (this test needs no numba-cuda)."""
    body = """
import sys
sys.modules["numba_cuda"] = None          # as if numba-cuda were not installed
import numpy as np, rbmlib
from rbmlib.sampling import Chains
msgs = []
from rbmlib import ais
for call in (lambda: Chains(rbmlib.RBM.random(3, 2), 2, backend="cuda"),
             lambda: rbmlib.sample(rbmlib.RBM.random(3, 2), 2, 1, backend="cuda"),
             lambda: ais.log_partition(rbmlib.RBM.random(3, 2), n_runs=2, schedule=5, backend="cuda")):
    try:
        call()
    except ImportError as e:
        msgs.append(str(e))
print("\\n".join(msgs))
"""
    proc = subprocess.run([sys.executable, "-c", body], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3, proc.stdout
    for line in lines:
        assert "pip install 'rbmlib[cuda]'" in line and "numba-cuda" in line and "backend='cpu'" in line, line


@needs_numba_cuda
def test_cuda_without_a_gpu_says_why(tmp_path):
    """numba-cuda installed, no GPU (and no simulator): CudaUnavailableError with the reason and the remedies."""
    got = run_gpu(tmp_path, """
from numba import cuda
OUT["has_gpu"] = cuda.is_available()
if not OUT["has_gpu"]:
    from rbmlib import ais
    for call in (lambda: Chains(rbmlib.RBM.random(3, 2), 2, backend="cuda"),
                 lambda: rbmlib.sample(rbmlib.RBM.random(3, 2), 2, 1, backend="cuda"),
                 lambda: ais.log_partition(rbmlib.RBM.random(3, 2), n_runs=2, schedule=5, backend="cuda")):
        try:
            call()
        except kc.CudaUnavailableError as e:
            OUT.setdefault("msg", str(e))
            OUT["n_msg"] = OUT.get("n_msg", 0) + 1
OUT["hint"] = str(kc._compile_hint(RuntimeError("NvvmSupportError: libNVVM cannot be found")))
save()
""", simulator=False)
    assert "rbmlib[cuda]" in str(got["hint"]) and "NVVM" in str(got["hint"])
    if bool(got["has_gpu"]):
        pytest.skip("this machine has a CUDA GPU")
    msg = str(got["msg"])
    assert int(got["n_msg"]) == 3
    for part in ("no usable CUDA GPU", "driver", "pip install 'rbmlib[cuda]'", "NUMBA_ENABLE_CUDASIM=1",
                 "backend='cpu'"):
        assert part in msg, (part, msg)
    # the command line prints it as one error line, no traceback
    cli = subprocess.run([sys.executable, "-c", "import sys; from rbmlib.cli import main; sys.exit(main(sys.argv[1:]))",
                          "ais", "--backend", "cuda", "--model", "mnist-784x20", "--runs", "2", "--schedule", "5",
                          "--heldout-points", "0"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"})
    assert cli.returncode == 1, cli.stderr[-3000:]
    assert cli.stderr.startswith("rbmlib: error: backend='cuda' found no usable CUDA GPU"), cli.stderr[-3000:]
    assert "Traceback" not in cli.stderr


@needs_numba_cuda
def test_cuda_ptx_has_no_fma(tmp_path):
    """The kernels compile for a real GPU (sm_90) and no product is fused with an addition.

    Needs NVVM and NVRTC (``pip install nvidia-nvvm nvidia-cuda-nvrtc``, or the extra); skipped
    without them, as in CI. No GPU is needed: numba-cuda is told the device is sm_90.
    """
    got = run_gpu(tmp_path, """
import re
import numba.cuda.dispatcher as disp
from numba import cuda, types as T
class Dev:
    compute_capability = (9, 0)
disp.get_current_device = lambda: Dev()           # compile device functions without a GPU
try:
    for ft in (T.float32, T.float64):
        sweeps, energies = kc._KERNELS[np.dtype(str(ft))]
        F2, U8, U64 = ft[:, ::1], T.uint8[:, ::1], T.uint64[:, ::1]
        sig = (F2, F2, ft[::1], ft[::1], U8, U8, U64, F2, F2, U8, U8, T.int64, T.int64, T.float64[::1],
               T.float64[::1], T.int64, T.float64[:, ::1], T.boolean, T.int64, T.int64, T.int64)
        OUT[f"{ft}_sweeps"] = cuda.compile_ptx(sweeps.py_func, sig, cc=(9, 0))[0]
        sig = (F2, ft[::1], ft[::1], U8, U8, F2, T.float64[::1], T.int64, T.int64)
        OUT[f"{ft}_energies"] = cuda.compile_ptx(energies.py_func, sig, cc=(9, 0))[0]
    F64 = T.float64
    sig = (F64[:, ::1], F64[::1], F64[::1], T.uint8[:, ::1], T.uint8[:, ::1], F64[::1], T.int64)
    OUT["xft_energies"] = cuda.compile_ptx(kc._energies_f64_kernel.py_func, sig, cc=(9, 0))[0]
    for ft in (T.float32, T.float64):
        F2, U8 = ft[:, ::1], T.uint8[:, ::1]
        sig = (F2, F2, ft[::1], ft[::1], F64[::1], F64[::1], F64[::1], T.uint64[:, ::1], U8, U8, U8, U8, F2, F2,
               F64[:, ::1], F64[::1], T.boolean, T.int64)
        OUT[f"{ft}_ais"] = cuda.compile_ptx(kc._ais_kernel.py_func, sig, cc=(9, 0))[0]
except Exception as e:
    text = f"{type(e).__name__}: {e}"
    if any(s in text.lower() for s in ("nvvm", "nvrtc", "dynamiclib", "libdevice")):
        OUT["skip"] = text.splitlines()[0][:300]
    else:
        raise
save()
""", simulator=False)
    if "skip" in got:
        pytest.skip(f"NVVM/NVRTC not installed: {got['skip']}")
    import re
    for name, ptx in got.items():
        ops = set(re.findall(r"^\s*(?:@%p\d+\s+)?([a-z]+(?:\.[a-z0-9]+)*)", str(ptx), re.M))
        fl = {o for o in ops if o.endswith((".f32", ".f64"))}
        assert not {o for o in fl if o.startswith(("fma.", "mad."))}, (name, sorted(fl))
        assert all(o.startswith("mul.rn.") for o in fl if o.startswith("mul.")), (name, sorted(fl))
        assert not any(".ftz" in o for o in fl), (name, sorted(fl))
        assert any(o.startswith("add.") for o in fl), (name, sorted(fl))     # the parse found float ops


def test_cuda_simulator_tests_run_in_ci():
    """CI must run the simulator tests above, not skip them: numba-cuda is in requirements.txt."""
    if os.environ.get("CI") and not HAVE_NUMBA_CUDA:
        pytest.fail("numba-cuda is missing in CI, so the GPU tests were skipped: pip install -r requirements.txt")


@needs_numba_cuda
@pytest.mark.slow
def test_cuda_gpu_check_script_runs_in_the_simulator(tmp_path):
    """benchmarks/gpu_check.py --smoke (tiny sizes) runs end to end and finds the sampled chains and AIS runs
    identical."""
    import json

    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["bit_identical"] is True and report["errors"] == []
    assert report["bit_identity_float32"]["identical"] and report["bit_identity_float64"]["identical"]
    assert report["throughput"]["gpu"] and report["xft_estimate"]["gpu_float32_min"] > 0
    assert report["ais_float32"]["identical"] and report["ais_float64"]["identical"]


@needs_numba_cuda
def test_cuda_xft_energies_bit_identical(tmp_path):
    """CudaChains.energies_float64() == rbmlib.xft.energies (float64, its summation order) bit for bit."""
    got = run_gpu(tmp_path, """
for m, (nv, nh, dt) in enumerate([(37, 6, np.float32), (5, 40, np.float64)]):
    rbm = rbmlib.RBM.random(nv, nh, scale=3.0, seed=30 + m).astype(dt)
    kc.THREADS_PER_CHAIN = 5
    ch = Chains(rbm, 4, seed=2, backend="cuda")
    OUT[f"{m}e0"] = ch.energies_float64()
    ch.run(3, beta=0.8)
    OUT[f"{m}e1"] = ch.energies_float64()
    OUT[f"{m}v"], OUT[f"{m}h"] = ch.v, ch.h
save()
""")
    for m, (nv, nh, dt) in enumerate([(37, 6, np.float32), (5, 40, np.float64)]):
        rbm = rbmlib.RBM.random(nv, nh, scale=3.0, seed=30 + m).astype(dt)
        ch = Chains(rbm, 4, seed=2)
        assert_bits(got[f"{m}e0"], rbmlib.xft.energies(rbm, ch.v, ch.h), f"model {m} start")
        ch.run(3, beta=0.8)
        assert_bits(got[f"{m}v"], ch.v, f"model {m} v")
        assert_bits(got[f"{m}e1"], rbmlib.xft.energies(rbm, ch.v, ch.h), f"model {m} after 3 sweeps")


XFT_KW = dict(beta1=1.0, beta2s=[0.8, 1.25], n_equil=5, seed=7, order=("hv", "vh", "hvh", "v"), n_branch=2,
              branch_every=2, n_groups=2, shard_size=3, bin_width=1 / 32, q_max=64.0)


def test_cuda_xft_and_tempering_match_the_cpu_bit_for_bit(tmp_path):
    """run_xft (branch mode, every quench order, shards) and tempering.sample with backend='cuda' under the
    simulator give the CPU's histograms, exact sums, moments and states bit for bit."""
    import json
    from rbmlib import tempering, xft
    body = f"""
    import json
    from rbmlib import tempering, xft
    rbm = rbmlib.RBM.random(6, 5, scale=1.0, seed=3).astype(np.float32)
    res = xft.run_xft(rbm, 5, backend="cuda", **{XFT_KW!r})
    OUT["counts"], OUT["moments"], OUT["branch"] = res.counts, res.moments, res.branch_trace
    OUT["sums"] = np.array(json.dumps(res.sums, sort_keys=True))
    OUT["trace"] = np.array(json.dumps([str(t) for t in res.trace]))
    OUT["backend"] = np.array(res.meta["sessions"][-1]["backend"])
    OUT["pt_v"], OUT["pt_h"] = tempering.sample(rbm, [0.5, 0.8, 1.0], 3, 6, seed=2, backend="cuda")
    save()
    """
    got = run_gpu(tmp_path, body)
    rbm = rbmlib.RBM.random(6, 5, scale=1.0, seed=3).astype(np.float32)
    res = xft.run_xft(rbm, 5, **XFT_KW)
    assert_bits(got["counts"], res.counts, "xft counts")
    assert_bits(got["moments"], res.moments, "xft moments")
    assert_bits(got["branch"], res.branch_trace, "xft branch trace")
    assert str(got["sums"]) == json.dumps(res.sums, sort_keys=True)
    assert str(got["trace"]) == json.dumps([str(t) for t in res.trace])
    assert str(got["backend"]) == "cuda"
    v, h = tempering.sample(rbm, [0.5, 0.8, 1.0], 3, 6, seed=2)
    assert_bits(got["pt_v"], v, "tempering v")
    assert_bits(got["pt_h"], h, "tempering h")


def test_cuda_xft_refuses_worker_processes():
    from rbmlib import xft
    rbm = rbmlib.RBM.random(4, 3, seed=1)
    with pytest.raises(ValueError, match="in this process on one GPU"):
        xft.run_xft(rbm, 10, beta2s=[0.9], backend="cuda", workers=2)
    with pytest.raises(ValueError, match="backend must be one of"):
        xft.run_xft(rbm, 10, beta2s=[0.9], backend="tpu")


AIS_BODY = """
from rbmlib import ais
sched = ais.make_schedule(40, "linear")
for dt in (np.float64, np.float32):
    rbm = rbmlib.RBM.random(7, 37, scale=0.6, bias_scale=0.3, seed=3, dtype=dt)
    name = np.dtype(dt).name
    OUT[name + "_fwd"] = ais.log_partition(rbm, n_runs=5, schedule=sched, seed=9, base=np.linspace(-1, 1, 7),
                                           backend="cuda").log_weights
    v0 = (np.random.default_rng(1).random((4, 7)) < 0.4).astype(np.uint8)
    OUT[name + "_rev"] = ais.reverse_log_partition(rbm, v0, schedule=sched, seed=9, backend="cuda").log_weights
small = rbmlib.RBM.random(6, 5, scale=0.8, seed=4, dtype=np.float32)
data = (np.arange(3 * 6).reshape(3, 6) % 4 == 1).astype(np.uint8)
kc.SHARD_CHAINS = 2                                  # shards of 2 runs: the same bits
OUT["raise"] = ais.reverse_log_likelihood(small, data, n_chains=3, schedule=25, seed=4, backend="cuda").per_point
kc.SHARD_CHAINS = None
per = kc.ais_bytes_per_run(6, 5, np.float32)
kc.free_memory = lambda: (3.5 * per / kc.MEMORY_FRACTION, 1e9)     # room for 3 runs at a time
OUT["mem"] = ais.log_partition(small, n_runs=7, schedule=25, seed=2, backend="cuda").log_weights
kc.free_memory = lambda: (0.5 * per / kc.MEMORY_FRACTION, 1e9)     # not one run
try:
    ais.log_partition(small, n_runs=2, schedule=5, seed=2, backend="cuda")
except MemoryError as e:
    OUT["oom"] = str(e)
kc.free_memory = lambda: (1e12, 1e12)
wide = rbmlib.RBM.random(3, 600, scale=0.05, seed=5)              # two partial products of the weight
OUT["wide"] = ais.log_partition(wide, n_runs=2, schedule=3, seed=1, backend="cuda").log_weights
save()
"""


@needs_numba_cuda
def test_cuda_ais_bit_identical_to_cpu(tmp_path):
    """Forward AIS, reverse AIS and RAISE with backend='cuda' give the CPU kernels' log-weights bit for bit:
    float32 and float64 models, two mask words of hidden units, more than REFRESH field updates, a base
    model, shards of runs (by hand and from the free memory), a hidden layer of two partial products; and
    the message when not one run fits."""
    from rbmlib import ais
    got = run_gpu(tmp_path, AIS_BODY)
    sched = ais.make_schedule(40, "linear")
    for dt in (np.float64, np.float32):
        rbm = rbmlib.RBM.random(7, 37, scale=0.6, bias_scale=0.3, seed=3, dtype=dt)
        name = np.dtype(dt).name
        fwd = ais.log_partition(rbm, n_runs=5, schedule=sched, seed=9, base=np.linspace(-1, 1, 7))
        assert_bits(got[name + "_fwd"], fwd.log_weights, f"forward AIS {name}")
        v0 = (np.random.default_rng(1).random((4, 7)) < 0.4).astype(np.uint8)
        rev = ais.reverse_log_partition(rbm, v0, schedule=sched, seed=9)
        assert_bits(got[name + "_rev"], rev.log_weights, f"reverse AIS {name}")
    small = rbmlib.RBM.random(6, 5, scale=0.8, seed=4, dtype=np.float32)
    data = (np.arange(3 * 6).reshape(3, 6) % 4 == 1).astype(np.uint8)
    assert_bits(got["raise"], ais.reverse_log_likelihood(small, data, n_chains=3, schedule=25, seed=4).per_point,
                "RAISE in shards")
    assert_bits(got["mem"], ais.log_partition(small, n_runs=7, schedule=25, seed=2).log_weights,
                "AIS sharded by free memory")
    msg = str(got["oom"])
    assert "one AIS run" in msg and "backend='cpu'" in msg, msg
    wide = rbmlib.RBM.random(3, 600, scale=0.05, seed=5)
    assert_bits(got["wide"], ais.log_partition(wide, n_runs=2, schedule=3, seed=1).log_weights, "600 hidden units")


def test_cuda_ais_backend_is_checked():
    from rbmlib import ais
    rbm = rbmlib.RBM.random(4, 3, seed=1)
    with pytest.raises(ValueError, match="backend must be one of"):
        ais.log_partition(rbm, n_runs=2, schedule=5, backend="gpu")
    with pytest.raises(ValueError, match="in this process on one GPU"):
        ais.log_partition(rbm, n_runs=2, schedule=5, backend="cuda", workers=2)
    with pytest.raises(ValueError, match="in this process on one GPU"):
        ais.reverse_log_likelihood(rbm, np.zeros((2, 4), np.uint8), schedule=5, backend="cuda", checkpoint_dir="x")
    with pytest.raises(ValueError, match="backend must be one of"):
        ais.reverse_log_partition(rbm, np.zeros((2, 4), np.uint8), schedule=5, backend="GPU")
