"""rbmlib._io: atomic writes keep the old file on failure, leave no temporary, and are mode 0644."""
from __future__ import annotations

import stat

import numpy as np
import pytest

from rbmlib._io import atomic_savez, atomic_write, atomic_write_text


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_creates_replaces_and_sets_mode(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    assert atomic_write_text(p, "one") == p            # creates missing folders
    assert p.read_text() == "one" and _mode(p) == 0o644
    atomic_write_text(p, "two")
    assert p.read_text() == "two" and _mode(p) == 0o644
    q = atomic_savez(tmp_path / "x.npz", compressed=True, x=np.arange(5))
    with np.load(q) as f:
        np.testing.assert_array_equal(f["x"], np.arange(5))
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")

    def half_then_fail(fh):
        fh.write(b"new, half written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(p, half_then_fail)
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]
