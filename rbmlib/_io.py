"""Atomic file writes: the one way rbmlib writes models, results, checkpoints and records.

A file is written to a temporary file in the same folder, flushed to disk
(``fsync``), given mode 0644 (``mkstemp`` creates 0600; results and models are
ordinary shareable files) and renamed over the target in one step
(``os.replace``). A crash or an exception at any point leaves the previous file,
if there was one, untouched, and no temporary file behind -- except when the
process is killed outright (``SIGKILL``, power loss) during the write: the
temporary file ``<name>.<pid>.<random>.tmp`` then stays, and
:func:`remove_stale_temporaries` (called by every checkpointing run when it starts)
removes those whose writer process is gone.

:func:`check_output` checks an output path before a long computation starts:
its folder exists or can be created and is writable, it is not a folder, and an
existing file is only replaced when the caller says so.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["atomic_write", "atomic_savez", "atomic_write_text", "remove_stale_temporaries", "check_output"]

_TMP_RE = re.compile(r"^(?P<target>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def atomic_write(path, write: Callable) -> Path:
    """Create or replace ``path`` with what ``write(fh)`` writes to a binary file handle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder, target: str | None = None, *, owned: bool = False) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder``; return their paths.

    Only files named like :func:`atomic_write`'s temporaries (``<target>.<pid>.<random>.tmp``)
    whose process ``pid`` no longer exists are removed; with ``target``, only those of
    that file name. A live writer's temporary file is never touched. ``owned=True``
    (the caller holds the lock of a folder only it writes to, see :mod:`rbmlib._locking`)
    also removes every other ``*.tmp`` file there (e.g. of older rbmlib versions).
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.glob("*.tmp"):
        m = _TMP_RE.match(p.name)
        if m is not None:
            pid = int(m.group("pid"))
            if (target is not None and m.group("target") != target) or pid == os.getpid():
                continue
            if not owned and _pid_alive(pid):
                continue
        elif not owned:
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def check_output(path, *, overwrite: bool = False, what: str = "output file", hint: str = "") -> Path:
    """Check, before any computation, that ``path`` can be written and is not silently replaced.

    Creates the missing folders, proves the folder writable by creating and deleting a
    temporary file, and refuses an existing file unless ``overwrite`` (``hint`` tells
    the user how to allow it, e.g. "pass --force"). Also removes stale temporaries of
    ``path`` left by a killed writer. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"the {what} {path} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"the {what} {path} exists" + (f"; {hint}" if hint else "; it is not overwritten") +
                              ", or choose another path.")
    folder = path.parent
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"the {what} {path} cannot be written: {parent} is a file, not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise PermissionError(f"the {what} {path} cannot be written ({exc.strerror or exc}); choose a "
                              "writable folder before the computation starts.") from None
    remove_stale_temporaries(folder, path.name)
    return path
