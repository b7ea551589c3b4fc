"""The numerical rewrites of :mod:`hamopt.codegen.numerics`, one test case per rewrite.

For each rewrite R1–R11: the rewritten expression equals the original at sample points (mpmath,
80 digits), and at a point where floating point evaluates the original badly (NaN, Inf or a
cancelled result) the generated torch code of the rewritten one agrees with the exact value to
1e-13 while the original, printed literally, does not. Then: every printer (torch, foreach,
C++ kernel) prints the functions the rewrites introduce, and expressions no rewrite matches —
the zoo's — come back as the same objects.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.codegen.kernel import CxxTensorPrinter
from hamopt.codegen.numerics import LogCosh, XMinusLog1p, expm1, finite_form, log1p
from hamopt.codegen.printer import TensorPrinter, foreach_code

x = sp.Symbol("x", real=True)
y = sp.Symbol("y", positive=True)
a = sp.Symbol("a", positive=True)
TENSORS = {x, y}

#: rule → (expression, where its literal float64 evaluation fails, sample points of its domain)
CASES = {
    "R1 |b^e|": (sp.Abs(sp.sqrt(x)), {x: -4.0}, [{x: -2.5}, {x: 0.7}]),
    "R2 b^m |b|^k": (x**3 / sp.Abs(x) ** sp.Rational(5, 2), {x: 1e150}, [{x: -2.5}, {x: 0.7}]),
    "R2 distributed": (x * (2 + 1 / sp.Abs(x)), {x: -1e-310}, [{x: -2.5}, {x: 0.7}]),
    "R3 log(b^e)": (sp.log(y ** sp.Rational(5, 2)), {y: 1e200}, [{y: 0.3}, {y: 7.0}]),
    "R4 log cosh (small)": (sp.log(sp.cosh(x)), {x: 1e-10}, [{x: -2.5}, {x: 0.7}]),
    "R4 log cosh (large)": (sp.log(sp.cosh(x)), {x: -800.0}, [{x: -2.5}, {x: 0.7}]),
    "R5 cosh - 1": (3 * sp.cosh(x) - 3, {x: 1e-10}, [{x: -2.5}, {x: 0.7}]),
    "R6 exp - 1": (sp.exp(x) - 1, {x: 1e-20}, [{x: -2.5}, {x: 0.7}]),
    # the velocity of exp|p| − 1 − |p|: the constant is a factor, sign(x)
    "R6 factor·(exp - 1)": (
        sp.sign(x) * sp.exp(sp.Abs(x)) - sp.sign(x),
        {x: -1e-20},
        [{x: -2.5}, {x: 0.7}],
    ),
    # its leapfrog step: two terms share the constant, s·(1 − e^{a|x|}/2 − e^{|x|}/2)
    "R6 shared constant": (
        a
        * (
            -sp.sign(x) * sp.exp(sp.Abs(x) / 2) / 2
            - sp.sign(x) * sp.exp(sp.Abs(x)) / 2
            + sp.sign(x)
        ),
        {x: 1e-20, a: 0.3},
        [{x: -2.5, a: 0.3}, {x: 0.7, a: 2.0}],
    ),
    "R7 log(1 + x)": (sp.log(1 + x**2), {x: 1e-10}, [{x: -2.5}, {x: 0.7}]),
    "R7 log((a + x)/a)": (sp.log((a + x) / a), {x: 1e-20, a: 3.0}, [{x: 0.7, a: 3.0}]),
    "R8 sinh/cosh": (sp.sinh(x) / sp.cosh(x), {x: 800.0}, [{x: -2.5}, {x: 0.7}]),
    "R9 x - log(1 + x)": (y - sp.log(1 + y), {y: 1e-10}, [{y: 0.3}, {y: 7.0}]),
    "R10 sqrt(A) - B": (sp.sqrt(1 + x**2) - 1, {x: 1e-10}, [{x: -2.5}, {x: 0.7}]),
    "R11 cancelled sum": (a - a / (1 + x**2), {x: 1e-10, a: 2.0}, [{x: -2.5, a: 0.5}]),
}


def _exact(expr: sp.Expr, point: dict) -> mpmath.mpf:
    functions = {
        "log1p": mpmath.log1p,
        "expm1": mpmath.expm1,
        "XMinusLog1p": lambda u: u - mpmath.log1p(u),
        "LogCosh": lambda u: mpmath.log(mpmath.cosh(u)),
    }
    symbols = sorted(expr.free_symbols, key=str)
    fn = sp.lambdify(symbols, expr, [functions, "mpmath"])
    with mpmath.workdps(80):
        return fn(*(mpmath.mpf(point[s]) for s in symbols))


def _literal(expr: sp.Expr, point: dict) -> float:
    """``expr`` as written, in float64 (NumPy)."""
    symbols = sorted(expr.free_symbols, key=str)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sp.lambdify(symbols, expr, "numpy")(*(np.float64(point[s]) for s in symbols)))


def _generated(expr: sp.Expr, point: dict) -> float:
    """``expr`` through the generated code's printer (rewrites included), in float64 torch."""
    names = {s: s.name for s in expr.free_symbols}
    code = TensorPrinter(names, lambda e: bool(e.free_symbols & TENSORS)).doprint(expr)
    env = {"torch": torch, "math": math}
    env |= {s.name: (torch.tensor(v) if s in TENSORS else v) for s, v in point.items()}
    return float(eval(code, env))


