"""rbmlib.datasets: embedded MNIST integrity and split, IDX parser, full-MNIST download and every error path.

No test touches the internet: the full-MNIST tests serve small IDX files written here from a
local http.server on 127.0.0.1, with the registry (file names -> MD5, shape) monkeypatched.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rbmlib import datasets as ds

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- embedded
def test_embedded_shapes_split_and_labels():
    X, y = ds.load_mnist(with_labels=True)
    H, yh = ds.load_mnist(split="heldout", with_labels=True)
    A, ya = ds.load_mnist(split="all", with_labels=True)
    assert X.shape == (8000, 784) and H.shape == (2000, 784) and A.shape == (10000, 784)
    assert X.dtype == np.uint8 and y.dtype == np.uint8 and y.shape == (8000,)
    assert set(np.unique(A).tolist()) == {0, 1}
    # canonical first labels of the MNIST test split
    assert ya[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    # the split is a partition of the 10,000 digits, both parts in IDX order, rule as documented
    held = ds.heldout_indices()
    assert held.shape == (2000,) and len(np.unique(held)) == 2000
    train_idx = np.setdiff1d(np.arange(10000), held)
    np.testing.assert_array_equal(A[held], H)
    np.testing.assert_array_equal(A[train_idx], X)
    np.testing.assert_array_equal(ya[held], yh)
    np.testing.assert_array_equal(ya[train_idx], y)
    # every digit class is represented in the held-out set (10 classes, ~200 each)
    assert np.bincount(yh, minlength=10).min() > 100
    info = ds.embedded_info()
    assert info["threshold"] == 128 and info["license"] == "CC BY-SA 3.0"
    assert info["train_sha256"] == ds.dataset_hash(X)
    assert info["heldout_sha256"] == ds.dataset_hash(H)
    # returned arrays are independent copies
    X[0, 0] = 1 - X[0, 0]
    assert not np.array_equal(ds.load_mnist()[0], X[0])


def test_heldout_rule_is_the_documented_hash_rule():
    keys = sorted(range(10000), key=lambda i: hashlib.sha256(f"rbmlib-mnist-split-v1:{i}".encode()).digest())
    np.testing.assert_array_equal(ds.heldout_indices(), np.sort(keys[:2000]))


def test_binarize_threshold():
    g = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(ds.binarize(g), [[0, 0, 1, 1]])
    with pytest.raises(TypeError, match="uint8"):
        ds.binarize(g.astype(float))


def test_embedded_regenerates_identically_from_idx():
    idx = REPO.parent / "shared" / "data" / "mnist"
    if not (idx / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test-split IDX files not present at {idx}")
    r = subprocess.run([sys.executable, str(REPO / "tools" / "make_embedded_mnist.py"), str(idx), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "matches rbmlib.datasets.EMBEDDED_SHA256: True" in r.stdout


@pytest.fixture
def embedded_copy(tmp_path, monkeypatch):
    dst = tmp_path / "mnist_embedded.npz"
    shutil.copy(ds._embedded_path(), dst)
    monkeypatch.setattr(ds, "_embedded_path", lambda: dst)
    ds._EMBEDDED_CACHE.clear()
    yield dst
    ds._EMBEDDED_CACHE.clear()


def test_embedded_corrupted_content_is_detected(embedded_copy):
    with np.load(embedded_copy) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["images"] = arrays["images"].copy()
    arrays["images"][123, 40] ^= 0b00010000  # one flipped pixel
    np.savez_compressed(embedded_copy, **arrays)
    with pytest.raises(ds.DataError, match="corrupted.*Reinstall"):
        ds.load_mnist()


def test_embedded_truncated_and_missing(embedded_copy):
    data = embedded_copy.read_bytes()
    embedded_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(ds.DataError, match="truncated or corrupted"):
        ds.load_mnist()
    embedded_copy.unlink()
    ds._EMBEDDED_CACHE.clear()
    with pytest.raises(ds.DataError, match="missing"):
        ds.load_mnist()


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown dataset"):
        ds.load_mnist("cifar")
    with pytest.raises(ValueError, match="splits"):
        ds.load_mnist("embedded", "test")
    with pytest.raises(ValueError, match="splits"):
        ds.load_mnist("mnist-full", "heldout")
    with pytest.raises(ValueError, match="binarized pixels only"):
        ds.load_mnist(binarized=False)


# ----------------------------------------------------------------------------- IDX parser
def idx_bytes(arr: np.ndarray, type_byte=0x08) -> bytes:
    head = bytes([0, 0, type_byte, arr.ndim]) + b"".join(struct.pack(">I", n) for n in arr.shape)
    return head + arr.astype(">u1" if type_byte == 0x08 else ">i4").tobytes()


def test_read_idx_roundtrip_and_types():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    out = ds.read_idx(idx_bytes(img), expected_magic=2051, expected_shape=(3, 28, 28))
    np.testing.assert_array_equal(out, img)
    lab = np.array([7, 2, 1], dtype=np.uint8)
    np.testing.assert_array_equal(ds.read_idx(idx_bytes(lab), expected_magic=2049), lab)
    ints = np.array([[1, -2], [300000, 4]])
    got = ds.read_idx(idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(got, ints)
    assert got.dtype.byteorder in ("=", "|") or got.dtype.isnative


@pytest.mark.parametrize("mutate, msg", [
    (lambda b: b[:3], "fewer than the 4-byte magic"),
    (lambda b: b"\x01" + b[1:], "not an IDX file"),
    (lambda b: b[:2] + b"\x07" + b[3:], "not an IDX file"),
    (lambda b: b[:10], "truncated IDX header"),
    (lambda b: b[:-1], "truncated IDX data"),
    (lambda b: b + b"\x00", "unexpected bytes"),
])
def test_read_idx_errors(mutate, msg):
    img = np.zeros((2, 28, 28), dtype=np.uint8)
    with pytest.raises(ds.DataError, match=msg):
        ds.read_idx(mutate(idx_bytes(img)))


def test_read_idx_wrong_magic_and_shape():
    lab = np.zeros(5, dtype=np.uint8)
    with pytest.raises(ds.DataError, match="magic number 2049 but 2051"):
        ds.read_idx(idx_bytes(lab), expected_magic=2051)
    with pytest.raises(ds.DataError, match=r"shape \(5,\), expected \(6,\)"):
        ds.read_idx(idx_bytes(lab), expected_shape=(6,))


# ----------------------------------------------------------------------------- full MNIST
def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Small IDX files, a registry pointing at them, an empty cache dir, and a local server."""
    rng = np.random.default_rng(1)
    n = {"train": 6, "test": 4}
    content, registry, truth = {}, {}, {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img = rng.integers(0, 256, (n[split], 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, n[split], dtype=np.uint8)
        for kind, arr, magic in (("images-idx3", img, 2051), ("labels-idx1", lab, 2049)):
            name = f"{prefix}-{kind}-ubyte.gz"
            content[name] = _gz(idx_bytes(arr))
            registry[name] = (hashlib.md5(content[name]).hexdigest(), magic, arr.shape)
        truth[split] = (img, lab)
    served = tmp_path / "server"
    served.mkdir()
    for name, data in content.items():
        (served / name).write_bytes(data)
    cache = tmp_path / "cache"
    monkeypatch.setenv(ds.DATA_DIR_ENV, str(cache))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(ds, "MNIST_FILES", registry)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(served), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [url])
    yield {"served": served, "cache": cache / "mnist", "truth": truth, "content": content, "url": url}
    httpd.shutdown()
    httpd.server_close()


def _closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def test_full_download_and_load(fake_mnist):
    assert ds.mnist_dir() == fake_mnist["cache"]
    assert set(ds.verify_mnist().values()) == {"missing"}
    X, y = ds.load_mnist("mnist-full", "train", with_labels=True, progress=False)
    img, lab = fake_mnist["truth"]["train"]
    np.testing.assert_array_equal(X, (img.reshape(6, -1) >= 128).astype(np.uint8))
    np.testing.assert_array_equal(y, lab)
    G = ds.load_mnist("mnist-full", "test", binarized=False, progress=False)
    np.testing.assert_array_equal(G, fake_mnist["truth"]["test"][0].reshape(4, -1))
    assert set(ds.verify_mnist().values()) == {"ok"}
    # a second load works offline from the cache
    ds.MNIST_MIRRORS[:] = [_closed_port_url()]
    np.testing.assert_array_equal(ds.load_mnist("mnist-full", "train", progress=False), X)


def test_fallback_to_second_mirror(fake_mnist, monkeypatch):
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [_closed_port_url(), fake_mnist["url"]])
    paths = ds.fetch_mnist(progress=False)
    assert sorted(paths) == sorted(ds.MNIST_FILES)


