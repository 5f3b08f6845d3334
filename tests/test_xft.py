"""rbmlib.xft: the heat-exchange fluctuation theorem, exactly (enumeration) and by sampling."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

import rbmlib
from rbmlib import RBM, xft
from rbmlib.cli import xft as xft_command

MODELS = [(3, 2, 1.0, 11), (4, 3, 1.0, 1), (3, 4, 1.5, 7)]
BETA2S = [0.5, 0.8, 1.25, 2.0]


@pytest.fixture(params=MODELS, ids=lambda p: f"{p[0]}x{p[1]}-w{p[2]}")
def model(request):
    nv, nh, scale, seed = request.param
    return RBM.random(nv, nh, scale=scale, seed=seed)


# ----------------------------------------------------------------------------- exact
def _brute_heat(rbm, kernel, beta1, beta2):
    """P(Q) by explicit loops over (s, s') with conditionals written from scratch (kernel 'h', 'v' or 'hv')."""
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.W, rbm.a, rbm.b))
    V = [np.array(s, float) for s in itertools.product([0, 1], repeat=rbm.n_visible)]
    H = [np.array(s, float) for s in itertools.product([0, 1], repeat=rbm.n_hidden)]

    def energy(v, h):
        return -(v @ W @ h + a @ v + b @ h)

    def bern(x, f):  # prod_j p(x_j | field f)
        p1 = 1.0 / (1.0 + np.exp(-f))
        return float(np.prod(np.where(x == 1, p1, 1.0 - p1)))

    Z = sum(math.exp(-beta1 * energy(v, h)) for v in V for h in H)
    out = {}
    for v in V:
        for h in H:
            p = math.exp(-beta1 * energy(v, h)) / Z
            for v2 in V:
                for h2 in H:
                    if kernel == "h":
                        t = bern(h2, beta2 * (v @ W + b)) if np.array_equal(v2, v) else 0.0
                    elif kernel == "v":
                        t = bern(v2, beta2 * (W @ h + a)) if np.array_equal(h2, h) else 0.0
                    else:
                        t = bern(h2, beta2 * (v @ W + b)) * bern(v2, beta2 * (W @ h2 + a))
                    if t > 0:
                        q = round(energy(v2, h2) - energy(v, h), 9)
                        out[q] = out.get(q, 0.0) + p * t
    return out


@pytest.mark.parametrize("kernel", ["h", "v", "hv"])
def test_exact_distribution_against_brute_force(kernel):
    rbm = RBM.random(2, 2, scale=0.9, seed=4)
    q, p = xft.exact_heat_distribution(rbm, kernel, 1.0, 0.6)
    ref = _brute_heat(rbm, kernel, 1.0, 0.6)
    assert abs(p.sum() - 1.0) < 1e-12
    assert len(q) == len(ref)
    for qi, pi in zip(q, p):
        assert abs(ref[round(qi, 9)] - pi) < 1e-12


@pytest.mark.parametrize("beta2", BETA2S)
@pytest.mark.parametrize("kernel", ["h", "v"])
def test_half_updates_satisfy_xft_exactly(model, kernel, beta2):
    for n_sweeps in (1, 2):
        r = xft.exact_xft_check(model, kernel, 1.0, beta2, n_sweeps=n_sweeps)
        assert r.support_mismatch == 0
        assert r.max_abs_deviation < 1e-10
        assert r.max_spread < xft.MERGE_TOL / 100 < xft.MERGE_TOL < r.min_gap
        assert abs(r.p_forward.sum() - 1) < 1e-12


@pytest.mark.parametrize("beta2", BETA2S)
def test_reversible_compositions_satisfy_xft_exactly(model, beta2):
    for kernel in ("hvh", "vhv", "random"):
        assert xft.exact_xft_check(model, kernel, 1.0, beta2).max_abs_deviation < 1e-10


@pytest.mark.parametrize("beta2", BETA2S)
def test_sweep_needs_reversed_order(model, beta2):
    for kernel in ("hv", "vh"):
        for n_sweeps in (1, 3):
            paper = xft.exact_xft_check(model, kernel, 1.0, beta2, n_sweeps=n_sweeps)
            fixed = xft.exact_xft_check(model, kernel, 1.0, beta2, n_sweeps=n_sweeps,
                                        reverse=xft.reversed_kernel_name(kernel))
            assert fixed.reverse == kernel[::-1]
            assert fixed.support_mismatch == 0
            assert fixed.max_abs_deviation < 1e-10
            # the single-histogram form fails for the block sweep: a real violation, not round-off
            assert paper.max_abs_deviation > 1e-4
            assert paper.mean_abs_deviation > 1e-6


