"""Which buffers of a rule must not read 0 where they hold a tiny value (8-bit state).

8-bit state keeps a buffer per block of 256 values as codes of a map scaled by the block's
largest magnitude (:mod:`hamopt.runtime.state_storage`): a value below half the map's smallest
nonzero value s reads either 0, its nearest, or s, the nearest of its sign. Either can make the
next step larger than the true value does:

* Adam's second moment v, read as 0, makes the step m̂/(√v̂ + ε) as large as m̂/ε;
* Adam's first moment m, read as s where v is truly 0, makes the step s/ε where it is ~0.

The safe reading is the one that makes the step smaller. This module finds it from the rule
itself: the position update Δθ as a function of the values the buffers hold at the start of a
step (the assignments composed in order), evaluated with the gradient and the parameter 0 (where
a tiny buffer matters, and no weight decay adds to the step), the hyperparameters at their
defaults, the step count 1, 10 and 1000, and each other
buffer 0 or 1. A buffer is *kept nonzero* where, in one of these settings, |Δθ| with the buffer
at 0 exceeds |Δθ| with it at ±10⁻³, ±10⁻⁶ or ±10⁻⁹ (or is not finite): reading it as 0 would
step further than reading it as a small value. Its other buffers read their nearest value, 0
included.

    from hamopt.zoo import ZOO
    adam = dict((r.name, r) for _, r in ZOO["Adam"][1]().variants)["adam"]
    kept_nonzero(adam)  # ['exp_avg_sq']: m̂/(√v̂ + ε) is largest at v = 0; m̂ = 0 steps 0
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy as sp

from hamopt.rule.hyperparameter import REQUIRED
from hamopt.rule.update_rule import UpdateRule, grad, param, step

__all__ = ["kept_nonzero", "position_update"]

#: The small values a buffer is compared at against 0, and the step counts of the comparison.
SMALL = (1e-3, 1e-6, 1e-9)
STEPS = (1, 10, 1000)


def position_update(rule: UpdateRule) -> sp.Expr:
    """Δθ = θ' − θ of one step as an expression of θ, g, the step count, the hyperparameters and
    the values the buffers hold when the step starts: each assignment's target replaced, in the
    later ones, by what it was computed from."""
    held: dict[sp.Symbol, sp.Expr] = {}
    for a in rule.assignments:
        held[a.target] = a.expr.xreplace(held)
    return held.get(param, param) - param


def kept_nonzero(rule: UpdateRule) -> list[str]:
    """The tensor buffers of ``rule`` that 8-bit state keeps from reading 0 where they hold a
    value that is not 0 (module docstring). Where the update cannot be evaluated (a symbol
    without a default, a reduction over the tensor: no 8-bit state), every tensor buffer, as a
    buffer read as 0 may then step anywhere."""
    tensors = [b for b in rule.buffers if b.shape == "tensor"]
    if not tensors or not rule.elementwise:
        return [b.name for b in tensors]
    delta = position_update(rule)
    fixed = {param: 0.0, grad: 0.0}
    for b in rule.buffers:
        if b.shape != "tensor":
            fixed[b.symbol] = float(b.initial)
    for h in rule.hyperparameters:
        if not h.symbols:
            continue
        defaults = h.default if isinstance(h.default, tuple) else (h.default,)
        for symbol, value in zip(h.symbols, defaults, strict=False):
            fixed[symbol] = 1e-3 if value is None or value is REQUIRED else float(value)
    order = [b.symbol for b in tensors]
    unknown = delta.free_symbols - set(fixed) - set(order) - {step}
    if unknown:
        return [b.name for b in tensors]
    update = sp.lambdify([step, *order], delta.xreplace(fixed), modules="numpy")

    def size(*values) -> float:
        with np.errstate(all="ignore"):
            try:
                return abs(complex(update(*values)))
            except (ArithmeticError, TypeError, ValueError, NameError):
                return math.nan

    kept = []
    for j, b in enumerate(tensors):
        others = [(0.0, 1.0)] * len(tensors)
        others[j] = (0.0,)
        for t, values in itertools.product(STEPS, itertools.product(*others)):
            at_zero = size(t, *values)
            near = [size(t, *values[:j], x, *values[j + 1 :]) for s in SMALL for x in (s, -s)]
            if not math.isfinite(at_zero) or any(
                math.isfinite(v) and at_zero > v * (1 + 1e-9) for v in near
            ):
                kept.append(b.name)
                break
    return kept
