r"""Optimizers from schemes with several kicks per step (Yoshida's triple jump, …).

A scheme's kicks K read the gradient :math:`\nabla U` at the position where they happen. A
one-gradient scheme (Euler, leapfrog) has one kick, which its first-same-as-last rotation puts
at the start of the step, where the caller's ``backward()`` left the gradient
(:mod:`hamopt.variables`). Yoshida's fourth-order triple jump of the leapfrog,
steps :math:`w_1h, w_0h, w_1h` with :math:`w_1 = 1/(2-2^{1/3})`, :math:`w_0 = 1 - 2w_1`, has
three kicks at three positions; no rotation makes them one. Its optimizer therefore walks the
scheme's rows itself and asks for the loss again at each kick, through ``step(closure)``, as
``torch.optim.LBFGS`` does:

.. code-block:: python

    import hamopt
    from hamopt.multigradient import derive_multigradient

    derived = derive_multigradient(hamopt.kinetic.relativistic(), "yoshida", name="Yoshida4")
    optimizer = derived.cls(model.parameters(), lr=0.1, beta1=0.9)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)   # three calls of closure, one per kick

The optimizer keeps the *physical* parameterisation of the conformal Hamiltonian system
:math:`\dot\theta = \nabla T(p)`, :math:`\dot p = -\nabla U(\theta) - r p`, as
``hamopt.derive(..., parameterisation="physical")`` does for one-gradient schemes:

* ``lr`` is the step :math:`h` (default 0.1);
* ``beta1`` is :math:`\beta_1 = e^{-rh} \in (0, 1]` (default 0.9), the momentum's decay over one
  whole step: a dissipation row D of fraction :math:`f` multiplies the momentum by
  :math:`\beta_1^f = e^{-rfh}` (Yoshida's middle D rows have :math:`f < 0`). The friction is
  :math:`r = -\ln\beta_1 / h`; ``beta1 = 1`` is the frictionless flow;
* the energy's own parameters (``m``, ``c``, …) are arguments with their defaults and ranges;
* ``weight_decay`` :math:`\lambda` is coupled: it adds :math:`\lambda\lvert\theta\rvert^2/2` to
  :math:`U`, so each kick reads :math:`g + \lambda\theta`; ``maximize`` flips :math:`g`;
* ``nonfinite`` is the runtime's policy for a NaN or ±Inf gradient, checked at every kick: a
  step that raises or skips leaves every parameter and momentum as it was.

Its only state per parameter is the momentum :math:`p` (``momentum``, zeros at its first
kick; float32 for a half-precision parameter). The class derives from
:class:`hamopt.runtime.GeneratedMultiGradientOptimizer`, which holds the checks, the walk over
the rows and the closure calls; ``export`` inlines that runtime. The generated step follows
:class:`~hamopt.stepmap.StepMap` of the same scheme, and its global error against the
continuous flow has the scheme's order (``tests/test_multigradient.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp

from hamopt.codegen.inline import standalone
from hamopt.codegen.load import module_from_source
from hamopt.codegen.multigradient import (
    BOUND_NAMES,
    generate_multigradient_module,
    kicks,
    velocity_equations,
)
from hamopt.codegen.names import clash
from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameters import Parameter
from hamopt.recipe import Recipe
from hamopt.rule.hyperparameter import Hyperparameter, energy_parameter, real
from hamopt.schemes import scheme_named
from hamopt.schemes.scheme import Scheme
from hamopt.stepmap import StepMap
from hamopt.system.hamiltonian import ConformalHamiltonian

__all__ = ["DEFAULT_BETA", "DEFAULT_LR", "MultiGradientOptimizer", "derive_multigradient"]

#: Default step :math:`h` and momentum decay per step :math:`\beta = e^{-rh}`.
DEFAULT_LR = 0.1
DEFAULT_BETA = 0.9

_POSITIVE = sp.Interval.open(0, sp.oo)
_NONNEGATIVE = sp.Interval(0, sp.oo)
_DECAY = sp.Interval.Lopen(0, 1)
#: The closures a multi-gradient optimizer has: the particle's own momentum, coupled decay.
_CLOSURES = frozenset({"none", "coupled_weight_decay"})

# the symbols the rule is printed in
_THETA = sp.Symbol("theta", real=True)
_H = sp.Symbol("h", positive=True)
_BETA = sp.Symbol("beta", positive=True)
_LAMBDA = sp.Symbol("lambda", nonnegative=True)
_LATEX = {_THETA: r"\theta", _BETA: r"\beta_1", _LAMBDA: r"\lambda"}


@dataclass(frozen=True)
class MultiGradientOptimizer:
    """A derived optimizer whose step calls its closure once per kick.

    The same interface as :class:`hamopt.derive.DerivedOptimizer`: :attr:`cls`,
    :attr:`source`, :attr:`standalone_source`, :meth:`export`, :meth:`markdown`, :meth:`latex`.

    Parameters
    ----------
    name
        The class name.
    kinetic, scheme
        What it was derived from.
    hyperparameters
        The constructor arguments (the options ``maximize`` and ``nonfinite`` aside), in order.
    source
        The generated module (it imports :mod:`hamopt.runtime`).
    recipe
        The :class:`~hamopt.recipe.Recipe` it was derived from (spec files are written from it).
    """

    name: str
    kinetic: KineticEnergy
    scheme: Scheme
    hyperparameters: tuple[Hyperparameter, ...]
    source: str
    recipe: Any = None

    @property
    def kicks(self) -> int:
        """Gradient evaluations (closure calls) per step."""
        return kicks(self.scheme)

    @functools.cached_property
    def cls(self) -> type:
        """The ``torch.optim.Optimizer`` subclass, built from :attr:`source` (once)."""
        module = module_from_source(self.name, self.source)
        return getattr(module, self.name)

    @property
    def standalone_source(self) -> str:
        """:attr:`source` with the runtime inlined: a module that needs only torch."""
        return standalone(self.source)

    def export(self, path: str | Path) -> Path:
        """Write the standalone module (:attr:`standalone_source`) to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.standalone_source)
        return path

    def stepmap(self) -> StepMap:
        """The symbolic one-step map the optimizer applies (generic potential)."""
        return StepMap(ConformalHamiltonian(self.kinetic), self.scheme)

    def equations(self) -> list[tuple[str, str, str, str]]:
        """``(left side, relation, right side, what)`` in LaTeX: one assignment
        (``\\leftarrow``) per line of the step, then the velocity's definition (``=``)."""
        return _equations(self.kinetic, self.scheme)

    def markdown(self) -> str:
        """Provenance, then one numbered equation per line of the step."""
        out = [f"**{self.name}**", ""]
        out += [f"- {line}" for line in _provenance(self.kinetic, self.scheme)]
        out.append("")
        for i, (lhs, relation, rhs, what) in enumerate(self.equations(), 1):
            out.append(f"{i}. ${lhs} {relation} {rhs}$ — {what}")
        return "\n".join(out)

    def latex(self) -> str:
        """The step as an ``aligned`` block, one line per equation."""
        return _latex(self.kinetic, self.scheme)


