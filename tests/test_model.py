"""rbmlib.RBM against brute-force enumeration, against scikit-learn, and its input errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import BETAS, all_states, brute_log_weights

import rbmlib
from rbmlib import RBM


def _norm(x):
    m = x.max()
    p = np.exp(x - m)
    return p / p.sum()


# ------------------------------------------------------------------ physics
@pytest.mark.parametrize("beta", BETAS)
def test_energy_matches_definition(tiny_rbm, beta):
    V, H = all_states(tiny_rbm.n_visible), all_states(tiny_rbm.n_hidden)
    lw = brute_log_weights(tiny_rbm, beta)
    vv = np.repeat(V, len(H), axis=0)
    hh = np.tile(H, (len(V), 1))
    e = tiny_rbm.energy(vv, hh)
    np.testing.assert_allclose(-beta * e, lw.ravel(), rtol=1e-13, atol=1e-10)
    # single state in, scalar out; broadcasting of one v against many h
    assert np.ndim(tiny_rbm.energy(V[-1], H[-1])) == 0
    np.testing.assert_allclose(tiny_rbm.energy(V[-1], H), -lw[-1] / beta, rtol=1e-13, atol=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_free_energy_is_log_sum_over_hidden(tiny_rbm, beta):
    V = all_states(tiny_rbm.n_visible)
    lw = brute_log_weights(tiny_rbm, beta)
    m = lw.max(axis=1, keepdims=True)
    ref = -(np.log(np.exp(lw - m).sum(axis=1)) + m[:, 0]) / beta
    np.testing.assert_allclose(tiny_rbm.free_energy(V, beta), ref, rtol=1e-12, atol=1e-10)
    H = all_states(tiny_rbm.n_hidden)
    m = lw.max(axis=0, keepdims=True)
    ref_h = -(np.log(np.exp(lw - m).sum(axis=0)) + m[0]) / beta
    np.testing.assert_allclose(tiny_rbm.hidden_free_energy(H, beta), ref_h, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_conditionals_are_bayes_of_joint(tiny_rbm, beta):
    """p(h_j=1|v) from the joint table by Bayes' rule equals the sigmoid formula."""
    V, H = all_states(tiny_rbm.n_visible), all_states(tiny_rbm.n_hidden)
    lw = brute_log_weights(tiny_rbm, beta)
    cond_h = np.array([_norm(row) for row in lw])          # p(h|v), rows v
    cond_v = np.array([_norm(col) for col in lw.T])        # p(v|h), rows h
    np.testing.assert_allclose(tiny_rbm.p_h_given_v(V, beta), cond_h @ H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tiny_rbm.p_v_given_h(H, beta), cond_v @ V, rtol=1e-10, atol=1e-12)


def test_scaled_model_equals_temperature():
    rbm = RBM.random(5, 4, scale=2.0, seed=3)
    V = all_states(5)
    np.testing.assert_allclose(rbm.scaled(0.7).free_energy(V, 1.0), 0.7 * rbm.free_energy(V, 0.7), rtol=1e-12)
    np.testing.assert_allclose(rbm.scaled(0.7).p_h_given_v(V), rbm.p_h_given_v(V, 0.7), rtol=1e-12)
    t = rbm.transpose()
    H = all_states(4)
    np.testing.assert_allclose(t.p_h_given_v(H, 1.3), rbm.p_v_given_h(H, 1.3), rtol=1e-12)


def test_float32_model():
    r64 = RBM.random(6, 3, scale=1.0, seed=1)
    r32 = r64.astype(np.float32)
    assert r32.dtype == np.float32 and r32.W.dtype == np.float32
    V = all_states(6)
    f32 = r32.free_energy(V, 0.8)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, r64.free_energy(V, 0.8), rtol=1e-5, atol=1e-5)
    assert r32.p_h_given_v(V).dtype == np.float32


def test_large_fields_do_not_overflow():
    rbm = RBM(np.full((3, 2), 400.0), np.full(3, -300.0), np.full(2, 500.0))
    V = all_states(3)
    assert np.all(np.isfinite(rbm.free_energy(V, 2.0)))
    p = rbm.p_h_given_v(V, 2.0)
    assert np.all((p >= 0) & (p <= 1))


