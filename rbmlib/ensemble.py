"""Many-chain experiments on many cores or machines, with identical results, retries and checkpoints.

The model
---------
An *ensemble experiment* on ``n_chains`` independent chains is written as a
**shard function**

    ``fn(rbm, seed, chain_offset, n_chains, **params) -> result``

that computes a small result for the chains ``chain_offset .. chain_offset +
n_chains - 1``. Every chain draws from its own random stream, fixed by ``(seed,
global chain index)`` (:class:`rbmlib.sampling.Chains` with ``chain_offset``, or
:func:`rbmlib.kernels.seed_streams`), so a shard's result depends only on the
chains it holds, never on which process, machine or thread computed it.
:func:`run_ensemble` splits ``0 .. n_chains - 1`` into shards, runs them through
an executor, and *reduces* the shard results in the fixed order of their first
chain:

* ``reduce='sum'``: element-wise addition (arrays, ints, floats; nested dicts and
  lists of them). With integer results (counts, fixed-point sums as Python ints,
  see :func:`fixed_point_sum`) the sum is exact, so the result is bit-for-bit
  identical for any executor, number of workers **and shard size**. With float
  leaves it is identical for any executor and number of workers at a fixed
  shard size (the shard boundaries fix the order of the additions).
* ``reduce='concat'``: array leaves concatenated along axis 0 in chain order
  (per-chain values: AIS log-weights, energies). Identical for any executor,
  worker count and shard size.
* a callable ``fold(acc, part) -> acc`` (with ``initial``): any other fixed-order
  fold, run in the calling process only.

Executors
---------
``executor=None`` (default) with neither ``scheduler`` nor ``workers``: shards run
one after the other in this process, each using all numba threads.
``workers=N``: a local :class:`concurrent.futures.ProcessPoolExecutor` of ``N``
processes (``spawn`` start method), ``threads`` numba threads each.
``scheduler='tcp://host:8786'``: an existing Dask distributed cluster
(``dask scheduler`` + ``dask worker`` on each machine); ``scheduler='local'``: a
Dask ``LocalCluster`` of ``workers`` worker processes started for the run.
``executor=`` also accepts a ready :class:`concurrent.futures.Executor` or
``distributed.Client`` (left open), or the names ``'inline'``, ``'process'``,
``'dask'``.

Failures
--------
A shard whose worker dies (process killed, machine lost) or whose function
raises is resubmitted, up to ``retries`` more times (Dask: ``retries=`` on the
task for exceptions, and the scheduler itself reschedules the tasks of a lost
worker; process pool: a broken pool is replaced and its unfinished shards are
resubmitted). Only shards that finished are ever reduced, each exactly once.

Checkpoints
-----------
With ``checkpoint_dir``, every finished shard is written atomically (temporary
file + rename) as ``chains-<first>-<stop>.npz`` next to ``manifest.json``, which
holds the run's *key*: shard function, model fingerprint and shape, seed,
``n_chains`` and the experiment parameters (arrays by SHA-256). Calling again
with the same arguments loads the finished shards and computes only the missing
chains (with any shard size), so a run interrupted anywhere -- driver killed,
machine rebooted -- resumes without recomputing a finished shard and without
losing or duplicating a chain. A checkpoint with another key is refused with an
error naming the differing settings. Shard files are written by the calling
process, so workers need no shared file system.

A checkpoint folder is locked (an OS file lock, :mod:`rbmlib._locking`) for as long
as a run uses it: a second run on the same folder is refused with the holder's PID
and command line, and the lock dies with its process, so a killed run leaves no
stale lock. Temporary files of writes cut short by a kill are removed when the next
run opens the folder. A shard file found damaged when a run starts (unreadable
zip, bad checksum, undecodable data) is moved to ``damaged/`` in the folder, with a
warning naming it, and its chains are recomputed.

Interruption
------------
Worker processes of a local pool die with their driver: each one asks the kernel
to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``) and also watches its
parent from a thread. Workers ignore ``SIGINT`` (a Ctrl-C in the terminal reaches
the whole process group); when the driver is interrupted (``KeyboardInterrupt``,
or ``SIGTERM`` under the command line) it terminates its workers at once instead
of waiting for their shards, and every finished shard is already checkpointed.

Example
-------
>>> import rbmlib
>>> from rbmlib import ensemble
>>> rbm = rbmlib.RBM.random(20, 10, seed=0)
>>> r = ensemble.run_ensemble(ensemble.energy_statistics, rbm, 1000, seed=1,
...                           params={"n_sweeps": 10}, shard_size=300)
>>> r.value["n"], r.complete
(1000, True)
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_savez, atomic_write_text, remove_stale_temporaries
from ._locking import lock_folder
from ._validation import check_int, check_seed, one_line
from .model import RBM, check_rbm

__all__ = [
    "run_ensemble",
    "EnsembleResult",
    "plan_shards",
    "fixed_point_sum",
    "energy_statistics",
    "chain_energies",
    "add_cli_arguments",
    "executor_options",
    "ShardFailed",
]

_MANIFEST = "manifest.json"
_FORMAT = "rbmlib.ensemble"
_FORMAT_VERSION = 1
#: Fixed-point scale of :func:`fixed_point_sum` (values rounded to multiples of 2**-20).
FIXED_POINT_SCALE = 2 ** 20


class ShardFailed(RuntimeError):
    """A shard failed on every attempt (its last error is chained as ``__cause__``)."""


# =============================================================================
# reference shard functions (also used by the tests and benchmarks/bench_scaling.py)
# =============================================================================
def fixed_point_sum(x, scale: int = FIXED_POINT_SCALE) -> tuple[int, int]:
    """Exact sums of ``x`` and ``x**2`` after rounding ``x`` to multiples of ``1 / scale``.

    Python integers, so adding the sums of shards in any order or grouping gives
    the same bits. ``x`` float array; returns ``(sum k, sum k**2)`` with
    ``k = rint(x * scale)`` (units ``1/scale`` and ``1/scale**2``).
    """
    k = np.rint(np.asarray(x, np.float64) * scale).astype(np.int64).astype(object)
    return int(k.sum()), int((k * k).sum())


def energy_statistics(rbm: RBM, seed: int, chain_offset: int, n_chains: int, *, n_sweeps: int,
                      beta: float = 1.0) -> dict:
    """Reference many-chain experiment: ``n_sweeps`` block Gibbs sweeps, then exact statistics.

    Chains ``chain_offset .. chain_offset + n_chains - 1`` start from random states
    (their own streams) and make ``n_sweeps`` sweeps (order ``'hv'``) at ``beta``.

    Returns
    -------
    dict (reduces exactly with ``reduce='sum'``):
        ``n`` (int): chains; ``E``, ``E2`` (int): fixed-point sums of ``E(v, h)`` and
        its square (:func:`fixed_point_sum`); ``v_on`` int64 (n_visible,),
        ``h_on`` int64 (n_hidden,): how many chains have each unit on.
    """
    from .sampling import Chains

    ch = Chains(rbm, n_chains, seed=seed, chain_offset=chain_offset)
    ch.run(n_sweeps, beta=beta)
    s, s2 = fixed_point_sum(ch.energy())
    return {"n": int(n_chains), "E": s, "E2": s2, "v_on": ch.v.sum(axis=0, dtype=np.int64),
            "h_on": ch.h.sum(axis=0, dtype=np.int64)}


def chain_energies(rbm: RBM, seed: int, chain_offset: int, n_chains: int, *, n_sweeps: int,
                   beta: float = 1.0) -> dict:
    """Per-chain energies after ``n_sweeps`` sweeps: ``{'E': float64 (n_chains,)}`` (``reduce='concat'``).

    The concatenated result equals ``Chains(rbm, N, seed=seed)`` run for ``n_sweeps``
    sweeps followed by ``.energy()``, bit for bit.
    """
    from .sampling import Chains

    ch = Chains(rbm, n_chains, seed=seed, chain_offset=chain_offset)
    ch.run(n_sweeps, beta=beta)
    return {"E": ch.energy()}


# =============================================================================
# result trees: validation, reduction, (de)serialisation
# =============================================================================
_LEAF_SCALARS = (bool, int, float, str, type(None))


def _check_tree(x, where="result"):
    if isinstance(x, dict):
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict keys must be str, got {k!r}.")
            if k.startswith("__") and k.endswith("__"):
                raise ValueError(f"{where}: dict key {k!r} is reserved (dunder keys are not allowed).")
            _check_tree(v, f"{where}[{k!r}]")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            _check_tree(v, f"{where}[{i}]")
    elif isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind not in "biufc":
            raise TypeError(f"{where}: arrays must be numeric, got dtype {x.dtype}.")
    elif isinstance(x, np.generic):
        if x.dtype.kind not in "biufc":
            raise TypeError(f"{where}: numpy scalars must be numeric, got dtype {x.dtype}.")
    elif not isinstance(x, _LEAF_SCALARS):
        raise TypeError(
            f"{where}: a shard result must be made of dicts (str keys), lists, tuples, numeric numpy arrays, "
            f"int, float, bool, str or None; got {type(x).__name__}."
        )


def _tree_sum(a, b, where="result"):
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            raise ValueError(f"{where}: shard results have different structure (dict keys differ).")
        return {k: _tree_sum(a[k], b[k], f"{where}[{k!r}]") for k in a}
    if isinstance(a, (list, tuple)):
        if type(b) is not type(a) or len(a) != len(b):
            raise ValueError(f"{where}: shard results have different structure (sequence lengths differ).")
        return type(a)(_tree_sum(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, (str, type(None))) or isinstance(a, bool):
        if a != b:
            raise ValueError(f"{where}: str/None/bool leaves are labels and must agree across shards "
                             f"({a!r} != {b!r}); return numbers to be summed.")
        return a
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_, b_ = np.asarray(a), np.asarray(b)
        if a_.shape != b_.shape:
            raise ValueError(f"{where}: arrays of shapes {a_.shape} and {b_.shape} cannot be summed; "
                             "use reduce='concat' for per-chain values.")
        return a_ + b_
    return a + b


def _tree_concat(parts, where="result"):
    a = parts[0]
    if isinstance(a, dict):
        for p in parts:
            if not isinstance(p, dict) or p.keys() != a.keys():
                raise ValueError(f"{where}: shard results have different structure (dict keys differ).")
        return {k: _tree_concat([p[k] for p in parts], f"{where}[{k!r}]") for k in a}
    if isinstance(a, (list, tuple)):
        for p in parts:
            if type(p) is not type(a) or len(p) != len(a):
                raise ValueError(f"{where}: shard results have different structure.")
        return type(a)(_tree_concat([p[i] for p in parts], f"{where}[{i}]") for i in range(len(a)))
    if isinstance(a, np.ndarray) and a.ndim >= 1:
        return np.concatenate(parts, axis=0)
    raise TypeError(f"{where}: reduce='concat' needs arrays with a chain axis (ndim >= 1) at every leaf, "
                    f"got {type(a).__name__}; use reduce='sum' or a custom fold.")


def _encode(x, arrays):
    if isinstance(x, dict):
        return {k: _encode(v, arrays) for k, v in x.items()}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in x]}
    if isinstance(x, list):
        return [_encode(v, arrays) for v in x]
    if isinstance(x, (np.ndarray, np.generic)):
        arrays[f"a{len(arrays)}"] = np.asarray(x)
        return {"__array__": f"a{len(arrays) - 1}", "__scalar__": isinstance(x, np.generic)}
    return x


def _decode(x, arrays):
    if isinstance(x, dict):
        if "__array__" in x:
            arr = arrays[x["__array__"]]
            return arr[()] if x["__scalar__"] else arr
        if "__tuple__" in x:
            return tuple(_decode(v, arrays) for v in x["__tuple__"])
        return {k: _decode(v, arrays) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v, arrays) for v in x]
    return x


def _shard_path(folder: Path, start: int, stop: int) -> Path:
    return folder / f"chains-{start:015d}-{stop:015d}.npz"


def _save_shard(folder: Path, start: int, stop: int, key_sha: str, result, info: dict) -> Path:
    arrays: dict = {}
    tree = _encode(result, arrays)
    record = {"format": _FORMAT + ".shard", "format_version": _FORMAT_VERSION, "key_sha256": key_sha,
              "start": start, "stop": stop, "tree": tree, "info": info}
    path = _shard_path(folder, start, stop)
    atomic_savez(path, compressed=True, __record__=np.array(json.dumps(record)), **arrays)
    return path


def _check_shard_file(path: Path, key_sha: str) -> None:
    """Read a shard file completely (record and every array, checksums included) and check it
    belongs to this run; raises if anything is damaged."""
    _check_tree(_load_shard(path, key_sha)[0], f"checkpointed shard {path.name}")


def _move_aside(path: Path) -> Path:
    """Move a damaged shard file into ``damaged/`` of its folder (kept for inspection)."""
    dest_dir = path.parent / "damaged"
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / path.name
    os.replace(path, dest)
    return dest


def _load_shard(path: Path, key_sha: str):
    with np.load(path, allow_pickle=False) as z:
        record = json.loads(str(z["__record__"]))
        arrays = {k: z[k] for k in z.files if k != "__record__"}
    if not isinstance(record, dict):
        raise ValueError(f"{path} has no valid shard record.")
    if record.get("key_sha256") != key_sha:
        raise ValueError(f"{path} belongs to another run (its key differs from the manifest's).")
    return _decode(record["tree"], arrays), record.get("info", {})


# =============================================================================
# run key and manifest
# =============================================================================
def _canonical(x, where="params"):
    """JSON-able canonical form of the experiment parameters (arrays by shape, dtype and SHA-256)."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, got {k!r}.")
            out[k] = _canonical(v, f"{where}[{k!r}]")
        return out
    if isinstance(x, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if isinstance(x, RBM):
        return {"rbm_fingerprint": x.fingerprint()}
    if isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        if a.dtype == object:
            raise TypeError(f"{where}: object arrays are not allowed in params.")
        return {"array_sha256": hashlib.sha256(a.tobytes()).hexdigest(), "shape": list(a.shape),
                "dtype": a.dtype.str}
    if isinstance(x, np.generic):
        return _canonical(x.item(), where)
    if isinstance(x, float):
        return {"float": x.hex()} if not math.isfinite(x) else x
    if isinstance(x, _LEAF_SCALARS):
        return x
    raise TypeError(f"{where}: parameters must be numbers, str, None, arrays, lists or dicts of them, "
                    f"got {type(x).__name__} (it must be recorded in the checkpoint key).")


def _function_name(fn) -> str:
    mod = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None)
    if not mod or not qual or "<locals>" in qual or "<lambda>" in qual:
        raise TypeError(f"the shard function must be a module-level function (picklable by name, so worker "
                        f"processes can import it), got {fn!r}.")
    return f"{mod}.{qual}"


