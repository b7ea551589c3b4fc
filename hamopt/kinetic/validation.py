r"""Validation of kinetic energies.

A kinetic energy of a conformal Hamiltonian optimizer must

1. depend on the momentum ``p`` and its declared parameters only (not on ``q``);
2. be even, :math:`T(-p) = T(p)`;
3. have a finite, real velocity :math:`\nabla T(p)` (and a finite energy) for every finite ``p``;
4. be convex, :math:`T'' \ge 0`.

(2) and (4) make :math:`p \cdot \nabla T(p) \ge 0`, the condition for energy dissipation
:math:`dH/dt = -r\, p \cdot \nabla T(p) \le 0`. Each check is symbolic where SymPy can decide
and otherwise numeric on sample grids (three scales, each parameter at several valid values).
Each failure raises :class:`ValueError` naming the energy and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import mpmath
import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.functions.elementary.piecewise import ExprCondPair

from hamopt.codegen.inplace import UNARY
from hamopt.kinetic.energy import KineticEnergy, lambdify_numpy
from hamopt.parameters import Parameter
from hamopt.symbols import p as P
from hamopt.symbols import s

__all__ = ["choose_velocity", "in_pairs", "validate_kinetic"]

#: Uniform grids on three scales; an odd count keeps ``p = 0`` on each grid.
GRIDS = tuple(np.linspace(-scale, scale, 401) for scale in (1e-3, 1.0, 1e3))
#: For convexity also a geometric grid of p > 0 (T is even by then), 0.8 % apart from 1e-4 to
#: 1e4, its points off round numbers: a concave kink between the uniform grids' points (where
#: ``Min(|p|, p**2)`` turns from slope 2 to slope 1) lies inside one of its cells.
KINK_GRID = np.geomspace(1e-4, 1e4, 2401) * (1 + 1e-3 / np.pi)
_EPS = np.finfo(float).eps
_SYMBOLIC_OPS_LIMIT = 40
_CONFIRMED = 16  # flagged second differences re-evaluated in 40 digits, the worst first
#: The functions an energy may use: the element-wise ones the code printers write (the in-place
#: planner's table, whose torch calls every path prints), and Max, Min and Piecewise.
_KNOWN = frozenset({f.__name__ for f in UNARY} | {"Max", "Min", "Piecewise"})
#: What an energy's expression may be built of: numbers, symbols, sums, products, powers,
#: functions (those of _KNOWN, checked apart) and a Piecewise's conditions.
_PARTS = (
    sp.Symbol,
    sp.Number,
    sp.NumberSymbol,
    sp.Add,
    sp.Mul,
    sp.Pow,
    sp.Function,
    sp.Max,
    sp.Min,
    ExprCondPair,
    sp.logic.boolalg.Boolean,
)
#: What SymPy's limit raises where it cannot take one (RecursionError: the norm-coupled Huber's
#: velocity factor at s = 0 recurses without end).
_LIMIT_ERRORS = (NotImplementedError, ValueError, TypeError, RecursionError)


def validate_kinetic(energy: KineticEnergy) -> None:
    """Run every check; raise :class:`ValueError` at the first failure."""
    check_symbols(energy)
    check_even(energy)
    check_finite_velocity(energy)
    check_convex(energy)


def check_symbols(energy: KineticEnergy) -> None:
    """T depends on ``p`` and the declared parameters only, through known functions."""
    expr = energy.expr
    declared = {prm.name for prm in energy.params}
    extra = sorted({sym.name for sym in expr.free_symbols} - declared - {"p"})
    if "q" in extra:
        raise ValueError(
            f"kinetic energy {energy.name} depends on q: a kinetic energy is a function of "
            "the momentum p only (a position-dependent mass belongs to a closure)"
        )
    if extra:
        raise ValueError(
            f"kinetic energy {energy.name} depends on undeclared symbol(s) {', '.join(extra)}; "
            f"T may depend only on p and its declared parameters {sorted(declared)}"
        )
    undefined = sorted(str(f.func) for f in expr.atoms(AppliedUndef))
    if undefined:
        raise ValueError(
            f"kinetic energy {energy.name} uses undefined function(s) {', '.join(undefined)}"
        )
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ValueError(
            f"kinetic energy {energy.name} = {expr} holds an infinite or undefined constant"
        )
    foreign = sorted(_foreign_parts(expr))
    if foreign:  # a Sum, Product, Integral, Derivative…: no printer writes it as code
        raise ValueError(
            f"kinetic energy {energy.name} holds {', '.join(foreign)}, which hamopt does not "
            "write as code: write it out (a sum of terms, an explicit antiderivative); an energy "
            f"is built of numbers, p and its parameters, + * **, and {', '.join(sorted(_KNOWN))}"
        )
    unknown = sorted({type(f).__name__ for f in expr.atoms(sp.Function)} - _KNOWN)
    if unknown:
        raise ValueError(
            f"kinetic energy {energy.name} uses {', '.join(unknown)}, which hamopt does not "
            f"write as code; an energy may use {', '.join(sorted(_KNOWN))} and powers"
        )
    if P not in expr.free_symbols:
        raise ValueError(f"kinetic energy {energy.name} does not depend on p")


def _foreign_parts(expr: sp.Basic) -> set[str]:
    """The names of the outermost parts of ``expr`` that are none of :data:`_PARTS`."""
    if isinstance(expr, _PARTS):
        return set().union(*(_foreign_parts(a) for a in expr.args))
    return {type(expr).__name__}


def check_even(energy: KineticEnergy) -> None:
    """:math:`T(-p) = T(p)`: symbolically, else on the sample grids."""
    diff = energy.expr.xreplace({P: -P}) - energy.expr
    if diff == 0 or (sp.count_ops(diff) <= _SYMBOLIC_OPS_LIMIT and sp.simplify(diff) == 0):
        return
    for tau, _, values in _numeric(energy, particle_view=True):
        for x in GRIDS:
            a, b = tau(x), tau(-x)
            with np.errstate(invalid="ignore"):
                bad = np.abs(a - b) > 1e-12 * (1 + np.abs(a))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(
                    f"kinetic energy {energy.name}, T(p) = {energy.expr}, is not even in p: "
                    f"T({x[i]:.4g}) = {a[i]:.10g} but T({-x[i]:.4g}) = {b[i]:.10g} (they "
                    f"differ by {a[i] - b[i]:.3g}){values}"
                )


def check_finite_velocity(energy: KineticEnergy) -> None:
    r"""T and :math:`\nabla T` are finite and real at every grid point (``p = 0`` included)."""
    arg = P if energy.coupling == "particle" else s
    base = energy.expr if energy.coupling == "particle" else energy.radial
    points = list(_parameter_points(energy.params))
    for (tau, dtau, values), point in zip(
        _numeric(energy, particle_view=False), points, strict=True
    ):
        for x in GRIDS:
            at = x if energy.coupling == "particle" else x * x
            for what, fn, expr in (("energy", tau, base), ("velocity", dtau, energy.velocity_expr)):
                y = fn(at)
                bad = np.flatnonzero(~np.isfinite(y))
                # the three nearest p = 0 first: a pole at finite p lies inward of where a
                # fast-growing energy overflows (cosh² at |p| = 1e3 beside exp(1/p²) at 0)
                for i in bad[np.argsort(np.abs(x[bad]), kind="stable")][:3]:
                    try:
                        infinite = _really_infinite(expr, arg, float(x[i]), point, energy.params)
                    except (OverflowError, MemoryError, RecursionError) as error:
                        raise ValueError(  # exp(exp(exp(p**2)))
                            f"kinetic energy {energy.name}: {expr} cannot be evaluated at "
                            f"p = {x[i]:.4g}, even in exact arithmetic ({type(error).__name__}): "
                            "it grows too fast for an optimizer's step"
                        ) from None
                    if infinite:
                        raise ValueError(
                            f"kinetic energy {energy.name}: its {what} {expr} is not finite "
                            f"for finite p: {y[i]} at p = {x[i]:.4g}{values}"
                            + (_PRINCIPAL_ROOT if x[i] < 0 and _has_a_root_of(arg, expr) else "")
                        )


_PRINCIPAL_ROOT = (
    " (SymPy's p**(1/3) and cbrt(p) are the complex principal root, not real for p < 0: write "
    "the real root sp.real_root(p, 3), or sign(p)*Abs(p)**(1/3))"
)


def _has_a_root_of(arg: sp.Symbol, expr: sp.Expr) -> bool:
    """Whether ``expr`` raises something that depends on ``arg`` to a non-integer rational
    power, other than ``Abs``: a root that is complex for negative arguments."""
    return any(
        isinstance(e, sp.Pow)
        and e.exp.is_Rational
        and not e.exp.is_Integer
        and e.base.has(arg)
        and not isinstance(e.base, sp.Abs)
        for e in sp.preorder_traversal(expr)
    )


def check_convex(energy: KineticEnergy) -> None:
    r""":math:`T'' \ge 0`: symbolically, else by second differences on the sample grids.

    For norm coupling :math:`T = f(\lVert p \rVert)` with even ``f``, convexity of ``f`` on
    the real line is equivalent to convexity of ``T`` on every group size. SymPy differentiates
    a Piecewise branch by branch, so its :math:`T'' \ge 0` says nothing of the branches'
    meeting points: a kink that turns down (:math:`p^2/2` to the constant 1/2 at
    :math:`\lvert p\rvert = 1`) or a jump of T. Such an energy takes the grids' second
    differences, which see both.
    """
    second = sp.diff(energy.expr, P, 2)
    verdict = _sign_of(second)
    if verdict is True and not energy.expr.has(sp.Piecewise):
        return  # a Piecewise's T'' is taken branch by branch, blind to a kink or a jump
    exact = sp.lambdify([P, *(prm.symbol for prm in energy.params)], energy.expr, "mpmath")
    points = list(_parameter_points(energy.params))
    for (tau, _, values), point in zip(_numeric(energy, particle_view=True), points, strict=True):
        at = [point[prm.name] for prm in energy.params]
        for x in (*GRIDS, KINK_GRID):
            y = tau(x)
            y[~np.isfinite(y)] = np.nan  # overflow (cosh(1000)): no verdict there
            with np.errstate(over="ignore", invalid="ignore"):  # near float64's largest
                d2 = _second_difference(x[:-2], x[1:-1], x[2:], y[:-2], y[1:-1], y[2:])
            size = np.abs(y)
            if x is KINK_GRID:  # |T| spans 1e-8 to 1e8 for p²: the three points' rounding
                tol = 64 * _EPS * np.fmax(np.fmax(size[:-2], size[1:-1]), size[2:])
            else:  # the rounding of the grid's largest |T| (none where all overflow)
                tol = 64 * _EPS * np.max(size, initial=0.0, where=~np.isnan(size))
            with np.errstate(invalid="ignore"):
                concave = d2 < -tol
            flagged = np.flatnonzero(concave)
            flagged = flagged[np.argsort(d2[flagged])][:_CONFIRMED]  # the worst first
            confirmed = [j for j in flagged if _concave_exactly(exact, x[j : j + 3], at)]
            if confirmed:
                i = int(confirmed[0]) + 1
                raise ValueError(
                    f"kinetic energy {energy.name}, T(p) = {energy.expr}, is not convex in p: "
                    f"second difference {d2[i - 1]:.3g} < 0 near p = {x[i]:.4g}{values}"
                )
    if verdict is False:  # SymPy proved T'' < 0 somewhere the grids missed
        raise ValueError(
            f"kinetic energy {energy.name}, T(p) = {energy.expr}, is not convex in p: "
            f"T''(p) = {second} is negative"
        )


def choose_velocity(energy: KineticEnergy) -> sp.Expr:
    r"""The velocity form used downstream: the given closed form (checked against the
    derivative) or the simplest form of the derivative that stays finite at ``p = 0``.

    Per particle it is :math:`\tau'(p)`; norm-coupled it is :math:`2F'(s)`.
    """
    if energy.coupling == "particle":
        arg, derivative, grid = P, sp.diff(in_pairs(energy.expr), P), np.concatenate(GRIDS)
    else:
        arg, grid = s, np.concatenate(GRIDS) ** 2
        derivative = 2 * sp.diff(in_pairs(energy.radial), s)
    # sign(p)' = 2δ(p): in a continuous T its terms vanish (p·δ(p) of (sign(p)·p)' = |p|')
    derivative = derivative.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    derivative = _even_powers_unsigned(derivative, arg)
    given = energy._given_velocity
    if given is not None:
        if not _same_function(energy, arg, given, derivative, grid):
            raise ValueError(
                f"the velocity given for {energy.name}, {given}, is not the derivative of T "
                f"({derivative})"
            )
        return given
    candidates = [
        derivative,
        sp.powsimp(derivative, force=True),
        sp.simplify(derivative),
        _signs_folded(derivative, arg),  # the same function where arg ≠ 0
    ]
    # finite on the whole grid first; else where the energy is finite in float64 (|p|^a at
    # the sample a = 1000 overflows at p = 1000 in every form, and its 0/0 at p = 0 is what
    # matters: tanh(p) stays preferred to sinh(p)/cosh(p), whose inf/inf the energy shares)
    for strict in (True, False):
        for cand in candidates:
            if _same_function(energy, arg, cand, derivative, grid) and _finite_on(
                energy, arg, cand, grid, strict
            ):
                return cand
        for cand in candidates:  # none finite at arg = 0: its limit there, where it has one
            limited = _limit_at_zero(cand, arg)
            if limited is not None and _finite_on(energy, arg, limited, grid, strict):
                return limited
        if energy.coupling == "norm":  # a factor without a limit, whose velocity has one
            for cand in candidates:
                vanishing = _vanishing_at_rest(cand)
                if vanishing is not None and _finite_on(energy, arg, vanishing, grid, strict):
                    return vanishing
    return derivative


def _vanishing_at_rest(factor: sp.Expr) -> sp.Expr | None:
    r"""A norm-coupled velocity factor :math:`2F'(s)` that is infinite at :math:`s = 0` while
    the velocity :math:`2F'(s)\,p`, of magnitude :math:`2F'(s)\sqrt s`, tends to 0 there, with
    the value 0 at :math:`s = 0` (any finite value times :math:`p = 0` is the limit):
    :math:`\tfrac34\lVert p\rVert^{4/3}` has the factor :math:`s^{-1/3}` and the velocity
    :math:`\lVert p\rVert^{-2/3} p \to 0`. None where the velocity does not tend to 0."""
    try:
        at_rest = sp.limit(factor * sp.sqrt(s), s, 0, "+")
    except _LIMIT_ERRORS:
        return None
    if at_rest != 0:
        return None
    return sp.Piecewise((0, sp.Eq(s, 0)), (factor, True))


def _limit_at_zero(expr: sp.Expr, x: sp.Symbol) -> sp.Expr | None:
    r"""``expr`` with its value at :math:`x = 0` taken as its limit there, where that limit is
    finite and the same from both sides: :math:`\tanh(\sqrt s)/\sqrt s`, the velocity factor of
    the norm-coupled :math:`\log\cosh\lVert p\rVert`, is 0/0 at :math:`s = 0` and tends to 1.
    A Piecewise the printers write as a switch (``torch.where``, ``?:``); None where there is no
    such limit."""
    sides = ("+",) if x.is_nonnegative else ("+", "-")
    try:
        limits = {sp.limit(expr, x, 0, side) for side in sides}
    except _LIMIT_ERRORS:
        return None
    if len(limits) != 1:
        return None
    (value,) = limits
    if not (value.is_finite and value.is_real):
        return None
    return sp.Piecewise((value, sp.Eq(x, 0)), (expr, True))


def _even_powers_unsigned(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    r"""``expr`` with each :math:`\operatorname{sign}(x)\,x^{2k}` written :math:`|x|\,x^{2k-1}`,
    the same function of a real :math:`x` (0 at 0), so that the terms it meets combine:
    SymPy writes :math:`|p|^3` as :math:`p^2|p|`, whose derivative comes out as
    :math:`p^2 \operatorname{sign}(p) + 2p|p|`, two terms (and two full-size products a step
    in the generated code) for :math:`3p|p|`."""

    def even(e: sp.Expr) -> bool:
        return e.is_Pow and e.base == x and e.exp.is_Integer and e.exp > 0 and e.exp % 2 == 0

    def unsigned(term: sp.Expr) -> sp.Expr:
        factors = list(term.args)
        at = factors.index(sp.sign(x))
        power = next(f for f in factors if even(f))
        factors[at] = sp.Abs(x)
        factors[factors.index(power)] = x ** (power.exp - 1)
        return sp.Mul(*factors)

    return expr.replace(
        lambda e: e.is_Mul and sp.sign(x) in e.args and any(even(f) for f in e.args), unsigned
    )


def _signs_folded(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    r"""``expr`` with each bare :math:`x` written :math:`\operatorname{sign}(x)\,|x|` and the
    powers of :math:`\operatorname{sign}(x)` reduced (:math:`\operatorname{sign}^2 = 1` where
    :math:`x \ne 0`), so that the powers of :math:`|x|` combine. The velocity of
    :math:`x \sqrt[3]{x}` (the real root, :math:`\operatorname{sign}(x)|x|^{1/3}`) comes out of
    SymPy as :math:`x \operatorname{sign}(x)^2/(3|x|^{2/3}) + \dots`, 0/0 at :math:`x = 0`;
    folded, :math:`\tfrac43 \operatorname{sign}(x)|x|^{1/3}`, its limit there. The same
    function wherever :math:`x \ne 0` (the caller checks it on a grid)."""
    magnitude, sign = sp.Dummy("magnitude", nonnegative=True), sp.Dummy("sign")
    held = expr.xreplace({sp.Abs(x): magnitude, sp.sign(x): sign}).xreplace({x: sign * magnitude})
    held = held.replace(
        lambda e: e.is_Pow and e.base == sign and e.exp.is_Integer and e.exp > 1,
        lambda e: sign ** (int(e.exp) % 2),
    )
    return held.xreplace({magnitude: sp.Abs(x), sign: sp.sign(x)})


def in_pairs(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with each Max (Min) of three or more arguments written through Max (Min) of two.

    :math:`\max(a, b, …) = \tfrac12\,(a + m + |a - m|)` with :math:`m = \max(b, …)`, the
    same function, differentiated as a chain of two-way choices. SymPy differentiates a Max
    of :math:`n` arguments as :math:`\sum_k a_k' H(a_k - \max_{j \ne k} a_j)`: where three
    arguments meet (as :math:`p^2`, :math:`2|p| - 1` and :math:`|p|^{3/2}` do at
    :math:`|p| = 1`) its steps read :math:`H(0) = 1/2` three times and the weights sum to 3/2,
    a velocity outside the energy's subdifferential; next to such a point, rounding can make
    them sum to 0, 1 or 2, in one order of evaluation and not in another. Each two-way choice
    weighs its two branches by :math:`(1 \pm \operatorname{sign}(a - m))/2`, which sum to 1
    at every point and in every rounding; where arguments meet, the velocity is an average
    of their derivatives, inside the subdifferential. Two-argument Max and Min stay as they
    are: their :math:`H(a - b)` and :math:`H(b - a)` already sum to 1.

    >>> from hamopt.symbols import p
    >>> in_pairs(sp.Max(p**2, p**4, sp.Abs(p)))
    Abs(p)/2 + Abs(Abs(p) - Max(p**2, p**4))/2 + Max(p**2, p**4)/2
    """

    def pair(e: sp.Expr) -> sp.Expr:
        first, rest = e.args[0], e.func(*e.args[1:])
        rest = pair(rest) if len(rest.args) > 2 else rest
        larger = 1 if isinstance(e, sp.Max) else -1
        return (first + rest + larger * sp.Abs(first - rest)) / 2

    return expr.replace(lambda e: isinstance(e, (sp.Max, sp.Min)) and len(e.args) > 2, pair)


