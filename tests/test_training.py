"""rbmlib.training: gradients against enumeration, CD-k bias, learning, determinism, checkpoint/resume."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

import rbmlib
from rbmlib import exact
from rbmlib import training as tr
from rbmlib.sampling import Chains


@pytest.fixture
def tiny():
    rbm = rbmlib.RBM.random(5, 3, scale=1.0, seed=7)
    data = (np.random.default_rng(0).random((12, 5)) < 0.5).astype(np.uint8)
    return rbm, data


def _max_err(g1, g2):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(g1, g2))


def _mean_ll(rbm, data, beta=1.0):
    return float(exact.log_likelihood(rbm, data, beta).mean())


# ----------------------------------------------------------------------------- gradients
def test_hidden_probabilities_and_gradient_match_dense_formulas():
    rbm = rbmlib.RBM.random(30, 11, scale=0.7, seed=2)
    rng = np.random.default_rng(5)
    vd = (rng.random((17, 30)) < 0.3).astype(np.uint8)
    vm = (rng.random((9, 30)) < 0.6).astype(np.uint8)
    beta = 0.8
    np.testing.assert_allclose(tr.hidden_probabilities(rbm, vd, beta), rbm.p_h_given_v(vd, beta),
                               rtol=1e-13, atol=1e-15)
    g = tr.gradient(rbm, vd, vm, beta=beta)
    pd, pm = rbm.p_h_given_v(vd, beta), rbm.p_h_given_v(vm, beta)
    np.testing.assert_allclose(g.W, beta * (vd.T @ pd / 17 - vm.T @ pm / 9), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.a, beta * (vd.mean(0) - vm.mean(0)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.b, beta * (pd.mean(0) - pm.mean(0)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.7])
def test_exact_gradient_is_the_derivative_of_the_exact_log_likelihood(tiny, beta):
    rbm, data = tiny
    g = tr.exact_gradient(rbm, data, beta)
    h = 1e-5

    def f(W, a, b):
        return _mean_ll(rbmlib.RBM(W, a, b), data, beta)

    params = [np.array(rbm.W), np.array(rbm.a), np.array(rbm.b)]
    for which, grad in enumerate(g):
        fd = np.zeros_like(params[which])
        for idx in np.ndindex(fd.shape):
            plus = [p.copy() for p in params]
            minus = [p.copy() for p in params]
            plus[which][idx] += h
            minus[which][idx] -= h
            fd[idx] = (f(*plus) - f(*minus)) / (2 * h)
        # central differences: truncation O(h^2 f''') ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11
        np.testing.assert_allclose(grad, fd, atol=1e-8)


def test_cd_expectation_converges_to_exact_gradient_as_k_grows(tiny):
    rbm, data = tiny
    g = tr.exact_gradient(rbm, data, 1.3)
    ks = [1, 2, 3, 5, 10, 20]
    errs = [_max_err(tr.exact_cd_gradient(rbm, data, k, 1.3), g) for k in ks]
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:])), errs
    assert errs[0] > 0.05  # CD-1 is visibly biased on this model ...
    # ... and the bias decays geometrically with the visible chain's second eigenvalue
    lam = np.sort(np.abs(np.linalg.eigvals(exact.visible_chain(rbm, 1.3))))[-2]
    for k, e in zip(ks, errs):
        assert e <= 10 * lam ** k + 1e-14, (k, e, lam)
    assert _max_err(tr.exact_cd_gradient(rbm, data, 60, 1.3), g) < 1e-12


@pytest.mark.parametrize("k", [1, 3])
def test_sampled_cd_gradient_is_unbiased_for_its_exact_expectation(tiny, k):
    """Mean of R independent CD-k estimates vs exact_cd_gradient: z-test per parameter,
    Bonferroni-corrected at family-wise alpha = 1e-3; and power: CD-1 vs the true gradient is rejected."""
    rbm, data = tiny
    beta, R, n = 1.3, 2000, len(data)
    tiled = np.tile(data, (R, 1))
    big = tr.cd_gradient(rbm, tiled, k, beta=beta, seed=11)
    ch = Chains(rbm, R * n, seed=11, v0=tiled)
    ch.run(k, beta=beta)
    pm = rbm.p_h_given_v(ch.v, beta)
    pd = rbm.p_h_given_v(data, beta)
    vm = ch.v.astype(float)
    # per-replica estimates (replica r = rows r*n .. r*n+n-1)
    negW = np.einsum("rni,rnj->rij", vm.reshape(R, n, -1), pm.reshape(R, n, -1)) / n
    reps = np.concatenate([
        (beta * (data.T @ pd / n - negW)).reshape(R, -1),
        beta * (data.mean(0) - vm.reshape(R, n, -1).mean(1)),
        beta * (pd.mean(0) - pm.reshape(R, n, -1).mean(1)),
    ], axis=1)
    mean = reps.mean(0)
    np.testing.assert_allclose(np.concatenate([big.W.ravel(), big.a, big.b]), mean, rtol=1e-10, atol=1e-12)
    se = reps.std(0, ddof=1) / np.sqrt(R)
    expect = tr.exact_cd_gradient(rbm, data, k, beta)
    z = (mean - np.concatenate([expect.W.ravel(), expect.a, expect.b])) / se
    crit = stats.norm.isf(1e-3 / (2 * z.size))
    assert np.max(np.abs(z)) < crit, (np.max(np.abs(z)), crit)
    if k == 1:
        true = tr.exact_gradient(rbm, data, beta)
        z_true = (mean - np.concatenate([true.W.ravel(), true.a, true.b])) / se
        assert np.max(np.abs(z_true)) > crit  # the test can tell CD-1 from the true gradient


# ----------------------------------------------------------------------------- learning
def _teacher_data(n=80, seed=3):
    teacher = rbmlib.RBM.random(9, 3, scale=2.0, bias_scale=0.5, seed=seed)
    v, _ = rbmlib.sample(teacher, n, 200, seed=seed)
    return v


def _prototype_data(n=90, seed=0):
    """Three 9-pixel prototypes with 10 % flipped pixels: strongly correlated pixels."""
    rng = np.random.default_rng(seed)
    protos = np.array([[1, 1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0, 1]],
                      dtype=np.uint8)
    return protos[rng.integers(0, 3, n)] ^ (rng.random((n, 9)) < 0.1).astype(np.uint8)


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_training_increases_exact_log_likelihood(method):
    data = _prototype_data()
    p = data.mean(0).clip(1e-12, 1 - 1e-12)
    best_independent = float(np.sum(p * np.log(p) + (1 - p) * np.log1p(-p)))  # max-LL factorised model
    init = tr.init_model(9, 4, data, scale=0.01, seed=0)
    ll0 = _mean_ll(init, data)
    rbm = tr.train(init, data, method=method, k=1, epochs=60, batch_size=20, learning_rate=0.1,
                   momentum=0.5, seed=1, progress=False)
    ll1 = _mean_ll(rbm, data)
    assert ll1 > ll0
    # the RBM captures correlations no independent-pixel model can
    assert ll1 > best_independent, (ll0, ll1, best_independent)


def test_training_step_is_the_documented_update():
    data = _teacher_data(40)
    steps = []
    tr.train((9, 5), data, method="pcd", k=2, epochs=2, batch_size=15, learning_rate=0.2, seed=4, beta=0.9,
             n_persistent=7, progress=False, callback=lambda s: steps.append((s, s.chains.copy())),
             callback_every="batch")
    assert len(steps) == 2 * 3 and [s.step for s, _ in steps] == list(range(1, 7))
    for (s, _), (nxt, _) in zip(steps, steps[1:]):
        assert s.rbm_after == nxt.rbm_before
    for s, chains in steps:
        assert chains.rbm == s.rbm_before and chains.n_chains == 7
        g = tr.gradient(s.rbm_before, s.v_data, chains.v, beta=0.9)
        # momentum 0, no decay: theta_after = theta_before + lr * gradient, bit for bit
        np.testing.assert_array_equal(s.rbm_after.W, s.rbm_before.W + 0.2 * g.W)
        np.testing.assert_array_equal(s.rbm_after.a, s.rbm_before.a + 0.2 * g.a)
        np.testing.assert_array_equal(s.rbm_after.b, s.rbm_before.b + 0.2 * g.b)
    assert len(steps[-1][0].v_data) == 10  # last minibatch holds the remainder (40 = 15 + 15 + 10)


def test_momentum_and_weight_decay_update():
    data = _teacher_data(30)
    steps = []
    tr.train((9, 3), data, method="cd", k=1, epochs=1, batch_size=10, learning_rate=0.1, momentum=0.7,
             weight_decay=0.01, seed=0, progress=False, callback=steps.append, callback_every="batch")
    vel = np.zeros((9, 3))
    for s in steps:
        g = tr.gradient(s.rbm_before, s.v_data, s.chains.v)
        vel = 0.7 * vel + 0.1 * (g.W - 0.01 * s.rbm_before.W)
        np.testing.assert_allclose(s.rbm_after.W, s.rbm_before.W + vel, rtol=0, atol=1e-14)


def test_epoch_callback_schedule_and_metadata():
    data = _teacher_data(30)
    seen = []
    sched = tr.linear_schedule(0.1, 3)
    rbm = tr.train(4, data, epochs=3, batch_size=10, learning_rate=sched, seed=2, progress=False,
                   callback=seen.append, dtype=np.float32)
    assert [s.epoch for s in seen] == [0, 1, 2] and all(s.batch is None for s in seen)
    assert [s.learning_rate for s in seen] == pytest.approx([0.1, 0.1 * 2 / 3, 0.1 / 3])
    assert seen[0].rbm_after == seen[1].rbm_before
    assert rbm.dtype == np.float32 and rbm.n_visible == 9 and rbm.n_hidden == 4
    meta = rbm.metadata["training"]
    assert meta["method"] == "pcd" and meta["seed"] == 2 and meta["updates"] == 9
    assert meta["learning_rate"] == pytest.approx([0.1, 0.1 * 2 / 3, 0.1 / 3])
    assert meta["data_sha256"] == rbmlib.datasets.dataset_hash(data)
    assert {"code", "machine", "training_seconds"} <= set(meta)


# ----------------------------------------------------------------------------- determinism
def _run(data, **kw):
    args = dict(method="pcd", k=1, epochs=3, batch_size=16, learning_rate=0.05, momentum=0.5,
                weight_decay=1e-3, seed=5, progress=False)
    args.update(kw)
    return tr.train((data.shape[1], 12), data, **args)


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_bit_identical_for_any_thread_count(method):
    from rbmlib.datasets import load_mnist

    data = load_mnist()[:64]
    nmax = numba.config.NUMBA_NUM_THREADS
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with threadpool_limits(1):
            one = _run(data, method=method)
        numba.set_num_threads(min(2, nmax))
        many = _run(data, method=method)
        numba.set_num_threads(nmax)
        with threadpool_limits(nmax):
            all_ = _run(data, method=method)
    finally:
        numba.set_num_threads(saved)
    assert one == many == all_
    assert one != _run(data, method=method, seed=6)


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_resume_is_bit_identical(tmp_path, method):
    data = _teacher_data(50)
    ck = tmp_path / "run.ckpt.npz"
    full = _run(data, method=method, epochs=4)

    class Stop(Exception):
        pass

    def stop_after_epoch_1(step):
        if step.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        _run(data, method=method, epochs=4, checkpoint=ck, callback=stop_after_epoch_1)
    assert ck.exists() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(FileExistsError, match="resume"):
        _run(data, method=method, epochs=4, checkpoint=ck)
    with pytest.raises(tr.CheckpointMismatch, match="learning_rate"):
        _run(data, method=method, epochs=4, checkpoint=ck, resume=True, learning_rate=0.06)
    resumed = _run(data, method=method, epochs=4, checkpoint=ck, resume=True)
    assert resumed == full
    # resuming a finished run returns the same model without training
    again = _run(data, method=method, epochs=4, checkpoint=ck, resume=True)
    assert again == full


def test_corrupted_checkpoint(tmp_path):
    ck = tmp_path / "bad.npz"
    ck.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupted"):
        _run(_teacher_data(20), checkpoint=ck, resume=True)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(method="sgd"), ValueError, "method"),
    (dict(k=0), ValueError, "k must be"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(learning_rate=0.0), ValueError, "learning_rate"),
    (dict(learning_rate=lambda e: float("nan")), ValueError, "learning_rate"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(beta=0.0), ValueError, "beta"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(callback_every="step"), ValueError, "callback_every"),
    (dict(method="cd", n_persistent=5), ValueError, "n_persistent"),
])
def test_bad_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        tr.train(3, _teacher_data(10), **{"progress": False, **kwargs})


def test_bad_data():
    with pytest.raises(ValueError, match="binary"):
        tr.train(3, np.full((4, 5), 0.5), progress=False)
    with pytest.raises(ValueError, match="columns"):
        tr.train(rbmlib.RBM.random(6, 2), np.zeros((4, 5)), progress=False)
    with pytest.raises(ValueError, match="2-D"):
        tr.train(3, np.zeros(5), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        tr.train(3, np.array([[0.0, np.nan]]), progress=False)