def _run_key(fn, rbm: RBM, n_chains: int, seed: int, params: dict) -> dict:
    from .kernels import SAMPLER_VERSION

    return {"function": _function_name(fn), "sampler_version": SAMPLER_VERSION,
            "model_fingerprint": rbm.fingerprint(),
            "model_shape": [rbm.n_visible, rbm.n_hidden], "model_dtype": rbm.dtype.name,
            "seed": int(seed), "n_chains": int(n_chains), "params": _canonical(params)}


def _key_sha(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _open_checkpoint(folder: Path, key: dict, key_sha: str):
    """Create or check the manifest; return the finished shard ranges [(start, stop, path)], sorted.

    The caller holds the folder's lock."""
    remove_stale_temporaries(folder, owned=True)
    mpath = folder / _MANIFEST
    shard_files = sorted(folder.glob("chains-*-*.npz"))
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"Could not read the checkpoint manifest {mpath} ({exc}); delete the folder "
                             f"{folder} to start afresh.") from None
        if manifest.get("format") != _FORMAT or manifest.get("key") != key:
            old, new = _flat(manifest.get("key", {})), _flat(key)
            diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
            raise ValueError(
                f"The checkpoint in {folder} belongs to a different run; differing settings "
                f"(checkpoint, requested): {diff}. Use another checkpoint folder, or delete this one to "
                f"start afresh."
            )
    else:
        if shard_files:
            raise ValueError(f"{folder} holds shard files but no {_MANIFEST}; it is not a checkpoint of "
                             "rbmlib.ensemble (or it was damaged). Use an empty folder.")
        text = json.dumps({"format": _FORMAT, "format_version": _FORMAT_VERSION, "key": key,
                           "key_sha256": key_sha}, indent=1, sort_keys=True)
        atomic_write_text(mpath, text)
    done = []
    for p in shard_files:
        parts = p.stem.split("-")
        try:
            start, stop = int(parts[1]), int(parts[2])
        except (IndexError, ValueError):
            continue
        done.append((start, stop, p))
    done.sort()
    n = key["n_chains"]
    prev = 0
    for start, stop, p in done:
        if not (0 <= start < stop <= n):
            raise ValueError(f"shard file {p.name} covers chains outside 0..{n}; the checkpoint is damaged.")
        if start < prev:
            raise ValueError(f"shard files in {folder} overlap (at {p.name}); the checkpoint is damaged.")
        prev = stop
    return done


