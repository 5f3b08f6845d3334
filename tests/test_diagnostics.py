"""rbmlib.diagnostics: autocorrelation time, R-hat/ESS, multi-start agreement and certificates.

Known answers: an AR(1) process x_t = rho x_{t-1} + noise has integrated
autocorrelation time (1 + rho) / (1 - rho). Certificates are checked on
synthetic traces (stationary and agreeing -> pass; drifting, disagreeing ->
fail with the reason) and on a tiny RBM against the exact enumeration: exact
equilibrium samples are certified against the exact mean energy, a start stuck
in one mode of a bimodal model is refused.
"""
from __future__ import annotations

import numpy as np
import pytest

from rbmlib import RBM, exact
from rbmlib import diagnostics as dg
from rbmlib import tempering as tp


def ar1(n_chains, n_sweeps, rho, seed=0, mean=0.0, drift=0.0):
    rng = np.random.default_rng(seed)
    x = np.empty((n_chains, n_sweeps))
    x[:, 0] = rng.standard_normal(n_chains) / np.sqrt(1 - rho ** 2)
    eps = rng.standard_normal((n_chains, n_sweeps))
    for t in range(1, n_sweeps):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    return x + mean + drift * np.arange(n_sweeps) / n_sweeps


def test_integrated_time_of_ar1():
    for rho in (0.0, 0.5, 0.9):
        at = dg.integrated_time(ar1(50, 4000, rho, seed=1))
        assert at.tau == pytest.approx((1 + rho) / (1 - rho), rel=0.1)
        assert at.window >= 5 * at.tau - 1 and at.reliable
    short = dg.integrated_time(ar1(4, 200, 0.99, seed=2))
    assert not short.reliable


def test_rhat_and_ess():
    x = ar1(8, 2000, 0.5, seed=3)
    r = dg.rhat_ess(x)
    assert r["rhat"] < 1.01 and 8 * 2000 / 3 * 0.7 < r["ess_bulk"] < 8 * 2000 / 3 * 1.3
    x[:4] += 1.0                                   # half the chains in another 'mode'
    assert dg.rhat_ess(x)["rhat"] > 1.05                     # flagged: the recommended limit is 1.01


def test_window_mean_and_compare():
    x = ar1(400, 100, 0.8, seed=4, mean=3.0)
    wm = dg.window_mean(x, 20, 100)
    assert wm["n_chains"] == 400 and abs(wm["mean"] - 3.0) < 4 * wm["se"]
    c = dg.compare({"a": (1.0, 0.1), "b": (1.3, 0.1), "c": {"mean": 1.0, "se": 0.1}})
    assert c["pairs"][0]["z"] == pytest.approx(-0.3 / np.hypot(0.1, 0.1))
    assert c["dof"] == 2 and 0 < c["p"] < 1
    with pytest.raises(ValueError, match="window"):
        dg.window_mean(x, 50, 20)


def test_equilibration_sweep():
    t = np.arange(200)
    x = -1.0 + np.exp(-t / 20.0)[None, :] + 0.01 * np.random.default_rng(5).standard_normal((1000, 200))
    s = dg.equilibration_sweep(x, -1.0)                      # z = 3.9 for 200 points at alpha = 0.01
    assert s is not None and 120 < s < 160                   # exp(-t/20) < 3.9 * 0.01/sqrt(1000) at t ~ 135
    assert dg.equilibration_sweep(x + 1.0, -1.0) is None


def test_certify_synthetic():
    ok = {s: {"E": ar1(300, 400, 0.7, seed=i, mean=-5.0)} for i, s in enumerate(["noise", "data"])}
    c = dg.certify(ok, reference={"E": (-5.0, 0.01)})
    assert c.passed and bool(c) and "PASSED" in str(c)
    assert set(c.checks["starts"]) == {"noise", "data"} and "tau" in c.checks["starts"]["noise"]["E"]
    drifting = {"noise": {"E": ar1(300, 400, 0.7, seed=7, mean=-5.0, drift=-0.5)}, "data": ok["data"]}
    c = dg.certify(drifting)
    assert not c.passed and any("drifts" in r for r in c.reasons)
    apart = {"noise": ok["noise"], "data": {"E": ok["data"]["E"] + 0.5}}
    c = dg.certify(apart)
    assert not c.passed and any("disagree" in r for r in c.reasons)
    c = dg.certify(ok, reference={"E": (-4.0, 0.01)})
    assert not c.passed and any("'reference'" in r for r in c.reasons)
    assert not dg.certify({"noise": {"E": ar1(4, 50, 0.9, seed=1)}}).passed       # too few effective samples
    with pytest.raises(ValueError, match="same observables"):
        dg.certify({"a": {"E": ok["noise"]["E"]}, "b": {"F": ok["data"]["E"]}})
    with pytest.raises(ValueError, match="n_chains, n_sweeps"):
        dg.certify({"a": {"E": np.zeros((2, 3, 4))}})


def test_certify_start_exact_on_tiny_rbm():
    """Exact equilibrium samples pass against the exact mean energy; a one-mode start is refused."""
    rbm = RBM(np.full((6, 1), 5.0), np.full(6, -2.5), np.array([-15.0 + 0.4]))
    p = exact.joint_distribution(rbm, 1.0).ravel()
    rng = np.random.default_rng(0)
    k = rng.choice(p.size, size=2000, p=p)
    v = ((k[:, None] >> 1) >> np.arange(5, -1, -1)) & 1
    h = (k[:, None] & 1).astype(np.uint8)
    ref = {"E": (exact.mean_energy(rbm, 1.0), 0.0)}
    c = dg.certify_start(rbm, v.astype(np.uint8), h, reference=ref, n_sweeps=50, seed=1)
    assert c.passed, c.reasons
    stuck = np.zeros_like(v, dtype=np.uint8)
    c = dg.certify_start(rbm, stuck, np.zeros_like(h), reference=ref, n_sweeps=50, seed=1)
    assert not c.passed and any("differs from the equilibrium reference" in r for r in c.reasons)
    # tempering from the same stuck start gives a certified ensemble
    pt = tp.Tempering(rbm, tp.geometric_ladder(0.1, 1.0, 6), 2000, seed=2, v0=stuck[0])
    pt.run(150)
    vt, ht = pt.state()
    c = dg.certify_start(rbm, vt[-1], ht[-1], reference=ref, n_sweeps=50, seed=3)
    assert c.passed, c.reasons
    assert "z_reference" in c.checks["observables"]["E"] and c.to_json()
    with pytest.raises(ValueError, match="reference"):
        dg.certify_start(rbm, v, h, reference={})
