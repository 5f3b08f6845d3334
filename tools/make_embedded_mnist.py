#!/usr/bin/env python
"""Regenerate rbmlib/data/mnist_embedded.npz from the MNIST test-split IDX files.

Usage::

    python tools/make_embedded_mnist.py [IDX_FOLDER] [--out PATH] [--check]

IDX_FOLDER holds ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
(default: ``../shared/data/mnist`` relative to the repository root). The
decompressed IDX content is checked against its canonical SHA-256 before use.

What is written (see rbmlib/datasets.py for the conventions):

* ``images``: ``np.packbits(grey >= 128, axis=1)``, shape (10000, 98), uint8;
* ``labels``: shape (10000,), uint8;
* ``split``: shape (10000,), uint8, 0 = train (8,000), 1 = held-out (2,000);
* ``info``: a JSON provenance record (source, licence, threshold, split rule, hashes).

The content hash (independent of zip timestamps) is printed; it must equal
``rbmlib.datasets.EMBEDDED_SHA256``. ``--check`` rebuilds in memory and only
compares with the committed file and constant (exit status 1 on mismatch).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rbmlib import datasets as ds  # noqa: E402
from rbmlib._io import atomic_savez  # noqa: E402

#: SHA-256 of the decompressed canonical IDX files (MNIST test split).
IDX_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def build(idx_folder: Path):
    idx_folder = Path(idx_folder)
    raw = {}
    for name, sha in IDX_SHA256.items():
        path = idx_folder / name
        if not path.exists():
            raise SystemExit(f"error: {path} not found; pass the folder holding the MNIST test-split IDX files.")
        with open(path, "rb") as fh:
            data = gzip.decompress(fh.read())
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise SystemExit(f"error: decompressed {path} has SHA-256 {got}, the canonical content has {sha}.")
        raw[name] = data
    _, magic_i, shape_i = ds.MNIST_FILES["t10k-images-idx3-ubyte.gz"]
    _, magic_l, shape_l = ds.MNIST_FILES["t10k-labels-idx1-ubyte.gz"]
    images = ds.read_idx(raw["t10k-images-idx3-ubyte.gz"], name="t10k-images", expected_magic=magic_i,
                         expected_shape=shape_i)
    labels = ds.read_idx(raw["t10k-labels-idx1-ubyte.gz"], name="t10k-labels", expected_magic=magic_l,
                         expected_shape=shape_l).astype(np.uint8)
    X = ds.binarize(images, ds.THRESHOLD)
    packed = np.packbits(X, axis=1)
    split = np.zeros(X.shape[0], dtype=np.uint8)
    split[ds.heldout_indices(X.shape[0], ds.N_HELDOUT, ds.SPLIT_KEY)] = 1
    info = {
        "name": "MNIST test split, binarized (rbmlib embedded copy)",
        "source": "MNIST handwritten digits, test split (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)",
        "authors": "Y. LeCun, C. Cortes, C. J. C. Burges",
        "license": "CC BY-SA 3.0",
        "source_idx_sha256": {k.replace(".gz", ""): v for k, v in IDX_SHA256.items()},
        "binarization": f"pixel = 1 if grey level >= {ds.THRESHOLD} (of 0..255) else 0",
        "threshold": ds.THRESHOLD,
        "n_pixels": int(X.shape[1]),
        "image_shape": [28, 28],
        "packing": "np.packbits(X, axis=1), bitorder big; unpack with np.unpackbits(images, axis=1, count=784)",
        "split": (f"held-out = the {ds.N_HELDOUT} indices i with the smallest sha256('{ds.SPLIT_KEY}:' + str(i)); "
                  "train = the rest; both in IDX order"),
        "n_train": int((split == 0).sum()),
        "n_heldout": int((split == 1).sum()),
        "train_sha256": ds.dataset_hash(X[split == 0]),
        "heldout_sha256": ds.dataset_hash(X[split == 1]),
    }
    info_json = json.dumps(info, sort_keys=True)
    digest = ds._embedded_content_hash(packed, labels, split, info_json)
    return packed, labels, split, info_json, digest


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("idx_folder", nargs="?", default=str(REPO.parent / "shared" / "data" / "mnist"),
                   help="folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                        "(default: ../shared/data/mnist relative to the repository)")
    p.add_argument("--out", default=str(REPO / "rbmlib" / "data" / ds.EMBEDDED_FILENAME))
    p.add_argument("--check", action="store_true", help="rebuild in memory and compare; write nothing")
    args = p.parse_args(argv)
    packed, labels, split, info_json, digest = build(Path(args.idx_folder))
    print(f"content sha256: {digest}")
    if args.check:
        ok = digest == ds.EMBEDDED_SHA256
        print(f"matches rbmlib.datasets.EMBEDDED_SHA256: {ok}")
        return 0 if ok else 1
    out = atomic_savez(args.out, compressed=True, images=packed, labels=labels, split=split,
                       info=np.array(info_json))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    if digest != ds.EMBEDDED_SHA256:
        print("NOTE: set rbmlib.datasets.EMBEDDED_SHA256 to the content sha256 above.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