def derive_multigradient(
    kinetic: KineticEnergy | sp.Expr | Recipe,
    scheme: Scheme | str | None = None,
    *,
    name: str = "Derived",
    lr: float | None = None,
    beta1: float | None = None,
    params: Iterable[Parameter | str] = (),
) -> MultiGradientOptimizer:
    r"""Derive the optimizer of ``kinetic`` × ``scheme`` that re-evaluates the gradient at every
    kick through ``step(closure)``.

    Parameters
    ----------
    kinetic
        A :class:`KineticEnergy`, or a SymPy expression in ``p`` (then ``params`` declares its
        parameters, as for :class:`KineticEnergy`). Per particle, or norm-coupled per tensor.
        Or a :class:`~hamopt.recipe.Recipe` (what :func:`hamopt.derive` passes): then every
        other argument comes from it — ``lr``, ``betas[0]`` as ``beta1`` — its closures must be
        ``"none"`` (or ``coupled_weight_decay``) and its momentum ``"ema"`` with ``"zeros"``
        init, and either parameterisation gives the physical one (the only one a
        multi-gradient step has; :func:`hamopt.derive` records it so in the recipe and spec).
    scheme
        A :class:`Scheme` of D, K and F rows with at least one kick, or its name
        (``"yoshida"``). :func:`hamopt.derive` sends the schemes with several kicks here; one
        kick works too (one closure call per step).
    name
        The class name (an identifier that is no keyword and no name the module binds).
    lr
        Default step :math:`h > 0` (:data:`DEFAULT_LR` when ``None``).
    beta1
        Default momentum decay per step :math:`\beta = e^{-rh} \in (0, 1]`
        (:data:`DEFAULT_BETA` when ``None``).
    params
        The parameters of an energy given as an expression.

    Raises
    ------
    ValueError
        Unknown scheme, a scheme with G rows or without a kick, a bad name, a reserved
        energy-parameter name, an energy norm-coupled over all parameters, ``lr`` or ``beta1``
        out of range, a recipe asking for closures or a momentum form the step does not have.
    TypeError
        ``lr`` or ``beta1`` not a real number, ``scheme`` of the wrong type, or a recipe given
        together with other arguments.
    """
    if isinstance(kinetic, Recipe):
        if scheme is not None or lr is not None or beta1 is not None or tuple(params):
            raise TypeError("give a Recipe alone: it holds the scheme, lr and betas")
        return _from_recipe(kinetic)
    if scheme is None:
        raise TypeError("derive_multigradient needs a scheme")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    why = clash(name)
    if why is not None:
        raise ValueError(f"name {name!r} cannot be the class name: {why}")
    if not isinstance(kinetic, KineticEnergy):
        kinetic = KineticEnergy(kinetic, params, name=name.lower())
    scheme = _scheme(scheme)
    for prm in kinetic.params:
        why = clash(prm.name, BOUND_NAMES)
        if why is not None:
            raise ValueError(f"energy parameter {prm.name!r} is reserved: {why}")
    given_lr = lr
    lr = _number("lr", DEFAULT_LR if lr is None else lr, _POSITIVE, "(0, inf)")
    beta1 = _number("beta1", DEFAULT_BETA if beta1 is None else beta1, _DECAY, "(0, 1]")
    hyperparameters = (
        real("lr", lr, sp.Interval(0, sp.oo), "the step h of the conformal Hamiltonian flow"),
        real(
            "beta1",
            beta1,
            _DECAY,
            "β₁ = exp(-r h), the momentum's decay over one step (1: no friction)",
        ),
        *(energy_parameter(prm, f"parameter {prm.name} of the energy") for prm in kinetic.params),
        real(
            "weight_decay",
            0.0,
            _NONNEGATIVE,
            "coupled weight decay λ: a kick reads g + λθ (the loss + λ|θ|²/2)",
        ),
    )
    count = kicks(scheme)
    summary = (
        f"Derived from the {kinetic.name} energy by {scheme.name} (order {scheme.order}, "
        f"{count} gradient{'s' if count != 1 else ''} per step)."
    )
    source = generate_multigradient_module(
        name,
        kinetic,
        scheme,
        hyperparameters,
        summary=summary,
        latex=_latex(kinetic, scheme),
        provenance=_provenance(kinetic, scheme),
        command="hamopt.derive(...)",
    )
    recipe = Recipe(
        name, kinetic, scheme, ("none",), "ema", "zeros", "physical", given_lr, (beta1, 0.999)
    )
    return MultiGradientOptimizer(name, kinetic, scheme, hyperparameters, source, recipe)