# -- helpers ------------------------------------------------------------------------------------
def _sign_of(expr: sp.Expr) -> bool | None:
    """True if provably >= 0, False if provably < 0, None if undecided."""
    if sp.count_ops(expr) > _SYMBOLIC_OPS_LIMIT:
        return None
    if expr.is_nonnegative:
        return True
    if expr.has(sp.Abs, sp.sign, sp.DiracDelta, sp.Heaviside):
        return None
    simple = sp.simplify(expr)
    if simple.is_nonnegative:
        return True
    if simple.is_negative:
        return False
    return None


def _parameter_points(params: Sequence[Parameter]) -> Iterator[dict[str, float]]:
    """Defaults, then each parameter moved to its other sample values in turn."""
    base = {prm.name: prm.samples()[0] for prm in params}
    yield base
    for prm in params:
        for v in prm.samples()[1:]:
            yield {**base, prm.name: v}


def _numeric(energy: KineticEnergy, particle_view: bool):
    """Yield ``(T, velocity, description)`` NumPy functions for each parameter point.

    ``particle_view`` gives ``f(p)`` for norm coupling (a function on the real line) instead
    of ``(F(s), 2F'(s))``.
    """
    syms = [prm.symbol for prm in energy.params]
    if energy.coupling == "particle":
        tau = _np_function(P, syms, energy.expr)
        dtau = _np_function(P, syms, energy.velocity_expr)
    elif particle_view:
        tau = _np_function(P, syms, energy.expr)
        dtau = _np_function(P, syms, sp.diff(energy.expr, P))
    else:
        tau = _np_function(s, syms, energy.radial)
        dtau = _np_function(s, syms, energy.velocity_expr)
    base = {prm.name: prm.samples()[0] for prm in energy.params}
    for point in _parameter_points(energy.params):
        vals = [point[prm.name] for prm in energy.params]
        text = f" (parameters {point})" if point else ""
        moved = next((prm for prm in energy.params if point[prm.name] != base[prm.name]), None)
        if moved is not None:
            text += (
                f"; {moved.name} may take any value in {moved.range_text()}: if the energy is "
                f"meant for fewer, declare its interval (min and max under "
                f"[kinetic.params.{moved.name}] in a spec file, or hamopt.parameters.in_range)"
            )
        yield partial(tau, params=vals), partial(dtau, params=vals), text


