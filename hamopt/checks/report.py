"""The result of a check: what was measured, against what tolerance, and the verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "table"]


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome.

    Parameters
    ----------
    name
        What was checked (``"conformal symplecticity (numeric)"``).
    subject
        What it was checked on (``"relativistic × leapfrog"``).
    value
        The measured figure (a residual, a fitted slope, …); ``None`` for a symbolic proof.
    tolerance
        The bound the figure is held to, in words (``"<= 1e-10"``, ``"2 ± 0.1"``).
    passed
        The verdict.
    details
        Anything else worth keeping (per-sub-flow factors, errors per step size, …).
    """

    name: str
    subject: str
    value: float | None
    tolerance: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    def row(self) -> str:
        value = "proved" if self.value is None else f"{self.value:.3g}"
        verdict = "pass" if self.passed else "FAIL"
        cells = (self.name, self.subject, value, self.tolerance, verdict)
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    def __bool__(self) -> bool:
        return self.passed


def table(results: Iterable[CheckResult]) -> str:
    """A Markdown table of results."""
    lines = ["| check | subject | measured | tolerance | verdict |", "|---|---|---|---|---|"]
    lines += [res.row() for res in results]
    return "\n".join(lines)
