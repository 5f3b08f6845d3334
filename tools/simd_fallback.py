"""Print the NPY_DISABLE_CPU_FEATURES value that switches off numpy's highest SIMD dispatch level.

Used by ``make test-portable`` (the second CI pass): numpy then runs the kernels a machine one
level below this one would run, so committed notebook outputs are checked against both.

* AVX-512 machine (``X86_V4`` and the AVX-512 groups above it enabled) -> every dispatch target
  above ``X86_V3``: numpy behaves as on an AVX2 machine.
* AVX2 machine (``X86_V3`` highest) -> ``X86_V3``: numpy falls back to its SSE4.2 baseline.
* Anything else (no dispatch target above the baseline, non-x86) -> nothing printed.

``--describe`` prints numpy's SIMD line (baseline / found) for the log instead.
"""
from __future__ import annotations

import sys

# x86 dispatch targets in increasing order of capability (numpy >= 2.0 names); the groups
# after X86_V4 (AVX512_ICL, AVX512_SPR, ...) belong to the AVX-512 level.
LEVELS = ("X86_V3", "X86_V4")


def enabled_targets() -> list[str]:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]


def fallback(targets: list[str]) -> list[str]:
    if "X86_V4" in targets:
        return [t for t in targets if t not in ("X86_V2", "X86_V3")]
    if "X86_V3" in targets:
        return [t for t in targets if t != "X86_V2"]
    return []


def main(argv) -> int:
    targets = enabled_targets()
    if argv[1:] == ["--describe"]:
        from numpy._core._multiarray_umath import __cpu_baseline__
        print(f"numpy SIMD: baseline {list(__cpu_baseline__)}, dispatch enabled {targets}")
        return 0
    print(" ".join(fallback(targets)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
