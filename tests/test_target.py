"""rbmlib.kernels.target: 512-bit vectors on AVX-512 CPUs unless the user chose otherwise.

Each case starts a fresh interpreter (numba fixes its target when it creates it, once per
process). That the bits do not depend on the width is tested in ``tests/test_bit_identity.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import llvmlite.binding as ll
import pytest

HAS_AVX512 = bool(ll.get_host_cpu_features().get("avx512f", False))

REPORT = ("import json, rbmlib; from rbmlib.kernels import target; from rbmlib.provenance import machine; "
          "from numba.core.registry import cpu_target; "
          "f = cpu_target.target_context.codegen()._tm_features; "
          "print(json.dumps({'status': target.STATUS, 'no256': f.endswith(',-prefer-256-bit'), "
          "'machine': machine()['vector_width']}))")


def run(code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME", "RBMLIB_VECTOR_WIDTH")}
    env.update(env_changes)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not a recognized feature" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_default_prefers_512_bit_vectors_on_avx512_cpus():
    out = run(REPORT)
    if HAS_AVX512:
        assert out == {"status": "512-bit", "no256": True, "machine": "512-bit"}
    else:
        assert out["status"] == "unchanged: no AVX-512 on this CPU" and not out["no256"]


def test_processes_started_by_rbmlib_inherit_the_setting():
    code = ("import subprocess, sys, rbmlib; "
            f"print(subprocess.run([sys.executable, '-c', {REPORT!r}], capture_output=True, text=True).stdout)")
    out = run(code)
    if HAS_AVX512:
        assert out["status"].startswith("512-bit (set by the rbmlib process") and out["no256"]
    else:
        assert not out["no256"]


@pytest.mark.parametrize("env, status", [
    ({"RBMLIB_VECTOR_WIDTH": "native"}, "unchanged: RBMLIB_VECTOR_WIDTH=native"),
    ({"RBMLIB_VECTOR_WIDTH": "wide"}, "unchanged: RBMLIB_VECTOR_WIDTH='wide' is not 'auto' or 'native'"),
    ({"NUMBA_CPU_NAME": "generic"}, "unchanged: NUMBA_CPU_NAME or NUMBA_CPU_FEATURES is set"),
])
def test_the_users_choice_is_left_alone(env, status):
    out = run(REPORT, **env)
    assert out["status"] == status and not out["no256"]


def test_too_late_when_numba_compiled_first():
    if not HAS_AVX512:
        pytest.skip("the CPU has no AVX-512: nothing would be changed anyway")
    out = run("import numba; numba.njit(lambda x: x + 1)(1); " + REPORT)
    assert out["status"] == "unchanged: numba compiled code before rbmlib was imported" and not out["no256"]
