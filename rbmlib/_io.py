"""Atomic file writes: the one way rbmlib writes models, results, checkpoints and records.

A file is written to a temporary file in the same folder, flushed to disk
(``fsync``), given mode 0644 (``mkstemp`` creates 0600; results and models are
ordinary shareable files) and renamed over the target in one step
(``os.replace``). A crash or an exception at any point leaves the previous file,
if there was one, untouched, and no temporary file behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["atomic_write", "atomic_savez", "atomic_write_text"]


def atomic_write(path, write: Callable) -> Path:
    """Create or replace ``path`` with what ``write(fh)`` writes to a binary file handle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_savez(path, *, compressed: bool = False, **arrays) -> Path:
    """:func:`numpy.savez` (or ``savez_compressed``) of ``arrays`` to ``path``, atomically."""
    save = np.savez_compressed if compressed else np.savez
    return atomic_write(path, lambda fh: save(fh, **arrays))


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, atomically."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
