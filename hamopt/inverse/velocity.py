r"""Inverse design: the kinetic energy behind a velocity map.

An optimizer of the library moves each coordinate with the velocity :math:`v = \nabla T(p)` of
its kinetic energy. Given :math:`v`, :func:`identify` recovers :math:`T` and certifies that it is
a kinetic energy the library can derive an optimizer from:

* **per particle** (``coupling="particle"``): :math:`v(p)` of one coordinate;
  :math:`T(p) = \int_0^{|p|} v(x)\,dx`, which is even by construction and equals
  :math:`\int_0^p v` exactly when :math:`v` is **odd**;
* **norm-coupled** (``coupling="norm"``): the speed :math:`w(r)` along the ray at
  :math:`r = \lVert p\rVert` (``p`` stands for the norm), :math:`v(p) = w(\lVert p\rVert)\,p/\lVert p\rVert`;
  :math:`T(p) = \int_0^{\lVert p\rVert} w(r)\,dr`;
* **a vector map** (a list of expressions in ``p1 … pn``): integrable when its Jacobian is
  **symmetric**; then :math:`T(p) = \int_0^1 v(tp)\cdot p\,dt`, and the map is reduced to one
  of the two forms above (separable, or radial: :math:`p_i v_j = p_j v_i`), the forms hamopt
  generates.

Certified, each symbolically where SymPy decides and else on sample grids (three scales, the
parameters at several values), and each failure a ``ValueError`` naming the reason:
oddness (:math:`v(-p) = -v(p)`, so :math:`T` is even), finiteness for finite :math:`p`,
monotonicity (:math:`v' \ge 0`: :math:`T` convex; for the norm form also :math:`w \ge 0`),
integrability of vector maps, and the round trip :math:`T' = v`. The result is a
:class:`~hamopt.kinetic.KineticEnergy` (validated once more on construction), ready for
:func:`hamopt.derive`, and the library family it matches, fitted numerically
(:mod:`hamopt.inverse.families`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from hamopt.inverse.families import Fit, fit
from hamopt.kinetic.energy import KineticEnergy
from hamopt.kinetic.validation import (
    GRIDS,
    _np_function,
    _parameter_points,
    _really_infinite,
    _sign_of,
)
from hamopt.parameters import Parameter, positive, unused_parameters
from hamopt.symbols import p as P

__all__ = ["MATCH_TOLERANCE", "Certificate", "Identification", "identify", "unused_parameters"]

#: Largest relative error at which a fitted library family counts as a match.
MATCH_TOLERANCE = 1e-8
#: Momenta at which the family fit samples the velocity: ±10^-12 … 10^4.
FIT_GRID = np.concatenate([-np.geomspace(1e-12, 1e4, 161)[::-1], np.geomspace(1e-12, 1e4, 161)])


@dataclass(frozen=True)
class Certificate:
    """One certified property: what, how (``"symbolic"`` or ``"numeric"``), and the detail."""

    property: str
    how: str
    detail: str

    def __str__(self) -> str:
        return f"{self.property}: {self.how} ({self.detail})"


@dataclass(frozen=True)
class Identification:
    """What :func:`identify` found."""

    velocity: sp.Expr  # v(p), or w(r) in p for the norm form
    energy: KineticEnergy  # T with T(0) = 0
    certificates: tuple[Certificate, ...]
    fits: tuple[Fit, ...]  # every library family, best first

    @property
    def match(self) -> Fit | None:
        """The best library family if it fits within :data:`MATCH_TOLERANCE`."""
        return self.fits[0] if self.fits and self.fits[0].residual <= MATCH_TOLERANCE else None

    def summary(self) -> str:
        lines = [f"velocity  v = {self.velocity}", f"energy    {self.energy!r}"]
        lines += [f"  {c}" for c in self.certificates]
        m = self.match
        lines.append(f"library   {m}" if m else f"library   none (closest: {self.fits[0]})")
        return "\n".join(lines)


def identify(
    velocity: str | sp.Expr | Sequence[str | sp.Expr],
    params: Sequence[str | Parameter] = (),
    *,
    coupling: str = "particle",
    scope: str = "tensor",
    name: str = "identified",
    values: Mapping[str, float] | None = None,
) -> Identification:
    """The kinetic energy whose velocity is ``velocity`` (see the module docstring).

    ``velocity`` is text (parsed safely, in ``p`` and ``params``), a SymPy expression, or a
    sequence of them in ``p1 … pn`` for a vector map. ``params`` are names (positive
    parameters) or :class:`~hamopt.parameters.Parameter` objects (their ranges and samples are
    used). ``values`` fixes parameter values for the family fit (default: each parameter's
    first sample value).

    >>> identify("tanh(p)").energy
    KineticEnergy(identified: log(cosh(p)))
    >>> identify("p*exp(-p**2)")
    Traceback (most recent call last):
    ...
    ValueError: velocity p*exp(-p**2) is not monotone: v(-1) = -0.3679 > v(-0.995) = -0.3697; it is not the gradient of a convex T
    """
    if coupling not in ("particle", "norm"):
        raise ValueError(f"coupling must be 'particle' or 'norm', got {coupling!r}")
    if isinstance(velocity, (list, tuple)):
        if coupling != "particle":
            raise ValueError("a vector map finds its own coupling; do not pass coupling")
        return _identify_vector(
            velocity, _parameters(params), scope=scope, name=name, values=values
        )
    v, syms = _expression(velocity, params)
    return _identify_scalar(v, syms, coupling=coupling, scope=scope, name=name, values=values)


# -- scalar maps --------------------------------------------------------------------------------
def _identify_scalar(v, syms, *, coupling, scope, name, values) -> Identification:
    certs = []
    if coupling == "particle":
        certs.append(_check_odd(v, syms))
    certs.append(_check_finite(v, syms, nonnegative_only=coupling == "norm"))
    certs.append(_check_monotone(v, syms, nonnegative_only=coupling == "norm"))
    if coupling == "norm":
        certs.append(_check_nonnegative(v, syms))
    energy_expr, how = _integrate(v, syms)
    certs.append(_round_trip(energy_expr, v, syms, how))
    energy = KineticEnergy(
        energy_expr,
        syms,
        name=name,
        coupling=coupling,
        scope=scope,
        velocity=v if coupling == "particle" else None,
    )
    return Identification(v, energy, tuple(certs), tuple(_fits(v, syms, values, coupling)))


def _parameters(params) -> list[Parameter]:
    if isinstance(params, str):
        raise TypeError("params must be a sequence of names or Parameters, not one str")
    out = [prm if isinstance(prm, Parameter) else positive(str(prm)) for prm in params]
    names = [prm.name for prm in out]
    if len(set(names)) != len(names):
        raise ValueError(f"parameter names repeat: {names}")
    return out


def _expression(velocity, params) -> tuple[sp.Expr, list[Parameter]]:
    from hamopt.parse import parse_velocity

    prms = _parameters(params)
    canon = {"p": P, **{prm.name: prm.symbol for prm in prms}}
    if isinstance(velocity, str):
        expr = parse_velocity(velocity, [prm.name for prm in prms])
    elif isinstance(velocity, sp.Expr):
        expr = velocity
    else:
        raise TypeError(
            f"velocity must be text or a SymPy expression, got {type(velocity).__name__}"
        )
    expr = expr.xreplace({s: canon[s.name] for s in expr.free_symbols if s.name in canon})
    syms = [prm.symbol for prm in prms]
    extra = sorted(s.name for s in expr.free_symbols - {P, *syms})
    if extra:
        raise ValueError(
            f"velocity {expr} uses undeclared symbol(s) {extra}; declare them in params"
        )
    if P not in expr.free_symbols:
        raise ValueError(f"velocity {expr} does not depend on p")
    unused = unused_parameters([expr], [prm.name for prm in prms])
    if unused:
        raise ValueError(f"velocity {expr} does not use the declared parameter(s) {unused}")
    return expr, prms


def _points(prms) -> list[dict[str, float]]:
    """The validation's parameter points (by name): first samples, then each moved in turn."""
    return list(_parameter_points(prms))


