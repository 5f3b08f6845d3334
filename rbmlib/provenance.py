"""Provenance of results: which code and which machine produced them, in one format.

Support layer (no rbmlib imports beyond the package version and the kernels' compile target,
:mod:`rbmlib.kernels.target`). Every result that rbmlib
writes (XFT and AIS results, tempering starts, trained models) records

* ``code_version``: :func:`code_version`, e.g. ``"rbmlib 0.1.0 (git 1f831b6-dirty)"``;
* ``machine``: :func:`machine`, a dict (platform, CPU model, logical CPUs, numba threads,
  Python, numpy and numba versions, the kernels' vector width);
* where the result must be tied to the exact source files that computed it (training:
  resuming or reproducing a run), :func:`source_digest` of those files.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import numba as nb
import numpy as np

from .kernels import target

from ._version import __version__

__all__ = ["code_version", "machine", "source_digest"]

_PACKAGE = Path(__file__).resolve().parent


def code_version() -> str:
    """``git describe --always --dirty`` of the repository holding rbmlib, else the package version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=_PACKAGE.parent,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return f"rbmlib {__version__} (git {out.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"rbmlib {__version__}"


def machine() -> dict:
    """Platform, CPU model, logical CPU count, numba threads, library versions and the kernels' vector
    width (:data:`rbmlib.kernels.target.STATUS`) of this machine."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu or platform.machine(), "cpu_count": os.cpu_count(),
            "numba_threads": nb.get_num_threads(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": nb.__version__, "vector_width": target.STATUS}


def source_digest(files) -> dict:
    """SHA-256 over the given rbmlib source files (paths relative to the package), with their names.

    Returns ``{"source_sha256": ..., "source_files": [...]}``: the files that alone determine
    a computation's result (e.g. a training run), so two results with the same digest came
    from the same code whatever the rest of the repository did.
    """
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode())
        h.update((_PACKAGE / name).read_bytes())
    return {"source_sha256": h.hexdigest(), "source_files": list(files)}
