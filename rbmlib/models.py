"""The reference models under their former module name: :mod:`rbmlib.reference_models`.

Kept while chapters 3 and 4 call ``rbmlib.models.load_reference`` (delete this module when they
call ``rbmlib.reference_models``); new code imports :mod:`rbmlib.reference_models`.
"""
from .reference_models import *  # noqa: F401,F403
from .reference_models import __all__  # noqa: F401