def _numeric(expr, prms):
    """``f(x, point)``: ``expr`` in ``p`` as the validation's NumPy function (non-real → NaN)."""
    fn = _np_function(P, [prm.symbol for prm in prms], expr)
    return lambda x, point: fn(x, [point[prm.name] for prm in prms])


def _check_odd(v, syms) -> Certificate:
    diff = v.xreplace({P: -P}) + v
    if diff == 0 or (sp.count_ops(diff) <= 60 and sp.simplify(diff) == 0):
        return Certificate("odd, v(-p) = -v(p) (T even)", "symbolic", "v(-p) + v(p) = 0")
    fn = _numeric(v, syms)
    for point in _points(syms):
        for x in GRIDS:
            a, b = fn(x, point), fn(-x, point)
            bad = np.abs(a + b) > 1e-12 * (1 + np.abs(a))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(
                    f"velocity {v} is not odd: v({x[i]:.4g}) = {a[i]:.6g} but v({-x[i]:.4g}) = "
                    f"{b[i]:.6g}; an even kinetic energy has an odd velocity{_at(point)}"
                )
    return Certificate("odd, v(-p) = -v(p) (T even)", "numeric", _grid_text(syms))


def _check_finite(v, syms, nonnegative_only) -> Certificate:
    fn = _numeric(v, syms)
    for point in _points(syms):
        for x in GRIDS:
            x = np.abs(x) if nonnegative_only else x
            y = fn(x, point)
            for i in np.flatnonzero(~np.isfinite(y))[:1]:
                if _really_infinite(v, P, float(x[i]), point, syms):
                    value = v.xreplace({**_exact(point, syms), P: sp.Float(x[i])}).evalf(30)
                    raise ValueError(
                        f"velocity {v} is not finite for finite p: {value} at p = {x[i]:.4g}"
                        f"{_at(point)}"
                    )
    return Certificate("finite for finite p", "numeric", _grid_text(syms))


