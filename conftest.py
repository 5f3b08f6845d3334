"""Test selection for the whole repository (markers are registered in pyproject.toml).

* ``notebooks``  -- every cell of every chapter, re-executed by nbval and compared with the
  committed output (collected from ``chapters/*.ipynb``).
* ``browser``    -- tests that build the book or drive Chromium (``tests/test_book.py``'s
  built-book tests, ``tests/test_lab.py``).
* ``slow``       -- unit tests that take more than about 5 s on a 2-core machine (listed below, from
  ``pytest --durations``), such as real process pools, an exact 784x20 enumeration, killed drivers.
* ``bitidentity``-- tests that the library's random streams and arithmetic give the same bits
  as a reference: golden digests committed in ``tests/data/golden_bits.json``, pure-Python
  transcriptions of the streams, thread counts and sharding. CI runs them a second time with
  numba compiling for a generic x86-64 CPU (``make test-portable``).

A quick unit run:  ``pytest -m "not notebooks and not browser"``.

Claim records. Executing a chapter writes its claim records (``rbmlib.report.record_claim``). Under
pytest they go to a temporary folder (``RBMLIB_CLAIMS_DIR``), never into the working tree, and at the
end of the session every record a chapter wrote is compared with the committed one in
``results/claims/``: nbval compares the cells' outputs, this compares what the chapters *recorded*
(cells whose only effect is a record have no output). A difference fails the session and names the
claim; re-execute the chapter (``make book``) and commit its claim file.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_CLAIMS_TMP: str | None = None

# unit tests that take > ~5 s on a 2-core machine (measured with --durations, 2026-12-02)
SLOW = (
    "test_reference_784x20_recorded_log_likelihood_is_exact",      # 12 s: exact log Z of 784x20
    "test_process_pools_and_dask_give_identical_results",          # 9 s: process pools and a Dask cluster
    "test_process_pool_worker_killed_mid_run",                      # 7 s
    "test_row1_pool_workers_die_with_their_driver",                 # 7 s each: a real CLI run killed
    "test_bimodal_model_tempering_mixes_where_gibbs_does_not",      # 5 s each
)

# tests (by name fragment) that compare bits with a reference or across threads/shards
BIT_IDENTITY = (
    "bit_identical", "bit_for_bit", "match_reference", "matches_reference", "reference_xoshiro",
    "thread_independence", "streams_per_run_and_thread_count", "shards_reproduce_the_whole_run",
    "any_shard_size_matches_one_piece_run",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(getattr(item, "path", getattr(item, "fspath", "")))
        if path.endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
            continue
        name = item.name
        if any(fragment in name for fragment in SLOW):
            item.add_marker(pytest.mark.slow)
        if item.path.name == "test_bit_identity.py" or any(fragment in name for fragment in BIT_IDENTITY):
            item.add_marker(pytest.mark.bitidentity)


def pytest_configure(config):
    global _CLAIMS_TMP
    if not os.environ.get("RBMLIB_CLAIMS_DIR"):
        _CLAIMS_TMP = tempfile.mkdtemp(prefix="rbmlib-claims-")
        os.environ["RBMLIB_CLAIMS_DIR"] = _CLAIMS_TMP   # inherited by the notebook kernels


def _claim_differences(written: Path, committed: Path) -> list[str]:
    out = []
    for f in sorted(written.glob("*.json")):
        new = json.loads(f.read_text(encoding="utf-8"))
        path = committed / f.name
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for key, rec in sorted(new.items()):
            if key not in old:
                out.append(f"{f.name}: claim {key!r} is written by the chapter but not committed")
            elif old[key] != rec:
                fields = sorted(k for k in set(rec) | set(old[key]) if rec.get(k) != old[key].get(k))
                out.append(f"{f.name}: claim {key!r} differs from the committed record in {fields}")
    return out


def pytest_sessionfinish(session, exitstatus):
    global _CLAIMS_TMP
    if _CLAIMS_TMP is None:
        return
    try:
        problems = _claim_differences(Path(_CLAIMS_TMP), ROOT / "results" / "claims")
    finally:
        shutil.rmtree(_CLAIMS_TMP, ignore_errors=True)
        os.environ.pop("RBMLIB_CLAIMS_DIR", None)
        _CLAIMS_TMP = None
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["claim records written by the chapters differ from results/claims/ "
                 "(re-execute the chapter with `make book` and commit its claim file):", *problems]
        if reporter:
            reporter.write_sep("=", "stale claim records", red=True)
            for line in lines:
                reporter.write_line(line)
        if session.exitstatus == 0:
            session.exitstatus = 1
