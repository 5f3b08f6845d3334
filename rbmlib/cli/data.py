"""``rbmlib data``: full-MNIST download and verification, the cache folder, the embedded copy's provenance."""
from __future__ import annotations

import json
import sys

__all__ = ["add_cli"]


def add_cli(sub) -> None:
    """Register ``rbmlib data {fetch,verify,path,info}``."""
    p = sub.add_parser("data", help="MNIST data: download/verify the full set, show the cache folder",
                       description="Manage the MNIST data used by rbmlib. The embedded 10,000-digit copy ships "
                                   "with the package; the full 60k/10k set is downloaded once into the cache "
                                   "folder (override with the RBMLIB_DATA_DIR environment variable).")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="{fetch,verify,path,info}")
    f = dsub.add_parser("fetch", help="download the full MNIST files that are missing (checked by MD5)")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=_cmd_data_fetch)
    dsub.add_parser("verify", help="check the cached full-MNIST files (no download)").set_defaults(
        func=_cmd_data_verify)
    dsub.add_parser("path", help="print the folder holding the full-MNIST files").set_defaults(
        func=lambda a: print(_ds().mnist_dir()))
    dsub.add_parser("info", help="provenance of the embedded copy (JSON)").set_defaults(
        func=lambda a: print(json.dumps(_ds().embedded_info(), indent=2, sort_keys=True)))


def _ds():
    from .. import datasets

    return datasets


def _cmd_data_fetch(args) -> int:
    paths = _ds().fetch_mnist(progress=not args.no_progress)
    for name, path in paths.items():
        print(f"ok  {path}")
    return 0


def _cmd_data_verify(args) -> int:
    ds = _ds()
    report = ds.verify_mnist()
    print(f"folder: {ds.mnist_dir()}")
    for name, status in report.items():
        print(f"{status:<9} {name}" if status in ("ok", "missing") else f"BAD       {name}: {status}")
    if all(s == "ok" for s in report.values()):
        return 0
    print("Run `rbmlib data fetch` (needs network), or copy the canonical files into the folder above.",
          file=sys.stderr)
    return 1