def test_larger_model_nine_units():
    rbm = RBM.random(5, 4, scale=0.7, seed=2)
    assert xft.exact_xft_check(rbm, "v", 1.0, 1.6).max_abs_deviation < 1e-10
    assert xft.exact_xft_check(rbm, "hv", 1.0, 1.6, reverse="vh").max_abs_deviation < 1e-10
    assert xft.exact_xft_check(rbm, "hv", 1.0, 1.6).max_abs_deviation > 1e-2


def test_sweep_violation_also_at_equal_temperatures():
    # at beta2 = beta1 the theorem predicts a symmetric P(Q); the block sweep gives an asymmetric one
    rbm = RBM.random(4, 3, scale=1.0, seed=1)
    assert xft.exact_xft_check(rbm, "hv", 1.0, 1.0).max_abs_deviation > 1e-3
    assert xft.exact_xft_check(rbm, "hv", 1.0, 1.0, reverse="vh").max_abs_deviation < 1e-10


def test_cluster_merges_values_straddling_a_rounding_boundary():
    vals = np.array([0.1234567894999999, 0.1234567895000001, 0.2, 0.2 + 1e-6, -0.2])
    labels, centers, spread, gap = xft._cluster(vals, 1e-11)
    assert labels[0] == labels[1]                      # round(x, 9) would split these two
    assert round(vals[0], 9) != round(vals[1], 9)
    assert len(set(labels.tolist())) == 4              # 0.2 and 0.2 + 1e-6 stay distinct
    assert spread < 1e-15 and abs(gap - 1e-6) < 1e-12
    np.testing.assert_allclose(centers, [-0.2, 0.1234567895, 0.2, 0.2 + 1e-6], rtol=0, atol=1e-15)


def test_kernel_matrix_compositions():
    rbm = RBM.random(3, 2, seed=0)
    Th = rbmlib.exact.transition_matrix(rbm, "h", 0.7)
    Tv = rbmlib.exact.transition_matrix(rbm, "v", 0.7)
    np.testing.assert_allclose(xft.kernel_matrix(rbm, "hv", 0.7), rbmlib.exact.transition_matrix(rbm, "hv", 0.7),
                               atol=1e-15)
    np.testing.assert_allclose(xft.kernel_matrix(rbm, "hvh", 0.7, n_sweeps=2),
                               np.linalg.matrix_power(Th @ Tv @ Th, 2), atol=1e-15)
    np.testing.assert_allclose(xft.kernel_matrix(rbm, "random", 0.7), 0.5 * (Th @ Tv + Tv @ Th), atol=1e-15)
    assert xft.reversed_kernel_name("hvv") == "vvh" and xft.reversed_kernel_name("random") == "random"


# -------------------------------------------------------------------------- sampling
def test_energies_match_model():
    rbm = RBM.random(30, 20, scale=0.3, seed=1)
    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, (50, 30), dtype=np.uint8)
    h = rng.integers(0, 2, (50, 20), dtype=np.uint8)
    np.testing.assert_allclose(xft.energies(rbm, v, h), rbm.energy(v, h), rtol=0, atol=1e-12)
    # a row's energy does not depend on its batch
    assert np.array_equal(xft.energies(rbm, v[7:9], h[7:9]), xft.energies(rbm, v, h)[7:9])


RUN = dict(beta1=1.0, beta2s=[0.8, 1.25], n_equil=20, seed=5, order=("hv", "vh"))


def _same(r1, r2):
    return (np.array_equal(r1.counts, r2.counts) and np.array_equal(r1.outside, r2.outside)
            and r1.sums == r2.sums and r1.trace == r2.trace and r1.n_done == r2.n_done)


