"""Vendor the MathJax 3 files the book needs into ``_static/mathjax`` (offline book).

The HTML book must work with no network, so MathJax is served from the build
itself instead of a CDN (``sphinx.config.mathjax_path: mathjax/tex-chtml.js`` in
``_config.yml``). Only what TeX input + CommonHTML output need is kept:

* ``tex-chtml.js``                     -- the combined component (TeX in, CHTML out, menu);
* ``output/chtml/fonts/woff-v2/*``     -- the MathJax TeX web fonts CHTML draws with;
* ``input/tex/extensions/*``           -- TeX packages that ``autoload`` fetches on first use
                                          (e.g. ``\\boldsymbol``, ``\\cancel``, ``\\mathtools``);
* ``LICENSE``                          -- Apache-2.0.

Left out on purpose: the speech-rule engine (``sre/``, 3.9 MB) and the a11y
explorer, which are only loaded if a reader switches them on in the MathJax menu.

Usage (needs ``npm``; run from anywhere, rewrites ``_static/mathjax``)::

    python tools/book_vendor_mathjax.py [--version 3.2.2]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "_static" / "mathjax"
KEEP_FILES = ["tex-chtml.js"]
KEEP_DIRS = ["output/chtml/fonts/woff-v2", "input/tex/extensions"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="3.2.2", help="exact mathjax version on the npm registry")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["npm", "pack", f"mathjax@{args.version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = tmp.glob("mathjax-*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        es5 = tmp / "package" / "es5"
        if DEST.exists():
            shutil.rmtree(DEST)
        DEST.mkdir(parents=True)
        for f in KEEP_FILES:
            shutil.copy2(es5 / f, DEST / f)
        for d in KEEP_DIRS:
            shutil.copytree(es5 / d, DEST / d)
        shutil.copy2(tmp / "package" / "LICENSE", DEST / "LICENSE")
        (DEST / "VERSION").write_text(f"mathjax {args.version} (npm registry package `mathjax`), "
                                      f"vendored by tools/book_vendor_mathjax.py\n")
    n = sum(1 for p in DEST.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())
    print(f"wrote {n} files, {size / 1e6:.1f} MB, to {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
