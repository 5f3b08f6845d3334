"""Execute the book's notebooks whose inputs changed, writing outputs in place.

One source of truth for outputs: the committed ``chapters/*.ipynb``. The book
build (``make book``) runs this script and then builds the HTML with notebook
execution switched off, so the HTML shows exactly the committed outputs; the
test suite (``pytest --nbval``) re-executes every notebook and compares its
outputs with those same committed outputs.

A notebook is re-executed when the hash of its code cells, of the ``rbmlib``
sources, of ``results/`` files it may load, or of this script changed since it
was last executed (the hash is stored in the notebook metadata under
``rbmbook.input_hash``), or when ``--force`` is given.

Usage:  python tools/execute_notebooks.py [--force] [NOTEBOOK ...]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_PER_CELL = 1800


def _hash_tree(h, folder: Path, patterns):
    for pat in patterns:
        for f in sorted(folder.rglob(pat)):
            if "__pycache__" in f.parts:
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())


def input_hash(nb) -> str:
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            h.update(cell.source.encode())
            h.update(b"\x00")
    _hash_tree(h, ROOT / "rbmlib", ["*.py", "data/*"])
    if (ROOT / "results").exists():  # inputs only: results/claims is written BY the chapters
        for f in sorted((ROOT / "results").rglob("*")):
            if f.is_file() and "claims" not in f.relative_to(ROOT / "results").parts:
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def execute(path: Path, force: bool) -> bool:
    nb = nbformat.read(path, as_version=4)
    want = input_hash(nb)
    meta = nb.metadata.setdefault("rbmbook", {})
    if not force and meta.get("input_hash") == want:
        print(f"  up to date: {path.relative_to(ROOT)}")
        return False
    print(f"  executing:  {path.relative_to(ROOT)} ...", flush=True)
    t0 = time.time()
    client = NotebookClient(nb, timeout=TIMEOUT_PER_CELL, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    meta["input_hash"] = want
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    print(f"              done in {time.time() - t0:.0f} s")
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--force", action="store_true", help="re-execute even if inputs are unchanged")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    print(f"Executing notebooks whose inputs changed ({len(paths)} found):")
    for p in paths:
        execute(p.resolve(), args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
