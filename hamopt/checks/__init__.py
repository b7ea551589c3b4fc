"""Checks with a crisp pass/fail: symplecticity, energy, order of accuracy, speed limit.

Each check returns a :class:`~hamopt.checks.report.CheckResult`.
"""

from hamopt.checks.report import CheckResult, table
from hamopt.checks.speed_limit import speed_bound, speed_limit
from hamopt.checks.symplectic import numeric_symplecticity, symbolic_symplecticity

__all__ = [
    "CheckResult",
    "numeric_symplecticity",
    "speed_bound",
    "speed_limit",
    "symbolic_symplecticity",
    "table",
]
