"""MNIST for RBMs: an embedded offline copy and the full data set on request.

Two data sets
-------------
``'embedded'`` (default, works offline)
    The 10,000 digits of the MNIST **test** split (Y. LeCun, C. Cortes,
    C. J. C. Burges; CC BY-SA 3.0), binarized and shipped inside the package as
    ``rbmlib/data/mnist_embedded.npz`` (about 0.3 MB: ``np.packbits`` of the
    binary images, the labels, the split and a JSON provenance record; no
    pickle). Every load checks a SHA-256 of the content, so corrupted package
    data raises :class:`DataError` instead of silently training on garbage.
    It is split once and for all into

    * ``'train'``: 8,000 digits, ``'heldout'``: 2,000 digits, ``'all'``: 10,000,

    The held-out digits are the 2,000 indices ``i`` (position in the
    canonical IDX file) with the smallest ``sha256(b"rbmlib-mnist-split-v1:%d" % i)``,
    a pseudo-random choice that depends on nothing but the index (no RNG
    implementation, no library version). Both subsets keep the IDX order.
    (The first 5,000 test digits come from NIST SD-3 and the last 5,000 from
    the harder SD-1, so splitting by position would bias the held-out set.)
    ``tools/make_embedded_mnist.py`` regenerates the file from the IDX files.

``'mnist-full'`` (needs one download, about 11 MB)
    The canonical 60,000 ``'train'`` and 10,000 ``'test'`` digits, downloaded
    with :mod:`pooch` from public mirrors on the first request (or put there by
    hand), checked against the canonical MD5 of each gzip file, and cached in
    :func:`data_dir` ``/ "mnist"``.

Binarization
------------
A pixel is 1 when its grey level is ``>= 128`` (of 0..255, i.e. intensity
``>= 0.502``) and 0 otherwise. A fixed threshold at half intensity is the
deterministic convention of the binary-RBM literature; it makes the data set a
single fixed object with a hash (stochastic binarization would give a
different data set for every seed) and keeps about 13% of the pixels on.

Cache folder
------------
:func:`data_dir` is ``$RBMLIB_DATA_DIR`` when that environment variable is set,
else the user cache of :func:`pooch.os_cache` (``~/.cache/rbmlib`` on Linux).
On a machine without network, download the four ``*-ubyte.gz`` files
elsewhere and copy them into ``data_dir() / "mnist"`` (``rbmlib data path``
prints it); they are verified by MD5 like a download.

Shapes
------
:func:`load_mnist` returns ``X`` of shape ``(n, 784)``, dtype uint8, entries 0/1
(row-major 28 x 28 pixels, row 0 at the top), and with ``with_labels=True``
also ``y`` of shape ``(n,)``, dtype uint8, digits 0..9.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "load_mnist",
    "embedded_info",
    "data_dir",
    "mnist_dir",
    "fetch_mnist",
    "verify_mnist",
    "read_idx",
    "binarize",
    "dataset_hash",
    "DataError",
    "THRESHOLD",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "DATA_DIR_ENV",
]

#: Grey level (0..255) at or above which a pixel counts as "on".
THRESHOLD = 128
#: Environment variable overriding the cache folder of downloaded data.
DATA_DIR_ENV = "RBMLIB_DATA_DIR"

EMBEDDED_FILENAME = "mnist_embedded.npz"
#: SHA-256 of the embedded content (see :func:`_embedded_content_hash`); written by
#: tools/make_embedded_mnist.py, checked on every load.
EMBEDDED_SHA256 = "d8a3c4d71f060f67cb663ed17df81a77024d9cef33877d4bde316b6769e4a62b"
SPLIT_KEY = "rbmlib-mnist-split-v1"
N_HELDOUT = 2000

#: The four canonical files: name -> (MD5 of the gzip file, IDX magic, shape of the array).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 2049, (60000,)),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 2049, (10000,)),
}
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: Mirrors tried in order (yann.lecun.com is often unavailable, so it is not used).
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

DATASETS = ("embedded", "mnist-full")
_SPLITS = {"embedded": ("train", "heldout", "all"), "mnist-full": ("train", "test")}


class DataError(RuntimeError):
    """A data set could not be loaded: missing, corrupted, truncated or not downloadable.

    The message says what happened and what to do about it.
    """


# ----------------------------------------------------------------------------
# IDX format
# ----------------------------------------------------------------------------
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(data: bytes, *, name: str = "IDX data", expected_magic: int | None = None,
             expected_shape: tuple | None = None) -> np.ndarray:
    """Parse the IDX format of the MNIST files (already decompressed).

    Layout: two zero bytes, a type byte (0x08 = unsigned byte, ...), the
    number of dimensions ``d``, ``d`` big-endian uint32 sizes, then the data in
    row-major order. The magic number is the big-endian int of the first four
    bytes (2051 for MNIST images, 2049 for labels).

    Parameters
    ----------
    data : bytes
    name : str
        Used in error messages (e.g. the file name).
    expected_magic : int, optional
    expected_shape : tuple of int, optional

    Returns
    -------
    ndarray of the shape given in the header, native byte order.

    Raises
    ------
    DataError
        Bad magic number, unknown type, truncated data, trailing bytes, or a
        shape other than ``expected_shape``.
    """
    data = bytes(data)
    if len(data) < 4:
        raise DataError(f"{name}: truncated IDX data ({len(data)} bytes, fewer than the 4-byte magic number).")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise DataError(f"{name}: not an IDX file (magic number {magic:#010x}; an IDX file starts with two "
                        "zero bytes, a type byte and the number of dimensions).")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{name}: IDX magic number {magic} but {expected_magic} was expected "
                        f"({'images' if expected_magic == 2051 else 'labels' if expected_magic == 2049 else 'data'}); "
                        "is this the right file?")
    ndim = data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, the header needs {head}).")
    shape = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dt = _IDX_TYPES[data[2]]
    need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    have = len(data) - head
    if have < need:
        raise DataError(f"{name}: truncated IDX data: the header announces shape {shape} ({need} bytes) but only "
                        f"{have} bytes follow. The file is incomplete: download it again.")
    if have > need:
        raise DataError(f"{name}: {have - need} unexpected bytes after the {need} bytes announced by the header "
                        f"(shape {shape}); the file is corrupted: download it again.")
    if expected_shape is not None and shape != tuple(expected_shape):
        raise DataError(f"{name}: IDX shape {shape}, expected {tuple(expected_shape)}; is this the right file?")
    arr = np.frombuffer(data, dtype=dt, offset=head).reshape(shape)
    return arr.astype(dt.newbyteorder("="), copy=True)


def _read_idx_gz(path: Path, expected_magic=None, expected_shape=None) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            raw = gzip.decompress(fh.read())
    except (EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupted gzip file ({exc}). Delete it and download it again.") from None
    except gzip.BadGzipFile as exc:
        raise DataError(f"{path}: not a gzip file ({exc}). Delete it and download it again.") from None
    return read_idx(raw, name=str(path), expected_magic=expected_magic, expected_shape=expected_shape)


def binarize(images, threshold: int = THRESHOLD) -> np.ndarray:
    """Grey levels (0..255, any shape ``(n, ...)``) -> uint8 0/1 array of shape ``(n, n_pixels)``.

    A pixel is 1 when ``grey >= threshold`` (default 128, see the module docstring).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 grey levels 0..255, got dtype {images.dtype}.")
    return (images.reshape(images.shape[0], -1) >= threshold).astype(np.uint8)


