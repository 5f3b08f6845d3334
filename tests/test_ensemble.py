"""rbmlib.ensemble: identical results on every executor, retries of lost workers, checkpoints and resume.

The reference of every comparison is computed directly, without rbmlib.ensemble:
``Chains(rbm, N, seed)`` run in one piece (per-chain energies and states), from
which the exact statistics of :func:`rbmlib.ensemble.energy_statistics` follow.
Executors: in-process, spawn process pools of 2 workers and a Dask
LocalCluster of 2 worker processes (processes=True, threads_per_worker=1), used
both as a Client object and by its scheduler address. Worker deaths are real:
the shard function calls ``os._exit`` in the worker the first time it runs a
chosen shard (marker file).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import rbmlib
from rbmlib import ais, ensemble as en, xft
from rbmlib.sampling import Chains

RBM_ = rbmlib.RBM.random(16, 8, scale=1.0, seed=11)
N = 600
SEED = 123
SWEEPS = 15
PARAMS = {"n_sweeps": SWEEPS}
TESTS_DIR = str(Path(__file__).resolve().parent)


# ----------------------------------------------------------------------------- references
def _reference():
    ch = Chains(RBM_, N, seed=SEED)
    ch.run(SWEEPS)
    E = ch.energy()
    s, s2 = en.fixed_point_sum(E)
    stats = {"n": N, "E": s, "E2": s2, "v_on": ch.v.sum(axis=0, dtype=np.int64),
             "h_on": ch.h.sum(axis=0, dtype=np.int64)}
    return E, stats


E_REF, STATS_REF = _reference()


def assert_stats_equal(value, ref=STATS_REF):
    assert value.keys() == ref.keys()
    for k in ref:
        if isinstance(ref[k], np.ndarray):
            assert value[k].dtype == ref[k].dtype and np.array_equal(value[k], ref[k]), k
        else:
            assert type(value[k]) is int and value[k] == ref[k], k


# ----------------------------------------------------------------------------- shard functions for the tests
def crash_once(rbm, seed, chain_offset, n_chains, *, n_sweeps, marker_dir, crash_at):
    """energy_statistics, but the process running shard ``crash_at`` dies (once) before returning it."""
    out = en.energy_statistics(rbm, seed, chain_offset, n_chains, n_sweeps=n_sweeps)
    if chain_offset == crash_at:
        try:
            fd = os.open(Path(marker_dir) / f"crashed-{chain_offset}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return out
        os.close(fd)
        os._exit(3)
    return out


def raise_once(rbm, seed, chain_offset, n_chains, *, n_sweeps, marker_dir, fail_at):
    """energy_statistics, but shard ``fail_at`` raises the first time it runs."""
    if chain_offset == fail_at:
        try:
            fd = os.open(Path(marker_dir) / f"failed-{chain_offset}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            raise RuntimeError("injected failure")
    return en.energy_statistics(rbm, seed, chain_offset, n_chains, n_sweeps=n_sweeps)


def always_fails(rbm, seed, chain_offset, n_chains, *, n_sweeps, marker_dir, fail_at):
    """energy_statistics, but shard ``fail_at`` always raises; every attempt leaves a marker file."""
    if chain_offset == fail_at:
        k = len(list(Path(marker_dir).glob("attempt-*")))
        (Path(marker_dir) / f"attempt-{k}").touch()
        raise RuntimeError("permanent failure")
    return en.energy_statistics(rbm, seed, chain_offset, n_chains, n_sweeps=n_sweeps)


# ----------------------------------------------------------------------------- executors
@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def pool():
    ex = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
    yield ex
    ex.shutdown(wait=True)


# ============================================================================= planning and storage
def test_plan_shards_covers_every_chain_once():
    assert en.plan_shards(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert en.plan_shards(10, 3, [(2, 5), (7, 8)]) == [(0, 2), (5, 7), (8, 10)]
    assert en.plan_shards(10, 100, [(0, 10)]) == []
    for n, size, done in [(1000, 7, [(3, 50), (50, 60), (999, 1000)]), (17, 1, []), (5, 5, [(0, 1)])]:
        cover = np.zeros(n, int)
        for a, b in en.plan_shards(n, size, done) + done:
            assert 0 <= a < b <= n
            assert b - a <= size or (a, b) in done
            cover[a:b] += 1
        assert np.all(cover == 1)


def test_shard_files_round_trip_exactly(tmp_path):
    big = 3 ** 90  # fixed-point sums exceed int64
    part = {"n": 5, "big": big, "neg": -big, "f": 0.1, "nan": float("nan"), "label": "x", "none": None,
            "arr": np.arange(6, dtype=np.int64).reshape(2, 3), "f32": np.float32(1.5), "tup": (1, [2.5, big]),
            "nested": [{"a": np.array([0.1, -0.0, np.inf])}]}
    en._save_shard(tmp_path, 0, 5, "k" * 64, part, {"seconds": 1.0})
    back, info = en._load_shard(tmp_path / "chains-000000000000000-000000000000005.npz", "k" * 64)
    assert info == {"seconds": 1.0}
    assert back["big"] == big and back["neg"] == -big and type(back["big"]) is int
    assert back["f"] == 0.1 and np.isnan(back["nan"]) and back["label"] == "x" and back["none"] is None
    assert np.array_equal(back["arr"], part["arr"]) and back["arr"].dtype == np.int64
    assert back["f32"] == np.float32(1.5) and back["f32"].dtype == np.float32
    assert back["tup"] == (1, [2.5, big])
    a = back["nested"][0]["a"]
    assert a.tobytes() == part["nested"][0]["a"].tobytes()
    with pytest.raises(ValueError, match="another run"):
        en._load_shard(tmp_path / "chains-000000000000000-000000000000005.npz", "z" * 64)


def test_bad_results_and_arguments_are_refused():
    with pytest.raises(TypeError, match="module-level"):
        en.run_ensemble(lambda *a, **k: {}, RBM_, 10)
    with pytest.raises(ValueError, match="shard_size"):
        en.run_ensemble(en.energy_statistics, RBM_, 10, params=PARAMS, shard_size=0)
    with pytest.raises(ValueError, match="workers"):
        en.run_ensemble(en.energy_statistics, RBM_, 10, params=PARAMS, workers=0)
    with pytest.raises(ValueError, match="executor"):
        en.run_ensemble(en.energy_statistics, RBM_, 10, params=PARAMS, executor="threads")
    with pytest.raises(ValueError, match="reduce"):
        en.run_ensemble(en.energy_statistics, RBM_, 10, params=PARAMS, reduce="mean")
    with pytest.raises(TypeError, match="recorded in the checkpoint key"):
        en.run_ensemble(en.energy_statistics, RBM_, 10, params={"n_sweeps": object()})
    with pytest.raises(ValueError, match="concat"):
        en._tree_sum({"E": np.zeros(3)}, {"E": np.zeros(4)})
    with pytest.raises(TypeError, match="reduce='concat' needs arrays"):
        en._tree_concat([{"n": 1}, {"n": 2}])
    with pytest.raises(TypeError, match="shard result"):
        en._check_tree({"x": {1, 2}})


# ============================================================================= identity
@pytest.mark.parametrize("shard_size", [7, 64, 600, 1000])
def test_in_process_any_shard_size_matches_one_piece_run(shard_size):
    r = en.run_ensemble(en.chain_energies, RBM_, N, seed=SEED, params=PARAMS, shard_size=shard_size,
                        reduce="concat")
    assert r.complete and r.n_done == N and r.executor.startswith("in-process")
    assert r.value["E"].tobytes() == E_REF.tobytes()
    s = en.run_ensemble(en.energy_statistics, RBM_, N, seed=SEED, params=PARAMS, shard_size=shard_size)
    assert_stats_equal(s.value)
    assert s.computed == en.plan_shards(N, shard_size)


def test_process_pools_and_dask_give_identical_results(pool, dask_client):
    runs = {
        "process pool, 2 workers (executor object)": dict(executor=pool, shard_size=77),
        "dask LocalCluster, 2 workers (Client)": dict(executor=dask_client, shard_size=50),
        "dask, scheduler address": dict(scheduler=dask_client.scheduler.address, shard_size=128),
    }
    for name, kw in runs.items():
        r = en.run_ensemble(en.chain_energies, RBM_, N, seed=SEED, params=PARAMS, reduce="concat", **kw)
        assert r.complete, name
        assert r.value["E"].tobytes() == E_REF.tobytes(), name
        s = en.run_ensemble(en.energy_statistics, RBM_, N, seed=SEED, params=PARAMS, **kw)
        assert_stats_equal(s.value)
        if "2 workers" in name:
            # the work really was spread over two processes other than this one
            pids = {i["pid"] for i in {**r.shard_info, **s.shard_info}.values()}
            assert os.getpid() not in pids and len(pids) == 2, (name, pids)


# ============================================================================= faults
def test_process_pool_worker_killed_mid_run(tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    p = {**PARAMS, "marker_dir": str(marker), "crash_at": 200}
    r = en.run_ensemble(crash_once, RBM_, N, seed=SEED, params=p, shard_size=100, workers=2,
                        checkpoint_dir=tmp_path / "ck")
    assert (marker / "crashed-200").exists()          # the worker really died
    assert r.retried >= 1                              # ... and its shard was resubmitted
    assert r.complete and sorted(r.computed) == en.plan_shards(N, 100)   # every chain exactly once
    assert_stats_equal(r.value)
    files = sorted(p.name for p in (tmp_path / "ck").glob("chains-*.npz"))
    assert len(files) == 6


def test_pool_found_broken_at_submission_is_replaced(monkeypatch):
    """A pool can break between two checks (a worker died while another shard finished): the next
    submission then raises BrokenProcessPool; that shard never ran, and the pool is replaced."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    made = []
    monkeypatch.setattr(en._Pool, "_new", lambda self: made.append(1) or ThreadPoolExecutor(self.n_workers))
    real_submit, calls = en._Pool.submit, []

    def submit(self, key, *args):
        calls.append(key)
        if len(calls) == 3:
            raise BrokenProcessPool("simulated: a worker died")
        return real_submit(self, key, *args)

    monkeypatch.setattr(en._Pool, "submit", submit)
    r = en.run_ensemble(en.energy_statistics, RBM_, N, seed=SEED, params=PARAMS, shard_size=100, workers=2)
    assert len(made) == 2                              # the pool was replaced once
    assert r.retried == 0 and sorted(r.computed) == en.plan_shards(N, 100)
    assert_stats_equal(r.value)