def test_run_xft_bit_identical_under_sharding_and_resume(tmp_path):
    rbm = RBM.random(12, 8, scale=0.5, seed=3)
    one = xft.run_xft(rbm, 700, shard_size=700, **RUN)
    assert one.complete and one.counts.sum() == 700 * 4 and one.outside.sum() == 0
    assert _same(one, xft.run_xft(rbm, 700, shard_size=33, **RUN))
    # interrupted after two shards, resumed with another shard size
    part = xft.run_xft(rbm, 700, shard_size=250, checkpoint_dir=tmp_path, max_shards=2, **RUN)
    assert part.n_done == 500 and not part.complete
    assert xft.XFTResult.load(tmp_path / "xft_checkpoint.npz").n_done == 500
    resumed = xft.run_xft(rbm, 700, shard_size=64, checkpoint_dir=tmp_path, **RUN)
    assert _same(one, resumed)
    assert [s["chains_at_start"] for s in resumed.meta["sessions"]] == [0, 500]
    # analysis and figure on a sampled result
    an = xft.analyse(one, "hv", 1.25, 0.5, min_expected=5)
    assert an["n"] == 700 and an["bias"].shape == an["table"]["q"].shape
    pa = xft.analyse(one, "hv", 1.25, 0.5, reverse_order="vh", min_expected=5)
    assert pa["n"] == 350 and pa["bias"] is None
    import matplotlib
    matplotlib.use("Agg")
    ax, axr = rbmlib.plotting.plot_log_ratio([an, pa], labels=["hv", "hv/vh"])
    assert len(ax.lines) >= 2
    with pytest.raises(TypeError, match="XFTResult"):
        xft.analyse({}, "hv", 1.25, 0.5)
    # a finished checkpoint is returned without recomputation
    again = xft.run_xft(rbm, 700, shard_size=64, checkpoint_dir=tmp_path, **RUN)
    assert _same(one, again) and len(again.meta["sessions"]) == 2
    # save / load round trip (counts trimmed on disk, restored on load)
    path = resumed.save(tmp_path / "res.npz")
    back = xft.XFTResult.load(path)
    assert _same(one, back) and back.config == one.config and back.meta["code_version"]
    # paired heat difference (exact fixed-point sums) agrees with the difference of the means
    d, se = back.mean_heat_difference("vh", 0.8)
    assert abs(d - (back.mean_heat("vh", 0.8)[0] - back.mean_heat("hv", 0.8)[0])) < 1e-5 and se > 0
    with pytest.raises(ValueError, match="reference order"):
        back.mean_heat_difference("hv", 0.8)
    # the two parities partition the ensemble
    f = back.fine_counts("hv", 0.8)
    assert np.array_equal(f, back.fine_counts("hv", 0.8, 0) + back.fine_counts("hv", 0.8, 1))
    assert back.fine_counts("hv", 0.8, 0).sum() == 350


def test_run_xft_histogram_matches_exact_distribution():
    """End to end: sampled heat histogram vs the exact P(Q) (chi-square GOF, alpha = 1e-3, fixed seed)."""
    rbm = RBM.random(5, 4, scale=0.8, seed=12)
    n_equil = 40
    # the equilibration really converges: from the sampler's uniform start, T^n_equil is at p_beta1
    T = rbmlib.exact.transition_matrix(rbm, "hv", 1.0, n_sweeps=n_equil)
    p1 = rbmlib.exact.joint_distribution(rbm, 1.0).ravel()
    assert np.abs(np.full(p1.size, 1 / p1.size) @ T - p1).sum() < 1e-8
    res = xft.run_xft(rbm, 40000, beta1=1.0, beta2s=[0.6, 1.5], n_equil=n_equil, seed=9, order=("hv", "vh"),
                      shard_size=40000)
    for order in ("hv", "vh"):
        for b2 in (0.6, 1.5):
            g = xft.exact_gof(res, rbm, order, b2, width=0.25)
            assert g["p_value"] > 1e-3 and g["dof"] > 10, (order, b2, g)
    with pytest.raises(ValueError, match="another model"):
        xft.exact_gof(res, RBM.random(5, 4, seed=0), "hv", 0.6)


