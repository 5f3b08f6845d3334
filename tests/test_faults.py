"""Faults and bad input (issue 20): killed drivers, shared checkpoints, damaged files, overflow, bad values.

Process tests spawn the real command line (``python -m rbmlib ...``) on tiny models, signal it by
PID and look at its children with psutil.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest

import rbmlib
import rbmlib.sampling
import rbmlib.training
from rbmlib import ensemble as en
from rbmlib import exact, xft

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": "1"}


# ============================================================================= helpers
def cli(*argv, timeout=120, cwd=None):
    """Run the command line to the end; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "rbmlib", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd or REPO)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def main(capsys, *argv):
    """The command line in this process (for checks that need no separate process)."""
    from rbmlib import cli as _cli
    capsys.readouterr()
    code = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return Result(code, out, err)


def _default_sigint():
    # A test run started in the background by a non-interactive shell (`cmd &`, nohup, some CI runners)
    # inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler: give the child
    # the default disposition, as a terminal would, so that the Ctrl-C tests test Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*argv, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "rbmlib", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=cwd or REPO,
                            preexec_fn=_default_sigint)


def wait_for(cond, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def interrupt_when(proc, cond, timeout, what):
    """Wait until *cond* holds, send SIGINT (Ctrl-C) to *proc* and wait for it; kill it if anything fails.
    Returns its standard error."""
    try:
        wait_for(cond, timeout, what)
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=180)        # generous for a loaded 2-core runner; a prompt stop takes seconds
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.stderr.read()


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def dead_pid() -> int:
    """The PID of a process that has ended (for stale temporary files)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    rbmlib.RBM.random(24, 8, scale=0.3, seed=3).save(path)
    return path


@pytest.fixture(scope="module")
def mnist_tiny(tmp_path_factory):
    """A 784 x 3 model (MNIST-sized visible layer, for the ais command)."""
    path = tmp_path_factory.mktemp("model") / "m784x3.npz"
    rbmlib.RBM.random(784, 3, scale=0.02, seed=1).save(path)
    return path


def xft_args(model, ck, out, *, chains=4000, sweeps=20000, shard=50, seed=5):
    """A long in-process XFT run whose shards take a fraction of a second each."""
    return ["xft", "--model", model, "--chains", chains, "--sweeps", sweeps, "--t2", "0.8", "--order", "hv",
            "--seed", seed, "--shard-size", shard, "--q-max", "64", "--out", out, "--checkpoint-dir", ck,
            "--no-progress"]


# ============================================================================= 1: orphaned workers, SIGTERM
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_row1_pool_workers_die_with_their_driver(tmp_path, tiny_model, sig):
    ck = tmp_path / "ck"
    proc = spawn(*xft_args(tiny_model, ck, tmp_path / "out.npz", chains=2000, sweeps=20000, shard=4),
                 "--workers", "2", "--threads", "1")
    try:
        # the pool is up and computing: shards come back from its two workers (plus the resource tracker)
        wait_for(lambda: len(list((ck / "shards").glob("chains-*.npz"))) >= 2, 120, "two finished shards")
        kids = descendants(proc.pid)
        workers = [c for c in kids if "multiprocessing-fork" in " ".join(c.cmdline())]
        assert len(workers) == 2, [c.cmdline() for c in kids]
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        wait_for(lambda: not any(alive(k) for k in kids), 30, "the workers and the resource tracker to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, proc.stderr.read()
        err = proc.stderr.read()
        assert "terminated (SIGTERM)" in err and "rerun the same command" in err and "Traceback" not in err


# ============================================================================= 2: checkpoint locks
def test_row2_two_runs_on_one_checkpoint_folder(tmp_path, tiny_model, capsys):
    ck = tmp_path / "ck"
    first = spawn(*xft_args(tiny_model, ck, tmp_path / "a.npz", seed=5))
    try:
        wait_for(lambda: (ck / "xft_checkpoint.npz").exists(), 90, "the first run's first checkpoint")
        second = main(capsys, *xft_args(tiny_model, ck, tmp_path / "b.npz", seed=6))
        assert second.returncode == 1, second.stderr
        assert f"in use by process {first.pid}" in second.stderr and "xft" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first run goes on, its checkpoint intact
        n_before = xft.XFTResult.load(ck / "xft_checkpoint.npz").n_done
        assert n_before > 0
        # a killed holder leaves no stale lock: the next run goes ahead and resumes its chains
        first.kill()
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    resumed = main(capsys, *xft_args(tiny_model, ck, tmp_path / "a.npz", seed=5), "--max-shards", "0")
    assert resumed.returncode == 0, resumed.stderr
    assert "rerun the same command to resume" in resumed.stdout
    assert xft.XFTResult.load(ck / "xft_checkpoint.npz").n_done >= n_before


def test_row2_parallel_checkpoint_folder_is_locked(tmp_path):
    from rbmlib._locking import RunLocked, lock_folder
    ck = tmp_path / "ck"
    rbm = rbmlib.RBM.random(10, 4, seed=0)
    with lock_folder(ck):
        with pytest.raises(RunLocked, match=f"process {os.getpid()}"):
            en.run_ensemble(en.energy_statistics, rbm, 10, seed=1, params={"n_sweeps": 1}, checkpoint_dir=ck)
    r = en.run_ensemble(en.energy_statistics, rbm, 10, seed=1, params={"n_sweeps": 1}, checkpoint_dir=ck)
    assert r.complete


def test_row2_training_checkpoint_is_locked(tmp_path):
    from rbmlib._locking import lock_file
    ckpt = tmp_path / "run.ckpt.npz"
    with lock_file(ckpt, "training checkpoint"):
        res = cli("train", "--preset", "mnist-784x20", "--hidden", "2", "--epochs", "1", "--no-progress",
                  "--out", tmp_path / "m.npz", "--checkpoint", ckpt, "--resume")
    assert res.returncode == 1, res.stderr
    assert f"in use by process {os.getpid()}" in res.stderr and "Traceback" not in res.stderr
    assert not ckpt.exists() and not (tmp_path / "m.npz").exists()


# ============================================================================= 3: damaged shard data
def test_row3_damaged_array_data_in_a_shard_is_moved_aside_and_recomputed(tmp_path):
    rbm = rbmlib.RBM.random(12, 5, seed=4)
    kw = dict(seed=3, params={"n_sweeps": 3}, shard_size=40)
    ref = en.run_ensemble(en.energy_statistics, rbm, 120, **kw)
    ck = tmp_path / "ck"
    en.run_ensemble(en.energy_statistics, rbm, 120, checkpoint_dir=ck, **kw)
    shard = ck / "chains-000000000000040-000000000000080.npz"
    with zipfile.ZipFile(shard) as z:
        info = z.getinfo("a0.npy")
    raw = bytearray(shard.read_bytes())
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    raw[pos] ^= 0xFF                                   # one byte inside the array data of a0.npy
    shard.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match=r"chains-000000000000040-000000000000080\.npz.*damaged"):
        r = en.run_ensemble(en.energy_statistics, rbm, 120, checkpoint_dir=ck, **kw)
    assert r.computed == [(40, 80)] and r.loaded == [(0, 40), (80, 120)]
    assert (ck / "damaged" / shard.name).exists()
    assert r.value["E"] == ref.value["E"] and np.array_equal(r.value["v_on"], ref.value["v_on"])


# ============================================================================= 4: outputs not overwritten
def test_row4_xft_and_ais_do_not_overwrite_an_existing_out(tmp_path, tiny_model, mnist_tiny, capsys):
    precious = tmp_path / "precious.npz"
    precious.write_bytes(b"precious")
    args = xft_args(tiny_model, tmp_path / "ck", precious, chains=40, sweeps=2, shard=20)
    res = main(capsys, *args)
    assert res.returncode == 1 and "precious.npz exists" in res.stderr and "--force" in res.stderr
    assert precious.read_bytes() == b"precious" and not (tmp_path / "ck").exists()
    res = main(capsys, *args, "--force")
    assert res.returncode == 0, res.stderr
    assert xft.XFTResult.load(precious).complete
    # rerunning the same finished run may replace its own result
    assert main(capsys, *args).returncode == 0
    # ais
    out = tmp_path / "precious.json"
    out.write_text("keep")
    res = main(capsys, "ais", "--model", mnist_tiny, "--runs", "2", "--schedule", "10", "--heldout-points", "0",
              "--out", out)
    assert res.returncode == 1 and "precious.json exists" in res.stderr and "--force" in res.stderr
    assert out.read_text() == "keep"
    # models train / models samples: the same rule
    png = tmp_path / "precious.png"
    png.write_bytes(b"png")
    for argv in (["models", "samples", tiny_model, "--out", png],
                 ["models", "train", "mnist-784x20", "--out", precious, "--no-progress"]):
        res = main(capsys, *argv)
        assert res.returncode == 1 and "exists; pass --force" in res.stderr, res.stderr
    assert png.read_bytes() == b"png"


# ============================================================================= 5, 6: ais checkpoints, Ctrl-C advice
def test_row5_row6_ais_checkpoint_dir_and_ctrl_c(tmp_path, mnist_tiny, capsys):
    ck = tmp_path / "ck"
    common = ["ais", "--model", mnist_tiny, "--runs", "4000", "--schedule", "3000", "--heldout-points", "0",
              "--shard-size", "2", "--threads", "1"]     # 2,000 shards: far from done when Ctrl-C comes
    proc = spawn(*common, "--checkpoint-dir", ck, "--out", tmp_path / "a.json")
    err = interrupt_when(proc, lambda: len(list((ck / "forward").glob("chains-*.npz"))) >= 2, 120,
                         "two checkpointed shards")
    assert proc.returncode == 130, err
    assert f"finished shards are saved in {ck}" in err and "--resume" not in err and "Traceback" not in err
    n_saved = len(list((ck / "forward").glob("chains-*.npz")))
    assert 2 <= n_saved < 2000
    # resume: the saved shards are loaded, the result equals a run without checkpoint
    short = ["ais", "--model", mnist_tiny, "--runs", "20", "--schedule", "3000", "--heldout-points", "0",
             "--shard-size", "2"]
    done = main(capsys, *short, "--checkpoint-dir", ck / "short", "--out", tmp_path / "b.json")
    assert done.returncode == 0, done.stderr
    plain = main(capsys, *short, "--out", tmp_path / "c.json")
    assert plain.returncode == 0, plain.stderr
    b, c = (json.loads((tmp_path / f).read_text()) for f in ("b.json", "c.json"))
    assert b["forward"]["log_weights"] == c["forward"]["log_weights"]


def test_row6_xft_ctrl_c_advice(tmp_path, tiny_model):
    ck = tmp_path / "ck"
    proc = spawn(*xft_args(tiny_model, ck, tmp_path / "out.npz"))
    err = interrupt_when(proc, lambda: (ck / "xft_checkpoint.npz").exists(), 90, "the first checkpoint")
    assert proc.returncode == 130
    assert "rerun the same command" in err and str(ck) in err
    assert "--resume" not in err and "--checkpoint " not in err


# ============================================================================= 7: --heldout-points
@pytest.mark.parametrize("n,msg", [(999999, "has 2000 digits"), (-1, "must be >= 0")])
def test_row7_heldout_points_out_of_range(tmp_path, mnist_tiny, n, msg, capsys):
    res = main(capsys, "ais", "--model", mnist_tiny, "--runs", "2", "--schedule", "10", "--heldout-points", n,
              "--out", tmp_path / "r.json")
    assert res.returncode == 1 and msg in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "r.json").exists()


def test_row7_library_rejects_bad_n_heldout(mnist_tiny):
    with pytest.raises(ValueError, match="n_heldout"):
        rbmlib.ais.paper_scale_run(str(mnist_tiny), n_runs=2, schedule=10, n_heldout=-1)


# ============================================================================= 8: malformed model files
@pytest.mark.parametrize("meta", ["[1,2]", '{"format": "rbmlib.RBM", "dtype": "float64", "metadata": [1]}',
                                  "not json", '{"format": "rbmlib.RBM"}'])
def test_row8_malformed_model_metadata(tmp_path, meta, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, W=np.zeros((3, 2)), a=np.zeros(3), b=np.zeros(2), meta=np.array(meta))
    res = main(capsys, "models", "show", bad)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert str(bad) in res.stderr


def test_row8_invalid_arrays_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, W=np.zeros((3, 2)), a=np.zeros(2), b=np.zeros(2),
             meta=np.array('{"format": "rbmlib.RBM", "dtype": "float64"}'))
    with pytest.raises(ValueError, match=f"{bad}.*visible biases"):
        rbmlib.RBM.load(bad)


# ============================================================================= 9: float32 at huge beta
def test_row9_float32_beyond_its_range_is_refused_not_zero():
    rbm = rbmlib.RBM(np.zeros((8, 4)), np.zeros(8), np.zeros(4))
    with pytest.raises(ValueError, match=r"float32.*astype\(np.float64\)"):
        rbmlib.sample(rbm.astype(np.float32), 100, 2, beta=1e39, seed=0)
    v, h = rbmlib.sample(rbm, 4000, 2, beta=1e39, seed=0)          # float64: the right answer
    assert abs(v.mean() - 0.5) < 0.03 and abs(h.mean() - 0.5) < 0.03
    ch = rbmlib.sampling.Chains(rbm, 4, seed=0)
    with pytest.raises(ValueError, match="exceeds the largest float64"):
        ch.run(1, beta=1e200, beta_chain=np.full(4, 1e200))


# ============================================================================= 10: overflow in exact
def test_row10_exact_overflow_is_an_error_not_nan():
    rbm = rbmlib.RBM.random(6, 4, seed=0)
    for f in (lambda: exact.log_partition(rbm, beta=1e308), lambda: exact.mean_energy(rbm, beta=1e308),
              lambda: exact.marginal_visible(rbm, beta=1e308), lambda: exact.joint_distribution(rbm, 1e308),
              lambda: exact.log_partition(rbmlib.RBM(np.full((6, 4), 1e307), np.zeros(6), np.zeros(4)))):
        with pytest.raises(FloatingPointError, match="overflows float64"):
            f()
    zero = rbmlib.RBM(np.zeros((6, 4)), np.zeros(6), np.zeros(4))   # representable: the right answer
    assert exact.log_partition(zero, beta=1e308) == pytest.approx(10 * np.log(2), rel=1e-14)


# ============================================================================= 11: long enumerations
def test_row11_default_limit_refuses_multi_minute_enumerations():
    for shape in [(784, 27), (784, 22), (6000, 20)]:
        with pytest.raises(exact.EnumerationTooLarge, match="max_units="):
            exact.log_partition(rbmlib.RBM.random(*shape, scale=0.01))
    assert exact.MAX_LAYER_UNITS == 21 and exact.MAX_LAYER_WORK == 2 ** 21 * 784


def test_row11_enumeration_stops_on_ctrl_c():
    code = ("import sys, numpy as np, rbmlib\nfrom rbmlib import exact\n"
            "rbm = rbmlib.RBM.random(784, 24, scale=0.01, seed=0)\n"
            "exact.log_partition(rbmlib.RBM.random(784, 13, scale=0.01, seed=0))\n"   # compile first
            "print('start', flush=True)\n"
            "try:\n    exact.log_partition(rbm, max_units=24)\nexcept KeyboardInterrupt:\n"
            "    print('interrupted', flush=True); sys.exit(3)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=_default_sigint)
    try:
        assert proc.stdout.readline().strip() == "start"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        proc.wait(timeout=180)        # the whole enumeration takes many minutes, more on a loaded runner
        assert time.monotonic() - t0 < 180
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and "interrupted" in proc.stdout.read()


# ============================================================================= 12: stale temporaries
def test_row12_stale_temporaries_are_removed(tmp_path, tiny_model, capsys):
    ck = tmp_path / "ck"
    ck.mkdir()
    pid = dead_pid()
    stale = [ck / f"xft_checkpoint.npz.{pid}.k3j_x9.tmp", ck / "xft_checkpoint.npz.old_style.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    res = main(capsys, *xft_args(tiny_model, ck, tmp_path / "o.npz", chains=20, sweeps=2, shard=10))
    assert res.returncode == 0, res.stderr
    assert not stale[0].exists()          # a dead writer's temporary: removed
    # the ensemble folder (locked, written only by its run) also loses temporaries of older versions
    shards = tmp_path / "ens"
    shards.mkdir()
    (shards / f"chains-000000000000000-000000000000010.npz.{pid}.ab12cd.tmp").write_bytes(b"x")
    (shards / "manifest.json.zz_old.tmp").write_bytes(b"x")
    en.run_ensemble(en.energy_statistics, rbmlib.RBM.random(6, 3, seed=0), 10, params={"n_sweeps": 1},
                    checkpoint_dir=shards)
    assert not list(shards.glob("*.tmp"))


def test_row12_live_writers_temporaries_are_kept(tmp_path):
    from rbmlib._io import remove_stale_temporaries
    live = tmp_path / f"m.npz.{os.getppid()}.abc123.tmp"    # the parent of this test: alive
    live.write_bytes(b"x")
    dead = tmp_path / f"m.npz.{dead_pid()}.abc123.tmp"
    dead.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path, "m.npz") == [dead]
    assert live.exists()


def test_row12_training_checkpoint_temporaries(tmp_path):
    ckpt = tmp_path / "run.ckpt.npz"
    stale = tmp_path / f"run.ckpt.npz.{dead_pid()}.q1w2e3.tmp"
    stale.write_bytes(b"half")
    X = (np.random.default_rng(0).random((20, 6)) < 0.5).astype(np.uint8)
    rbmlib.train(2, X, epochs=1, batch_size=10, checkpoint=ckpt, progress=False)
    assert ckpt.exists() and not stale.exists() and not list(tmp_path.glob("*.tmp"))


# ============================================================================= 13: outputs checked first
def test_row13_unwritable_out_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker / "m.npz", Path("/proc/rbmlib-no-such-dir/m.npz")):
        t0 = time.monotonic()
        res = cli("train", "--preset", "mnist-784x20", "--hidden", "2", "--epochs", "100000", "--no-progress",
                  "--out", out, timeout=60)
        assert res.returncode == 1 and str(out) in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert time.monotonic() - t0 < 60


def test_row13_ais_out_checked_before_the_runs(tmp_path, mnist_tiny):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("ais", "--model", mnist_tiny, "--runs", "1000000", "--heldout-points", "0",
              "--out", blocker / "r.json", timeout=60)
    assert res.returncode == 1 and "is a file, not a folder" in res.stderr, res.stderr


# ============================================================================= smaller messages
def test_small_bin_width_numpy_float32_accepted():
    rbm = rbmlib.RBM.random(6, 3, seed=0)
    r = xft.run_xft(rbm, 10, beta2s=[0.5], n_equil=2, bin_width=np.float32(1 / 32), q_max=np.float64(16.0))
    assert r.complete and r.bin_width == 1 / 32


def test_small_lr_inf_named(tmp_path, capsys):
    res = main(capsys, "train", "--preset", "mnist-784x20", "--hidden", "2", "--epochs", "1", "--lr", "inf",
              "--out", tmp_path / "m.npz")
    assert res.returncode == 1 and "--lr must be a finite number, got inf" in res.stderr
    with pytest.raises(ValueError, match="start must be a finite number"):
        rbmlib.training.linear_schedule(float("inf"), 3)


def test_small_states_negative():
    with pytest.raises(ValueError, match="n must be >= 0"):
        exact.states(-1)


def test_small_model_file_and_name_messages(tmp_path, capsys):
    res = main(capsys, "ais", "--model", tmp_path / "nofile.npz", "--heldout-points", "0")
    assert res.returncode == 1 and "No model file at" in res.stderr and "Unknown reference" not in res.stderr
    res = main(capsys, "models", "show", "typo")
    assert res.returncode == 1 and "mnist-784x20" in res.stderr and "mnist-784x500" in res.stderr


def test_small_checkpoint_dir_is_a_file(tmp_path, tiny_model, capsys):
    f = tmp_path / "ck"
    f.write_text("x")
    res = main(capsys, *xft_args(tiny_model, f, tmp_path / "o.npz", chains=10, sweeps=1, shard=10))
    assert res.returncode == 1 and "is a file, not a folder" in res.stderr and "Errno" not in res.stderr


def test_small_corrupt_xft_checkpoint_advice(tmp_path):
    rbm = rbmlib.RBM.random(6, 3, seed=0)
    ck = tmp_path / "ck"
    xft.run_xft(rbm, 20, beta2s=[0.5], n_equil=1, shard_size=10, checkpoint_dir=ck, max_shards=1)
    (ck / "xft_checkpoint.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="damaged.*Delete it") as exc:
        xft.run_xft(rbm, 20, beta2s=[0.5], n_equil=1, shard_size=10, checkpoint_dir=ck)
    assert "re-create it with run_xft" not in str(exc.value).lower()


def test_small_log_likelihood_nan_log_z():
    rbm = rbmlib.RBM.random(4, 3, seed=0)
    with pytest.raises(ValueError, match="log_z must be a finite number"):
        exact.log_likelihood(rbm, np.zeros((2, 4)), log_z=float("nan"))


def test_small_complex_parameters_refused():
    with pytest.raises(TypeError, match="W is complex"):
        rbmlib.RBM(np.ones((2, 2)) + 1j, np.zeros(2), np.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="b is complex"):
            rbmlib.RBM(np.ones((2, 2)), np.zeros(2), np.zeros(2, complex))


def test_small_random_seed_named():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        rbmlib.RBM.random(3, 2, seed=-1)


def test_row9_row10_model_methods_at_huge_beta_are_finite_and_right():
    rbm = rbmlib.RBM.random(6, 4, seed=0)
    v, h = np.ones(6), np.ones(4)
    limit_v = -(v @ rbm.a) - np.maximum(v @ rbm.W + rbm.b, 0).sum()      # beta -> inf limit of F(v)
    limit_h = -(h @ rbm.b) - np.maximum(rbm.W @ h + rbm.a, 0).sum()
    for dt, beta in ((np.float64, 1e308), (np.float32, 1e39), (np.float32, 1e300)):
        m = rbm.astype(dt)
        assert m.free_energy(v, beta) == pytest.approx(limit_v, rel=1e-6)
        assert m.hidden_free_energy(h, beta) == pytest.approx(limit_h, rel=1e-6)
    zero = rbmlib.RBM(np.zeros((6, 4)), np.zeros(6), np.zeros(4)).astype(np.float32)
    assert np.array_equal(zero.p_h_given_v(np.zeros(6), 1e39), np.full(4, 0.5, np.float32))
    assert np.array_equal(zero.p_v_given_h(np.zeros(4), 1e39), np.full(6, 0.5, np.float32))
    assert zero.free_energy(np.zeros(6), 1e39) == pytest.approx(-6 * np.log(2) / 1e39, rel=1e-5)