def _close(value: float, exact, rel: float) -> bool:
    return math.isfinite(value) and abs(value - float(exact)) <= rel * abs(float(exact))


@pytest.mark.parametrize("case", sorted(CASES))
def test_rewrite_is_an_identity_that_floating_point_evaluates(case):
    before, bad, samples = CASES[case]
    after = finite_form(before)
    assert after != before, "the rewrite applies"
    for point in samples:  # the same function
        with mpmath.workdps(80):
            assert abs(_exact(after, point) - _exact(before, point)) <= mpmath.mpf(10) ** -60
    exact = _exact(before, bad)
    assert not _close(_literal(before, bad), exact, 1e-3), "the literal form fails here"
    assert _close(_generated(before, bad), exact, 1e-13), "the generated code does not"


@pytest.mark.parametrize(
    ("before", "feature"),
    [
        (sp.Abs(sp.sqrt(x)), sp.Abs(x) ** sp.S.Half),
        (x**3 / sp.Abs(x), sp.sign(x)),
        (sp.log(sp.cosh(x)), LogCosh(x)),
        (sp.log(1 + x**2), log1p(x**2)),
        (sp.exp(x) - 1, expm1(x)),
        (y - sp.log(1 + y), XMinusLog1p(y)),
    ],
)
def test_rewritten_form(before, feature):
    assert finite_form(before).has(feature)


@pytest.mark.parametrize(
    ("expr", "points"),
    [
        (y - sp.log(1 + y), [9.99e-4, 1e-3, 1.001e-3, 0.2]),  # R9 either side of the series' edge
        (sp.log(sp.cosh(x)), [-0.999, 1.0, 1.001, 30.0]),  # R4 either side of |x| = 1
    ],
)
def test_piecewise_forms_are_accurate_on_both_sides(expr, points):
    symbol = next(iter(expr.free_symbols))
    for value in points:
        exact = _exact(expr, {symbol: value})
        assert _close(_generated(expr, {symbol: value}), exact, 1e-13), value


def test_odd_rule_stays_odd_bitwise():
    # sign(v)·|v|^(1/2) from v/|sqrt(v)|: negating v negates the value exactly
    expr = x * (1 + x**2 / sp.Abs(sp.sqrt(x)))
    values = [1e-30, 0.3, 2.0, 1e10]
    for v in values:
        assert _generated(expr, {x: -v}) == -_generated(expr, {x: v})


