"""rbmlib: restricted Boltzmann machines as nonequilibrium thermodynamic systems.

The library behind the course reproducing D. S. P. Salazar, "Nonequilibrium
thermodynamics of restricted Boltzmann machines", Phys. Rev. E 96, 022131 (2017).

Conventions: ``W`` has shape (n_visible, n_hidden), ``a`` are visible and ``b``
hidden biases, ``E(v, h) = -v.W.h - a.v - b.h`` and
``p_beta(v, h) = exp(-beta E(v, h)) / Z(beta)``.
"""
from . import ais
from . import exact
from . import report
from . import sampling
from . import thermo
from . import xft
from .model import RBM, sigmoid, softplus
from .sampling import sample

__version__ = "0.1.0"

__all__ = ["RBM", "ais", "exact", "report", "sample", "sampling", "sigmoid", "softplus", "thermo", "xft", "__version__"]