def dataset_hash(X) -> str:
    """SHA-256 of a binary data matrix (shape and 0/1 content): identifies training data in provenance."""
    X = np.ascontiguousarray(np.asarray(X), dtype=np.uint8)
    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.packbits(X, axis=-1).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------
# embedded copy
# ----------------------------------------------------------------------------
def _embedded_path() -> Path:
    return Path(__file__).resolve().parent / "data" / EMBEDDED_FILENAME


def _embedded_content_hash(images_packed, labels, split, info_json: str) -> str:
    """SHA-256 over the four stored arrays (shapes, dtypes, bytes) -- independent of zip timestamps."""
    h = hashlib.sha256()
    for arr in (np.asarray(images_packed), np.asarray(labels), np.asarray(split)):
        h.update(str(arr.shape).encode())
        h.update(arr.dtype.str.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(info_json.encode("utf-8"))
    return h.hexdigest()


def heldout_indices(n: int = 10000, n_heldout: int = N_HELDOUT, key: str = SPLIT_KEY) -> np.ndarray:
    """The held-out positions of the embedded split: the ``n_heldout`` indices with the smallest
    ``sha256(f"{key}:{i}")``, sorted ascending. Shape (n_heldout,), int64."""
    digests = [hashlib.sha256(f"{key}:{i}".encode()).digest() for i in range(n)]
    order = sorted(range(n), key=lambda i: digests[i])
    return np.sort(np.asarray(order[:n_heldout], dtype=np.int64))


_EMBEDDED_CACHE: dict = {}


def _load_embedded():
    """(X (10000, 784) uint8, labels (10000,), split (10000,) 0=train/1=heldout, info dict)."""
    path = _embedded_path()
    key = (str(path), EMBEDDED_SHA256)
    if key in _EMBEDDED_CACHE:
        return _EMBEDDED_CACHE[key]
    fix = ("Reinstall rbmlib (or `git checkout rbmlib/data/` in a clone), or regenerate the file with "
           "`python tools/make_embedded_mnist.py` from the MNIST test-split IDX files.")
    if not path.exists():
        raise DataError(f"The embedded MNIST file {path} is missing. {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            packed, labels, split = z["images"], z["labels"], z["split"]
            info_json = str(z["info"])
    except Exception as exc:  # BadZipFile, KeyError, ValueError, EOFError, zlib.error ...
        raise DataError(f"The embedded MNIST file {path} is unreadable ({type(exc).__name__}: {exc}); "
                        f"it is truncated or corrupted. {fix}") from None
    got = _embedded_content_hash(packed, labels, split, info_json)
    if got != EMBEDDED_SHA256:
        raise DataError(f"The embedded MNIST file {path} is corrupted: content SHA-256 {got[:16]}... differs from "
                        f"the expected {EMBEDDED_SHA256[:16]}.... {fix}")
    info = json.loads(info_json)
    X = np.unpackbits(packed, axis=1, count=info["n_pixels"])
    for arr in (X, labels, split):
        arr.setflags(write=False)
    out = (X, labels, split, info)
    _EMBEDDED_CACHE.clear()
    _EMBEDDED_CACHE[key] = out
    return out


def embedded_info() -> dict:
    """Provenance record of the embedded copy (source, licence, threshold, split, hashes)."""
    return dict(_load_embedded()[3])


# ----------------------------------------------------------------------------
# full MNIST
# ----------------------------------------------------------------------------
def data_dir() -> Path:
    """Cache folder for downloaded data: ``$RBMLIB_DATA_DIR`` if set, else pooch's user cache for rbmlib."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("rbmlib"))


def mnist_dir() -> Path:
    """Folder holding the four MNIST gzip files: ``data_dir() / "mnist"``."""
    return data_dir() / "mnist"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manual_hint(names) -> str:
    urls = ", ".join(MNIST_MIRRORS[0] + n for n in names) if MNIST_MIRRORS else ", ".join(names)
    return (f"On a machine without network, download {urls} elsewhere and copy them into {mnist_dir()} "
            f"(or point the environment variable {DATA_DIR_ENV} at a folder whose 'mnist' subfolder holds them).")


def verify_mnist() -> dict:
    """Check the cached full-MNIST files without downloading anything.

    Returns
    -------
    dict name -> status, status one of ``'ok'``, ``'missing'`` or
    ``'wrong checksum (md5 ...)'``.
    """
    folder = mnist_dir()
    out = {}
    for name, (md5, _, _) in MNIST_FILES.items():
        p = folder / name
        if not p.exists():
            out[name] = "missing"
        else:
            got = _md5(p)
            out[name] = "ok" if got == md5 else f"wrong checksum (md5 {got}, expected {md5})"
    return out


def _check_present(path: Path, md5: str) -> bool:
    """True if present and valid; False if absent; DataError if present but wrong."""
    if not path.exists():
        return False
    got = _md5(path)
    if got != md5:
        raise DataError(
            f"{path} has MD5 {got} but the canonical file has {md5}: it is truncated, corrupted or not the "
            f"canonical gzip download. Delete it and run `rbmlib data fetch` (or copy the canonical file there by hand)."
        )
    return True


def fetch_mnist(names=None, *, progress: bool = True) -> dict:
    """Make sure the full-MNIST gzip files are in :func:`mnist_dir`, downloading the missing ones.

    Each file is fetched with :func:`pooch.retrieve` from the first mirror in
    :data:`MNIST_MIRRORS` that delivers it with the canonical MD5 (pooch writes
    to a temporary file and moves it into place only when the checksum
    matches, so an interrupted download leaves nothing behind).

    Parameters
    ----------
    names : list of str, optional
        Subset of :data:`MNIST_FILES` (default: all four).
    progress : bool
        Show a download progress bar.

    Returns
    -------
    dict name -> Path of the verified file.

    Raises
    ------
    DataError
        A cached file has the wrong checksum, or no mirror delivered a file
        (no network, or every mirror served a wrong file); the message lists
        what each mirror answered and how to install the files by hand.
    """
    names = list(MNIST_FILES) if names is None else list(names)
    folder = mnist_dir()
    out = {}
    for name in names:
        if name not in MNIST_FILES:
            raise ValueError(f"Unknown MNIST file {name!r}; choose from {sorted(MNIST_FILES)}.")
        md5 = MNIST_FILES[name][0]
        path = folder / name
        if _check_present(path, md5):
            out[name] = path
            continue
        import pooch

        failures = []
        logger = pooch.get_logger()
        for mirror in MNIST_MIRRORS:
            url = mirror + name
            level = logger.level
            if not progress:
                logger.setLevel("WARNING")  # no "Downloading ..." chatter when asked to be quiet
            try:
                got = pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=folder,
                                     progressbar=progress)
                out[name] = Path(got)
                break
            except ValueError as exc:  # pooch: hash mismatch (file was discarded)
                failures.append(f"{url}: wrong checksum ({exc})")
            except Exception as exc:  # requests ConnectionError, HTTPError, timeouts, OSError ...
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
            finally:
                logger.setLevel(level)
        else:
            detail = "; ".join(f.replace("\n", " ") for f in failures) or "no mirrors configured"
            raise DataError(f"Could not download {name} from any mirror (no network?). {_manual_hint([name])} "
                            f"[{detail}]")
    return out


def _load_full(split: str, with_labels: bool, binarized: bool, progress: bool):
    img_name, lab_name = _SPLIT_FILES[split]
    paths = fetch_mnist([img_name, lab_name], progress=progress)
    _, magic, shape = MNIST_FILES[img_name]
    images = _read_idx_gz(paths[img_name], magic, shape)
    X = binarize(images) if binarized else images.reshape(images.shape[0], -1)
    if not with_labels:
        return X
    _, magic, shape = MNIST_FILES[lab_name]
    y = _read_idx_gz(paths[lab_name], magic, shape)
    return X, y


# ----------------------------------------------------------------------------
# public loader
# ----------------------------------------------------------------------------
def load_mnist(dataset: str = "embedded", split: str = "train", *, with_labels: bool = False,
               binarized: bool = True, progress: bool = True):
    """Load binarized MNIST digits.

    Parameters
    ----------
    dataset : {'embedded', 'mnist-full'}
        ``'embedded'``: the packaged 10,000 digits (offline);
        ``'mnist-full'``: the canonical 60k/10k files (downloaded on first use).
    split : str
        ``'embedded'``: ``'train'`` (8,000), ``'heldout'`` (2,000) or ``'all'`` (10,000);
        ``'mnist-full'``: ``'train'`` (60,000) or ``'test'`` (10,000).
    with_labels : bool
        Also return the digit labels.
    binarized : bool
        ``False`` returns the raw grey levels 0..255 (``'mnist-full'`` only; the
        embedded copy stores binary pixels only).
    progress : bool
        Progress bar while downloading.

    Returns
    -------
    X : ndarray, shape (n, 784), uint8
        0/1 pixels (grey levels if ``binarized=False``), one image per row,
        row-major 28 x 28 (a fresh, writable copy).
    y : ndarray, shape (n,), uint8
        Only if ``with_labels``.

    Raises
    ------
    ValueError
        Unknown data set or split.
    DataError
        Corrupted package data, or full MNIST missing and not downloadable
        (the message says where to put the files by hand).
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose 'embedded' (offline, 10k digits) or "
                         "'mnist-full' (60k/10k, downloaded once).")
    if split not in _SPLITS[dataset]:
        raise ValueError(f"dataset {dataset!r} has splits {list(_SPLITS[dataset])}, got split={split!r}.")
    if dataset == "mnist-full":
        return _load_full(split, with_labels, binarized, progress)
    if not binarized:
        raise ValueError("The embedded copy stores binarized pixels only; use dataset='mnist-full' "
                         "(or the IDX files) for grey levels.")
    X, labels, sp, _ = _load_embedded()
    if split == "all":
        sel = slice(None)
    else:
        sel = np.flatnonzero(sp == (1 if split == "heldout" else 0))
    X_out = np.array(X[sel])
    if not with_labels:
        return X_out
    return X_out, np.array(labels[sel])
