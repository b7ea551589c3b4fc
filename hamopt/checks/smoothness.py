r"""How smooth a kinetic energy is at :math:`p = 0`, where :math:`|p|`-type energies have a kink.

The order theory of a one-step method of order :math:`k` needs a vector field with :math:`k`
derivatives, that is :math:`T \in C^{k+1}`. Energies built from :math:`|p|` are smooth away
from :math:`p = 0` and may lose that there: :math:`|p|` is not :math:`C^1` (the velocity jumps),
:math:`|p|^{3/2}` is :math:`C^1` but not :math:`C^2` (:math:`T'' \to \infty`).

:func:`smooth_at_zero` takes the one-sided limits :math:`\lim_{x\to 0^+} T^{(j)}(\pm x)` for
:math:`j = 0, …, k` (SymPy's ``limit`` on each open half-line, where ``Abs`` and ``sign``
evaluate); :math:`T` is :math:`C^k` at 0 when every pair is finite and equal. A norm-coupled
energy :math:`f(\lVert p\rVert)` is read as the even profile :math:`f(|p|)` (smooth in
:math:`p` exactly when :math:`f(\lVert p\rVert)` is smooth at the origin). Only :math:`p = 0`
is examined.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from hamopt.kinetic.energy import KineticEnergy
from hamopt.symbols import p as P

__all__ = ["curvature_at_zero", "smooth", "smooth_at_zero"]

_X = sp.Symbol("x", positive=True)
_PRIMES = {0: "T", 1: "T'", 2: "T''", 3: "T'''"}


def smooth_at_zero(
    kinetic: KineticEnergy, degree: int, values: Mapping[str, float] | None = None
) -> tuple[bool | None, str]:
    r"""Whether :math:`T \in C^{\text{degree}}` at :math:`p = 0`, and why not.

    Parameters
    ----------
    kinetic
        The energy; its parameters are set to ``values`` (defaults filled in).
    degree
        The number of continuous derivatives asked for (``>= 0``).
    values
        Parameter values, as for the numeric checks.

    Returns
    -------
    (bool or None, str)
        ``(True, "")``; ``(False, reason)`` naming the first derivative that is unbounded or
        jumps (``"T'' is unbounded at p = 0"``); or ``(None, reason)`` when SymPy cannot take
        a limit.

    Examples
    --------
    >>> from hamopt.kinetic import classical, massless
    >>> smooth_at_zero(classical(), 2)
    (True, '')
    >>> smooth_at_zero(massless(), 2)
    (False, "T' jumps from -1 to 1 at p = 0")
    """
    return _smooth_at(_profile(kinetic, degree, values), sp.Integer(0), degree)


def curvature_at_zero(
    kinetic: KineticEnergy, values: Mapping[str, float] | None = None
) -> sp.Expr | None:
    r""":math:`T''(0^+)`, the limit of one coordinate's second derivative as p → 0 from above
    (of :math:`f(|p|)` for a norm-coupled energy; piecewise parts on the branch they take
    there), or None where SymPy cannot take it. It is :math:`T''(0)` where
    :func:`smooth_at_zero` says T is twice differentiable.

    >>> from hamopt.kinetic import classical, power
    >>> curvature_at_zero(classical()), curvature_at_zero(power(4))
    (1, 0)
    """
    branch = _branch(_profile(kinetic, 2, values), _BESIDE)
    try:
        value = sp.limit(sp.diff(branch, P, 2).xreplace({P: _X}), _X, 0, "+")
    except (NotImplementedError, ValueError, TypeError):
        return None
    return value if value.is_number else None


def smooth(
    kinetic: KineticEnergy, degree: int, values: Mapping[str, float] | None = None
) -> tuple[bool | None, str]:
    r"""Whether :math:`T \in C^{\text{degree}}` on the whole line, and why not: as
    :func:`smooth_at_zero`, at 0 and at every point where a piecewise part of :math:`T`
    switches (where an argument of ``Abs``, ``sign`` or a ``Piecewise`` condition is zero,
    where two arguments of ``Max`` or ``Min`` meet), the real roots SymPy finds for each.
    Elsewhere :math:`T` is a composition of analytic functions. ``(None, reason)`` where SymPy
    cannot solve for a switching point.

    Examples
    --------
    >>> from hamopt.kinetic import KineticEnergy
    >>> from hamopt.symbols import p
    >>> import sympy as sp
    >>> smooth(KineticEnergy(sp.Max(p**2 - 1, 0)), 2)
    (False, "T' jumps from 0 to 2 at p = 1")
    """
    expr = _profile(kinetic, degree, values)
    points = _switching_points(expr)
    if points is None:
        return None, "where T's piecewise parts switch is undecided"
    for at in sorted({sp.Integer(0), *points}, key=lambda x: (abs(float(x)), -float(x))):
        verdict = _smooth_at(expr, at, degree)
        if verdict[0] is not True:
            return verdict
    return True, ""


def _profile(kinetic: KineticEnergy, degree: int, values) -> sp.Expr:
    """T with its parameters at ``values`` (rational), a norm-coupled one as f(|p|)."""
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    expr = kinetic.expr.xreplace(
        {sym: sp.nsimplify(val, rational=True) for sym, val in kinetic.values(values).items()}
    )
    return expr.xreplace({P: sp.Abs(P)}) if kinetic.coupling == "norm" else expr


def _switching_points(expr: sp.Expr) -> set[sp.Expr] | None:
    """The real points where a piecewise part of ``expr`` switches, or None where SymPy
    cannot tell (a switching argument it cannot solve)."""
    zeros = [f.args[0] for f in expr.atoms(sp.Abs, sp.sign)]
    for f in expr.atoms(sp.Max, sp.Min):
        zeros += [a - b for i, a in enumerate(f.args) for b in f.args[i + 1 :]]
    for f in expr.atoms(sp.Piecewise):
        zeros += [c.lhs - c.rhs for _, c in f.args if isinstance(c, sp.core.relational.Relational)]
    points = set()
    for z in zeros:
        if not z.has(P):
            continue
        roots = sp.solveset(z, P, sp.S.Reals)
        if roots is sp.S.Reals or roots is sp.S.EmptySet:  # the same branch, or no switch
            continue
        if not isinstance(roots, sp.FiniteSet):
            return None
        points |= {x for x in roots if x.is_real}
    return points


def _smooth_at(expr: sp.Expr, at: sp.Expr, degree: int) -> tuple[bool | None, str]:
    """Whether ``expr`` is C^degree at ``at``: on each side, its piecewise parts resolved to
    the branch they take just beside ``at`` (:func:`_branch`), the limit of each derivative."""
    where = _num(at)
    sides = {side: _branch(expr, at + side * _BESIDE) for side in (1, -1)}
    for j in range(degree + 1):
        name = _PRIMES.get(j, f"T^({j})")
        try:
            right, left = (
                sp.limit(sp.diff(branch, P, j).xreplace({P: at + side * _X}), _X, 0, "+")
                for side, branch in sides.items()
            )
        except (NotImplementedError, ValueError, TypeError) as exc:
            return None, f"the limit of {name} at p = {where} is undecided ({type(exc).__name__})"
        if any(not v.is_number or v.has(sp.AccumBounds) for v in (right, left)):
            return None, f"the limit of {name} at p = {where} is undecided"
        if not (right.is_finite and left.is_finite):
            return False, f"{name} is unbounded at p = {where}"
        difference = sp.simplify(right - left)
        if difference.is_zero is False:
            return False, f"{name} jumps from {_num(left)} to {_num(right)} at p = {where}"
        if difference.is_zero is None:
            return None, f"whether {name} is continuous at p = {where} is undecided"
    return True, ""


#: How far beside a point :func:`_branch` reads which branch each piecewise part takes.
_BESIDE = sp.Rational(1, 10**40)


def _branch(expr: sp.Expr, x: sp.Expr) -> sp.Expr:
    """``expr`` with each ``Abs``, ``sign``, ``Max``, ``Min`` and ``Piecewise`` replaced by
    the branch it takes at ``x`` (evaluated in 80 digits): an analytic expression there."""

    def value(e: sp.Expr) -> sp.Expr:
        return e.xreplace({P: x}).evalf(80)

    def pick(f: sp.Expr) -> sp.Expr:
        if isinstance(f, sp.Piecewise):
            return next((e for e, c in f.args if bool(c.xreplace({P: x}))), f)
        if isinstance(f, (sp.Max, sp.Min)):
            values = [value(a) for a in f.args]
            best = max(values) if isinstance(f, sp.Max) else min(values)
            return f.args[values.index(best)]
        u = f.args[0]
        sign = sp.sign(value(u))
        return sign * u if isinstance(f, sp.Abs) else sign

    return expr.replace(
        lambda e: isinstance(e, (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Piecewise)), pick
    )


def _num(x: sp.Expr) -> str:
    return sp.sstr(x) if x.is_Rational and abs(x) < 1000 else f"{float(x):.3g}"