def _check_monotone(v, syms, nonnegative_only) -> Certificate:
    slope = sp.diff(v, P)
    if _sign_of(slope.xreplace({P: sp.Symbol("x", positive=True)})) is True and (
        nonnegative_only or _sign_of(slope) is True
    ):
        return Certificate("monotone, v' ≥ 0 (T convex)", "symbolic", f"v' = {slope}")
    fn = _numeric(v, syms)
    for point in _points(syms):
        for x in GRIDS:
            x = x[x >= 0] if nonnegative_only else x
            y = fn(x, point)
            finite = np.isfinite(y)  # where v overflows (|p|^a at a = 1000): no slope to judge
            if not finite.any():
                continue
            with np.errstate(invalid="ignore"):  # inf - inf
                dy = np.diff(y)
            tol = 64 * np.finfo(float).eps * np.max(np.abs(y[finite]))
            bad = (dy < -tol) & finite[1:] & finite[:-1]
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(
                    f"velocity {v} is not monotone: v({x[i]:.4g}) = {y[i]:.4g} > "
                    f"v({x[i + 1]:.4g}) = {y[i + 1]:.4g}{_at(point)}; it is not the gradient "
                    "of a convex T"
                )
    return Certificate("monotone, v' ≥ 0 (T convex)", "numeric", _grid_text(syms))


def _check_nonnegative(w, syms) -> Certificate:
    r = sp.Symbol("x", positive=True)
    if _sign_of(w.xreplace({P: r})) is True:
        return Certificate("w(r) ≥ 0 for r ≥ 0 (T nondecreasing in ‖p‖)", "symbolic", f"w = {w}")
    fn = _numeric(w, syms)
    for point in _points(syms):
        for x in GRIDS:
            x = x[x >= 0]
            y = fn(x, point)
            if np.any(y < 0):
                i = int(np.argmax(y < 0))
                raise ValueError(
                    f"speed {w} is negative at ‖p‖ = {x[i]:.4g} ({y[i]:.4g}): a norm-coupled "
                    f"velocity must point along p{_at(point)}"
                )
    return Certificate("w(r) ≥ 0 for r ≥ 0 (T nondecreasing in ‖p‖)", "numeric", _grid_text(syms))


def _integrate(v, syms) -> tuple[sp.Expr, str]:
    r""":math:`T(p) = \int_0^{|p|} v`, in its simplest form shown equal to the integral.

    Candidates: the library energies whose velocity pattern matches ``v`` (``tanh(βp)`` gives
    :math:`\log\cosh(\beta p)/\beta`), then simplified forms of the integral; each must equal
    the integral on the sample grids, and a library form is preferred."""
    x = sp.Symbol("x", positive=True)
    integral = sp.integrate(v.xreplace({P: x}), (x, 0, x))
    if integral.has(sp.Integral):
        raise ValueError(f"SymPy finds no closed form for the integral of v = {v} from 0 to p")
    base = integral.xreplace({x: sp.Abs(P)})
    forms = [(0, f) for f in _library_forms(v)]
    forms.append((1, base))
    for form in (sp.simplify(integral), sp.expand_log(integral, force=True)):
        forms.append((1, form.xreplace({x: sp.Abs(P)})))
        on_line = sp.simplify(form.xreplace({x: P}))
        if sp.simplify(on_line.xreplace({P: -P}) - on_line) == 0:
            forms.append((1, on_line))
    same = [(rank, f) for rank, f in forms if _equal_on_grids(f, base, syms)]
    rank, best = min(
        same, key=lambda rf: (rf[0], _tower(rf[1]), sp.count_ops(rf[1]), len(str(rf[1])))
    )
    return best, "a library energy's form, equal to ∫₀^|p| v" if rank == 0 else "∫₀^|p| v(x) dx"


