"""rbmlib's structure (ARCHITECTURE.md): layers, no import cycle, no private names across modules."""
from __future__ import annotations

import importlib.util
import pkgutil
from pathlib import Path

import rbmlib

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_layers_no_cycles_no_private_imports():
    problems = _checker().check()
    assert not problems, "\n".join(problems)


def test_every_module_has_a_layer_and_imports():
    checker = _checker()
    for info in pkgutil.walk_packages(rbmlib.__path__, "rbmlib."):
        checker.layer_of(info.name)
        if info.name in ("rbmlib.kernels.cuda", "rbmlib.__main__"):   # needs numba-cuda / runs the CLI
            continue
        importlib.import_module(info.name)