# =============================================================================
# planning
# =============================================================================
def plan_shards(n_chains: int, shard_size: int, done=()) -> list[tuple[int, int]]:
    """Chain ranges ``[(start, stop), ...]`` of size ``<= shard_size`` covering ``0 .. n_chains - 1``
    except the ranges in ``done`` (finished shards, any sizes), in increasing order."""
    out = []
    pos = 0
    for start, stop in sorted(list(done) + [(n_chains, n_chains)]):
        for s in range(pos, start, shard_size):
            out.append((s, min(s + shard_size, start)))
        pos = max(pos, stop)
    return out


# =============================================================================
# worker side
# =============================================================================
_NUMBA_LOCK = threading.Lock()


def _set_threads(threads):
    if threads is not None:
        import numba
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _identity(x):
    """The model as a Dask task's result (see ``_Dask.put_model``)."""
    return x


def _run_shard(fn, rbm, seed, start, stop, params, threads):
    """Runs in the worker: one shard, timed; returns (result, info)."""
    with _NUMBA_LOCK:       # numba's default threading layer must not be entered by two threads at once
        _set_threads(threads)
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(rbm, seed, start, stop - start, **params)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    import numba
    return result, {"seconds": dt, "cpu_seconds": dc, "host": socket.gethostname(), "pid": os.getpid(),
                    "numba_threads": numba.get_num_threads()}