def _from_recipe(recipe: Recipe) -> MultiGradientOptimizer:
    """The optimizer of a :class:`Recipe` whose scheme has several kicks."""
    scheme = _scheme(recipe.scheme)
    lead = f"{scheme.name} takes {kicks(scheme)} gradients per step"
    closures = set(recipe.closures)
    if not closures <= _CLOSURES:
        raise ValueError(
            f"{lead}: its optimizer re-evaluates the gradient at every kick through "
            f"step(closure) and has the particle's own momentum only (closure 'none'), "
            f"not {sorted(closures - _CLOSURES)}"
        )
    wrong = [
        f"{option} {value!r}; use {option}={default!r}"
        for option, value, default in (
            ("momentum", recipe.momentum, "ema"),
            ("init", recipe.init, "zeros"),
        )
        if value != default
    ]
    if wrong:
        raise ValueError(
            f"{lead}: its state is the physical momentum p, which has no " + " and no ".join(wrong)
        )
    if not 0 < recipe.betas[0] <= 1:
        raise ValueError(
            f"{lead}: betas[0] is its β₁ = exp(-r h), which must be in (0, 1], "
            f"got {recipe.betas[0]!r}"
        )
    derived = derive_multigradient(
        recipe.kinetic, scheme, name=recipe.name, lr=recipe.lr, beta1=recipe.betas[0]
    )
    return dataclasses.replace(derived, recipe=recipe)


