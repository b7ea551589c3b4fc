"""The conformal Hamiltonian system and its exact sub-flows."""

from hamopt.system.hamiltonian import ConformalHamiltonian, GradU, TorchSystem
from hamopt.system.subflows import FLOWS, dissipate, drift, gradient_drift, kick

__all__ = [
    "FLOWS",
    "ConformalHamiltonian",
    "GradU",
    "TorchSystem",
    "dissipate",
    "drift",
    "gradient_drift",
    "kick",
]
