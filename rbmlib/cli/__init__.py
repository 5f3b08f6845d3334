"""Command line: ``rbmlib <command> ...`` or ``python -m rbmlib <command> ...`` (the application layer).

Commands, one module each
-------------------------
================  ===================================  =========================================
command           module                               calls
================  ===================================  =========================================
``train``         :mod:`rbmlib.cli.train`              :func:`rbmlib.reference_models.train_recipe`
``data``          :mod:`rbmlib.cli.data`               :mod:`rbmlib.datasets`
``models``        :mod:`rbmlib.cli.models`             :mod:`rbmlib.reference_models`
``ais``           :mod:`rbmlib.cli.ais`                :func:`rbmlib.ais.paper_scale_run`
``xft``           :mod:`rbmlib.cli.xft`                :func:`rbmlib.xft.run_xft`
``equilibrate``   :mod:`rbmlib.cli.equilibrate`        :mod:`rbmlib.tempering`
================  ===================================  =========================================

The modules are listed in :data:`SUBCOMMAND_MODULES`: each exposes ``add_cli(subparsers)``,
which adds its sub-parser(s) with ``subparsers.add_parser(name, help=...)`` and binds the
handler with ``parser.set_defaults(func=handler)``; ``handler(args)`` returns an exit
status (or None for 0). To add a command, write such a module and append its name to the
list. Command modules only parse arguments, call the library and print; the computations
live in the science modules, which never import this package.

Parallel and cluster execution
------------------------------
``xft`` and ``ais`` take ``--workers N`` (a local pool of N worker processes),
``--scheduler ADDRESS`` (a Dask cluster; ``local`` starts a Dask LocalCluster of
``--workers`` processes), ``--threads`` and ``--retries``, added by
:func:`rbmlib.ensemble.add_cli_arguments`; results are bit-identical to a run in
one process.

Errors
------
User errors (bad arguments, missing or corrupted files, no network, a
checkpoint from another run, ...) print one line ``rbmlib: error: ...`` on
stderr and exit with status 1 (2 for argument syntax errors, 130 on Ctrl-C),
without a traceback; ``--traceback`` (or ``RBMLIB_TRACEBACK=1``) shows it.

Interruption
------------
``SIGTERM`` is handled like Ctrl-C (``SIGINT``): the run stops at the next point
where Python runs, its worker processes are terminated, finished checkpoints stay,
and a line says how to continue (exit status 143 for SIGTERM, 130 for SIGINT).
Output paths (``--out``) are checked -- folder writable, existing file only
replaced with ``--force`` -- before any computation starts.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from .._validation import one_line
from .._version import __version__

from .common import CLIError, Terminated

__all__ = ["main", "build_parser", "CLIError", "Terminated", "SUBCOMMAND_MODULES"]

#: Modules that add sub-commands through ``add_cli(subparsers)``, in the order of ``rbmlib --help``.
SUBCOMMAND_MODULES = ["rbmlib.cli.train", "rbmlib.cli.data", "rbmlib.cli.models", "rbmlib.cli.ais",
                      "rbmlib.cli.xft", "rbmlib.cli.equilibrate"]

# errors that say what the user should change (printed on one line; --traceback shows the trace). ImportError:
# a missing optional extra (the message names the pip command); MemoryError: a run that does not fit (the
# message says how large a shard fits).
_USER_ERRORS = (ValueError, TypeError, OSError, FloatingPointError, LookupError, ImportError, MemoryError)


def _on_sigterm(signum, frame):
    raise Terminated()


def _interrupt_hint(args) -> str:
    """What the user can do after an interrupted command (depends on the command and its options)."""
    if args is None:
        return ""
    cmd = getattr(args, "command", None)
    if cmd == "train" or (cmd == "models" and getattr(args, "models_command", None) == "train"):
        if getattr(args, "checkpoint", None):
            return (f"the last finished epoch is in {args.checkpoint}; rerun the same command with --resume "
                    "to continue")
        return "nothing was saved; pass --checkpoint PATH (and --resume when rerunning) to make training resumable"
    if cmd in ("xft", "ais"):
        ck = getattr(args, "checkpoint_dir", None)
        if ck:
            return f"finished shards are saved in {ck}; rerun the same command to continue"
        return "nothing was saved; pass --checkpoint-dir DIR to make the run resumable"
    return ""


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rbmlib",
        description="rbmlib: restricted Boltzmann machines as nonequilibrium thermodynamic systems.")
    parser.add_argument("--version", action="version", version=f"rbmlib {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``rbmlib`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    show_tb = "--traceback" in argv or os.environ.get("RBMLIB_TRACEBACK") == "1"
    args = None
    old_term = None
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (main() called from a thread): leave SIGTERM alone
        pass
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv
        status = args.func(args)
        return 0 if status is None else int(status)
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        hint = _interrupt_hint(args)
        print(f"rbmlib: {what}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:
        from .._locking import RunLocked
        from ..datasets import DataError

        user = (CLIError, DataError, RunLocked) + _USER_ERRORS
        kc = sys.modules.get("rbmlib.kernels.cuda")      # loaded only by backend='cuda'
        if kc is not None:
            user += (kc.CudaUnavailableError,)
        if show_tb or not isinstance(exc, user):
            raise
        print(f"rbmlib: error: {one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
