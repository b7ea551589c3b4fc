r"""Learning-rate semantics: the machine-learning parameterisation of a derived step.

The physical step of a one-kick scheme (:mod:`hamopt.variables`) is
:math:`\Delta\theta = h\sum_i t_i\nabla T(x_i)`, each momentum argument :math:`x_i` linear in
the buffer :math:`v` and the gradient :math:`g` and proportional to :math:`h` (for conformal
Euler, :math:`x = -h s v` with :math:`s = 1/(1-\beta_1)` in the EMA form). So :math:`h` enters
twice — outside, as a step, and inside, as the scale of the momentum — and the update grows like
:math:`h^2`, and non-linearly for every energy but the classical one.

The **machine-learning parameterisation** measures momenta in the unit :math:`\lambda = h s`:
the system with the rescaled energy :math:`T_\lambda(p) = \lambda^2 T(p/\lambda)` and step
:math:`h` takes the step

.. math::  \Delta\theta = \alpha \sum_i t_i \nabla T(u_i), \qquad
           \alpha = h^2 s, \qquad u_i = x_i / (h s),

in which :math:`u_i` no longer depends on :math:`h` (for Euler :math:`u = -v`). So ``lr``
:math:`=\alpha` is a step scale — doubling it doubles :math:`\Delta\theta` at a fixed state —
and the energy's own parameters are shapes of the velocity :math:`\nabla T` of the
dimensionless momentum (for the classical energy :math:`T_\lambda = T`: nothing changes but the
name of the step). The map is *derived*: :func:`parameterise` runs the change of variables on
:math:`T_\lambda` itself, substitutes :math:`\lambda = hs`, :math:`h = \sqrt{\alpha/s}` and shows
that the result equals the form above (symbolically, or at random points to 40 digits where
SymPy cannot decide), and that it is homogeneous of degree one in :math:`\alpha`.

``"physical"`` keeps :math:`\Delta\theta` as derived, with ``lr`` :math:`= h`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameters import positive
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import h as H
from hamopt.symbols import p as P
from hamopt.variables import (
    MLStep,
    Momentum,
    beta1,
    beta_text,
    change_of_variables,
    g,
    v,
)

__all__ = ["LR", "PARAMETERISATIONS", "Parameterised", "parameterise"]

#: ``lr`` as it appears in rules.
LR = sp.Symbol("lr", real=True)
#: The placeholder of the second-moment estimate in :meth:`Parameterised.mass_form`.
Y = sp.Symbol("Y", nonnegative=True)
PARAMETERISATIONS = ("ml", "physical")
_UNIT = positive("momentum_unit", 1.0, "the momentum unit λ = h s")
_S = sp.Symbol("S", positive=True)
#: Larger differences are shown equal numerically (``simplify`` takes minutes on them).
_SYMBOLIC_PROOF_OPS = 120


@dataclass(frozen=True)
class Parameterised:
    r"""A derived step in the chosen parameterisation.

    ``displacement`` is :math:`\Delta\theta` in ``lr`` (:data:`LR`), ``beta1``, ``v``, ``g`` and the
    energy's parameters. ``mapping`` lists the equations of the map between
    parameterisations, ``proof`` says how it was shown.
    """

    how: str
    step: MLStep
    displacement: sp.Expr
    mapping: tuple[str, ...]
    proof: str

    def describe(self) -> str:
        return "; ".join(self.mapping) + (f" ({self.proof})" if self.proof else "")

    def mass_form(self) -> sp.Expr | None:
        r"""The step with each velocity written through the energy's inverse mass,
        :math:`\nabla T(u) = u\,w(u^2)`, and :math:`u^2` replaced by :math:`k^2 Y` (:math:`k` the
        sum of :math:`u`'s coefficients of ``v`` and ``g``): what the second-moment closure
        makes of the step once :math:`Y` is the estimate of :math:`g^2`. ``None`` for
        norm-coupled energies. Computed on demand (only that closure needs it)."""
        kinetic, step = self.step.kinetic, self.step
        s = step.momentum.scale(1 - beta1)
        if self.how == "physical":
            mass = _mass_form(kinetic, step, H, lambda x: x, s)
            return None if mass is None else mass.xreplace({H: LR})
        return _mass_form(kinetic, step, LR, lambda x: _unit(x, s), s)

    def frozen_form(self) -> sp.Expr | None:
        r"""The step with the energy's inverse mass :math:`w(S) = \tau'(\sqrt S)/\sqrt S` read
        at :math:`Y` for every velocity's argument, whatever its scale:
        :math:`\nabla T(x) = x\,w(x^2) \to x\,w(Y)`, so that :math:`|\beta_1 v|` freezes as
        much as :math:`|v|`: what the frozen-mass closure makes of the step once :math:`Y` is
        the second moment :math:`y`. Adam's energy, :math:`w(S) = 1/(\sqrt S + \epsilon)`,
        gives :math:`x/(\sqrt y + \epsilon)`. Read off the inverse mass, not the printed
        velocity, the form is the same however the energy is written
        (:math:`x/(|x| + \tfrac12)` or :math:`\operatorname{sign}(x)(1 - 1/(2|x| + 1))`),
        and an energy's own constant stays. ``None`` for norm-coupled energies."""
        kinetic, step = self.step.kinetic, self.step
        s = step.momentum.scale(1 - beta1)
        if self.how == "physical":
            form = _mass_form(kinetic, step, H, lambda x: x, s, frozen=True)
            return None if form is None else form.xreplace({H: LR})
        return _mass_form(kinetic, step, LR, lambda x: _unit(x, s), s, frozen=True)


def parameterise(
    kinetic: KineticEnergy, scheme: Scheme, momentum: Momentum, how: str = "ml"
) -> Parameterised:
    """Derive ``kinetic`` × ``scheme`` with ``momentum`` and write it with ``lr`` as ``how`` says.

    Raises :class:`ValueError` for an unknown ``how``.
    """
    if how not in PARAMETERISATIONS:
        raise ValueError(f"parameterisation must be one of {list(PARAMETERISATIONS)}, got {how!r}")
    step = change_of_variables(kinetic, scheme, momentum)
    s = momentum.scale(1 - beta1)
    if how == "physical":
        return Parameterised(
            how,
            step,
            step.displacement.xreplace({H: LR}),
            ("lr = h (the physical step)", beta_text(scheme)),
            "",
        )
    if kinetic.coupling == "particle":
        velocity = kinetic.velocity_expr
        displacement = LR * sp.Add(
            *(t * velocity.xreplace({P: _unit(x, s)}) for t, x in step.drifts)
        )
        proof = _prove(kinetic, scheme, momentum, s, displacement)
    else:  # the rescaled system's step itself: only its homogeneity in lr is left to show
        displacement = _scaled(kinetic, scheme, momentum, s)
        _check_homogeneous(displacement)
        proof = "derived as the step of the rescaled system"
    return Parameterised(
        how,
        step,
        displacement,
        (f"lr = h²·{sp.sstr(s)}", f"momentum unit λ = h·{sp.sstr(s)}", beta_text(scheme)),
        proof,
    )


def _unit(x: sp.Expr, s: sp.Expr) -> sp.Expr:
    """:math:`x/(hs)`, free of :math:`h`."""
    u = sp.factor(sp.simplify(x / (H * s)))
    if u.has(H):
        raise ValueError(f"internal: the momentum argument {x} is not proportional to h")
    return u


def _mass_form(
    kinetic: KineticEnergy, step: MLStep, scale: sp.Expr, unit, s: sp.Expr, frozen: bool = False
) -> sp.Expr | None:
    r""":math:`\text{scale}\sum_i t_i u_i w(k_i^2 Y)` with :math:`w(S) = \tau'(\sqrt S)/\sqrt S`.

    :math:`k_i` is what :math:`u_i` is per unit gradient once the buffer is steady: the
    coefficient of ``g`` plus that of ``v`` times the buffer's gain :math:`1/(s(1-\beta_1))`
    (:math:`v \leftarrow \beta_1 v + g/s` settles at :math:`g/(s(1-\beta_1))`): 1 for the EMA,
    :math:`1/(1-\beta_1)` for the sum, whose :math:`u` is ten times the gradient at
    :math:`\beta_1 = 0.9` (read at :math:`Y \approx g^2` alone, the relativistic step was
    :math:`7c`, over its speed limit :math:`c`).

    Where :math:`w` is not finite at :math:`S = 0` (0/0 or ∞, as for :math:`\tanh(\sqrt S)/\sqrt
    S` or :math:`S^{-1/4}`), the term is 0 at :math:`Y = 0`: then every gradient so far, and so
    :math:`v`, :math:`g` and :math:`u_i`, is zero. ``frozen``: :math:`k_i = 1` for every
    argument (:meth:`Parameterised.frozen_form`).
    """
    if kinetic.coupling != "particle":
        return None
    root = sp.sqrt(_S)
    w = sp.simplify(kinetic.velocity_expr.xreplace({P: root}) / root)
    terms = []
    for t, x in step.drifts:
        u = unit(x)
        k = 1 if frozen else sp.expand(u).coeff(v) / (s * (1 - beta1)) + sp.expand(u).coeff(g)
        term = t * u * w.xreplace({_S: k**2 * Y})
        at_zero = sp.sympify(w.xreplace({_S: 0}))
        if term.has(Y) and not _finite(at_zero):
            term = sp.Piecewise((0, sp.Eq(Y, 0)), (term, True))
        terms.append(term)
    return scale * sp.Add(*terms)


def _finite(expr: sp.Expr) -> bool:
    """``expr`` is known to be finite (no 0/0, ∞ or power of zero left undecided)."""
    undecided = any(isinstance(e, sp.Pow) and e.base == 0 for e in sp.preorder_traversal(expr))
    return bool(expr.is_finite) and not undecided and not expr.has(sp.nan, sp.zoo)


def _scaled(
    kinetic: KineticEnergy, scheme: Scheme, momentum: Momentum, s: sp.Expr, simplify: bool = True
) -> sp.Expr:
    """Δθ of :math:`T_\\lambda` at :math:`\\lambda = hs`, :math:`h = \\sqrt{\\alpha/s}`."""
    lam = _UNIT.symbol
    scaled = KineticEnergy(
        lam**2 * kinetic.expr.xreplace({P: P / lam}),
        (*kinetic.params, _UNIT),
        name=f"{kinetic.name}_scaled",
        coupling=kinetic.coupling,
        scope=kinetic.scope,
        validate=False,
    )
    displacement = change_of_variables(scaled, scheme, momentum, simplify).displacement
    alpha = sp.Symbol("alpha", positive=True)
    omega = sp.Symbol("omega", positive=True)  # 1 - β1 > 0 while simplifying
    displacement = displacement.xreplace({lam: H * s}).xreplace({H: sp.sqrt(alpha / s)})
    displacement = displacement.xreplace({beta1: 1 - omega})
    displacement = displacement.replace(lambda e: isinstance(e, sp.Eq), _zero_of_a_factor)
    if simplify:
        terms = sp.Add.make_args(displacement)
        displacement = sp.Add(*(sp.simplify(term) for term in terms))
    displacement = displacement.xreplace({alpha: LR, omega: 1 - beta1})
    return displacement.replace(lambda e: isinstance(e, sp.Eq), _zero_of_a_factor)  # β1 > 0


def _zero_of_a_factor(condition: sp.Eq) -> sp.Eq:
    r"""``Eq(c·X**k, 0)`` with :math:`c > 0` and :math:`k > 0` as ``Eq(X, 0)``: a velocity's
    value at the origin (``Piecewise((1, Eq(s, 0)), (tanh(√s)/√s, True))`` of the norm-coupled
    log cosh) read at the scaled momentum :math:`s = \alpha \lVert v\rVert^2/\omega` switches
    where :math:`\lVert v\rVert = 0`, a condition free of lr."""
    if condition.rhs != 0:
        return condition
    factors = [f for f in sp.Mul.make_args(sp.factor_terms(condition.lhs)) if not f.is_positive]
    kept = [f.base if f.is_Pow and f.exp.is_positive else f for f in factors]
    return sp.Eq(sp.Mul(*kept), 0)


def _check_homogeneous(displacement: sp.Expr) -> None:
    """Every term of ``displacement`` is ``lr`` times an expression free of ``lr``."""
    if any(sp.piecewise_fold(term / LR).has(LR) for term in sp.Add.make_args(displacement)):
        raise ValueError(f"internal: {displacement} is not proportional to lr")


def _prove(
    kinetic: KineticEnergy, scheme: Scheme, momentum: Momentum, s: sp.Expr, displacement: sp.Expr
) -> str:
    """Show that ``displacement`` is the rescaled system's step and homogeneous of degree 1 in lr."""
    _check_homogeneous(displacement)
    reference = _scaled(kinetic, scheme, momentum, s, simplify=False)
    residual = reference - displacement
    if sp.count_ops(residual) <= _SYMBOLIC_PROOF_OPS and sp.simplify(residual) == 0:
        return "proved: equal to the step of the rescaled system"
    rng = random.Random(0)
    symbols = sorted(reference.free_symbols | displacement.free_symbols, key=lambda sym: sym.name)
    worst = 0.0
    for _ in range(12):
        point = {}
        for sym in symbols:
            if sym == beta1:
                point[sym] = sp.Rational(rng.randint(5, 95), 100)
            elif sym in (v, g):
                point[sym] = sp.Rational(rng.randint(-300, 300), 100)
            else:
                point[sym] = sp.Rational(rng.randint(20, 300), 100)
        a = sp.N(reference.xreplace(point), 40)
        b = sp.N(displacement.xreplace(point), 40)
        err = abs(complex(a - b)) / max(1.0, abs(complex(b)))
        worst = max(worst, err)
    # a floating-point number of the energy (|p|**1.5) holds 15 digits, which the two forms
    # may round differently (beta1**0.5·0.75 against 1.5·sqrt(beta1)/2)
    floats = reference.has(sp.Float) or displacement.has(sp.Float)
    digits = 12 if floats else 30
    if worst > 10.0**-digits:
        raise ValueError(
            f"internal: the rescaled system's step {reference} differs from {displacement} "
            f"(relative {worst:.2g} at a random point)"
        )
    return (
        "checked: equal to the step of the rescaled system at 12 random points to "
        f"{digits} digits" + (" (the energy has floating-point numbers)" if floats else "")
    )