def _tower(expr: sp.Expr) -> bool:
    r"""Whether ``expr`` raises a power of :math:`p` to a power of :math:`p`, such as
    ``simplify``'s :math:`\log((|p|+1)^{|p|+1})` for :math:`(|p|+1)\log(|p|+1)`: shorter,
    and infinite in floating point from :math:`|p| \approx 143` on, where the other is not."""
    return any(
        isinstance(e, sp.Pow) and e.base.has(P) and e.exp.has(P)
        for e in sp.preorder_traversal(expr)
    )


def _library_forms(v) -> list[sp.Expr]:
    """T − T(0) of every library energy whose velocity, with its parameters as wildcards,
    matches ``v`` (parameters matched to positive expressions free of p)."""
    from hamopt.kinetic import library

    out = []
    for name in library.__all__:
        energy = getattr(library, name)()
        if energy.coupling != "particle":
            continue
        wild = {prm.symbol: sp.Wild(f"{prm.name}_w", exclude=[P]) for prm in energy.params}
        found = v.match(energy.velocity_expr.xreplace(wild))
        if found is None or not all(w in found and found[w].is_positive for w in wild.values()):
            continue
        t = energy.expr.xreplace({sym: found[w] for sym, w in wild.items()})
        at_zero = sp.simplify(t.xreplace({P: 0}))
        out.append(t if at_zero == 0 else t - at_zero)
    return out


def _equal_on_grids(a, b, prms) -> bool:
    """``a == b`` on the grids; where one overflows in floats (``cosh(3000)``), compared in
    exact arithmetic at a few such points."""
    fa, fb = _numeric(a, prms), _numeric(b, prms)
    for point in _points(prms):
        for grid in GRIDS:
            ya, yb = fa(grid, point), fb(grid, point)
            ok = np.isfinite(ya) & np.isfinite(yb)
            if not np.allclose(ya[ok], yb[ok], rtol=1e-9, atol=1e-12):
                return False
            for i in np.flatnonzero(~ok)[:3]:
                at = {**_exact(point, prms), P: sp.Float(grid[i])}
                ea, eb = a.xreplace(at).evalf(30), b.xreplace(at).evalf(30)
                if not (ea.is_finite and eb.is_finite and abs(ea - eb) <= 1e-9 * (1 + abs(eb))):
                    return False
    return True


def _round_trip(energy, v, syms, how) -> Certificate:
    x = sp.Symbol("x", positive=True)
    gap = sp.diff(energy, P).xreplace({P: x}) - v.xreplace({P: x})
    if sp.count_ops(gap) <= 80 and sp.simplify(gap) == 0:
        return Certificate("round trip T' = v", "symbolic", f"T = {how}")
    dt, fn = _numeric(sp.diff(energy, P), syms), _numeric(v, syms)
    for point in _points(syms):
        for grid in GRIDS:
            grid = grid[grid > 0]
            a, b = dt(grid, point), fn(grid, point)
            ok = np.isfinite(a) & np.isfinite(b)
            if not np.allclose(a[ok], b[ok], rtol=1e-9, atol=1e-12):
                raise ValueError(f"internal: dT/dp of {energy} is not {v}{_at(point)}")
    return Certificate("round trip T' = v", "numeric", f"T = {how}; {_grid_text(syms)}")


def _fits(v, prms, values, coupling) -> list[Fit]:
    point = {prm.name: prm.validate((values or {}).get(prm.name, prm.samples()[0])) for prm in prms}
    unknown = sorted(set(values or {}) - {prm.name for prm in prms})
    if unknown:
        raise ValueError(f"values for unknown parameter(s) {unknown}")
    if coupling == "particle":
        return fit(FIT_GRID, _numeric(v, prms)(FIT_GRID, point))
    grid = FIT_GRID[FIT_GRID > 0]  # the speed along the ray, a function of ‖p‖
    return [
        replace(f, family=f"{f.family} of ‖p‖") for f in fit(grid, _numeric(v, prms)(grid, point))
    ]