# --------------------------------------------------------- scikit-learn
def _sklearn_rbm(W, a, b):
    from sklearn.neural_network import BernoulliRBM

    sk = BernoulliRBM(n_components=W.shape[1])
    sk.components_ = np.ascontiguousarray(W.T)
    sk.intercept_hidden_ = b.copy()
    sk.intercept_visible_ = a.copy()
    return sk


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_against_sklearn(beta, scale):
    """scikit-learn's BernoulliRBM is an independent implementation (beta = 1 only:
    compare with our model at beta against theirs with parameters scaled by beta)."""
    rbm = RBM.random(20, 7, scale=scale, seed=11)
    rng = np.random.default_rng(0)
    V = (rng.random((50, 20)) < 0.3).astype(np.float64)
    H = (rng.random((50, 7)) < 0.5).astype(np.float64)
    s = rbm.scaled(beta)
    sk = _sklearn_rbm(s.W, s.a, s.b)
    # sklearn's _free_energy is -log sum_h exp(-E) = beta F_beta in our units
    np.testing.assert_allclose(sk._free_energy(V), beta * rbm.free_energy(V, beta), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(sk._mean_hiddens(V), rbm.p_h_given_v(V, beta), rtol=1e-12, atol=1e-15)
    # p(v|h): sklearn's hidden-mean of the transposed machine
    skT = _sklearn_rbm(s.W.T, s.b, s.a)
    np.testing.assert_allclose(skT._mean_hiddens(H), rbm.p_v_given_h(H, beta), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "W,a,b,match",
    [
        (np.zeros(3), np.zeros(3), np.zeros(2), "2-D"),
        (np.zeros((3, 2)), np.zeros(2), np.zeros(3), "swap a and b"),
        (np.zeros((3, 2)), np.zeros(4), np.zeros(2), r"a \(visible biases\)"),
        (np.zeros((3, 2)), np.zeros(3), np.zeros(5), r"b \(hidden biases\)"),
        (np.array([[0.0, np.nan], [0, 0]]), np.zeros(2), np.zeros(2), "non-finite.*W.*index \\(0, 1\\)|W contains"),
        (np.zeros((2, 2)), np.array([np.inf, 0]), np.zeros(2), "a contains"),
        (np.zeros((0, 2)), np.zeros(0), np.zeros(2), "at least one"),
    ],
)
def test_bad_parameters(W, a, b, match):
    with pytest.raises(ValueError, match=match):
        RBM(W, a, b)


def test_bad_dtype_and_metadata():
    with pytest.raises(TypeError, match="float32 or float64"):
        RBM(np.zeros((2, 2)), np.zeros(2), np.zeros(2), dtype=np.int64)
    with pytest.raises(TypeError, match="JSON"):
        RBM(np.zeros((2, 2)), np.zeros(2), np.zeros(2), metadata={"x": object()})


@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan, np.inf])
def test_bad_beta(beta):
    rbm = RBM.random(3, 2)
    v = np.zeros(3)
    for f in (rbm.free_energy, rbm.p_h_given_v):
        with pytest.raises(ValueError, match="beta must be a finite number > 0"):
            f(v, beta)
    with pytest.raises(ValueError, match="beta"):
        rbm.p_v_given_h(np.zeros(2), beta)


def test_bad_beta_type():
    with pytest.raises(TypeError, match="beta"):
        RBM.random(3, 2).free_energy(np.zeros(3), beta="hot")
    with pytest.raises(TypeError, match="bool"):
        RBM.random(3, 2).free_energy(np.zeros(3), beta=True)


def test_bad_states():
    rbm = RBM.random(3, 2)
    with pytest.raises(ValueError, match="binary"):
        rbm.free_energy(np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="binary"):
        rbm.energy(np.array([0, 2, 1]), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        rbm.free_energy(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="last axis.*model has 3"):
        rbm.free_energy(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="transposed|swapped"):
        rbm.p_v_given_h(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="shape"):
        rbm.free_energy(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="differ in length"):
        rbm.energy(np.zeros((3, 3)), np.zeros((2, 2)))
    # booleans and integers are fine
    np.testing.assert_allclose(rbm.free_energy(np.array([True, False, True])),
                               rbm.free_energy(np.array([1.0, 0.0, 1.0])))


def test_parameters_are_read_only():
    rbm = RBM.random(3, 2)
    with pytest.raises(ValueError):
        rbm.W[0, 0] = 1.0


# ------------------------------------------------------------------ I/O
def test_save_load_roundtrip(tmp_path):
    rbm = RBM.random(7, 4, scale=2.0, seed=5, dtype=np.float32)
    path = rbm.save(tmp_path / "m.npz", note="test", epochs=3)
    back = RBM.load(path)
    assert back == rbm and back.dtype == np.float32
    assert back.metadata["note"] == "test" and back.metadata["epochs"] == 3
    assert back.metadata["made_by"] == "RBM.random"
    with np.load(path, allow_pickle=False) as z:
        rec = json.loads(str(z["meta"]))
    assert rec["n_visible"] == 7 and rec["n_hidden"] == 4 and rec["dtype"] == "float32"
    assert rec["fingerprint"] == rbm.fingerprint()
    assert not list(tmp_path.glob("*.tmp"))  # no temporary left behind


def test_save_adds_suffix(tmp_path):
    p = RBM.random(2, 2).save(tmp_path / "model")
    assert p.name == "model.npz" and p.exists()


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        RBM.load(tmp_path / "missing.npz")
    good = RBM.random(5, 3).save(tmp_path / "good.npz")
    # truncated file
    data = good.read_bytes()
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        RBM.load(bad)
    # not an rbmlib model
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="not an rbmlib model"):
        RBM.load(other)
    # a pickled object array is never unpickled
    pick = tmp_path / "pickle.npz"
    np.savez(pick, W=np.zeros((2, 2)), a=np.zeros(2), b=np.zeros(2), meta=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="truncated or corrupted|pickle"):
        RBM.load(pick)
    # tampered parameters: fingerprint mismatch
    tam = tmp_path / "tampered.npz"
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W"] = arrays["W"] + 1.0
    np.savez(tam, **arrays)
    with pytest.raises(ValueError, match="fingerprint"):
        RBM.load(tam)


def test_fingerprint_identifies_parameters():
    r = RBM.random(4, 3, seed=1)
    assert r.fingerprint() == r.copy().fingerprint()
    assert r.fingerprint() != RBM.random(4, 3, seed=2).fingerprint()
    assert r.fingerprint() != r.astype(np.float32).fingerprint()
