"""The result of a check: what was measured, against what tolerance, and the verdict.

A check has three outcomes:

* ``"pass"`` — the measured figure meets its tolerance (or the claim is proved);
* ``"fail"`` — a measured figure violates its tolerance (a residual that is not zero, a slope
  off the declared order, a step longer than the bound);
* ``"undetermined"`` — the check could not decide, or does not apply (the order of accuracy of
  an energy that is not smooth enough at :math:`p = 0`, the speed limit of an energy with no
  speed bound); ``reason`` says which.

``passed`` is true for ``"pass"`` only, as is the truth value of a result; ``hamopt verify``
exits with status 1 only when some verdict is ``"fail"`` (:func:`exit_status`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["VERDICTS", "CheckResult", "Verdict", "exit_status", "summary", "table"]

Verdict = Literal["pass", "fail", "undetermined"]
#: The three verdicts, in the order :func:`summary` counts them.
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "undetermined")


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
        Whether the verdict is ``"pass"``.
    details
        Anything else worth keeping (per-sub-flow factors, errors per step size, the method
        an identity was decided by, …).
    verdict
        ``"pass"``, ``"fail"`` or ``"undetermined"``; by default ``"pass"`` when ``passed``
        else ``"fail"``. An ``"undetermined"`` result has ``passed = False`` and a ``reason``.
    reason
        Why the check could not decide or does not apply (required for ``"undetermined"``).
    measured
        The measured cell of the table in words, when a number alone would not say how it
        was measured (``"0 at 20 random points (50 digits)"``); default: ``"proved"`` for a
        ``value`` of ``None``, else the value to three digits.

    Raises
    ------
    ValueError
        For an unknown verdict, a ``passed`` that contradicts the verdict, or an
        ``"undetermined"`` verdict without a reason.
    """

    name: str
    subject: str
    value: float | None
    tolerance: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    reason: str = ""
    measured: str | None = None

    def __post_init__(self) -> None:
        passed = bool(self.passed)
        verdict = self.verdict if self.verdict is not None else ("pass" if passed else "fail")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        if passed != (verdict == "pass"):
            raise ValueError(f"passed={self.passed!r} contradicts the verdict {verdict!r}")
        if verdict == "undetermined" and not self.reason:
            raise ValueError(f"{self.name}: an undetermined verdict needs a reason")
        object.__setattr__(self, "passed", passed)
        object.__setattr__(self, "verdict", verdict)

    @classmethod
    def undetermined(
        cls,
        name: str,
        subject: str,
        value: float | None,
        tolerance: str,
        reason: str,
        details: dict[str, Any] | None = None,
        *,
        measured: str | None = None,
    ) -> CheckResult:
        """A result the check could not decide, or a check that does not apply: ``reason``
        says why."""
        return cls(
            name,
            subject,
            value,
            tolerance,
            False,
            dict(details or {}),
            verdict="undetermined",
            reason=reason,
            measured=measured,
        )

    @property
    def measured_text(self) -> str:
        """The table's measured cell."""
        if self.measured is not None:
            return self.measured
        return "proved" if self.value is None else f"{self.value:.3g}"

    @property
    def verdict_text(self) -> str:
        """The table's verdict cell: ``pass``, ``FAIL``, or ``undetermined (reason)``."""
        if self.verdict == "pass":
            return "pass"
        if self.verdict == "fail":
            return "FAIL"
        return f"undetermined ({self.reason})"

    def row(self) -> str:
        cells = (self.name, self.subject, self.measured_text, self.tolerance, self.verdict_text)
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    def __bool__(self) -> bool:
        return self.passed


def table(results: Iterable[CheckResult]) -> str:
    """A Markdown table of results."""
    lines = ["| check | subject | measured | tolerance | verdict |", "|---|---|---|---|---|"]
    lines += [res.row() for res in results]
    return "\n".join(lines)


def summary(results: Iterable[CheckResult]) -> str:
    """``"7 checks: 5 pass, 1 fail, 1 undetermined"`` (the undetermined count only when
    there are any)."""
    results = list(results)
    counts = {v: sum(res.verdict == v for res in results) for v in VERDICTS}
    parts = [f"{counts['pass']} pass", f"{counts['fail']} fail"]
    if counts["undetermined"]:
        parts.append(f"{counts['undetermined']} undetermined")
    return f"{len(results)} check{'' if len(results) == 1 else 's'}: " + ", ".join(parts)


def exit_status(results: Iterable[CheckResult]) -> int:
    """1 when some verdict is ``"fail"``, else 0: an undetermined check does not fail."""
    return 1 if any(res.verdict == "fail" for res in results) else 0
