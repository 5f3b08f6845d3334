"""The vector width of the compiled kernels: 512-bit vectors on AVX-512 CPUs, the same bits.

LLVM, which numba uses, tunes code for most AVX-512 CPUs (Skylake-X to Emerald Rapids, and
others) with ``prefer-256-bit``: its loop vectoriser then uses 256-bit vectors although the
CPU has 512-bit ones. rbmlib's hot loops (the field sums of the sampler, the draws, AIS) are
elementwise, so wider vectors do the same operations on more elements at once: measured on a
2-vCPU Intel Xeon (Emerald Rapids), four paired runs of ``benchmarks/bench_sampler.py``, the
two settings side by side on the two vCPUs, the sampler ran 13-42 % faster in float32 (median
+19 %) and 2-24 % faster in float64 with 512-bit vectors (``benchmarks/README.md``).

No result depends on it. Every floating-point loop of the kernels keeps each element's
operations and their order (no ``fastmath``: no reassociation, no contraction, no vectorised
float reductions), so a 128-, 256- or 512-bit vector computes exactly the same numbers; the
enumeration kernel is written so (:mod:`rbmlib.kernels.enumeration`), and the committed digests
of ``tests/test_bit_identity.py`` are the same with this setting, without it and for a generic
x86-64 target (the portability pass of ``make ci``).

:func:`configure` runs when :mod:`rbmlib.kernels` is first imported, before any kernel is
compiled. The environment variable ``RBMLIB_VECTOR_WIDTH`` chooses:

``auto`` (default)
    512-bit vectors when the CPU has AVX-512F and the user has not set ``NUMBA_CPU_NAME`` or
    ``NUMBA_CPU_FEATURES`` (then numba's target is left exactly as given);
``native``
    leave numba's choice alone.

It works by setting ``NUMBA_CPU_FEATURES`` to the host's features (what numba uses by default)
plus ``-prefer-256-bit``, for this process and the processes it starts (worker pools). numba
reads it when it creates its CPU target, on the first ``@njit`` of the process: if other code
decorated a numba function before rbmlib was imported, it is too late and nothing changes
(:data:`STATUS` says so). It applies to every numba function of the process, which is harmless
for code without ``fastmath`` (the same bits, as above).
"""
from __future__ import annotations

import os

__all__ = ["ENV", "STATUS", "configure"]

#: Environment variable that selects the vector width (``auto`` or ``native``).
ENV = "RBMLIB_VECTOR_WIDTH"

#: What :func:`configure` did: ``'512-bit'``, or why it left numba's target alone.
STATUS = "not configured"

_NO_PREFER_256 = ",-prefer-256-bit"


def configure() -> str:
    """Prefer 512-bit vectors on AVX-512 CPUs unless the user chose otherwise (see the module docstring).

    Returns and stores in :data:`STATUS` what was done. Never raises: an unknown value of
    ``RBMLIB_VECTOR_WIDTH`` is reported in :data:`STATUS` and changes nothing.
    """
    global STATUS
    choice = os.environ.get(ENV, "auto").strip().lower()
    if choice not in ("auto", "native"):
        STATUS = f"unchanged: {ENV}={choice!r} is not 'auto' or 'native'"
    elif choice == "native":
        STATUS = f"unchanged: {ENV}=native"
    elif os.environ.get("NUMBA_CPU_FEATURES", "").endswith(_NO_PREFER_256) and not os.environ.get("NUMBA_CPU_NAME"):
        STATUS = "512-bit (set by the rbmlib process that started this one)"
    elif os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        STATUS = "unchanged: NUMBA_CPU_NAME or NUMBA_CPU_FEATURES is set"
    else:
        STATUS = _prefer_512()
    return STATUS


def _prefer_512() -> str:
    from numba.core import config
    from numba.core.registry import cpu_target
    import llvmlite.binding as ll

    try:
        features = ll.get_host_cpu_features()
    except RuntimeError:                        # not an x86 host llvmlite can describe
        return "unchanged: the host CPU's features are unknown"
    if not features.get("avx512f", False):
        return "unchanged: no AVX-512 on this CPU"
    if "_toplevel_target_context" in vars(cpu_target):
        return "unchanged: numba compiled code before rbmlib was imported"
    value = features.flatten() + _NO_PREFER_256
    config.CPU_FEATURES = value                 # read when numba creates its CPU target
    os.environ["NUMBA_CPU_FEATURES"] = value    # ... and by the processes this one starts
    return "512-bit"
