r"""Change of variables: from the physical one-step map to machine-learning variables.

A scheme with one kick per step is rotated to start at its kick (the first-same-as-last view:
the state is the point where the gradient is taken). With :math:`\beta_1 = e^{-rh}` and the
post-kick momentum :math:`P'` written through a momentum buffer ``v``,

.. math::  P' = -h\,s\,v, \qquad s = \frac{1}{1-\beta_1}\ \text{(EMA form)} \quad\text{or}\quad
           s = \frac{1}{1-d}\ \text{(sum form, dampening } d\text{)},

the kick :math:`P'_{k+1} = \beta_1 P'_k - h\nabla U(\theta_k)` becomes the momentum recursion
:math:`v_{k+1} = \beta_1 v_k + g_k/s` — the EMA :math:`\beta_1 v + (1-\beta_1) g`, or the sum
:math:`\mu b + (1-d)g` — and the drifts become a position update
:math:`\theta_{k+1} = \theta_k + \Delta\theta(v_{k+1}, g_k)`.

:func:`change_of_variables` derives :math:`\Delta\theta` from the symbolic
:class:`~hamopt.stepmap.StepMap` and verifies the momentum recursion against it;
:func:`match` then solves for the hyperparameters of a target form (``lr``, ``delta``, ``zeta``,
…) in terms of the physical ones (``h``, ``m``, ``c``, …) and proves the identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from hamopt.kinetic.energy import KineticEnergy
from hamopt.rule.reductions import Norm2
from hamopt.schemes.scheme import Scheme
from hamopt.stepmap import StepMap
from hamopt.symbols import Norm
from hamopt.symbols import h as H
from hamopt.symbols import r as R
from hamopt.system.hamiltonian import ConformalHamiltonian, GradU

__all__ = ["MLStep", "Momentum", "beta1", "change_of_variables", "g", "match", "v"]

#: Momentum factor :math:`\beta_1 = e^{-rh}`.
beta1 = sp.Symbol("beta1", positive=True)
#: Dampening of the sum form (``torch.optim.SGD``).
dampening = sp.Symbol("dampening", nonnegative=True)
#: The momentum buffer after this step's update, and the gradient.
v = sp.Symbol("v", real=True)
g = sp.Symbol("g", real=True)
_omega = sp.Symbol("omega", positive=True)  # 1 - beta1 while deriving (keeps signs known)
_kappa = sp.Symbol("kappa", positive=True)  # beta1 = 1/(1 + kappa) while matching


@dataclass(frozen=True)
class Momentum:
    """How the momentum buffer is normalised and initialised.

    ``form`` is ``"ema"`` (:math:`v = \\beta_1 v + (1-\\beta_1) g`) or ``"sum"``
    (:math:`b = \\mu b + (1-d) g`, with ``dampened=True`` for a dampening ``d``); ``init`` is
    ``"zeros"`` or ``"grad"`` (first-gradient init, an initial kick :math:`p_0 = -h\\,s\\,g_0`).
    """

    form: str = "ema"
    init: str = "zeros"
    dampened: bool = False

    def __post_init__(self) -> None:
        if self.form not in ("ema", "sum"):
            raise ValueError(f"momentum form must be 'ema' or 'sum', got {self.form!r}")
        if self.init not in ("zeros", "grad"):
            raise ValueError(f"momentum init must be 'zeros' or 'grad', got {self.init!r}")
        if self.dampened and self.form != "sum":
            raise ValueError("dampening belongs to the sum form")

    def scale(self, omega: sp.Expr) -> sp.Expr:
        """:math:`s` with :math:`P' = -h s v`."""
        if self.form == "ema":
            return 1 / omega
        return 1 / (1 - dampening) if self.dampened else sp.Integer(1)

    def recursion(self, buffer: sp.Symbol, gradient: sp.Symbol) -> sp.Expr:
        """:math:`v \\leftarrow \\beta_1 v + g/s`."""
        if self.form == "ema":
            return beta1 * buffer + (1 - beta1) * gradient
        return beta1 * buffer + ((1 - dampening) if self.dampened else 1) * gradient

    def describe(self) -> str:
        what = (
            "EMA v = β1 v + (1-β1) g"
            if self.form == "ema"
            else ("sum b = μ b + (1-d) g" if self.dampened else "sum b = μ b + g")
        )
        init = "first-gradient init" if self.init == "grad" else "zero init"
        return f"{what}, {init}"


@dataclass(frozen=True)
class MLStep:
    """A one-gradient step in machine-learning variables.

    ``displacement`` is :math:`\\Delta\\theta` in ``v`` (the updated buffer), ``g``, ``h``, ``beta1``
    and the energy's parameters; for norm-coupled energies the group norm is ``Norm2(v)``.
    """

    kinetic: KineticEnergy
    scheme: Scheme
    momentum: Momentum
    displacement: sp.Expr
    recursion: sp.Expr
    drifts: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    """:math:`\\Delta\\theta = h\\sum_i t_i\\nabla T(x_i)`: the pairs :math:`(t_i, x_i)`, each
    momentum argument :math:`x_i` linear in ``v`` and ``g`` (particle energies)."""


def change_of_variables(
    kinetic: KineticEnergy,
    scheme: Scheme,
    momentum: Momentum | None = None,
    simplify: bool = True,
) -> MLStep:
    """Derive :math:`\\Delta\\theta(v, g)` for ``kinetic`` × ``scheme`` and check the recursion.

    ``simplify=False`` leaves each drift's move as the substitution gives it (for numeric use).

    Raises :class:`ValueError` for schemes with more than one gradient per step (Yoshida).
    """
    momentum = momentum or Momentum()
    _check_friction(scheme)
    kicks = [i for i, (flow, _) in enumerate(scheme.rows) if flow == "K"]
    if len(kicks) != 1:
        raise ValueError(
            f"scheme {scheme.name} takes {len(kicks)} gradients per step; an optimizer step "
            "takes one (use a scheme with one kick, e.g. euler or leapfrog)"
        )
    rotated = scheme.rotated(kicks[0], name=f"{scheme.name}") if kicks[0] else scheme
    stepmap = StepMap(ConformalHamiltonian(kinetic), rotated)
    q, p = stepmap.system.q[0], stepmap.system.p[0]
    s = momentum.scale(_omega)
    p_in = -H * s * v + H * g  # pre-kick momentum β P'_old written through the new buffer

    def physical_to_ml(expr: sp.Expr) -> sp.Expr:
        expr = expr.xreplace({GradU(q): g})
        if expr.has(GradU):
            raise ValueError(
                f"scheme {scheme.name} evaluates the gradient away from θ_k; it is not a "
                "one-gradient optimizer step"
            )
        expr = expr.xreplace({p: p_in})
        # only the friction factors e^{-r t h} become powers of β1; an exp of the energy stays
        expr = expr.replace(
            lambda e: isinstance(e, sp.exp) and _friction_power(e.args[0]) is not None,
            lambda e: (1 - _omega) ** _friction_power(e.args[0]),
        )
        # the implicit friction of a whole step, 1/(1 + r h), is β1 itself
        expr = expr.xreplace({1 + R * H: 1 / (1 - _omega)})
        return expr.replace(Norm, lambda arg: _norm_of(arg))

    p_out = physical_to_ml(stepmap.p_out[0])
    expected = (1 - _omega) * (-H * s * v)
    if sp.simplify(p_out - expected) != 0:
        raise ValueError(f"internal: momentum recursion does not close for {scheme.name}")
    # Δθ as the sum of the position rows' moves, each simplified on its own (a drift by
    # t∇T(β^d P') reads better than the simplified composition)
    back: dict[sp.Symbol, sp.Expr] = {}
    current_q: sp.Expr = q
    current_p: sp.Expr = p
    moves = []
    drifts = []
    for stage in stepmap.stages:
        target, expr = stage.targets[0], stage.exprs[0]
        if stage.flow in "FG":
            move = physical_to_ml((expr - current_q).xreplace(back))
            moves.append(_simplify_move(move) if simplify else move)
            at = current_p if stage.flow == "F" else -H * GradU(current_q)
            drifts.append((stage.fraction, sp.expand(physical_to_ml(at.xreplace(back)))))
            current_q = target
        else:
            current_p = target
        back[target] = expr.xreplace(back)
    displacement = sp.Add(*moves)  # telescopes to q_out - q
    drifts = tuple((t, x.xreplace({_omega: 1 - beta1})) for t, x in drifts)
    return MLStep(
        kinetic,
        rotated,
        momentum,
        displacement.xreplace({_omega: 1 - beta1}),
        momentum.recursion(v, g),
        drifts,
    )


#: The functions that switch between branches: what SymPy's simplify meets as a whole.
_SWITCHES = (sp.Heaviside, sp.sign, sp.Max, sp.Min)


def _simplify_move(move: sp.Expr) -> sp.Expr:
    """``move`` simplified, each switch (a Heaviside step, sign, Max, Min) as one symbol.

    A switch's arguments are simplified on their own, innermost switches first. ``sp.simplify``
    of a drift through the velocity of a Max of three arguments, met as a whole, ran for
    minutes (it rewrites the steps into conditions and back); the switches themselves have
    nothing to gain.
    """
    held: dict[sp.Dummy, sp.Expr] = {}

    def hold(e: sp.Expr) -> sp.Dummy:  # bottom up: e's own switches are held already
        symbol = sp.Dummy("switch", real=True)
        held[symbol] = e.func(*(sp.simplify(a).xreplace(held) for a in e.args))
        return symbol

    body = move.replace(lambda e: isinstance(e, _SWITCHES), hold)
    return sp.simplify(body).xreplace(held)


def beta_text(scheme: Scheme) -> str:
    """What β1 is for ``scheme``: ``e^(-rh)`` (exact friction) or ``1/(1 + rh)`` (implicit)."""
    return "β1 = e^(-rh)" if scheme.exact_friction else "β1 = 1/(1 + rh) (implicit friction)"


def _check_friction(scheme: Scheme) -> None:
    """An optimizer step has one momentum decay β1: exact friction (D rows, β1 = e^{-rh}), or
    one implicit-friction row over the whole step (I, β1 = 1/(1 + rh)), not a mixture."""
    implicit = [frac for flow, frac in scheme.rows if flow == "I"]
    if not implicit:
        return
    if any(flow == "D" for flow, _ in scheme.rows) or implicit != [1]:
        raise ValueError(
            f"scheme {scheme.name}: an optimizer step's momentum decays by one factor β1; with "
            "implicit friction that is one I row of fraction 1 (β1 = 1/(1 + r h)) and no D rows"
        )


def _friction_power(arg: sp.Expr) -> sp.Expr | None:
    """:math:`k` with ``arg`` :math:`= -k\\,r h` (a number), else ``None``."""
    k = sp.simplify(-arg / (R * H))
    return sp.nsimplify(k) if k.is_number else None


def _norm_of(arg: sp.Expr) -> sp.Expr:
    """:math:`\\lVert c x\\rVert = |c|\\,\\lVert x\\rVert` for ``x`` the buffer or the gradient."""
    coeff, rest = sp.expand(arg).as_independent(v, g, as_Add=False)
    if rest not in (v, g):
        raise ValueError(f"cannot take the group norm of {arg}")
    return sp.Abs(coeff) * Norm2(rest)


def _radicals_factored(expr: sp.Expr) -> sp.Expr:
    """Factor the radicands, so that positive factors leave the roots."""
    return expr.replace(
        lambda e: e.is_Pow and e.exp.is_Rational and e.exp.q == 2,
        lambda e: sp.Pow(sp.factor(sp.cancel(e.base)), e.exp),
    )


def _zero(expr: sp.Expr) -> sp.Expr:
    """``expr`` reduced as far as needed to show it is zero (returns the reduced form)."""
    for step in (sp.cancel, _radicals_factored, sp.simplify):
        expr = step(expr)
        if expr == 0:
            return expr
    return sp.simplify(_radicals_factored(expr))


def match(
    delta: sp.Expr,
    target: sp.Expr,
    unknowns: Sequence[sp.Symbol],
    known: Mapping[sp.Symbol, sp.Expr] | None = None,
) -> dict[sp.Symbol, sp.Expr]:
    """Hyperparameters of ``target`` as functions of the physical parameters of ``delta``.

    Solves :math:`\\Delta\\theta(v, g) = \\text{target}(v, g)` for ``unknowns`` at sample
    points (or takes ``known``), then proves the identity for all ``v``, ``g``: the
    difference simplifies to zero. Raises :class:`ValueError` when no solution makes it one.
    """
    # the target's hyperparameters are positive numbers: say so, so that roots simplify
    positive = {
        s: sp.Symbol(s.name, positive=True)
        for s in target.free_symbols | set(unknowns)
        if s not in (v, g, beta1) and not s.is_positive
    }
    back_names = {pos: s for s, pos in positive.items()}
    target = target.xreplace(positive)
    unknowns = [positive.get(u, u) for u in unknowns]
    if known is not None:
        known = {positive.get(k, k): sp.sympify(val).xreplace(positive) for k, val in known.items()}
    norm = sp.Symbol("N", positive=True)
    # beta1 = 1/(1 + kappa) with kappa > 0 tells SymPy that 0 < beta1 < 1
    to_kappa = {beta1: 1 / (1 + _kappa)}
    lhs = delta.xreplace(to_kappa).replace(Norm2, lambda a: norm)
    rhs = target.xreplace(to_kappa).replace(Norm2, lambda a: norm)
    if known is None:
        samples = [(1, 1, 3), (2, 3, 5), (3, 5, 2), (5, 2, 7)][: len(unknowns) + 1]
        eqs = [
            (lhs - rhs).xreplace({v: sp.Integer(a), g: sp.Integer(b), norm: sp.Integer(c)})
            for a, b, c in samples
        ]
        solutions = sp.solve(eqs[: len(unknowns)], list(unknowns), dict=True)
        if not solutions:
            raise ValueError(f"no hyperparameters make {target} equal to the derived step {delta}")
        known = {}
        for sol in solutions:
            if all(sp.simplify(val).is_positive is not False for val in sol.values()):
                known = sol
                break
        else:
            known = solutions[0]
    else:
        known = {k: sp.sympify(val).xreplace(to_kappa) for k, val in known.items()}
    residual = _zero(lhs - rhs.xreplace(known))
    if residual != 0:
        raise ValueError(
            f"the derived step {delta} is not {target} under {known}: difference {residual}"
        )
    back = {_kappa: (1 - beta1) / beta1}
    return {
        back_names.get(k, k): sp.factor(sp.simplify(val.xreplace(back))).xreplace(back_names)
        for k, val in known.items()
    }
