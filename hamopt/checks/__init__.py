"""Checks with a crisp pass/fail: symplecticity, energy, order of accuracy, speed limit.

Each check returns a :class:`~hamopt.checks.report.CheckResult`.
"""

from hamopt.checks.energy import (
    conservative_energy_drift,
    dissipation_decreases_kinetic,
    energy_convergence,
    energy_error_order,
    energy_law,
)
from hamopt.checks.order import order_of_accuracy
from hamopt.checks.report import CheckResult, table
from hamopt.checks.speed_limit import speed_bound, speed_limit
from hamopt.checks.symplectic import numeric_symplecticity, symbolic_symplecticity

__all__ = [
    "CheckResult",
    "conservative_energy_drift",
    "dissipation_decreases_kinetic",
    "energy_convergence",
    "energy_error_order",
    "energy_law",
    "numeric_symplecticity",
    "order_of_accuracy",
    "speed_bound",
    "speed_limit",
    "symbolic_symplecticity",
    "table",
]
