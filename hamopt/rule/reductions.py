r"""Per-tensor reductions used inside update rules.

They stay unevaluated SymPy functions of a tensor symbol, so a rule can say
:math:`\lVert v\rVert^2` (norm-coupled energies) or :math:`\lVert d\rVert_4` (Apollo) and every
printer decides how to compute it: ``torch.linalg.vector_norm`` on one tensor,
``torch._foreach_norm`` on a list, ``numpy.linalg.norm`` in the reference evaluator.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["REDUCTIONS", "MaxAbs", "Mean", "Norm2", "Norm4", "SumOf"]


class Norm2(sp.Function):
    r""":math:`\lVert x \rVert_2` over all elements of a tensor."""

    is_nonnegative = True
    is_real = True

    def _latex(self, printer, exp=None):
        tex = r"\lVert %s \rVert" % printer._print(self.args[0])
        return tex if exp is None else f"{tex}^{{{exp}}}"


class MaxAbs(sp.Function):
    r""":math:`\lVert x \rVert_\infty` over all elements of a tensor."""

    is_nonnegative = True
    is_real = True

    def _latex(self, printer, exp=None):
        tex = r"\lVert %s \rVert_\infty" % printer._print(self.args[0])
        return tex if exp is None else f"{tex}^{{{exp}}}"


class SumOf(sp.Function):
    r""":math:`\sum_i x_i` over all elements of a tensor expression."""

    is_real = True

    def _latex(self, printer, exp=None):
        tex = r"\textstyle\sum %s" % printer.parenthesize(self.args[0], 1000)
        return tex if exp is None else f"({tex})^{{{exp}}}"


class Norm4(sp.Function):
    r""":math:`\lVert x \rVert_4 = (\sum_i x_i^4)^{1/4}` over all elements of a tensor (Apollo)."""

    is_nonnegative = True
    is_real = True

    def _latex(self, printer, exp=None):
        tex = r"\lVert " + printer._print(self.args[0]) + r" \rVert_4"
        return tex if exp is None else f"{tex}^{{{exp}}}"


class Mean(sp.Function):
    r""":math:`\tfrac1n\sum_i x_i` over all elements of a tensor expression."""

    is_real = True

    def _latex(self, printer, exp=None):
        tex = r"\operatorname{mean} " + printer.parenthesize(self.args[0], 1000)
        return tex if exp is None else f"({tex})^{{{exp}}}"


REDUCTIONS = (Norm2, MaxAbs, SumOf, Norm4, Mean)
