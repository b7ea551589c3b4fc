r"""The fall-back for identities SymPy cannot reduce: high-precision evaluation at random points.

A symbolic check reduces a residual :math:`R` (a difference of two sides that should agree)
with cheap rewrites; when those leave it unreduced (``tanh`` against ``sinh/cosh``,
``DiracDelta`` terms of :math:`|p|`-type energies), :func:`vanishes_at_random_points` evaluates
it at seeded random points with every symbol, undefined function and derivative set to an exact
random rational, each term of :math:`R = \sum_k t_k` with mpmath at ``digits`` significant
digits (``sympy.N``). The identity

* **holds** when at every point :math:`\lvert\sum_k t_k\rvert \le 10^{-(d - 10)} \max(1,
  \max_k \lvert t_k\rvert)` — a true identity leaves only the rounding of the last digits,
  a false one an error of the size of its terms;
* **fails** when some point violates that bound (the check then reports the residual there);
* is **undecided** when no point could be evaluated to a finite real number.

The points are deterministic (``random.Random(seed)``), so a verdict is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

__all__ = ["DIGITS", "POINTS", "PointEvaluation", "vanishes_at_random_points"]

#: Significant digits of the evaluation, and the number of random points.
DIGITS = 50
POINTS = 20
#: Digits of slack: a residual at most 10^-(DIGITS - SLACK) of its largest term counts as 0.
SLACK = 10


@dataclass(frozen=True)
class PointEvaluation:
    """What :func:`vanishes_at_random_points` found.

    Attributes
    ----------
    holds
        ``True``: zero at every point; ``False``: not zero at some point; ``None``: no point
        could be evaluated.
    worst
        The largest :math:`\\lvert R\\rvert` seen (at the refuting point when ``holds`` is
        ``False``).
    points
        How many points were evaluated.
    digits
        Significant digits of the evaluation.
    """

    holds: bool | None
    worst: float
    points: int
    digits: int

    @property
    def method(self) -> str:
        """How the verdict was reached, for a result's ``details``."""
        return f"mpmath evaluation at {self.points} seeded random points ({self.digits} digits)"

    def describe(self) -> str:
        """The measured figure in words: ``"0 at 20 random points (50 digits)"``."""
        at = "at a random point" if self.holds is False else f"at {self.points} random points"
        return f"{_fmt(self.worst)} {at} ({self.digits} digits)"


def vanishes_at_random_points(
    exprs: sp.Expr | sp.MatrixBase | Iterable[sp.Expr],
    *,
    fixed: Mapping[sp.Symbol, float | sp.Expr] | None = None,
    points: int = POINTS,
    digits: int = DIGITS,
    seed: int = 0,
) -> PointEvaluation:
    r"""Whether every expression of ``exprs`` is zero at ``points`` random points.

    Parameters
    ----------
    exprs
        One expression, a matrix, or several expressions (all must vanish).
    fixed
        Values for some symbols (an energy's parameters at their defaults); every other free
        symbol, undefined function (a generic potential :math:`U`) and derivative of one gets a
        random rational: in :math:`\pm[1/4, 3]` for a real symbol, :math:`[1/2, 2]` for a
        positive or non-negative one and for functions and derivatives.
    points, digits, seed
        Number of points, significant digits of the evaluation, seed of the points.

    Returns
    -------
    PointEvaluation
        The verdict, the largest residual, and how it was obtained. Evaluation stops at the
        first point that refutes the identity.

    Raises
    ------
    ValueError
        If ``points`` or ``digits`` is below 1 (or ``digits`` is too small to leave the slack of
        10 digits).
    """
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    if digits <= SLACK:
        raise ValueError(f"digits must exceed {SLACK}, got {digits}")
    if isinstance(exprs, sp.Basic) and not isinstance(exprs, sp.MatrixBase):
        exprs = [exprs]
    exprs = [sp.sympify(e) for e in exprs]
    fixed = {sym: sp.nsimplify(val, rational=True) for sym, val in (fixed or {}).items()}
    derivs = sorted(set().union(*(e.atoms(sp.Derivative) for e in exprs)), key=sp.srepr)
    funcs = sorted(set().union(*(e.atoms(AppliedUndef) for e in exprs)), key=sp.srepr)
    syms = sorted(set().union(*(e.free_symbols for e in exprs)) - set(fixed), key=str)
    rng = random.Random(seed)
    bound = mpmath.mpf(10) ** -(digits - SLACK)
    worst, evaluated = mpmath.mpf(0), 0
    for _ in range(points):
        subs = [{d: _positive(rng) for d in derivs}, {f: _positive(rng) for f in funcs}]
        subs.append({**fixed, **{x: _draw(x, rng) for x in syms}})
        residuals = [_residual(e, subs, digits) for e in exprs]
        if any(r is None for r in residuals):
            continue
        evaluated += 1
        for size, scale in residuals:
            worst = max(worst, size)
            if size > bound * max(1, scale):
                return PointEvaluation(False, float(size), evaluated, digits)
    if evaluated == 0:
        return PointEvaluation(None, float("nan"), 0, digits)
    return PointEvaluation(True, float(worst), evaluated, digits)


def _positive(rng: random.Random) -> sp.Rational:
    return sp.Rational(rng.randint(500, 2000), 1000)


def _draw(symbol: sp.Symbol, rng: random.Random) -> sp.Rational:
    if symbol.is_positive or symbol.is_nonnegative:
        return _positive(rng)
    return rng.choice((1, -1)) * sp.Rational(rng.randint(250, 3000), 1000)


def _residual(
    expr: sp.Expr, subs: list[dict[sp.Basic, sp.Expr]], digits: int
) -> tuple[mpmath.mpf, mpmath.mpf] | None:
    """``(|Σ t_k|, max |t_k|)`` at the point, or ``None`` where a term is not a finite number."""
    for sub in subs:
        expr = expr.xreplace(sub)
    total, scale = mpmath.mpc(0), mpmath.mpf(0)
    with mpmath.workdps(digits + 5):
        for term in sp.Add.make_args(expr):
            value = sp.N(term, digits)
            if not value.is_number or value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                return None
            re, im = (mpmath.mpf(str(part)) for part in value.as_real_imag())
            if not (mpmath.isfinite(re) and mpmath.isfinite(im)):
                return None
            total += mpmath.mpc(re, im)
            scale = max(scale, abs(mpmath.mpc(re, im)))
        return abs(total), scale


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}"