def _second_difference(x0, x1, x2, y0, y1, y2):
    r"""The second difference of ``y`` over the points ``x0 < x1 < x2`` (numbers, or arrays of
    consecutive triples), in units of the mean spacing:
    :math:`\frac{(x_2 - x_1) y_0 - (x_2 - x_0) y_1 + (x_1 - x_0) y_2}{(x_2 - x_0)/2}`, negative
    exactly where the slope falls (:math:`y_0 - 2 y_1 + y_2` on a uniform grid)."""
    return ((x2 - x1) * y0 - (x2 - x0) * y1 + (x1 - x0) * y2) / ((x2 - x0) / 2)


def _concave_exactly(exact, x: np.ndarray, params: list[float]) -> bool:
    r"""Whether T's second difference over the three points ``x`` is negative in 40-digit
    arithmetic (mpmath), well beyond its rounding: the float64 one flags rounding as
    concavity where T cancels, such as :math:`|p| - \epsilon\log(1 + |p|/\epsilon)` at large
    ε. Where mpmath cannot evaluate T, the float64 verdict stands (True)."""
    try:
        with mpmath.workdps(40):
            at = [mpmath.mpf(float(v)) for v in x]
            y = [exact(v, *(mpmath.mpf(float(a)) for a in params)) for v in at]
            if not all(isinstance(v, mpmath.mpf) and mpmath.isfinite(v) for v in y):
                return True
            d2 = _second_difference(*at, *y)
            return bool(d2 < -(mpmath.mpf(10) ** -30) * max(abs(v) for v in y))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return True


