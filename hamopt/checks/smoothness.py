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

__all__ = ["smooth_at_zero"]

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
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    expr = kinetic.expr.xreplace(
        {sym: sp.nsimplify(val, rational=True) for sym, val in kinetic.values(values).items()}
    )
    if kinetic.coupling == "norm":
        expr = expr.xreplace({P: sp.Abs(P)})
    for j in range(degree + 1):
        derivative = sp.diff(expr, P, j)
        name = _PRIMES.get(j, f"T^({j})")
        try:
            right, left = (
                sp.limit(derivative.xreplace({P: sign * _X}), _X, 0, "+") for sign in (1, -1)
            )
        except (NotImplementedError, ValueError, TypeError) as exc:
            return None, f"the limit of {name} at p = 0 is undecided ({type(exc).__name__})"
        if any(not v.is_number or v.has(sp.AccumBounds) for v in (right, left)):
            return None, f"the limit of {name} at p = 0 is undecided"
        if not (right.is_finite and left.is_finite):
            return False, f"{name} is unbounded at p = 0"
        difference = sp.simplify(right - left)
        if difference.is_zero is False:
            return False, f"{name} jumps from {_num(left)} to {_num(right)} at p = 0"
        if difference.is_zero is None:
            return None, f"whether {name} is continuous at p = 0 is undecided"
    return True, ""


def _num(x: sp.Expr) -> str:
    return sp.sstr(x) if x.is_Rational and abs(x) < 1000 else f"{float(x):.3g}"
