"""What the command modules share: the one-line user error, SIGTERM as an interrupt, the command line."""
from __future__ import annotations

import shlex
import sys

__all__ = ["CLIError", "Terminated", "command_line", "load_model"]


class CLIError(Exception):
    """An error reported to the user as one line (raise it from handlers)."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (handled like Ctrl-C)."""


def command_line(args) -> str:
    """The command as the user typed it (``rbmlib ...``), for provenance."""
    return "rbmlib " + shlex.join(getattr(args, "argv", sys.argv[1:]))


def load_model(spec):
    """The model of a ``--model`` value: a reference name or an ``.npz`` file
    (:func:`rbmlib.reference_models.resolve_model`)."""
    from ..reference_models import resolve_model

    return resolve_model(spec)
