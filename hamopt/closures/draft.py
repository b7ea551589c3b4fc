r"""A rule under construction, and the closures that transform it.

A :class:`Draft` starts from a derived one-gradient step :math:`\Delta\theta(v, g)` in
machine-learning variables (see :mod:`hamopt.variables`) and its momentum recursion. Closures
are small functions ``Draft -> Draft`` — composed in order, like optax's transforms — that add
buffers, scalars and pre-steps and rewrite :math:`\Delta\theta`. :meth:`Draft.rule` emits the
:class:`~hamopt.rule.update_rule.UpdateRule` in the order

1. pre-steps (weight decay), 2. buffer updates, 3. scalars, 4. :math:`\theta \leftarrow \theta + \Delta\theta`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.printing.str import StrPrinter

from hamopt.rule.hyperparameter import Hyperparameter
from hamopt.rule.update_rule import Assign, Buffer, Provenance, UpdateRule, grad, param
from hamopt.variables import MLStep, Momentum, beta1, dampening, g, v

__all__ = ["Closure", "Draft", "compose", "shown", "start"]


#: Most characters of an expression that a refusal message shows.
SHOWN = 300


class _MessagePrinter(StrPrinter):
    """SymPy's text, with a reduction as its math (``‖v‖``, not ``Norm2(v)``) and a switch as
    ``(a if x = 0 else b)``, not ``Piecewise((a, Eq(x, 0)), (b, True))``."""

    def _print_ReductionBase(self, expr) -> str:
        return expr.text.format(x=self._print(expr.args[0]))

    def _print_Equality(self, expr) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr) -> str:
        *pieces, (last, cond) = expr.args
        out = self._print(last) if cond == sp.true else "undefined"
        for value, c in reversed(pieces):
            out = f"{self._print(value)} if {self._print(c)} else {out}"
        return f"({out})"


def shown(expr: sp.Expr) -> str:
    """``expr`` as text for a message: whole up to :data:`SHOWN` characters, else its start
    and its length (a step through a kinked energy prints to a thousand characters)."""
    text = _MessagePrinter().doprint(expr)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}… ({len(text)} characters)"


@dataclass(frozen=True)
class Draft:
    """The pieces of a rule before emission."""

    hyperparameters: tuple[Hyperparameter, ...]
    buffers: tuple[Buffer, ...]
    pre: tuple[Assign, ...]
    updates: tuple[Assign, ...]
    scalars: tuple[Assign, ...]
    displacement: sp.Expr
    momentum: Buffer | None
    beta: sp.Symbol | None
    closures: tuple[str, ...] = ()
    latex_names: dict = field(default_factory=dict)
    #: The momentum in units of the mass, :math:`u = v/M`, as the step reads it (set by
    #: :func:`~hamopt.closures.library.diagonal_mass`, rescaled with ``v`` and ``y`` by the
    #: bias correction); :meth:`rule` names it where the step reads ``v`` and ``y`` through it.
    mass_units: sp.Expr | None = None
    #: The gradient in units of the mass, :math:`w = g/M`, where a scheme's step reads the
    #: gradient beside the momentum (``nag``); set and rescaled with ``mass_units``.
    gradient_units: sp.Expr | None = None

    def with_(self, **changes) -> Draft:
        return replace(self, **changes)

    def substituted(self, subs: dict) -> Draft:
        """The draft with ``subs`` made in the step and in the units it is read in (``u``,
        ``w``), so that a closure that rescales or replaces the momentum or the second moment
        (the bias corrections, AMSGrad's ŷ) leaves the step still read through them."""
        units = {
            name: None if units is None else units.xreplace(subs)
            for name, units in (
                ("mass_units", self.mass_units),
                ("gradient_units", self.gradient_units),
            )
        }
        return self.with_(displacement=self.displacement.xreplace(subs), **units)

    def add_buffer(self, buffer: Buffer, update: sp.Expr, doc: str) -> Draft:
        return self.with_(
            buffers=(*self.buffers, buffer),
            updates=(*self.updates, Assign(buffer.symbol, update, doc)),
        )

    def add_scalar(self, target: sp.Symbol, expr: sp.Expr, doc: str = "") -> Draft:
        return self.with_(scalars=(*self.scalars, Assign(target, expr, doc)))

    def note(self, text: str) -> Draft:
        return self.with_(closures=(*self.closures, text))

    def rule(self, name: str, provenance: Provenance) -> UpdateRule:
        """Emit the :class:`UpdateRule`."""
        named, displacement = _through_mass_units(self)
        final = Assign(param, param + displacement, "position update θ ← θ + Δθ")
        prov = replace(provenance, closures=(*provenance.closures, *self.closures))
        return UpdateRule(
            name,
            self.hyperparameters,
            self.buffers,
            (*self.pre, *self.updates, *self.scalars, *named, final),
            prov,
            dict(self.latex_names),
        )


Closure = Callable[[Draft], Draft]

#: The momentum in units of the mass, where the energy is read: :math:`u = \hat v/\hat M`.
MASS_UNITS = sp.Symbol("u", real=True)
#: The gradient in units of the mass, where a step that reads it reads the energy:
#: :math:`w = g/\hat M`.
GRADIENT_UNITS = sp.Symbol("w", real=True)


def _through_mass_units(d: Draft) -> tuple[tuple[Assign, ...], sp.Expr]:
    r"""The step written through named quantities, :math:`u = \hat v/(\sqrt{\hat y}+\epsilon)`
    and, where the scheme's step reads the gradient too (``nag``), :math:`w = g/(\sqrt{\hat y}
    +\epsilon)`.

    With a diagonal mass, :math:`\Delta\theta = \alpha\sum_i t_i\nabla T(a_i u + b_i w)`:
    every switch of a piecewise energy (``Abs``, ``sign``, ``Max``, a Heaviside step) reads a
    multiple of the same :math:`u`. Printed out, each would divide ``v`` by the mass in its
    own order, and a value that lands on a kink (Adam's first step puts :math:`|u|` at 1)
    could fall on one side in one term and on the other in the next. Computed once, every
    switch reads the same number. And an energy that squares its argument
    (:math:`x/\sqrt{x^2 + m^2c^2}`) squares :math:`u` and :math:`w`, of order 1, not
    :math:`g^2` and :math:`y` apart, which overflow float32 for :math:`|g| > 1.8\cdot10^{19}`
    (inf/inf: NaN). The substitutions :math:`v = u/s`, :math:`g = w/s_g` are exact; they are
    kept only where the step is left with no ``v``, ``y`` or ``g`` of its own (closures that
    rescale the mass afterwards keep the step as it is). Returns the assignments of ``u``
    (and ``w``), or nothing, and the step.
    """
    if d.mass_units is None or d.momentum is None:
        return (), d.displacement
    m = d.momentum.symbol
    scale = d.mass_units / m
    if scale.has(m):
        return (), d.displacement
    grad_scale = None if d.gradient_units is None else d.gradient_units / grad
    if grad_scale is not None and grad_scale.has(grad):
        grad_scale = None
    # the mass and its bias corrections are positive: Abs and sign see through the scale
    scales = scale.free_symbols | (set() if grad_scale is None else grad_scale.free_symbols)
    positive = {s: sp.Dummy(s.name, positive=True) for s in scales}
    back = {v: k for k, v in positive.items()}
    through = d.displacement.xreplace(positive).xreplace({m: MASS_UNITS / scale.xreplace(positive)})
    if grad_scale is not None and through.has(grad):
        through = through.xreplace({grad: GRADIENT_UNITS / grad_scale.xreplace(positive)})
    through = through.xreplace(back)
    tensors = {m, grad, *(b.symbol for b in d.buffers)}
    if through.has(*tensors) or not through.has(MASS_UNITS):
        return (), d.displacement
    named = [
        Assign(
            MASS_UNITS,
            sp.together(d.mass_units),
            "momentum in units of the mass u = v̂/(√ŷ + ε), where the energy is read",
        )
    ]
    if through.has(GRADIENT_UNITS):
        doc = "gradient in units of the mass w = g/(√ŷ + ε), where the energy is read"
        named.append(Assign(GRADIENT_UNITS, sp.together(d.gradient_units), doc))
    return tuple(named), through


def start(
    step: MLStep | None,
    displacement: sp.Expr,
    hyperparameters: Sequence[Hyperparameter],
    *,
    buffer: str = "exp_avg",
    beta: sp.Symbol | None = None,
    latex: str = "v",
) -> Draft:
    r"""A draft from a target form ``displacement`` (Δθ) of the derived step (in ``v``, ``g``, ``beta1``).

    The momentum buffer is named ``buffer``; ``beta`` is the rule's symbol for
    :math:`\beta_1` (``momentum`` for SGD-type optimizers). Its recursion and initialisation
    follow ``step.momentum``.
    """
    momentum = step.momentum if step is not None else Momentum()
    beta = beta if beta is not None else sp.Symbol("beta1", real=True)
    buf_sym = sp.Symbol(buffer, real=True)
    damp = sp.Symbol("dampening", real=True)
    subs = {v: buf_sym, g: grad, beta1: beta, dampening: damp}
    buf = Buffer(buffer, buf_sym, momentum.init, latex, "momentum")
    recursion = momentum.recursion(v, g).xreplace(subs)
    return Draft(
        tuple(hyperparameters),
        (buf,),
        (),
        (Assign(buf_sym, recursion, f"momentum: {momentum.describe()}"),),
        (),
        sp.sympify(displacement).xreplace(subs),
        buf,
        beta,
    )


def compose(draft: Draft, closures: Sequence[Closure]) -> Draft:
    """Apply ``closures`` in order."""
    for closure in closures:
        draft = closure(draft)
    return draft
