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


def test_kept_names_for_chapters_3_and_4_forward_to_their_homes():
    # names that chapters 3 and 4 (and tests/test_xft.py) still use, until they call the new homes
    from rbmlib import exact, models, plotting, reference_models, stats, thermo, widgets, xft
    from rbmlib.cli import xft as xft_command

    assert thermo.equilibrium_sample is exact.equilibrium_sample
    assert thermo.gibbs_entropy is stats.entropy
    assert thermo.plot_work_histograms is plotting.plot_work_histograms
    assert thermo.work_explorer is widgets.work_explorer
    assert xft.plot_log_ratio is plotting.plot_log_ratio
    assert xft.main is xft_command.main and xft.add_cli is xft_command.add_cli
    assert models.load_reference is reference_models.load_reference