def _exact(point, prms) -> dict[sp.Symbol, sp.Float]:
    return {prm.symbol: sp.Float(point[prm.name]) for prm in prms}


def _at(point) -> str:
    return f" (parameters {point})" if point else ""


def _grid_text(syms) -> str:
    n = sum(g.size for g in GRIDS)
    extra = f" × {len(_points(syms))} parameter points" if syms else ""
    return f"{n} points on 3 scales{extra}"


# -- vector maps --------------------------------------------------------------------------------
def _identify_vector(components, params, *, scope, name, values) -> Identification:
    from hamopt.parse import parse_velocity

    n = len(components)
    if n < 2:
        raise ValueError("a vector map needs at least 2 components (p1, p2, …)")
    coords = sp.symbols(f"p1:{n + 1}", real=True)
    syms = [prm.symbol for prm in params]
    names = {c.name: c for c in coords}
    v = []
    for comp in components:
        if isinstance(comp, str):
            expr = parse_velocity(comp, [prm.name for prm in params], coordinates=list(names))
        elif isinstance(comp, sp.Expr):
            expr = comp
        else:
            raise TypeError(f"vector velocity components must be text or SymPy, got {comp!r}")
        expr = expr.xreplace({s: names.get(s.name, s) for s in expr.free_symbols})
        extra = sorted(s.name for s in expr.free_symbols - set(coords) - set(syms))
        if extra:
            raise ValueError(
                f"vector velocity component {expr} uses {extra}; use p1 … p{n} and params"
            )
        v.append(expr)
    unused = unused_parameters(v, [prm.name for prm in params])
    if unused:
        raise ValueError(f"vector velocity does not use the declared parameter(s) {unused}")
    jac = sp.Matrix([[sp.diff(vi, pj) for pj in coords] for vi in v])
    asym = [
        (i, j) for i in range(n) for j in range(i + 1, n) if sp.simplify(jac[i, j] - jac[j, i]) != 0
    ]
    if asym:
        i, j = asym[0]
        raise ValueError(
            f"vector velocity is not integrable (no T has it as gradient): ∂v{i + 1}/∂p{j + 1} = "
            f"{jac[i, j]} ≠ ∂v{j + 1}/∂p{i + 1} = {jac[j, i]}"
        )
    integrable = Certificate("integrable, symmetric Jacobian", "symbolic", f"{n}×{n}")
    off_diagonal = all(sp.simplify(jac[i, j]) == 0 for i in range(n) for j in range(n) if i != j)
    if off_diagonal:
        single = [vi.xreplace({coords[i]: P}) for i, vi in enumerate(v)]
        if any(sp.simplify(s - single[0]) != 0 for s in single[1:]):
            raise ValueError(
                "vector velocity is separable but its coordinates move differently "
                f"({single}); hamopt's energies treat every coordinate alike"
            )
        found = _identify_scalar(
            single[0], params, coupling="particle", scope=scope, name=name, values=values
        )
        return _with(found, integrable, Certificate("separable", "symbolic", "v_i = τ'(p_i)"))
    radial = all(
        sp.simplify(coords[i] * v[j] - coords[j] * v[i]) == 0
        for i in range(n)
        for j in range(i + 1, n)
    )
    if radial:
        r = sp.Symbol("r", positive=True)
        speed = sp.simplify(v[0].xreplace({coords[0]: r, **{c: 0 for c in coords[1:]}}))
        found = _identify_scalar(
            speed.xreplace({r: P}), params, coupling="norm", scope=scope, name=name, values=values
        )
        return _with(found, integrable, Certificate("radial", "symbolic", "p_i v_j = p_j v_i"))
    t = sp.Symbol("t", positive=True)
    energy = sp.simplify(
        sp.integrate(
            sum(
                vi.xreplace({c: t * c for c in coords}) * c for vi, c in zip(v, coords, strict=True)
            ),
            (t, 0, 1),
        )
    )
    raise ValueError(
        f"vector velocity is integrable, T = {energy}, but T is neither a sum over coordinates "
        "nor a function of ‖p‖: hamopt derives optimizers from those two forms only"
    )


def _with(found: Identification, *certs: Certificate) -> Identification:
    return Identification(found.velocity, found.energy, (*certs, *found.certificates), found.fits)
