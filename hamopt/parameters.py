"""Named parameters with defaults and valid ranges.

A :class:`Parameter` ties a SymPy symbol to a default value and an interval of valid values.
Kinetic energies declare their physical parameters (mass ``m``, speed of light ``c``, …) this
way; the same object later carries optimizer hyperparameters, so range checks and their error
messages live in one place.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

import sympy as sp

from hamopt.labels import identifier_problem

__all__ = ["Parameter", "in_range", "positive", "unused_parameters"]


@dataclass(frozen=True)
class Parameter:
    """A named real parameter.

    Parameters
    ----------
    name
        Identifier used in expressions and messages (``"m"``, ``"c"``, ``"epsilon"``).
    default
        Value used when none is given; ``None`` when the parameter has no default.
    interval
        The valid values, a SymPy :class:`~sympy.sets.sets.Interval`.
    doc
        One line saying what the parameter means.

    Examples
    --------
    >>> m = Parameter("m", 1.0, sp.Interval.open(0, sp.oo), "mass")
    >>> m.validate(2.0)
    2.0
    >>> m.validate(-1.0)
    Traceback (most recent call last):
    ...
    ValueError: m must be in (0, inf), got -1.0
    """

    name: str
    default: float | None = None
    interval: sp.Interval = field(default_factory=lambda: sp.Interval(-sp.oo, sp.oo))
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(
                f"parameter name must be a str, got {type(self.name).__name__} {self.name!r}"
            )
        why = identifier_problem(self.name)
        if why is not None:
            raise ValueError(f"parameter name {self.name!r} cannot be used: {why}")
        if not isinstance(self.interval, sp.Interval):
            raise TypeError(f"interval of {self.name} must be a sympy Interval")
        if self.default is not None:  # a SymPy or NumPy number kept as the float it stands for
            object.__setattr__(self, "default", self.validate(self.default))

    @property
    def symbol(self) -> sp.Symbol:
        """The SymPy symbol, positive when the interval lies in (0, ∞)."""
        if self.interval.is_subset(sp.Interval.open(0, sp.oo)):
            return sp.Symbol(self.name, positive=True)
        if self.interval.is_subset(sp.Interval(0, sp.oo)):
            return sp.Symbol(self.name, nonnegative=True)
        return sp.Symbol(self.name, real=True)

    def range_text(self) -> str:
        """The interval in the usual notation, e.g. ``(0, inf)`` or ``[0, 1)``."""
        iv = self.interval
        left = "(" if iv.left_open else "["
        right = ")" if iv.right_open else "]"
        ends = [
            "inf" if e == sp.oo else "-inf" if e == -sp.oo else str(e) for e in (iv.start, iv.end)
        ]
        return f"{left}{ends[0]}, {ends[1]}{right}"

    def validate(self, value: object) -> float:
        """Return ``value`` as a float, or raise naming the parameter and its range. A real
        number: a Python, NumPy or SymPy one (``sp.Rational(4, 3)``)."""
        sympy_real = isinstance(value, sp.Basic) and value.is_number and value.is_extended_real
        if not sympy_real and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise TypeError(
                f"{self.name} must be a real number, got {type(value).__name__} {value!r}"
            )
        v = float(value)
        if math.isnan(v) or not bool(self.interval.contains(sp.Float(v))):
            raise ValueError(f"{self.name} must be in {self.range_text()}, got {value!r}")
        return v

    def samples(self) -> tuple[float, ...]:
        """A few representative valid values (the default first) used by numeric checks."""
        iv = self.interval
        base = self.default
        if base is None:
            lo = float(iv.start) if iv.start.is_finite else None
            hi = float(iv.end) if iv.end.is_finite else None
            if lo is not None and hi is not None:
                base = (lo + hi) / 2
            elif lo is not None:
                base = lo + 1.0
            elif hi is not None:
                base = hi - 1.0
            else:
                base = 1.0
        out = [base]
        # near the default, then orders of magnitude away (an energy valid at k = 1 but not at
        # k = 150, such as p²/2 + (100 - k)p⁴/4, is refused unless its interval says so), then
        # just inside each finite end, and a closed end itself (m ∈ [0, ∞) takes m = 0, where
        # √(p² + m²)'s velocity is 0/0 at p = 0)
        candidates = [base * 0.3, base * 3.0, base + 0.5, base * 1e-3, base * 1e3, base - 1e3]
        for end, inward in ((iv.start, 1), (iv.end, -1)):
            if end.is_finite:
                other = iv.end if inward == 1 else iv.start
                width = abs(float(other - end)) if other.is_finite else 1.0
                candidates.append(float(end) + inward * 1e-3 * width)
                candidates.append(float(end))
        for cand in candidates:
            if cand not in out and bool(iv.contains(sp.Float(cand))):
                out.append(cand)
        return tuple(out)


def positive(name: str, default: float | None = None, doc: str = "") -> Parameter:
    """A parameter valid on (0, ∞)."""
    return Parameter(name, default, sp.Interval.open(0, sp.oo), doc)


def in_range(name: str, default: float | None, interval: sp.Interval, doc: str = "") -> Parameter:
    """A parameter valid on ``interval``."""
    return Parameter(name, default, interval, doc)


def unused_parameters(exprs: Iterable[sp.Expr], names: Iterable[str]) -> list[str]:
    """The declared parameter ``names`` that none of ``exprs`` reads (matched by name)."""
    read = {sym.name for expr in exprs for sym in expr.free_symbols}
    return [name for name in names if name not in read]
