"""Exclusive locks on checkpoint folders and files, held by the run that uses them.

A lock is an OS file lock (``fcntl.flock``) on a small file next to the checkpoint
(``.rbmlib.lock`` inside a checkpoint folder, ``<checkpoint>.lock`` beside a
checkpoint file). The operating system releases it when the process ends, however
it ends (``SIGKILL`` included), so a killed run never leaves a stale lock behind: the
lock file may stay, but it locks nothing. The file holds the holder's PID, host,
start time and command line, which a refused run prints.

On systems without ``fcntl`` (Windows) no lock is taken.
"""
from __future__ import annotations

import datetime as _dt
import os
import shlex
import socket
import sys
from pathlib import Path

try:  # pragma: no cover -- POSIX everywhere rbmlib is tested
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["RunLocked", "RunLock", "lock_folder", "lock_file", "ensure_folder"]

LOCK_NAME = ".rbmlib.lock"


class RunLocked(RuntimeError):
    """Another live process holds the lock of a checkpoint (the message names it)."""


def ensure_folder(path, what: str = "checkpoint folder") -> Path:
    """Create the folder ``path`` (and its parents) or raise a clear error if it cannot be one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the {what} {path} is a file, not a folder; give the path of a folder "
                                 "(it is created if missing).")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"the {what} {path} cannot be created: {parent} is a file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the {what} {path}: {exc.strerror or exc}.") from None
    return path


class RunLock:
    """An exclusive, non-blocking lock on ``lock_path``; a context manager.

    ``acquire()`` raises :class:`RunLocked` with the holder's PID and command line
    when another process holds it. Not re-entrant: one ``RunLock`` per lock file per
    process.
    """

    def __init__(self, lock_path, what: str):
        self.path = Path(lock_path)
        self.what = what
        self._fd = None

    def acquire(self) -> "RunLock":
        if fcntl is None or self._fd is not None:  # no locks on this system, or held already
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise OSError(f"cannot create the lock file {self.path} of the {self.what} "
                          f"({exc.strerror or exc}); is the folder writable?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            info = dict(line.split(" ", 1) for line in holder.splitlines() if " " in line)
            who = (f"process {info.get('pid', '?')} on {info.get('host', '?')}, started {info.get('started', '?')}, "
                   f"command: {info.get('command', '?')}") if info else "another process"
            raise RunLocked(f"the {self.what} is in use by {who} (lock {self.path}). Wait for that run to "
                            "finish or stop it; two runs must not share a checkpoint.") from None
        text = (f"pid {os.getpid()}\nhost {socket.gethostname()}\n"
                f"started {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}\n"
                f"command {shlex.join([sys.executable] + sys.argv)}\n")
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass

    def __exit__(self, *exc) -> None:
        self.release()


def lock_folder(folder, what: str = "checkpoint folder") -> RunLock:
    """Create ``folder`` if needed and lock it (``folder/.rbmlib.lock``); use as a context manager."""
    folder = ensure_folder(folder, what)
    return RunLock(folder / LOCK_NAME, f"{what} {folder}").acquire()


def lock_file(path, what: str = "checkpoint") -> RunLock:
    """Lock the file ``path`` (through ``<path>.lock`` beside it); its folder is created if needed."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"the {what} {path} is a folder; give the path of a file.")
    ensure_folder(path.parent, f"folder of the {what}")
    return RunLock(path.with_name(path.name + ".lock"), f"{what} {path}").acquire()


def locks_checkpoint(argument: str, what: str, *, folder: bool):
    """Decorator: hold the lock of the keyword argument ``argument`` (a checkpoint folder if
    ``folder``, else a checkpoint file) while the function runs, and first remove the
    temporary files that killed writers left there."""
    import functools

    from ._io import remove_stale_temporaries

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            target = kwargs.get(argument)
            if target is None:
                return fn(*args, **kwargs)
            if not isinstance(target, (str, os.PathLike)):
                raise TypeError(f"{argument} must be a path (str or os.PathLike), got {type(target).__name__}.")
            target = Path(target)
            lock = lock_folder(target, what) if folder else lock_file(target, what)
            try:
                if folder:
                    remove_stale_temporaries(target)
                else:
                    remove_stale_temporaries(target.parent, target.name)
                return fn(*args, **kwargs)
            finally:
                lock.release()
        return wrapper
    return deco
