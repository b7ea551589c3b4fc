"""The C++ printer of the fused kernel: tensor expressions in the kernel's type ``T``, every
tensor-free sub-expression once in double and rounded to ``T``, torch's NaN rules for max/min.
That the printed kernels compile and compute the rule is tested on the zoo
(``tests/optim/test_fused.py``) and on drawn energies (``tests/test_properties.py``)."""

import pytest
import sympy as sp

from hamopt.codegen.kernel import CxxTensorPrinter
from hamopt.rule.reductions import REDUCTIONS, Norm2

p, a, b, t = sp.symbols("p a b t")
PRINTER = CxxTensorPrinter({}, lambda e: p in e.free_symbols or e.has(Norm2))


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        (a * p + (1 - a) * b, "T(a)*p + T(b*(1 - a))"),
        # c·p² as (c·p)·p, the order of torch's addcmul (finite where p² alone overflows)
        (-p * t / sp.sqrt(a * p**2 + b), "T(-t)*p/std::sqrt(T(a)*p*p + T(b))"),
        (p**2 + b, "T(b) + square(p)"),
        (-p / (a + p), "-p/(T(a) + p)"),
        (p**3, "T(std::pow(double(p), 3))"),  # in double, rounded once
        (1 / p, "T(1)/p"),
        (sp.Max(a * p, sp.Abs(p) + b), "maximum<T>(T(a)*p, T(b) + std::fabs(p))"),
        (sp.Min(p, 1), "minimum<T>(T(1), p)"),
        (sp.sign(p), "T((p > 0) - (p < 0))"),
        (sp.exp(-a * p) * sp.tanh(p), "T(std::exp(double(T(-a)*p)))*T(std::tanh(double(p)))"),
        (sp.Piecewise((p, p > 0), (2 * p, True)), "((p > T(0)) ? (p) : (T(2)*p))"),
        (sp.Piecewise((p, p > 0)), "((p > T(0)) ? (p) : (T(NAN)))"),
        (sp.Piecewise((a, t > 1), (b, True)) * p, "T(((t > 1) ? (a) : (b)))*p"),
        (p * sp.Rational(1, 3), "T(1.0/3.0)*p"),
        (p + sp.Float(1e-16), "p + T(1e-16)"),
    ],
)
def test_prints_one_expression(expr, code):
    assert PRINTER.doprint(expr) == code


def test_reserved_names_are_renamed():
    """A rule's symbol named like a C++ keyword or one of the kernel's own names."""
    double, n = sp.symbols("double n")
    assert PRINTER.doprint(double * p + n) == "T(double_)*p + T(n_)"


def test_every_zoo_rule_has_a_kernel():
    """Elementwise rules (in each format of their buffers), and those with norms, sums, means
    and max-abs (RGD, Apollo): the built library exports each."""
    import ctypes

    import hamopt.optim as zoo
    from hamopt.zoo import ZOO

    for name in ZOO:
        cls = getattr(zoo, name)
        library = ctypes.CDLL(cls.KERNEL.library(name))
        for variant, rule in cls.RULES.items():
            formats = ("", "_bfloat16", "_int8") if rule.elementwise else ("",)
            for suffix in formats:
                assert hasattr(library, f"step_{variant}{suffix}"), (name, variant, suffix)


def test_every_reduction_is_one_record_of_all_its_forms():
    """Each reduction carries its torch, foreach, C++, NumPy, mpmath and LaTeX forms, and they
    agree on numbers: the NumPy, mpmath and torch forms of each give the same value."""
    import math

    import mpmath
    import numpy as np
    import torch

    import hamopt.runtime as runtime

    x = [0.5, -2.0, 1.25, 3.0]
    names = {"torch": torch, "math": math, **{n: getattr(runtime, n) for n in runtime.__all__}}
    for reduction in REDUCTIONS:
        assert reduction.cxx[1] in ("total", "largest") and "{x}" in reduction.latex
        by_numpy = float(reduction.numpy(np.array(x)))
        by_mpmath = float(reduction.mpmath([mpmath.mpf(v) for v in x]))
        form = reduction.torch.format(x="t")
        by_torch = float(eval(form, {**names, "t": torch.tensor(x, dtype=torch.float64)}))
        assert math.isclose(by_numpy, by_mpmath, rel_tol=1e-14), reduction
        assert math.isclose(by_torch, by_mpmath, rel_tol=1e-14), reduction


def test_an_integer_beyond_ints_range_is_a_double_literal():
    """Adam's energy typed with ε = 1e-20 puts 10^20 in the step: printed as an integer
    literal it overflowed in C++, and the kernel's step (the CPU default) was -0.00072 where
    the other paths take -0.005. It prints as a double, and every path agrees."""
    import torch

    import hamopt
    from hamopt.cli import energy_from_text

    energy = energy_from_text("abs(p) - 1e-20*log(1 + abs(p)/1e-20)", [], "a")
    derived = hamopt.derive(energy, "euler", name="A")
    kernel = derived.source.split("KERNEL_SOURCE = ")[1].split('"""')[1]
    assert "100000000000000000000" not in kernel and "T(-1e+20*lr)" in kernel
    steps = []
    for path in (dict(foreach=False), dict(fused=True), {}):
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        optimizer = derived.cls([p], lr=0.01, **path)
        p.grad = torch.tensor([1e-19], dtype=torch.float64)
        optimizer.step()
        steps.append(p.item())
    assert steps == [pytest.approx(-0.005, rel=1e-12)] * 3
