"""Shared fixtures: brute-force references written independently of rbmlib."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import rbmlib

SIZES = [(1, 1), (2, 3), (4, 2), (3, 5)]
SCALES = [0.1, 1.0, 5.0, 30.0]
BETAS = [0.3, 1.0, 2.5]


def all_states(n):
    """All binary vectors of length n, unit 0 most significant (pure Python, independent of rbmlib)."""
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64).reshape(-1, n)


def brute_log_weights(rbm, beta):
    """-beta E(v,h) for every joint state by explicit double loop."""
    V, H = all_states(rbm.n_visible), all_states(rbm.n_hidden)
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.W, rbm.a, rbm.b))
    out = np.empty((len(V), len(H)))
    for i, v in enumerate(V):
        for j, h in enumerate(H):
            out[i, j] = beta * (v @ W @ h + a @ v + b @ h)
    return out


def logsumexp(x):
    m = np.max(x)
    return float(m + np.log(np.sum(np.exp(x - m))))


@pytest.fixture(params=[(s, sc) for s in SIZES for sc in SCALES], ids=lambda p: f"{p[0][0]}x{p[0][1]}-w{p[1]}")
def tiny_rbm(request):
    (nv, nh), scale = request.param
    return rbmlib.RBM.random(nv, nh, scale=scale, seed=nv * 100 + nh * 10 + int(scale))