def _np_function(arg: sp.Symbol, params: list[sp.Symbol], expr: sp.Expr):
    """``f(x, params=[...])``: ``expr`` as a NumPy function, non-real values as NaN."""
    fn = lambdify_numpy([arg, *params], expr.xreplace({sp.zoo: sp.oo}))  # zoo: unprintable

    def call(x: np.ndarray, params: list[float]) -> np.ndarray:
        params = [np.float64(v) for v in params]  # ε**ε at ε = 1000: inf, not OverflowError
        with np.errstate(all="ignore"):
            y = np.asarray(fn(x, *params))
        if np.iscomplexobj(y):
            y = np.where(np.abs(y.imag) > 0, np.nan, y.real)
        return np.broadcast_to(y.astype(float), np.shape(x)).copy()

    return call


def _same_function(energy, arg, a: sp.Expr, b: sp.Expr, grid: np.ndarray) -> bool:
    """``a == b`` wherever ``b`` is finite, at every parameter point."""
    syms = [prm.symbol for prm in energy.params]
    fa, fb = _np_function(arg, syms, a), _np_function(arg, syms, b)
    for point in _parameter_points(energy.params):
        vals = [point[prm.name] for prm in energy.params]
        ya, yb = fa(grid, vals), fb(grid, vals)
        ok = np.isfinite(yb)
        if not np.allclose(ya[ok], yb[ok], rtol=1e-9, atol=1e-12):
            return False
    return True


