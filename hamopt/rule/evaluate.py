r"""A reference evaluator: run an :class:`UpdateRule` on NumPy arrays, in float64.

It shares nothing with the torch code generator but the rule itself and the numerical rewrites
of :mod:`hamopt.codegen.numerics` (``Abs(sqrt(v))`` → ``sqrt(Abs(v))``, ``log(1 + x)`` →
``log1p(x)``…, identities for real arguments that floating point evaluates where the rule is
finite), so the two can be checked against each other: the generated ``torch`` step must equal
:func:`run` to rounding. The independent check of both is :mod:`hamopt.rule.oracle`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import sympy as sp

from hamopt.codegen.numerics import NumericFormBase, finite_form
from hamopt.rule.reductions import REDUCTIONS
from hamopt.rule.update_rule import UpdateRule, grad, param, step

__all__ = ["run"]

#: NumPy forms of the per-tensor reductions (each reduction's record), by class name.
_NUMPY = {reduction.__name__: reduction.numpy for reduction in REDUCTIONS}


def _functions(rule: UpdateRule) -> list[tuple[sp.Symbol, Callable, list[sp.Symbol]]]:
    out = []
    for a in rule.assignments:
        args = sorted(a.expr.free_symbols | {step}, key=str)
        expr = finite_form(a.expr).replace(
            lambda e: isinstance(e, NumericFormBase), lambda e: e.evaluated()
        )
        for reduction in REDUCTIONS:  # undefined functions lambdify to the _NUMPY entries
            expr = expr.replace(reduction, sp.Function(reduction.__name__))
        out.append((a.target, sp.lambdify(args, expr, [_NUMPY, "numpy"]), args))
    return out


def run(
    rule: UpdateRule,
    theta: np.ndarray,
    gradient: Callable[[np.ndarray], np.ndarray],
    hyperparameters: Mapping[str, float],
    steps: int,
) -> np.ndarray:
    """Apply ``rule`` for ``steps`` steps from ``theta`` with ``gradient(theta)``; return θ.

    ``hyperparameters`` maps symbol names (``lr``, ``beta1``, …) to values.
    """
    values: dict[sp.Symbol, object] = {}
    used = set().union(*(a.expr.free_symbols for a in rule.assignments))
    for s in rule.scalar_symbols:
        if s not in used:
            continue
        if s.name not in hyperparameters:
            raise ValueError(f"rule {rule.name} needs a value for {s.name}")
        values[s] = float(hyperparameters[s.name])
    theta = np.array(theta, dtype=np.float64)
    state = {
        b.symbol: np.zeros_like(theta) if b.shape == "tensor" else np.float64(b.initial)
        for b in rule.buffers
    }
    program = _functions(rule)
    for t in range(1, steps + 1):
        env = {**values, **state, param: theta, grad: np.asarray(gradient(theta), float), step: t}
        for target, fn, args in program:
            buf = rule.buffer(target)
            if buf is not None and buf.init == "grad" and t == 1:
                env[target] = np.array(env[grad], dtype=np.float64)
                continue
            env[target] = fn(*(env[a] for a in args))
        theta = np.asarray(env[param], dtype=np.float64)
        state = {b.symbol: np.asarray(env[b.symbol], dtype=np.float64) for b in rule.buffers}
    return theta