def test_no_network_error_says_where_to_put_files(fake_mnist, monkeypatch):
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [_closed_port_url()])
    with pytest.raises(ds.DataError) as exc:
        ds.load_mnist("mnist-full", "train", progress=False)
    msg = str(exc.value)
    assert "Could not download" in msg and "no network" in msg
    assert str(fake_mnist["cache"]) in msg and ds.DATA_DIR_ENV in msg
    assert not fake_mnist["cache"].exists() or not any(fake_mnist["cache"].iterdir())


def test_server_sends_wrong_file(fake_mnist):
    name = "train-images-idx3-ubyte.gz"
    (fake_mnist["served"] / name).write_bytes(fake_mnist["content"][name][:-7])  # truncated on the server
    with pytest.raises(ds.DataError, match="wrong checksum"):
        ds.fetch_mnist([name], progress=False)
    assert not (fake_mnist["cache"] / name).exists()  # nothing half-written left in the cache


def test_files_placed_by_hand_offline(fake_mnist, monkeypatch):
    monkeypatch.setattr(ds, "MNIST_MIRRORS", [])
    fake_mnist["cache"].mkdir(parents=True)
    for name, data in fake_mnist["content"].items():
        (fake_mnist["cache"] / name).write_bytes(data)
    X = ds.load_mnist("mnist-full", "test", progress=False)
    assert X.shape == (4, 784)


def test_truncated_cached_file(fake_mnist):
    fake_mnist["cache"].mkdir(parents=True)
    name = "t10k-labels-idx1-ubyte.gz"
    (fake_mnist["cache"] / name).write_bytes(fake_mnist["content"][name][:-5])
    with pytest.raises(ds.DataError, match="MD5.*Delete it"):
        ds.load_mnist("mnist-full", "test", progress=False)
    assert ds.verify_mnist()[name].startswith("wrong checksum")


def test_truncated_gzip_with_matching_registry(fake_mnist, monkeypatch):
    # a registry entry that matches a truncated gzip: the parser, not the checksum, must catch it
    name = "t10k-images-idx3-ubyte.gz"
    bad = fake_mnist["content"][name][:-30]
    fake_mnist["cache"].mkdir(parents=True)
    (fake_mnist["cache"] / name).write_bytes(bad)
    reg = dict(ds.MNIST_FILES)
    reg[name] = (hashlib.md5(bad).hexdigest(),) + reg[name][1:]
    monkeypatch.setattr(ds, "MNIST_FILES", reg)
    with pytest.raises(ds.DataError, match="truncated or corrupted gzip"):
        ds.load_mnist("mnist-full", "test", progress=False)
