r"""An independent oracle: one step of an :class:`UpdateRule` in 50-digit arithmetic (mpmath).

The torch code, the C++ kernel and the NumPy evaluator (:mod:`hamopt.rule.evaluate`) all print
the rule's SymPy expressions into floating-point code, after the numerical rewrites of
:mod:`hamopt.codegen.numerics`. This oracle shares none of that: it evaluates the *symbolic*
expressions as SymPy defines them, element by element with :mod:`mpmath` at ``dps`` significant
digits (50 by default), from inputs taken exactly (a float64 number is a dyadic rational, so
``mpf(x)`` is exact). Where that precision does not resolve the value, which happens where the
rule cancels (``cosh(x) - 1`` is :math:`5\cdot 10^{-61}` at :math:`x = 10^{-30}`, 0 at 50
digits), the precision doubles until two evaluations agree (Ziv's strategy, at most
``50·2⁴`` digits). Its answer is the rule's own value at those inputs, so a float64
implementation must agree with it to rounding, and must be finite wherever it is.

SymPy's semantics are kept, principal branches included: ``sqrt(v)`` of a negative ``v`` is
:math:`i\sqrt{|v|}` and ``Abs(sqrt(v))`` is :math:`\sqrt{|v|}`, which is what makes a rule that
floating point evaluates to NaN finite here. ``Piecewise`` takes the first branch whose condition
holds and evaluates no other. A value that is not a finite real number (a division by zero, a
logarithm of zero, a complex result) is reported as such: :func:`finite` is ``False`` there.

Reductions over a tensor (:mod:`hamopt.rule.reductions`) are computed over all elements of the
given arrays, in the same precision (``mpmath.fsum``).

>>> import sympy as sp
>>> from hamopt.rule.update_rule import Assign, UpdateRule, grad, param
>>> rule = UpdateRule("r", (), (), (Assign(param, param - sp.Abs(sp.sqrt(grad))),))
>>> out = step(rule, param=[0.0, 0.0], grad=[4.0, -4.0], state={}, hyperparameters={}, t=1)
>>> as_float(out["param"]).tolist()
[-2.0, -2.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp

from hamopt.rule.reductions import REDUCTIONS
from hamopt.rule.update_rule import UpdateRule
from hamopt.rule.update_rule import grad as _GRAD
from hamopt.rule.update_rule import param as _PARAM
from hamopt.rule.update_rule import step as _STEP

__all__ = ["DIGITS", "as_float", "finite", "step"]

#: Significant decimal digits of the oracle's arithmetic.
DIGITS = 50

_NAN = mpmath.mpf("nan")
#: How many times the precision may double when two evaluations disagree.
_ESCALATIONS = 4


def step(
    rule: UpdateRule,
    *,
    param: Sequence[float] | np.ndarray,
    grad: Sequence[float] | np.ndarray,
    state: Mapping[str, Sequence[float] | np.ndarray | float],
    hyperparameters: Mapping[str, float],
    t: int,
    dps: int = DIGITS,
) -> dict[str, np.ndarray]:
    r"""One step of ``rule`` on one tensor, exactly to ``dps`` digits.

    Parameters
    ----------
    rule
        The update rule.
    param, grad
        The parameter :math:`\theta` and the gradient :math:`g`, flat arrays of one length
        (the elements of one tensor).
    state
        Every buffer's value before the step, by buffer name: an array like ``param`` for a
        tensor buffer, a number for a scalar state.
    hyperparameters
        Values by symbol name (``lr``, ``beta1``…); every hyperparameter the rule uses.
    t
        This step's count :math:`t \ge 1` (the generated code's ``step`` after it counts).
    dps
        Significant decimal digits.

    Returns
    -------
    dict
        ``"param"`` and every buffer name → object array of mpmath numbers (``mpf``, or
        ``mpc`` where the rule's value is complex), the state after the step.
    """
    if not isinstance(t, int) or t < 1:
        raise ValueError(f"the step count t must be an integer >= 1, got {t!r}")
    theta = _exact(param, "param")
    n = len(theta)
    g = _exact(grad, "grad")
    if len(g) != n:
        raise ValueError(f"grad has {len(g)} elements, param {n}")
    state = {name: value for name, value in state.items()}
    for b in rule.buffers:
        if b.name not in state:
            raise ValueError(f"rule {rule.name}: no value for buffer {b.name}")
        if b.shape == "tensor":
            state[b.name] = _exact(state[b.name], b.name)
            if len(state[b.name]) != n:
                raise ValueError(f"buffer {b.name} has {len(state[b.name])} elements, param {n}")
    # Ziv's strategy: double the precision until two evaluations agree to dps digits (a value
    # that cancels to 1e-60, cosh(1e-30) - 1, reads 0 at 50 digits and 5e-61 at 100)
    out = _program(rule, theta, g, state, hyperparameters, t, dps)
    for _ in range(_ESCALATIONS):
        finer = _program(rule, theta, g, state, hyperparameters, t, 2 * dps)
        if all(_agree(out[k], finer[k], dps) for k in out):
            break
        out, dps = finer, 2 * dps
    return {k: _array(v, n) for k, v in out.items()}


def _program(rule, theta, g, state, hyperparameters, t, dps) -> dict[str, object]:
    """The rule's assignments in order at ``dps`` digits: param and buffers after the step."""
    used = set().union(set(), *(a.expr.free_symbols for a in rule.assignments))
    with mpmath.workdps(dps):
        env: dict[sp.Symbol, object] = {_STEP: mpmath.mpf(t), _PARAM: theta, _GRAD: g}
        for s in rule.scalar_symbols:
            if s in used:
                if s.name not in hyperparameters:
                    raise ValueError(f"rule {rule.name} needs a value for {s.name}")
                env[s] = mpmath.mpf(float(hyperparameters[s.name]))
        for b in rule.buffers:
            value = state[b.name]
            env[b.symbol] = mpmath.mpf(float(value)) if b.shape == "scalar" else value
        for a in rule.assignments:
            buf = rule.buffer(a.target)
            if buf is not None and buf.init == "grad" and t == 1:
                env[a.target] = list(env[_GRAD])  # first-gradient init
                continue
            env[a.target] = _evaluate(a.expr, env, len(theta))
        return {"param": env[_PARAM]} | {b.name: env[b.symbol] for b in rule.buffers}


def _agree(a, b, dps: int) -> bool:
    """Whether two evaluations agree to ``dps`` - 5 digits (both not finite reals counts)."""
    xs, ys = (a, b) if isinstance(a, list) else ([a], [b])
    for x, y in zip(xs, ys, strict=True):
        if _finite_real(x) != _finite_real(y):
            return False
        if _finite_real(x) and abs(x - y) > abs(y) * mpmath.mpf(10) ** (5 - dps):
            return False
    return True


def finite(values: np.ndarray) -> np.ndarray:
    """Where the oracle's values are finite real numbers (elementwise, a bool array)."""
    return np.array([_finite_real(x) for x in values], dtype=bool)


def as_float(values: np.ndarray) -> np.ndarray:
    """The oracle's values rounded to float64 (round to nearest); NaN where not finite real."""
    return np.array(
        [float(mpmath.re(x)) if _finite_real(x) else np.nan for x in values], dtype=np.float64
    )


# -- implementation ------------------------------------------------------------------------------
def _exact(values, what: str) -> list:
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite")
    return [mpmath.mpf(float(x)) for x in array]  # exact: a float64 is a dyadic rational


def _array(value, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = value if isinstance(value, list) else [value] * n
    return out


def _finite_real(x) -> bool:
    if isinstance(x, mpmath.mpc):
        if x.imag != 0:
            return False
        x = x.real
    return bool(mpmath.isfinite(x))


def _evaluate(expr: sp.Expr, env: Mapping[sp.Symbol, object], n: int):
    """``expr`` in ``env`` (a list of ``n`` values for tensors, else one value)."""
    # each outermost reduction is computed over all elements first, then stands as a scalar
    reductions = {}
    for node in _outer_reductions(expr):
        if node not in reductions:
            inner = _evaluate(node.args[0], env, n)
            elements = inner if isinstance(inner, list) else [inner] * n
            placeholder = sp.Dummy(f"reduction_{len(reductions)}", dummy_index=len(reductions))
            reductions[node] = (placeholder, node.mpmath(elements))
    body = expr.xreplace({node: ph for node, (ph, _) in reductions.items()})
    values = {**env, **dict(reductions.values())}
    fn, args = _compiled(body)
    tensors = [a for a in args if isinstance(values[a], list)]
    if not tensors:
        return _call(fn, [values[a] for a in args])
    return [
        _call(fn, [values[a][i] if a in tensors else values[a] for a in args]) for i in range(n)
    ]


@functools.lru_cache(maxsize=256)
def _compiled(body: sp.Expr) -> tuple[Callable, list[sp.Symbol]]:
    """``body`` as a function of its free symbols (sorted) with mpmath's functions."""
    args = sorted(body.free_symbols, key=sp.default_sort_key)
    return sp.lambdify(args, body, "mpmath"), args


def _call(fn: Callable, args: list):
    try:
        out = fn(*args)
    except (ZeroDivisionError, ValueError, OverflowError):
        return _NAN
    except TypeError as error:  # a complex value in a condition: the rule is not real here
        if "mpc" not in str(error):
            raise
        return _NAN
    return out if isinstance(out, (mpmath.mpf, mpmath.mpc)) else mpmath.mpmathify(out)


def _outer_reductions(expr: sp.Basic):
    if isinstance(expr, REDUCTIONS):
        yield expr
        return
    for arg in expr.args:
        yield from _outer_reductions(arg)