def test_analysis_on_synthetic_counts():
    # fine grid w = 1/4 on [-4, 4); counts exactly following n(Q) / n(-Q) = exp(c Q) bin by bin
    c, fw = 0.5, 0.25
    k = np.arange(-16, 16)
    centers = (k + 0.5) * fw
    base = np.round(1e9 * np.exp(-centers ** 2 / 4 + c * centers / 2)).astype(np.int64)
    j, cc = xft.coarse_counts(base, -16, fw, 1.0)
    assert np.array_equal(j, np.arange(-4, 4)) and cc.sum() == base.sum()
    tab = xft.log_ratio_table(base, -16, fw, fw, c, min_expected=10)
    assert np.allclose(tab["y"], c * tab["q"], atol=1e-5)
    fit = xft.fit_slope(tab["q"], tab["y"], tab["sigma"])
    assert abs(fit["slope"] - c) < 1e-5 and fit["stderr"] > 0
    # coarse bins: the binning bias is predicted by binning_bias
    tab4 = xft.log_ratio_table(base, -16, fw, 1.0, c, min_expected=10)
    bias = xft.binning_bias(base, -16, fw, 1.0, c, tab4["q"])
    np.testing.assert_allclose(tab4["y"] - c * tab4["q"], bias, atol=1e-5)
    assert np.all(np.abs(bias) > 1e-4)
    # homogeneity: identical histograms give chi2 = 0, p = 1
    h = xft.homogeneity_test(cc, cc)
    assert h["chi2"] == 0 and h["p_value"] == 1.0 and h["dof"] == h["n_bins"] - 1
    g = xft.xft_chi2(tab)
    assert g["dof"] == tab["q"].size and g["chi2"] < 1e-3
    # two histograms: P_F(q) ~ exp(c q / 2) h(q), h even, satisfies the integral constraint <exp(-cQ)> = 1,
    # and its reverse P_R(x) = exp(c x) P_F(-x) is normalised; the reverse sample is twice as large
    pf = np.exp(c * centers / 2 - centers ** 2 / 4) * (1 + 0.3 * centers ** 2)
    pf /= pf.sum()
    fwd = np.round(1e9 * pf).astype(np.int64)
    rev = np.round(2e9 * np.exp(c * centers) * pf[::-1])
    tab2 = xft.log_ratio_table(fwd, -16, fw, fw, c, reverse=rev.astype(np.int64), min_expected=10)
    assert abs(tab2["offset"] - np.log(0.5)) < 1e-6
    assert tab2["q"].min() < 0 < tab2["q"].max()              # both signs of Q are pairs now
    np.testing.assert_allclose(tab2["y"], c * tab2["q"], atol=1e-5)
    assert xft.xft_chi2(tab2)["chi2"] < 1e-3
    with pytest.raises(ValueError, match="same grid"):
        xft.log_ratio_table(fwd, -16, fw, fw, c, reverse=rev[:-2].astype(np.int64))


def test_log_ratio_table_keeps_empty_side_for_the_binomial_test():
    fine = np.zeros(8, np.int64)
    fine[5] = 100        # only the + side of pair j = 1: a gross violation of the theory
    fine[6], fine[1] = 60, 40
    tab = xft.log_ratio_table(fine, -4, 1.0, 1.0, 0.1, min_expected=10)
    assert tab["n_empty"] == 1 and np.isnan(tab["y"][0]) and np.isfinite(tab["y"][1])
    g = xft.xft_chi2(tab)
    assert g["dof"] == 2 and g["dof_log"] == 1 and g["p_value"] < 1e-10
    with pytest.raises(ValueError, match="at least 2 points"):
        xft.fit_slope(tab["q"], tab["y"], tab["sigma"])


def test_cli_runs_and_resumes(tmp_path, capsys):
    rbm = RBM.random(6, 4, scale=0.5, seed=8)
    mpath = rbm.save(tmp_path / "m.npz")
    argv = ["--model", str(mpath), "--chains", "300", "--sweeps", "5", "--t2", "0.8", "1.25", "--order", "hv",
            "--shard-size", "100", "--out", str(tmp_path / "out.npz"), "--checkpoint-dir", str(tmp_path / "ck"),
            "--no-progress"]
    assert xft_command.main(argv + ["--max-shards", "1"]) == 0
    assert "stopped after 100 of 300 chains" in capsys.readouterr().out
    assert not (tmp_path / "out.npz").exists()
    assert xft_command.main(argv) == 0
    assert "complete: 300 of 300 chains" in capsys.readouterr().out
    res = xft.XFTResult.load(tmp_path / "out.npz")
    ref = xft.run_xft(rbm, 300, beta1=1.0, beta2s=[1 / 0.8, 1 / 1.25], n_equil=5, seed=2017, order=("hv",),
                      shard_size=300)
    assert _same(res, ref) and res.meta["model"] == str(mpath)
    import argparse
    sub = argparse.ArgumentParser().add_subparsers()
    xft_command.add_cli(sub)
    assert "xft" in sub.choices


