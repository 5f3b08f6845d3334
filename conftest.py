"""Test selection for the whole repository (markers are registered in pyproject.toml).

* ``notebooks``  -- every cell of every chapter, re-executed by nbval and compared with the
  committed output (collected from ``chapters/*.ipynb``).
* ``browser``    -- tests that build the book or drive Chromium (``tests/test_book.py``'s
  built-book tests, ``tests/test_lab.py``).
* ``slow``       -- unit tests that take more than about 15 s on a 2-core machine.
* ``bitidentity``-- tests that the library's random streams and arithmetic give the same bits
  as a reference: golden digests committed in ``tests/data/golden_bits.json``, pure-Python
  transcriptions of the streams, thread counts and sharding. CI runs them a second time with
  numba compiling for a generic x86-64 CPU (``make test-portable``).

A quick unit run:  ``pytest -m "not notebooks and not browser"``.
"""
from __future__ import annotations

import pytest

# unit tests that take > ~15 s on a 2-core machine (measured with --durations; see README)
SLOW = (
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
