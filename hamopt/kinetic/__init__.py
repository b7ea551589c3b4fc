"""Kinetic energies T(p): the objects, their validation, and the papers' library."""

from hamopt.kinetic.energy import KineticEnergy
from hamopt.kinetic.library import (
    adam_energy,
    classical,
    huber,
    log_cosh,
    massless,
    power,
    relativistic,
    relativistic_norm,
)

__all__ = [
    "KineticEnergy",
    "adam_energy",
    "classical",
    "huber",
    "log_cosh",
    "massless",
    "power",
    "relativistic",
    "relativistic_norm",
]