# -------------------------------------------------------------------------- bad inputs
def test_bad_inputs(tmp_path):
    rbm = RBM.random(4, 3, seed=0)
    ok = dict(beta2s=[0.8], n_equil=2, shard_size=10)
    with pytest.raises(TypeError, match="rbmlib.RBM"):
        xft.run_xft(np.zeros((4, 3)), 10, **ok)
    for kw, msg in [(dict(beta2s=[]), "empty"), (dict(beta2s=[0.8, -1.0]), "> 0"), (dict(beta2s=[float("nan")]), "> 0"),
                    (dict(beta2s=[0.8, 0.8]), "repeated"), (dict(order="xy"), "order"),
                    (dict(order=("hv", "hv")), "order"), (dict(shard_size=0), "shard_size"),
                    (dict(n_equil=-1), "n_equil"), (dict(beta1=0.0), "beta1"), (dict(seed=-3), "seed"),
                    (dict(bin_width=0.3, q_max=1.0), "integer"), (dict(bin_width=-1.0), "bin_width")]:
        with pytest.raises((ValueError, TypeError), match=msg):
            xft.run_xft(rbm, 10, **{**ok, **kw})
    for n in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_chains"):
            xft.run_xft(rbm, n, **ok)
    with pytest.raises(ValueError, match="max_shards"):
        xft.run_xft(rbm, 10, max_shards=-1, **ok)
    # a checkpoint from another run is refused, naming the difference
    xft.run_xft(rbm, 20, checkpoint_dir=tmp_path, **ok)
    with pytest.raises(ValueError, match="different run.*beta2s"):
        xft.run_xft(rbm, 20, checkpoint_dir=tmp_path, **{**ok, "beta2s": [0.9]})
    with pytest.raises(ValueError, match="different run.*model_fingerprint"):
        xft.run_xft(RBM.random(4, 3, seed=1), 20, checkpoint_dir=tmp_path, **ok)
    with pytest.MonkeyPatch.context() as mp:        # another version of the sampler's arithmetic
        mp.setattr(xft, "SAMPLER_VERSION", xft.SAMPLER_VERSION + 1)
        with pytest.raises(ValueError, match="different run.*sampler_version"):
            xft.run_xft(rbm, 20, checkpoint_dir=tmp_path, **ok)
    # exact
    for kernel in ("", "hx", "HV", 3):
        with pytest.raises(ValueError, match="kernel"):
            xft.exact_xft_check(rbm, kernel, 1.0, 0.5)
    with pytest.raises(ValueError, match="beta2"):
        xft.exact_xft_check(rbm, "h", 1.0, -0.5)
    with pytest.raises(ValueError, match="tol"):
        xft.exact_xft_check(rbm, "h", 1.0, 0.5, tol=0.0)
    with pytest.raises(ValueError, match="n_sweeps"):
        xft.kernel_matrix(rbm, "h", 1.0, n_sweeps=0)
    with pytest.raises(rbmlib.exact.EnumerationTooLarge):
        xft.exact_xft_check(RBM.random(8, 6, seed=0), "h", 1.0, 0.5)
    # analysis
    with pytest.raises(ValueError, match="multiple"):
        xft.coarse_counts(np.ones(8, np.int64), -4, 0.25, 0.3)
    with pytest.raises(ValueError, match="integer counts"):
        xft.coarse_counts(np.ones(8), -4, 0.25, 0.5)
    with pytest.raises(ValueError, match="same bins"):
        xft.homogeneity_test(np.ones(4, np.int64), np.ones(5, np.int64))
    with pytest.raises(ValueError, match="sigma"):
        xft.fit_slope([1.0, 2.0], [1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="binary"):
        xft.energies(rbm, np.full((2, 4), 2), np.zeros((2, 3)))
    with pytest.raises(FileNotFoundError):
        xft.XFTResult.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="truncated"):
        xft.XFTResult.load(bad)
    res = xft.XFTResult.load(tmp_path / "xft_checkpoint.npz")
    with pytest.raises(ValueError, match="was not run"):
        res.fine_counts("vh", 0.8)
    with pytest.raises(ValueError, match="was not run"):
        res.fine_counts("hv", 0.5)