# =============================================================================
# executor back-ends
# =============================================================================
class _Inline:
    """Shards one after the other in the calling process (all numba threads)."""

    kind = "inline"
    lost_errors = ()
    threads = None

    def __init__(self):
        import numba
        self.description = f"in-process (numba threads: {numba.get_num_threads()})"
        self.n_workers = 1

    def window(self):
        return 1

    def submit(self, key, *args):
        fut = cf.Future()
        try:
            fut.set_result(_run_shard(*args))
        except Exception as exc:  # noqa: BLE001 (reported by the driver)
            fut.set_exception(exc)
        return fut

    def wait(self, futs):
        return [f for f in futs if f.done()] or list(futs)[:1]

    def put_model(self, rbm):
        return rbm

    def recover(self):
        pass

    def close(self, abort=False):
        pass


def _die_with_parent(parent_pid: int) -> None:
    """In a worker process: end this process when its driver (``parent_pid``) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, enforced by the kernel even while a
    numba kernel holds the GIL. Everywhere: a daemon thread polls the parent PID every
    second (the fallback where prctl is missing). Also ignores SIGINT: a Ctrl-C in the
    terminal reaches the whole process group, and the driver stops its workers itself.
    """
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # pragma: no cover -- not the main thread
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if os.getppid() != parent_pid:       # the driver died before the watch was set up
        os._exit(1)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="rbmlib-parent-watch", daemon=True).start()


def _pool_initializer(threads, parent_pid=None):
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    _set_threads(threads)


