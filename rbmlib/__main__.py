"""``python -m rbmlib ...``: the command line (see :mod:`rbmlib.cli`)."""
import sys

from .cli import main

sys.exit(main())