# ----------------------------------------------------------------------------- branch mode
BRANCH = dict(beta1=1.0, beta2s=[0.7, 1.0, 1.4], n_equil=40, seed=21, order=("hv", "vh", "hvh", "v"),
              n_branch=6, branch_every=10, n_groups=20)


def test_branch_mode_matches_exact_and_is_bit_identical_under_sharding(tmp_path):
    """Branch mode: every branch point is a start of the experiment from an (exactly) equilibrated chain."""
    rbm = RBM.random(5, 4, scale=0.8, seed=12)
    res = xft.run_xft(rbm, 6000, shard_size=6000, **BRANCH)
    assert res.n_starts == 36000 and res.counts.shape[2] == 20 and res.outside.sum() == 0
    assert res.counts[0, 0].sum() == 36000
    for order in ("hv", "hvh", "v"):
        for b2 in (0.7, 1.4):
            g = xft.exact_gof(res, rbm, order, b2, width=0.25)
            assert g["p_value"] > 1e-3 and g["dof"] > 10, (order, b2, g)
    # sharding, workers and resume do not change a bit (counts, sums, moments, branch trace)
    other = xft.run_xft(rbm, 6000, shard_size=1111, **BRANCH)
    assert np.array_equal(res.counts, other.counts) and res.sums == other.sums
    assert np.array_equal(res.moments, other.moments) and np.array_equal(res.branch_trace, other.branch_trace)
    back = xft.XFTResult.load(res.save(tmp_path / "b.npz"))
    assert np.array_equal(back.moments, res.moments) and np.array_equal(back.branch_trace, res.branch_trace)
    assert back.branch_trace.shape == (20, 6) and back.branch_trace.sum() == back.moments[:, 0].sum()
    assert back.n_branch == 6 and back.n_groups == 20
    # moments: the group sums add up to the exact-sum means; the start energy is the exact mean
    m, se = back.moment("Q", "hv", 1.4)
    assert abs(m - back.mean_heat("hv", 1.4)[0]) < 1e-5 and 0 < se < 1
    e0, se0 = back.moment("E0")
    assert abs(e0 - rbmlib.exact.mean_energy(rbm, 1.0)) < 4 * se0
    # the Crooks moment with the correct reverse: <Q f>_hv + <Q f>_vh = 0, within errors; exact value too
    d, sd = back.moment_combination([(1, "Qf", "hv", 1.4), (1, "Qf", "vh", 1.4)])
    assert abs(d) < 4 * sd
    q, p = xft.exact_heat_distribution(rbm, "hv", 1.0, 1.4)
    qr, pr = xft.exact_heat_distribution(rbm, "vh", 1.0, 1.4)
    f = lambda x: x / (1 + np.exp(-0.4 * x))
    assert abs(np.sum(p * f(q)) + np.sum(pr * f(qr))) < 1e-12
    # jackknife slope over groups, and the batch-means errors are finite
    jk = xft.jackknife_slope(back, "hvh", 1.4, 0.5, min_expected=5)
    assert jk["n_groups"] == 20 and jk["stderr"] > 0 and abs(jk["z"]) < 5
    with pytest.raises(ValueError, match="unknown moment"):
        back.group_means("nope")
    # the certificate: passes against the exact mean energy, fails against a wrong one
    e_exact = rbmlib.exact.mean_energy(rbm, 1.0)
    cert = xft.certify_starts(back, {"E": (e_exact, 0.0)})
    assert cert.passed, cert.reasons
    assert len(cert.checks["tests"]) == 2 + 4          # reference, stationarity, 4 orders at T2 = T1
    bad = xft.certify_starts(back, {"E": (e_exact + 0.5, 0.0)})
    assert not bad.passed and "reference" in bad.reasons[0]
    with pytest.raises(ValueError, match="reference"):
        xft.certify_starts(back, {})


def test_fermi_moment_is_plain_arithmetic():
    Q = np.array([-300.0, -5.0, -1e-3, 0.0, 2.5, 40.0, 700.0])
    for c in (-0.25, 0.1, 1.0):
        want = Q / (1.0 + np.exp(np.clip(c * Q, -700, 700)))
        assert np.allclose(xft._fermi_moment(Q, c), want, rtol=1e-14, atol=1e-300)


