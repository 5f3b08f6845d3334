"""rbmlib: restricted Boltzmann machines as nonequilibrium thermodynamic systems.

The library behind the course reproducing D. S. P. Salazar, "Nonequilibrium
thermodynamics of restricted Boltzmann machines", Phys. Rev. E 96, 022131 (2017).

Conventions: ``W`` has shape (n_visible, n_hidden), ``a`` are visible and ``b``
hidden biases, ``E(v, h) = -v.W.h - a.v - b.h`` and
``p_beta(v, h) = exp(-beta E(v, h)) / Z(beta)``.
"""
from ._version import __version__
from . import kernels  # noqa: F401  (first: it sets the vector width before any kernel is compiled)
from . import ais
from . import cd
from . import datasets
from . import diagnostics
from . import exact
from . import reference_models
from . import report
from . import sampling
from . import stats
from . import tempering
from . import thermo
from . import training
from . import xft
from .model import RBM, sigmoid, softplus
from .datasets import load_mnist
from .sampling import sample
from .training import train


__all__ = ["RBM", "ais", "cd", "datasets", "diagnostics", "exact", "load_mnist", "models", "reference_models", "report", "sample", "sampling", "sigmoid", "stats",
           "softplus", "tempering", "thermo", "train", "training", "xft", "__version__"]