def _finite_on(energy, arg, expr: sp.Expr, grid: np.ndarray, strict: bool = True) -> bool:
    """``expr`` is finite on ``grid`` at every parameter point; not ``strict``: wherever the
    energy itself is, in float64 (where T overflows, as |p|^1001/1001 at p = 1000, its
    velocity may too)."""
    syms = [prm.symbol for prm in energy.params]
    fn = _np_function(arg, syms, expr)
    energy_fn = _np_function(arg, syms, energy.expr if arg == P else energy.radial)
    for point in _parameter_points(energy.params):
        values = [point[prm.name] for prm in energy.params]
        finite = np.isfinite(fn(grid, values))
        if not strict:
            finite |= ~np.isfinite(energy_fn(grid, values))  # not judged where T overflows
        if not finite.all():
            return False
    return True


def _really_infinite(
    expr: sp.Expr, arg: sp.Symbol, x: float, point: dict[str, float], params: Sequence[Parameter]
) -> bool:
    """Confirm a non-finite float result in exact arithmetic (floats overflow: cosh(1000));
    an expression too large even there raises mpmath's OverflowError (or runs out of memory)."""
    vals = {prm.symbol: sp.Float(point[prm.name]) for prm in params}
    at = sp.Float(x) if arg == P else sp.Float(x) ** 2
    value = expr.xreplace(vals).xreplace({arg: at}).evalf(30)
    return not (value.is_finite and value.is_real)