class _Pool:
    """A concurrent.futures executor: a ProcessPoolExecutor we own (rebuilt if broken), or the caller's."""

    kind = "process"

    def __init__(self, workers=None, threads=None, executor=None):
        from concurrent.futures.process import BrokenProcessPool
        self.lost_errors = (BrokenProcessPool,)
        self._own = executor is None
        self.threads = threads
        if executor is None:
            self.n_workers = int(workers)
            self.description = (f"process pool ({self.n_workers} spawned worker processes x "
                                f"{threads} numba thread{'s' if threads != 1 else ''})")
            self._ex = self._new()
        else:
            self._ex = executor
            self.n_workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
            self.description = f"{type(executor).__name__} ({self.n_workers} workers)"

    def _new(self):
        import multiprocessing as mp
        return cf.ProcessPoolExecutor(max_workers=self.n_workers, mp_context=mp.get_context("spawn"),
                                      initializer=_pool_initializer, initargs=(self.threads, os.getpid()))

    def window(self):
        return self.n_workers

    def submit(self, key, *args):
        return self._ex.submit(_run_shard, *args)

    def wait(self, futs):
        done, _ = cf.wait(futs, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def put_model(self, rbm):
        return rbm

    def recover(self):
        if not self._own:
            raise RuntimeError("the executor passed in is broken (a worker process died); rbmlib cannot "
                               "replace an executor it does not own. Pass workers=N instead.")
        self._ex.shutdown(wait=False, cancel_futures=True)
        self._ex = self._new()

    def close(self, abort=False):
        if not self._own:
            return
        if abort:
            # interrupted: stop the workers now instead of waiting for their shards
            procs = list((getattr(self._ex, "_processes", None) or {}).values())
            for p in procs:
                try:
                    p.terminate()
                except (OSError, ValueError):  # pragma: no cover -- already gone
                    pass
            self._ex.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():  # pragma: no cover
                    p.kill()
            return
        self._ex.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """A Dask distributed cluster: an existing scheduler, a LocalCluster we start, or the caller's Client."""

    kind = "dask"

    def __init__(self, scheduler=None, workers=None, threads=None, client=None, retries=2):
        try:
            import distributed
        except ImportError:
            raise ImportError("Dask executors need dask[distributed]: pip install 'dask[distributed]' "
                              "(pinned in requirements.txt).") from None
        self._distributed = distributed
        from distributed.client import FutureCancelledError, FuturesCancelledError
        from distributed.scheduler import KilledWorker
        # a future the scheduler cancelled (its inputs went with a dead worker) is lost, not failed
        self.lost_errors = (KilledWorker, FutureCancelledError)
        self._cancelled = FuturesCancelledError
        self.retries = retries
        self._cluster = None
        self._own = client is None
        if client is not None:
            self.client = client
            where = getattr(client.scheduler, "address", "?")
        elif scheduler == "local":
            n = int(workers or os.cpu_count() or 1)
            self._cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                     dashboard_address=":0")
            self.client = distributed.Client(self._cluster)
            where = f"LocalCluster of {n} worker processes"
        else:
            self.client = distributed.Client(scheduler, timeout="60s")
            where = scheduler
        if not self.client.nthreads():
            self.client.wait_for_workers(1, timeout=300)
        self.n_workers = len(self.client.nthreads())
        self.threads = threads
        self.description = (f"dask ({where}; {self.n_workers} workers"
                            + (f" x {threads} numba threads" if threads else "") + ")")

    def window(self):
        return max(2 * sum(self.client.nthreads().values()), 2)

    def submit(self, key, *args):
        return self.client.submit(_run_shard, *args, key=key, retries=self.retries, pure=False)

    def wait(self, futs):
        futs = list(futs)
        try:
            done, _ = self._distributed.wait(futs, return_when="FIRST_COMPLETED")
        except self._cancelled:
            # some finished futures were cancelled: hand them back too; their .result() raises
            # FutureCancelledError, a lost shard that _compute resubmits
            done = [f for f in futs if f.status != "pending"]
        return list(done)

    def put_model(self, rbm):
        # A task that returns the model, not client.scatter: scattered data dies with the worker
        # holding it and cannot be recovered, which cancels every shard that needs it; a task's
        # result the scheduler simply recomputes elsewhere.
        return self.client.submit(_identity, rbm, key=f"rbmlib-model-{os.urandom(8).hex()}", pure=False)

    def recover(self):
        pass

    def close(self, abort=False):
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()