def test_branch_bad_inputs():
    rbm = RBM.random(4, 3, seed=1)
    for kw in ({"n_branch": 0}, {"branch_every": 0}, {"n_groups": 1}, {"n_branch": 2.5}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            xft.run_xft(rbm, 10, beta2s=[0.9], **kw)


def test_load_energy_reference(tmp_path):
    ref = xft.load_energy_reference("results/equilibrium/mnist-784x500-beta1.json")
    assert set(ref) == {"E"} and ref["E"][0] < -100 and ref["E"][1] > 0
    (tmp_path / "r.json").write_text('{"E": [-3.5, 0.01]}')
    assert xft.load_energy_reference(tmp_path / "r.json") == {"E": (-3.5, 0.01)}
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(ValueError, match="no mean-energy reference"):
        xft.load_energy_reference(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="Could not read"):
        xft.load_energy_reference(tmp_path / "missing.json")


def test_v_half_update_is_blind_to_the_start_of_h():
    """After 'hv' sweeps the start is q(h) p1(v|h) for some q: 'v' satisfies the XFT for any q, 'h'/'hvh'/'hv' not."""
    rbm = RBM.random(3, 2, scale=1.0, seed=11)
    P = rbmlib.exact.joint_distribution(rbm, 1.0)
    qh = np.random.default_rng(0).dirichlet(np.ones(P.shape[1]))
    start = P / P.sum(axis=0) * qh
    for t2 in (0.8, 1.25):
        assert xft.exact_xft_check(rbm, "v", 1.0, 1 / t2, start=start).max_abs_deviation < 1e-11
        for k in ("h", "hvh"):
            assert xft.exact_xft_check(rbm, k, 1.0, 1 / t2, start=start).max_abs_deviation > 0.1
            assert xft.exact_xft_check(rbm, k, 1.0, 1 / t2).max_abs_deviation < 1e-11   # equilibrium start
    with pytest.raises(ValueError, match="probability distribution"):
        xft.exact_xft_check(rbm, "v", 1.0, 0.8, start=np.ones(P.shape))


def _exact_binned_slope(rbm, order, beta2, width, q_keep, fine=1 / 32, q_max=64.0):
    """One-histogram slope of the exact heat law binned like a sampled result (binning bias included)."""
    q, p = xft.exact_heat_distribution(rbm, order, 1.0, beta2)
    k_min = -int(q_max / fine)
    counts = np.zeros(2 * int(q_max / fine), np.int64)
    np.add.at(counts, np.floor(q / fine).astype(int) - k_min, np.rint(p * 1e12).astype(np.int64))
    t = xft.log_ratio_table(counts, k_min, fine, width, 1.0 - beta2, min_expected=0.0)
    sel = np.isin(np.round(t["q"], 9), np.round(q_keep, 9))
    return xft.fit_slope(t["q"][sel], t["y"][sel], t["sigma"][sel])["slope"]


def test_jackknife_slope_difference_matches_the_exact_binned_difference():
    """Sampled slope differences (branch mode, 20 groups) agree with the exact ones, binned the same way.

    On a tiny model the heat takes few values, so coarse bins bias each slope (even the exact half-updates
    'h' and 'v' differ); the comparison is with the exact binned law, which includes that bias.
    """
    rbm = RBM.random(3, 2, scale=1.0, seed=11)
    res = xft.run_xft(rbm, 20000, beta1=1.0, beta2s=[0.5], n_equil=60, seed=2, order=("hv", "vh", "h", "v"),
                      n_branch=4, branch_every=8, n_groups=20, shard_size=20000, q_max=64.0)
    for a, b in (("hv", "vh"), ("h", "v")):
        d = xft.jackknife_slope_difference(res, a, b, 0.5, 0.25, min_expected=5)
        assert d["n_groups"] == 20 and d["stderr"] > 0 and d["n_pairs"] >= 5
        qa = xft.analyse(res, a, 0.5, 0.25, min_expected=5)["table"]["q"]
        qb = xft.analyse(res, b, 0.5, 0.25, min_expected=5)["table"]["q"]
        q = np.intersect1d(np.round(qa, 9), np.round(qb, 9))
        exact = _exact_binned_slope(rbm, a, 0.5, 0.25, q) - _exact_binned_slope(rbm, b, 0.5, 0.25, q)
        assert abs(d["difference"] - exact) < 4 * d["stderr"], (a, b, d, exact)
    # the sweep's own violation is far beyond the error here
    assert xft.jackknife_slope_difference(res, "hv", "vh", 0.5, 0.25, min_expected=5)["p_value"] < 0.01
