r"""Per-tensor reductions used inside update rules, one record each.

They stay unevaluated SymPy functions of a tensor symbol, so a rule can say
:math:`\lVert v\rVert^2` (norm-coupled energies) or :math:`\lVert d\rVert_4` (Apollo). Each
class is the one record of its reduction: the forms every printer and evaluator takes from it —

* ``torch``: on one tensor ``{x}`` (the single-tensor and fused paths); a norm accumulates in
  float64, as the kernel does (a float32 ‖v‖² overflows from ‖v‖ ≈ 1.8e19 on, ‖d‖₄⁴ from 1.8e9
  on, and the step would divide by inf);
* ``foreach``: on a list ``{x}``, one call returning a list, or None: the torch form per tensor;
* ``cxx``: the C++ kernel's (how a thread accumulates an element ``{x}`` into a double ``{s}``,
  how the threads' partial results combine — ``total`` or ``largest`` — and the result from the
  combined ``{s}``);
* ``numpy``: the reference evaluator's; ``mpmath``: the exact oracle's, on a list of numbers;
* ``latex``: the math, ``{x}`` the printed argument; ``text``: the same in plain text (messages);
* ``value_name``: what the generated code calls its value where an equation reads it more than once
  (``exp_avg_norm``: :func:`~hamopt.codegen.shared.computed_once`).
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp

__all__ = ["REDUCTIONS", "MaxAbs", "Mean", "Norm2", "Norm4", "ReductionBase", "SumOf"]


class ReductionBase(sp.Function):
    """A reduction over all elements of a tensor expression: the record of its forms. (SymPy's
    printers dispatch a Function subclass to ``_print_<name>`` or to a base named ``*Base``.)"""

    torch: str
    foreach: str | None = None
    cxx: tuple[str, str, str]
    numpy: Callable
    mpmath: Callable
    latex: str
    text: str
    value_name: str
    #: whether a power of it wraps the whole reduction in parentheses in LaTeX
    latex_group: bool = False

    def _latex(self, printer, exp=None):
        arg = (
            printer.parenthesize(self.args[0], 1000)
            if self.latex_group
            else printer._print(self.args[0])
        )
        tex = self.latex.format(x=arg)
        if exp is None:
            return tex
        return f"({tex})^{{{exp}}}" if self.latex_group else f"{tex}^{{{exp}}}"


class Norm2(ReductionBase):
    r""":math:`\lVert x \rVert_2` over all elements of a tensor."""

    is_nonnegative = True
    is_real = True
    torch = "torch.linalg.vector_norm({x}, dtype=torch.float64)"
    foreach = "torch._foreach_norm({x}, 2, dtype=torch.float64)"
    cxx = ("{s} += squared({x})", "total", "std::sqrt({s})")
    numpy = staticmethod(lambda x: np.linalg.norm(np.ravel(x)))
    mpmath = staticmethod(lambda xs: mpmath.sqrt(mpmath.fsum(x * x for x in xs)))
    latex = r"\lVert {x} \rVert"
    text = "‖{x}‖"
    value_name = "norm"


class MaxAbs(ReductionBase):
    r""":math:`\lVert x \rVert_\infty` over all elements of a tensor."""

    is_nonnegative = True
    is_real = True
    torch = "max_abs({x})"  # the runtime's: 0 for an empty tensor, which torch's norm refuses
    foreach = "foreach_max_abs({x})"
    cxx = ("{s} = maximum<double>({s}, std::fabs(double({x})))", "largest", "{s}")
    numpy = staticmethod(lambda x: np.max(np.abs(x), initial=0.0))
    mpmath = staticmethod(lambda xs: max((abs(x) for x in xs), default=mpmath.mpf(0)))
    latex = r"\lVert {x} \rVert_\infty"
    text = "‖{x}‖∞"
    value_name = "max_abs"


class SumOf(ReductionBase):
    r""":math:`\sum_i x_i` over all elements of a tensor expression."""

    is_real = True
    torch = "torch.sum({x})"
    cxx = ("{s} += double({x})", "total", "{s}")
    numpy = staticmethod(np.sum)
    mpmath = staticmethod(mpmath.fsum)
    latex = r"\textstyle\sum {x}"
    text = "sum({x})"
    value_name = "sum"
    latex_group = True


class Norm4(ReductionBase):
    r""":math:`\lVert x \rVert_4 = (\sum_i x_i^4)^{1/4}` over all elements of a tensor (Apollo)."""

    is_nonnegative = True
    is_real = True
    torch = "torch.linalg.vector_norm({x}, 4, dtype=torch.float64)"
    foreach = "torch._foreach_norm({x}, 4, dtype=torch.float64)"
    cxx = ("{s} += squared(squared({x}))", "total", "std::sqrt(std::sqrt({s}))")
    numpy = staticmethod(lambda x: np.sum(np.asarray(x) ** 4) ** 0.25)
    mpmath = staticmethod(lambda xs: mpmath.root(mpmath.fsum(x**4 for x in xs), 4))
    latex = r"\lVert {x} \rVert_4"
    text = "‖{x}‖₄"
    value_name = "norm4"


class Mean(ReductionBase):
    r""":math:`\tfrac1n\sum_i x_i` over all elements of a tensor expression."""

    is_real = True
    torch = "torch.mean({x})"
    cxx = ("{s} += double({x})", "total", "{s}/double(group.numels()[i])")
    numpy = staticmethod(np.mean)
    mpmath = staticmethod(lambda xs: mpmath.fsum(xs) / len(xs))
    latex = r"\operatorname{{mean}} {x}"
    text = "mean({x})"
    value_name = "mean"
    latex_group = True


REDUCTIONS = (Norm2, MaxAbs, SumOf, Norm4, Mean)