def _backend(executor, scheduler, workers, threads, retries):
    workers = check_int(workers, "workers", 1, allow_none=True)
    threads = check_int(threads, "threads", 1, allow_none=True)
    cpus = os.cpu_count() or 1
    if executor is not None and not isinstance(executor, str):
        if scheduler is not None or workers is not None:
            raise ValueError("give either an executor object or scheduler/workers, not both.")
        try:
            import distributed
            if isinstance(executor, distributed.Client):
                return _Dask(client=executor, threads=threads, retries=retries)
        except ImportError:  # pragma: no cover
            pass
        if isinstance(executor, cf.Executor):
            return _Pool(executor=executor, threads=threads)
        raise TypeError(f"executor must be None, 'inline', 'process', 'dask', a concurrent.futures.Executor "
                        f"or a distributed.Client, got {type(executor).__name__}.")
    if executor is None:
        executor = "dask" if scheduler is not None else ("process" if workers is not None else "inline")
    if executor == "inline":
        if scheduler is not None or workers is not None:
            raise ValueError("executor='inline' runs in this process; it takes no scheduler or workers.")
        return _Inline()
    if executor == "process":
        if scheduler is not None:
            raise ValueError("executor='process' is a local process pool; use executor='dask' for a scheduler.")
        n = workers or cpus
        return _Pool(workers=n, threads=threads or max(1, cpus // n))
    if executor == "dask":
        scheduler = "local" if scheduler is None else scheduler
        if not isinstance(scheduler, str) or not scheduler:
            raise ValueError(f"scheduler must be an address such as 'tcp://10.0.0.1:8786' or 'local', "
                             f"got {scheduler!r}.")
        if scheduler == "local":
            n = workers or cpus
            return _Dask(scheduler="local", workers=n, threads=threads or max(1, cpus // n), retries=retries)
        if workers is not None:
            raise ValueError("workers= starts local worker processes; with a scheduler address the cluster's "
                             "own workers are used (start them with `dask worker ADDRESS`).")
        return _Dask(scheduler=scheduler, threads=threads, retries=retries)
    raise ValueError(f"executor must be None, 'inline', 'process' or 'dask' (or an executor object), "
                     f"got {executor!r}.")


# =============================================================================
# the driver
# =============================================================================
@dataclass
class EnsembleResult:
    """Outcome of :func:`run_ensemble`.

    Attributes
    ----------
    value : object
        The reduced result of every finished shard (``None`` if none finished).
    n_chains : int
        Chains requested.
    n_done : int
        Chains whose shards are in ``value``.
    computed, loaded : list of (start, stop)
        Shards computed in this call, and shards read from the checkpoint.
    retried : int
        Shard attempts that failed and were resubmitted.
    executor : str
        Description of the executor.
    wall_s : float
        Wall time of this call (seconds).
    shard_seconds : float
        Compute time summed over all shards in ``value`` (seconds, including
        checkpointed ones; not reproducible).
    shard_cpu_seconds : float
        CPU time of the worker processes summed over the same shards (all threads
        of the process; with one numba thread per worker it does not depend on the
        load of the machine the way wall time does).
    shard_info : dict
        ``start -> {'seconds', 'cpu_seconds', 'host', 'pid', 'numba_threads'}`` of every
        shard in ``value``.
    key : dict
        The run key recorded in the checkpoint manifest.
    """

    value: object
    n_chains: int
    n_done: int
    computed: list
    loaded: list
    retried: int
    executor: str
    wall_s: float
    shard_seconds: float
    shard_cpu_seconds: float = 0.0
    shard_info: dict = field(default_factory=dict)
    key: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.n_done == self.n_chains


class _Folder:
    """Fixed-order reduction: shards are folded in increasing chain order as soon as they are next."""

    def __init__(self, reduce, initial):
        if reduce not in ("sum", "concat") and not callable(reduce):
            raise ValueError(f"reduce must be 'sum', 'concat' or a callable fold(acc, part) -> acc, got {reduce!r}.")
        self.reduce = reduce
        self.acc = initial
        self.has = initial is not None
        self.parts = []

    def add(self, part):
        if self.reduce == "concat":
            self.parts.append(part)
        elif not self.has:
            self.acc, self.has = part, True
        elif self.reduce == "sum":
            self.acc = _tree_sum(self.acc, part)
        else:
            self.acc = self.reduce(self.acc, part)

    def value(self):
        if self.reduce == "concat":
            return _tree_concat(self.parts) if self.parts else self.acc
        return self.acc


def run_ensemble(fn, rbm: RBM, n_chains: int, *, seed: int = 0, params: dict | None = None,
                 shard_size: int = 10000, reduce="sum", initial=None, executor=None, scheduler=None,
                 workers: int | None = None, threads: int | None = None, retries: int = 2,
                 checkpoint_dir=None, max_shards: int | None = None, progress: bool = False,
                 desc: str = "chains") -> EnsembleResult:
    """Run ``fn`` over ``n_chains`` chains in shards, on any executor, reducing in chain order.

    Parameters
    ----------
    fn : callable
        Module-level shard function ``fn(rbm, seed, chain_offset, n_chains, **params) -> result``
        (see the module docstring). ``result``: dicts (str keys), lists, tuples,
        numeric numpy arrays, int, float, bool, str, None. It must depend only on
        its arguments (each chain's own random stream), never on the process.
    rbm : RBM
    n_chains : int >= 1
    seed : int
    params : dict, optional
        Keyword arguments of ``fn`` (numbers, str, arrays, lists/dicts of them):
        part of the checkpoint key.
    shard_size : int >= 1
        Chains per shard: the unit of work, retry and checkpoint.
    reduce : 'sum', 'concat' or callable
        How shard results combine (see the module docstring); a callable is
        ``fold(acc, part) -> acc`` applied in chain order, starting from ``initial``
        (or from the first part when ``initial`` is None).
    executor, scheduler, workers : see the module docstring
        Default: in this process. ``workers=N``: local process pool;
        ``scheduler=ADDRESS``: Dask cluster; ``scheduler='local'``: Dask LocalCluster of
        ``workers`` processes.
    threads : int, optional
        Numba threads per worker process (default: local pools ``cpu_count // workers``,
        remote Dask workers unchanged). Results do not depend on it.
    retries : int >= 0
        Extra attempts per shard after a failure (worker lost or exception).
    checkpoint_dir : path, optional
        Folder for the manifest and one file per finished shard (resume by calling again).
    max_shards : int >= 0, optional
        Compute at most this many new shards in this call (time-boxed runs); the
        result is then partial (``complete`` False) and a later call continues.
    progress : bool
        tqdm progress bar over chains.

    Returns
    -------
    EnsembleResult

    Raises
    ------
    ShardFailed
        A shard failed ``retries + 1`` times; finished shards stay checkpointed.
    ValueError
        A checkpoint of another run in ``checkpoint_dir`` (the message lists the
        differing settings), bad arguments.
    rbmlib._locking.RunLocked
        Another live process is using ``checkpoint_dir`` (the message names it).
    """
    check_rbm(rbm)
    n_chains = check_int(n_chains, "n_chains", 1)
    shard_size = check_int(shard_size, "shard_size", 1)
    retries = check_int(retries, "retries", 0)
    max_shards = check_int(max_shards, "max_shards", 0, allow_none=True)
    seed = check_seed(seed)
    params = {} if params is None else dict(params)
    key = _run_key(fn, rbm, n_chains, seed, params)
    key_sha = _key_sha(key)
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    lock = None if folder is None else lock_folder(folder, "checkpoint folder")
    try:
        return _drive(fn, rbm, n_chains, seed, params, key, key_sha, folder, shard_size, reduce, initial,
                      executor, scheduler, workers, threads, retries, max_shards, progress, desc)
    finally:
        if lock is not None:
            lock.release()


def _usable_shards(folder, key, key_sha) -> list:
    """The checkpointed shards ``(start, stop, path)`` of this run that pass the start-up check; a damaged
    shard file is moved aside (with a warning) so that its chains are recomputed."""
    done_files = []
    if folder is None:
        return done_files
    for a, b, p in _open_checkpoint(folder, key, key_sha):
        try:
            _check_shard_file(p, key_sha)
            done_files.append((a, b, p))
        except Exception as exc:  # noqa: BLE001 -- a damaged shard file is moved aside and recomputed
            dest = _move_aside(p)
            warnings.warn(f"checkpointed shard {p} is unreadable or damaged ({type(exc).__name__}: {one_line(exc)}); "
                          f"moved to {dest} and its chains {a}..{b - 1} are recomputed.",
                          RuntimeWarning, stacklevel=4)
    return done_files


class _OrderedFold:
    """Reduce shard results in the fixed order of their first chain, whatever order they finish in.

    ``order`` lists every shard of the call as ``(start, stop, path)`` (``path``: a checkpointed
    shard, loaded when its turn comes; ``None``: a shard computed now, folded once :meth:`ready`
    has received it).
    """

    def __init__(self, order, reducer: _Folder, key_sha: str):
        self.order, self.reducer, self.key_sha = order, reducer, key_sha
        self.waiting: dict = {}    # start -> result of a computed shard waiting for its turn
        self.info: dict = {}
        self.pos = 0

    def ready(self, a, part, info) -> None:
        self.info[a] = info
        self.waiting[a] = part

    def advance(self) -> None:
        """Fold every shard whose turn has come."""
        while self.pos < len(self.order):
            a, b, path = self.order[self.pos]
            if path is not None:
                try:
                    part, self.info[a] = _load_shard(path, self.key_sha)
                except Exception as exc:  # noqa: BLE001 -- damaged after the start-up check
                    raise ValueError(f"checkpointed shard {path} became unreadable during the run "
                                     f"({type(exc).__name__}: {one_line(exc)}); rerun the same call: it is "
                                     "then moved aside and recomputed.") from None
            elif a in self.waiting:
                part = self.waiting.pop(a)
            else:
                return
            self.reducer.add(part)
            self.pos += 1

    @property
    def complete(self) -> bool:
        return self.pos == len(self.order)


def _compute(backend, fn, model, seed, params, todo, retries, checkpointed, finished, advance, key_sha) -> int:
    """Run the shards ``todo`` on ``backend``, at most its window in flight, in chain order.

    ``finished(a, b, part, info)`` receives every result; ``advance()`` folds after each batch.
    A failed shard is resubmitted up to ``retries`` times (a shard lost with its worker, or
    failed under a process pool; Dask retries exceptions itself), then :class:`ShardFailed`.
    Returns the number of resubmissions.
    """
    retried = 0
    token = f"{key_sha[:12]}-{os.urandom(4).hex()}"   # task names unique to this call
    queue = list(todo)              # shards still to submit, in chain order
    attempts = {a: 0 for a, _ in todo}
    inflight = {}                   # future -> (start, stop)

    def failed(a, b, exc):
        nonlocal retried
        lost = isinstance(exc, backend.lost_errors)
        # Dask already retried an exception `retries` times itself; a lost worker we resubmit
        if attempts[a] > retries or (backend.kind == "dask" and not lost):
            what = "worker lost" if lost else f"{type(exc).__name__}: {exc}"
            raise ShardFailed(
                f"the shard of chains {a}..{b - 1} failed on every attempt ({what}); finished shards "
                + ("are checkpointed: fix the cause and call again to resume." if checkpointed
                   else "are lost (no checkpoint_dir).")) from exc
        retried += 1
        queue.append((a, b))
        queue.sort()

    while queue or inflight:
        broken = False
        while queue and len(inflight) < backend.window():
            a, b = queue.pop(0)
            attempts[a] += 1
            try:
                fut = backend.submit(f"rbmlib-shard-{token}-{a}-{b}-{attempts[a]}",
                                     fn, model, seed, a, b, params, backend.threads)
            except backend.lost_errors:
                # the pool broke after the last check: this shard never ran
                attempts[a] -= 1
                queue.insert(0, (a, b))
                broken = True
                break
            inflight[fut] = (a, b)
        if not broken:
            for fut in backend.wait(list(inflight)):
                a, b = inflight.pop(fut)
                try:
                    part, inf = fut.result()
                except Exception as exc:  # noqa: BLE001
                    broken = broken or (backend.kind == "process" and isinstance(exc, backend.lost_errors))
                    failed(a, b, exc)
                    continue
                finished(a, b, part, inf)
        if broken:
            # a dead process pool fails all its shards: keep the finished ones, resubmit the rest
            cf.wait(list(inflight), timeout=120)
            for fut, (a, b) in list(inflight.items()):
                inflight.pop(fut)
                exc = fut.exception() if fut.done() else TimeoutError("no answer from a broken pool")
                if exc is None:
                    finished(a, b, *fut.result())
                else:
                    failed(a, b, exc)
            backend.recover()
        advance()
    return retried


def _drive(fn, rbm, n_chains, seed, params, key, key_sha, folder, shard_size, reduce, initial,
           executor, scheduler, workers, threads, retries, max_shards, progress, desc):
    """:func:`run_ensemble` once its arguments are checked and its checkpoint folder (if any) is locked."""
    done_files = _usable_shards(folder, key, key_sha)
    todo = plan_shards(n_chains, shard_size, [(a, b) for a, b, _ in done_files])
    if max_shards is not None:
        todo = todo[:max_shards]
    # the fixed reduction order: every shard of this call (checkpointed or new) by its first chain
    fold = _OrderedFold(sorted([(a, b, p) for a, b, p in done_files] + [(a, b, None) for a, b in todo]),
                        _Folder(reduce, initial), key_sha)
    loaded = [(a, b) for a, b, _ in done_files]
    computed = []
    retried = 0
    backend = None
    bar = None
    t_start = time.perf_counter()
    fold.advance()
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=n_chains, initial=sum(b - a for a, b in loaded), unit="chain", unit_scale=True,
                   desc=desc, smoothing=0.05)

    def finished(a, b, part, inf):
        _check_tree(part, f"result of shard {a}..{b - 1}")
        inf = dict(inf)
        if folder is not None:
            _save_shard(folder, a, b, key_sha, part, inf)
        fold.ready(a, part, inf)
        computed.append((a, b))
        if bar is not None:
            bar.update(b - a)

    aborted = True
    try:
        if todo:
            backend = _backend(executor, scheduler, workers, threads, retries)
            retried = _compute(backend, fn, backend.put_model(rbm), seed, params, todo, retries,
                               folder is not None, finished, fold.advance, key_sha)
        fold.advance()
        if not fold.complete:  # pragma: no cover -- every planned shard is folded or an error was raised
            raise RuntimeError("internal error: not every shard was reduced.")
        aborted = False
    finally:
        if bar is not None:
            bar.close()
        if backend is not None:
            backend.close(abort=aborted)
    done = sorted(loaded + computed)
    info = fold.info
    return EnsembleResult(value=fold.reducer.value(), n_chains=n_chains, n_done=sum(b - a for a, b in done),
                          computed=sorted(computed), loaded=loaded, retried=retried,
                          executor=backend.description if backend is not None else "none (all shards loaded)",
                          wall_s=time.perf_counter() - t_start,
                          shard_seconds=float(sum(float(i.get("seconds", 0.0)) for i in info.values())),
                          shard_cpu_seconds=float(sum(float(i.get("cpu_seconds", 0.0)) for i in info.values())),
                          shard_info=info, key=key)


# =============================================================================
# command-line helpers (used by the xft and ais sub-commands)
# =============================================================================
def add_cli_arguments(p) -> None:
    """Add ``--scheduler ADDRESS``, ``--workers N``, ``--threads N`` and ``--retries N`` to an argparse parser."""
    g = p.add_argument_group("cluster / parallel execution (results are identical whatever is chosen)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (e.g. tcp://10.0.0.1:8786) to run the shards on a cluster; "
                        "'local' starts a Dask LocalCluster of --workers processes")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run the shards in N local worker processes (a process pool; with --scheduler local, "
                        "N Dask workers); default: in this process with all numba threads")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="numba threads per worker process (default: cores / workers locally)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="resubmit a failed or lost shard up to N times (default 2)")


def executor_options(args) -> dict:
    """The keyword arguments of :func:`run_ensemble` chosen by :func:`add_cli_arguments` options."""
    for name in ("workers", "threads"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise ValueError(f"--{name} must be >= 1, got {v}.")
    if getattr(args, "retries", 0) < 0:
        raise ValueError(f"--retries must be >= 0, got {args.retries}.")
    return {"scheduler": args.scheduler, "workers": args.workers, "threads": args.threads,
            "retries": args.retries}