# -- inputs ------------------------------------------------------------------------------------
def _scheme(scheme: Scheme | str) -> Scheme:
    scheme = scheme_named(scheme)
    if not scheme.exact_friction:
        raise ValueError(
            f"scheme {scheme.name}: implicit friction (I rows) is supported in one-gradient "
            "steps only; a multi-gradient step decays by β₁^f = e^(-r f h) per D row"
        )
    return scheme


def _number(name: str, value: object, interval: sp.Interval, text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value) or not bool(interval.contains(sp.Float(value))):
        raise ValueError(f"{name} must be in {text}, got {value!r}")
    return value


# -- rendering ---------------------------------------------------------------------------------
def _provenance(kinetic: KineticEnergy, scheme: Scheme) -> list[str]:
    n = kicks(scheme)
    what = f" ({scheme.description})" if scheme.description else ""
    return [
        f"kinetic energy: {kinetic.name}: T(p) = {_energy_text(kinetic)}",
        f"scheme: {scheme.name}{what}, order {scheme.order}, {len(scheme.rows)} rows, "
        f"{n} kick{'s' if n != 1 else ''}",
        "parameterisation: physical: lr = h, beta1 = β₁ = exp(-r h) (friction r = -ln(β₁)/h)",
        f"gradients: step(closure) calls the closure at each kick, {n} time"
        f"{'s' if n != 1 else ''} per step",
    ]


def _energy_text(kinetic: KineticEnergy) -> str:
    if kinetic.coupling == "particle":
        return f"Σ {sp.sstr(kinetic.expr)}"
    norm = sp.sstr(kinetic.expr.xreplace({kinetic.p: sp.Symbol("‖p‖")}))
    return f"{norm} (norm-coupled over each {kinetic.scope})"


def _equations(kinetic: KineticEnergy, scheme: Scheme) -> list[tuple[str, str, str, str]]:
    def tex(expr: sp.Expr) -> str:
        return sp.latex(expr, symbol_names=_LATEX)

    grad_t, to = r"\nabla T(p)", r"\leftarrow"
    n, k = kicks(scheme), 0
    out = []
    for flow, frac in scheme.rows:
        step = sp.together(frac) * _H
        plus, minus = ("+", "-") if frac > 0 else ("-", "+")
        if flow == "D":
            decay = tex(sp.Pow(_BETA, sp.together(frac), evaluate=False))
            out.append(("p", to, f"{decay}\\, p", "dissipation D"))
        elif flow == "F":
            move = f"\\theta {plus} {tex(abs(step))}\\, {grad_t}"
            out.append((r"\theta", to, move, "drift F"))
        else:
            k += 1
            gradient = r"\nabla U(\theta) + \lambda \theta"
            out.append(("g", to, gradient, f"closure call {k} of {n}"))
            out.append(("p", to, f"p {minus} {tex(abs(step))}\\, g", "kick K"))
    velocity, common = velocity_equations(kinetic)
    show = {sym: sp.Symbol(f"\\xi_{{{k}}}") for k, (sym, _) in enumerate(common)}
    for expr in [velocity, *(e for _, e in common)]:
        for sym in expr.free_symbols - show.keys():
            show[sym] = sp.Symbol(r"\lVert p \rVert" if sym.name == "norm" else sym.name)
    for sym, expr in common:
        out.append((tex(show[sym]), "=", tex(expr.xreplace(show)), "shared by the velocity"))
    out.append((grad_t, "=", tex(velocity.xreplace(show)), "velocity of the energy"))
    return out


def _latex(kinetic: KineticEnergy, scheme: Scheme) -> str:
    lines = [f"{lhs} &{rel} {rhs}" for lhs, rel, rhs, _ in _equations(kinetic, scheme)]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
