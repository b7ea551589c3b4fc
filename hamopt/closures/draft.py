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

from hamopt.rule.hyperparameter import Hyperparameter
from hamopt.rule.update_rule import Assign, Buffer, Provenance, UpdateRule, grad, param
from hamopt.variables import MLStep, Momentum, beta1, dampening, g, v

__all__ = ["Closure", "Draft", "compose", "start"]


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

    def with_(self, **changes) -> Draft:
        return replace(self, **changes)

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
        final = Assign(param, param + self.displacement, "position update θ ← θ + Δθ")
        prov = replace(provenance, closures=(*provenance.closures, *self.closures))
        return UpdateRule(
            name,
            self.hyperparameters,
            self.buffers,
            (*self.pre, *self.updates, *self.scalars, final),
            prov,
            dict(self.latex_names),
        )


Closure = Callable[[Draft], Draft]


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
