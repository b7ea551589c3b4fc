"""Checks of what the papers claim: symplecticity, energy, order of accuracy, speed limit.

Each check returns a :class:`~hamopt.checks.report.CheckResult` with one of three verdicts:
``"pass"``, ``"fail"`` (a measured figure violates its tolerance) or ``"undetermined"`` (the
check could not decide or does not apply; the result says why). Identities SymPy cannot reduce
fall back to :func:`~hamopt.checks.identity.vanishes_at_random_points`.
"""

from hamopt.checks.energy import (
    conservative_energy_drift,
    dissipation_decreases_kinetic,
    energy_convergence,
    energy_error_order,
    energy_law,
)
from hamopt.checks.identity import vanishes_at_random_points
from hamopt.checks.order import order_of_accuracy
from hamopt.checks.report import CheckResult, exit_status, summary, table
from hamopt.checks.smoothness import smooth, smooth_at_zero
from hamopt.checks.speed_limit import speed_bound, speed_limit
from hamopt.checks.symplectic import numeric_symplecticity, symbolic_symplecticity

__all__ = [
    "CheckResult",
    "conservative_energy_drift",
    "dissipation_decreases_kinetic",
    "energy_convergence",
    "energy_error_order",
    "energy_law",
    "exit_status",
    "numeric_symplecticity",
    "order_of_accuracy",
    "smooth",
    "smooth_at_zero",
    "speed_bound",
    "speed_limit",
    "summary",
    "symbolic_symplecticity",
    "table",
    "vanishes_at_random_points",
]