def test_dask_worker_killed_and_exception_retried(dask_client, tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    p = {**PARAMS, "marker_dir": str(marker), "crash_at": 300}
    r = en.run_ensemble(crash_once, RBM_, N, seed=SEED, params=p, shard_size=100, executor=dask_client,
                        checkpoint_dir=tmp_path / "ck")
    assert (marker / "crashed-300").exists()
    assert r.complete and sorted(r.computed) == en.plan_shards(N, 100)
    assert_stats_equal(r.value)
    # an exception inside the shard is retried by Dask (retries=1)
    p = {**PARAMS, "marker_dir": str(marker), "fail_at": 100}
    r = en.run_ensemble(raise_once, RBM_, N, seed=SEED, params=p, shard_size=100, executor=dask_client,
                        retries=1)
    assert (marker / "failed-100").exists()
    assert_stats_equal(r.value)


def test_dask_model_and_shards_survive_the_loss_of_the_workers_holding_them(dask_client):
    """CI regression (2026-12-02): the model was scattered, so when the one worker holding it died the
    scheduler could not recover it and cancelled every shard that needed it ("already forgotten").
    The model is now a task result, which the scheduler recomputes; a cancelled shard counts as lost."""
    backend = en._Dask(client=dask_client)
    model = backend.put_model(RBM_)
    assert np.array_equal(model.result().W, RBM_.W)
    holders = list(dask_client.who_has([model])[model.key])
    assert holders
    dask_client.restart_workers(holders)                  # every copy of the model is gone
    again = model.result(timeout=120)                     # ... and recomputed, not forgotten
    assert np.array_equal(again.W, RBM_.W) and np.array_equal(again.b, RBM_.b)
    # a cancelled future comes back from wait() as finished and its error is a lost shard
    fut = dask_client.submit(en.chain_energies, model, SEED, 0, 5, key="rbmlib-test-cancelled", pure=False,
                             n_sweeps=1)
    fut.cancel()
    done = backend.wait([fut])
    assert done == [fut]
    with pytest.raises(backend.lost_errors):
        fut.result()


def test_failing_shard_exhausts_retries_and_keeps_finished_shards(tmp_path, pool):
    marker = tmp_path / "m"
    marker.mkdir()
    p = {**PARAMS, "marker_dir": str(marker), "fail_at": 200}
    with pytest.raises(en.ShardFailed, match="chains 200..299") as info:
        en.run_ensemble(always_fails, RBM_, N, seed=SEED, params=p, shard_size=100, retries=2,
                        checkpoint_dir=tmp_path / "ck")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert len(list(marker.glob("attempt-*"))) == 3   # 1 + retries attempts
    # the shards before the failure are checkpointed (in-process runs shards in chain order)
    done = sorted(p.name for p in (tmp_path / "ck").glob("chains-*.npz"))
    assert done == ["chains-000000000000000-000000000000100.npz", "chains-000000000000100-000000000000200.npz"]
    # a flaky shard succeeds within its retries in a process pool too
    p = {**PARAMS, "marker_dir": str(marker), "fail_at": 400}
    r = en.run_ensemble(raise_once, RBM_, N, seed=SEED, params=p, shard_size=100, executor=pool, retries=1)
    assert r.retried == 1 and (marker / "failed-400").exists()
    assert_stats_equal(r.value)


def test_driver_killed_then_resumed_without_recomputation(tmp_path, dask_client):
    """The calling process itself dies in the middle of a run; a new one resumes from the shard files."""
    marker, ck = tmp_path / "markers", tmp_path / "ck"
    marker.mkdir()
    p = {**PARAMS, "marker_dir": str(marker), "crash_at": 300}
    code = textwrap.dedent(f"""
        import sys, rbmlib
        sys.path.insert(0, {TESTS_DIR!r})
        import test_ensemble as t
        from rbmlib import ensemble as en
        en.run_ensemble(t.crash_once, t.RBM_, t.N, seed=t.SEED, params={p!r}, shard_size=100,
                        checkpoint_dir={str(ck)!r})
        print("not reached")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "not reached" not in proc.stdout
    names = sorted(f.name for f in ck.glob("chains-*.npz"))
    assert names == [f"chains-{a:015d}-{b:015d}.npz" for a, b in [(0, 100), (100, 200), (200, 300)]]
    assert not list(ck.glob("*.tmp"))                 # atomic writes: no half-written files left
    # resume in this process, with another shard size: only the missing chains are computed
    r = en.run_ensemble(crash_once, RBM_, N, seed=SEED, params=p, shard_size=120, checkpoint_dir=ck)
    assert r.loaded == [(0, 100), (100, 200), (200, 300)]
    assert r.computed == [(300, 420), (420, 540), (540, 600)]
    assert_stats_equal(r.value)
    # a finished run is only read back
    again = en.run_ensemble(crash_once, RBM_, N, seed=SEED, params=p, shard_size=100, checkpoint_dir=ck)
    assert again.computed == [] and again.n_done == N
    assert_stats_equal(again.value)

    # time-boxed partial runs (max_shards), resumed on other executors with other shard sizes
    ck2 = tmp_path / "ck2"
    part = en.run_ensemble(en.chain_energies, RBM_, N, seed=SEED, params=PARAMS, reduce="concat",
                           shard_size=90, max_shards=2, checkpoint_dir=ck2)
    assert not part.complete and part.n_done == 180
    assert part.value["E"].tobytes() == E_REF[:180].tobytes()
    part = en.run_ensemble(en.chain_energies, RBM_, N, seed=SEED, params=PARAMS, reduce="concat",
                           shard_size=33, max_shards=3, checkpoint_dir=ck2, executor=dask_client)
    assert part.n_done == 180 + 99
    full = en.run_ensemble(en.chain_energies, RBM_, N, seed=SEED, params=PARAMS, reduce="concat",
                           shard_size=1000, checkpoint_dir=ck2, executor=dask_client)
    assert full.complete and full.computed == [(279, 600)]
    assert full.value["E"].tobytes() == E_REF.tobytes()


def test_checkpoint_of_another_run_is_refused(tmp_path, monkeypatch):
    ck = tmp_path / "ck"
    en.run_ensemble(en.energy_statistics, RBM_, 100, seed=1, params={"n_sweeps": 2}, shard_size=50,
                    checkpoint_dir=ck)
    manifest = json.loads((ck / "manifest.json").read_text())
    assert manifest["key"]["model_fingerprint"] == RBM_.fingerprint()
    cases = [
        (dict(seed=2), "seed"),
        (dict(params={"n_sweeps": 3}), "params.n_sweeps"),
        (dict(params={"n_sweeps": 2, "beta": 0.5}), "params.beta"),
        (dict(rbm=rbmlib.RBM.random(16, 8, scale=1.0, seed=12)), "model_fingerprint"),
        (dict(n_chains=200), "n_chains"),
        (dict(fn=en.chain_energies), "function"),
    ]
    for change, name in cases:
        kw = dict(fn=en.energy_statistics, rbm=RBM_, n_chains=100, seed=1, params={"n_sweeps": 2})
        kw.update(change)
        with pytest.raises(ValueError, match=f"different run.*{name}"):
            en.run_ensemble(kw.pop("fn"), kw.pop("rbm"), kw.pop("n_chains"), checkpoint_dir=ck, **kw)
    # a sampler whose arithmetic changed (another kernels.SAMPLER_VERSION) never resumes this checkpoint
    monkeypatch.setattr(rbmlib.kernels, "SAMPLER_VERSION", rbmlib.kernels.SAMPLER_VERSION + 1)
    with pytest.raises(ValueError, match="different run.*sampler_version"):
        en.run_ensemble(en.energy_statistics, RBM_, 100, seed=1, params={"n_sweeps": 2}, checkpoint_dir=ck)
    monkeypatch.undo()
    # a folder with shard files but no manifest is not adopted
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "chains-000000000000000-000000000000010.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no manifest.json"):
        en.run_ensemble(en.energy_statistics, RBM_, 100, params=PARAMS, checkpoint_dir=bad)


def test_damaged_shard_file_is_recomputed(tmp_path):
    ck = tmp_path / "ck"
    en.run_ensemble(en.energy_statistics, RBM_, N, seed=SEED, params=PARAMS, shard_size=200, checkpoint_dir=ck)
    (ck / "chains-000000000000200-000000000000400.npz").write_bytes(b"truncated")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        r = en.run_ensemble(en.energy_statistics, RBM_, N, seed=SEED, params=PARAMS, shard_size=200,
                            checkpoint_dir=ck)
    assert r.computed == [(200, 400)] and r.loaded == [(0, 200), (400, 600)]
    assert_stats_equal(r.value)


# ============================================================================= XFT and AIS on executors
XFT_KW = dict(beta1=1.0, beta2s=[0.5, 2.0], n_equil=12, seed=9, order=("hv", "vh"), bin_width=1 / 32,
              q_max=64.0)


def _xft_equal(a, b):
    assert a.config == b.config and a.n_done == b.n_done and a.first_bin == b.first_bin
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.outside, b.outside)
    assert a.sums == b.sums and a.trace == b.trace


def test_run_xft_identical_on_every_executor(tmp_path, pool, dask_client):
    ref = xft.run_xft(RBM_, 700, shard_size=700, **XFT_KW)
    assert ref.complete and ref.counts.sum() == 700 * 4
    _xft_equal(xft.run_xft(RBM_, 700, shard_size=97, executor=pool, **XFT_KW), ref)
    _xft_equal(xft.run_xft(RBM_, 700, shard_size=64, scheduler=dask_client.scheduler.address, **XFT_KW), ref)
    # parallel checkpoint: partial, then resumed with another shard size and executor
    ck = tmp_path / "xck"
    part = xft.run_xft(RBM_, 700, shard_size=150, executor=dask_client, checkpoint_dir=ck, max_shards=2,
                       **XFT_KW)
    assert part.n_done == 300 and not part.complete
    res = xft.run_xft(RBM_, 700, shard_size=250, executor=pool, checkpoint_dir=ck, **XFT_KW)
    _xft_equal(res, ref)
    last = res.meta["sessions"][-1]
    assert last["chains_loaded"] == 300
    # the same session fields as an in-process run (chapter 4 reads both kinds)
    assert last["chains_at_start"] == 300 and last["chains_at_end"] == 700
    # the two checkpoint kinds are never mixed
    with pytest.raises(ValueError, match="parallel run"):
        xft.run_xft(RBM_, 700, shard_size=250, checkpoint_dir=ck, **XFT_KW)
    serial = tmp_path / "serial"
    xft.run_xft(RBM_, 700, shard_size=350, checkpoint_dir=serial, max_shards=1, **XFT_KW)
    with pytest.raises(ValueError, match="in-process run"):
        xft.run_xft(RBM_, 700, shard_size=350, checkpoint_dir=serial, executor=pool, **XFT_KW)


def test_ais_identical_on_every_executor(pool, dask_client):
    ref = ais.log_partition(RBM_, n_runs=23, schedule=150, seed=4)
    for kw in (dict(executor=pool, shard_size=5), dict(executor=dask_client, shard_size=4)):
        r = ais.log_partition(RBM_, n_runs=23, schedule=150, seed=4, **kw)
        assert r.log_weights.tobytes() == ref.log_weights.tobytes() and r.log_z == ref.log_z
    X = (np.random.default_rng(0).random((6, RBM_.n_visible)) < 0.3).astype(np.uint8)
    ref = ais.reverse_log_likelihood(RBM_, X, n_chains=3, schedule=150, seed=4)
    r = ais.reverse_log_likelihood(RBM_, X, n_chains=3, schedule=150, seed=4, executor=dask_client, shard_size=4)
    assert r.log_weights.tobytes() == ref.log_weights.tobytes()
    assert r.per_point.tobytes() == ref.per_point.tobytes()


# ============================================================================= command line
def test_cli_xft_on_a_dask_scheduler_matches_the_default(tmp_path, dask_client):
    from rbmlib.cli import build_parser, main

    model = tmp_path / "m.npz"
    RBM_.save(model)
    common = ["xft", "--model", str(model), "--chains", "500", "--sweeps", "12", "--t2", "2", "0.5",
              "--seed", "9", "--q-max", "64", "--no-progress"]
    assert main(common + ["--shard-size", "500", "--out", str(tmp_path / "a.npz"),
                          "--checkpoint-dir", str(tmp_path / "ca")]) == 0
    assert main(common + ["--shard-size", "120", "--out", str(tmp_path / "b.npz"), "--checkpoint-dir",
                          str(tmp_path / "cb"), "--scheduler", dask_client.scheduler.address]) == 0
    a, b = xft.XFTResult.load(tmp_path / "a.npz"), xft.XFTResult.load(tmp_path / "b.npz")
    _xft_equal(a, b)
    assert "dask" in b.meta["sessions"][-1]["executor"]
    assert main(common + ["--out", str(tmp_path / "c.npz"), "--checkpoint-dir", str(tmp_path / "cc"),
                          "--workers", "0"]) == 1
    args = build_parser().parse_args(["ais", "--scheduler", "local", "--workers", "3", "--threads", "2"])
    assert en.executor_options(args) == {"scheduler": "local", "workers": 3, "threads": 2, "retries": 2}