def test_every_printer_prints_what_the_rewrites_introduce():
    expr = sp.log(1 + x**2) + sp.exp(x) - 1 + (y - sp.log(1 + y)) + x / sp.Abs(x)
    single = TensorPrinter({x: "x", y: "y"}, lambda e: bool(e.free_symbols)).doprint(expr)
    assert "torch.log1p" in single and "torch.expm1" in single and "torch.where" in single
    lists = {x: "xs", y: "ys"}
    with pytest.raises(Exception, match="no foreach form"):  # the series is a Piecewise
        foreach_code(expr, lists, lambda e: bool(e.free_symbols), frozenset(), {})
    code = foreach_code(
        expr - (y - sp.log(1 + y)), lists, lambda e: bool(e.free_symbols), frozenset(), {}
    )
    assert "torch._foreach_log1p" in code and "torch._foreach_expm1" in code
    xs, ys = [torch.tensor([1e-10, -2.0])], [torch.tensor([0.5, 3.0])]
    got = eval(code, {"torch": torch, "math": math, "xs": xs, "ys": ys})[0]
    want = torch.log1p(xs[0] ** 2) + torch.expm1(xs[0]) + torch.sign(xs[0])
    assert torch.allclose(got, want, rtol=1e-15, atol=0)
    cxx = CxxTensorPrinter({}, lambda e: bool(e.free_symbols)).doprint(expr)
    assert "std::log1p" in cxx and "std::expm1" in cxx and "?" in cxx


def test_expressions_no_rewrite_matches_are_returned_as_they_are():
    from hamopt.zoo import ZOO

    for name in ("SGD", "Adam", "Adamax", "NAdam", "RAdam", "Apollo"):
        for _, rule in ZOO[name][1]().variants:
            for a_ in rule.assignments:
                assert finite_form(a_.expr) is a_.expr, (name, a_.target)


def test_a_term_outside_the_cancellation_stays_outside_the_fraction():
    """R11 on θ + a/b + c/d where only the fractions cancel: θ stays a term of its own. Put
    over the common denominator, (θbd + ad + cb)/(bd) rounds θ through the fraction, and a
    step that is 0 moves θ. Where the plain term cancels too (``a - a/(1 + x²)``) the sum is
    one fraction, as before."""
    theta, v = sp.Symbol("theta", real=True), sp.Symbol("v", real=True)
    b, e, h = sp.symbols("b e h", positive=True)  # Adam's energy × leapfrog, lr = h
    step = -b * v * h**2 / (2 * (b * h * sp.Abs(v) + e * (1 - b))) - v * h**2 / (
        2 * e * (1 - b) + 2 * h * sp.Abs(v)
    )
    rewritten = finite_form(theta + step)
    assert theta in sp.Add.make_args(rewritten)
    assert not any(t.has(theta) for t in sp.Add.make_args(rewritten) if t != theta)
    assert sp.simplify(rewritten - theta - step) == 0
    assert len(sp.Add.make_args(finite_form(a - a / (1 + x**2)))) == 1


def test_a_derived_step_that_is_zero_leaves_the_parameter_as_it_is():
    """Adam's energy under leapfrog, lr = h: Δθ = 0 where the momentum is 0. Printed as one
    fraction with θ inside, a zero gradient moved θ by about 1e-5 a step in float32 (ε² terms
    that cancel); θ + Δθ leaves it bit for bit, on every path."""
    from hamopt.derive import derive
    from hamopt.kinetic import adam_energy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls = derive(adam_energy(), "leapfrog", parameterisation="physical").cls
    start = torch.tensor([1.0, -2.0, 3.0, 1e-3], dtype=torch.float32)
    for path in (dict(foreach=False), dict(foreach=True), dict(fused=True), {}):
        theta = start.clone().requires_grad_()
        opt = cls([theta], lr=0.1, **path)
        for _ in range(3):
            theta.grad = torch.zeros_like(theta)
            opt.step()
        assert torch.equal(theta.detach(), start), path
