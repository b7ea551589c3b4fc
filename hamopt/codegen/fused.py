r"""The fused path of a generated optimizer: every tensor of a group in one call.

An optimizer step is memory-bound. Adam reads :math:`\theta, g, m, v` and writes
:math:`\theta, m, v`: 28 bytes per float32 parameter, so its speed limit is the machine's
streaming bandwidth. The single-tensor path runs one kernel per operation and tensor, the
foreach path one per operation over all tensors, and both write full-size temporaries between
operations. The fused path reads every operand once and writes the updated buffers in place, with
no temporary, through one of two backends:

* **the generated C++ kernel** (:mod:`hamopt.codegen.kernel`) on plain dense float32/float64 CPU
  tensors (half precision too, which the optimizer computes in float32): one loop over all
  elements of the group (one more per level of reductions such as RGD's norm), split over the
  threads in one parallel region, built once per machine with the C++ compiler (a second or
  two) and cached on disk;
* **torch.compile** otherwise — CUDA tensors, DTensor, a tensor with gaps in its memory (a
  slice), no C++ compiler for the kernel — or when ``HAMOPT_FUSED=compile`` is set in the
  environment: inductor turns the equations into one loop per tensor (vectorised C++ on CPU,
  Triton on GPU).

For every rule ``<variant>`` a generated module holds

* ``_fused_<variant>(params, grads, state_steps, <buffers>, numbers, *, maximize)`` — the
  rule's tensor equations, one line each, in a loop over the group's tensors, which also counts
  every tensor's step. Dynamo unrolls the loop, so a group is one graph and one call.
  Every number comes in through one float64 tensor, ``numbers``: the hyperparameters, then the
  per-tensor lists of step-dependent scalars (``step_sizes``…). Each equation is printed
  operation for operation as the kernel computes it (:class:`KernelOrderPrinter`), so that
  run eagerly in float32 it gives the kernel's bits (the reference of low-precision state,
  :mod:`hamopt.runtime.state_storage`). torch.compile specialises on
  Python numbers (a new value recompiles) but takes tensors as inputs, so neither the step count
  nor an lr scheduler recompiles, and one tensor is one input for dynamo to guard. The C++
  kernel reads the same ``numbers``.
The runtime (:meth:`hamopt.runtime.GeneratedOptimizer._fused_step`) reads the step counts,
computes this step's scalars per tensor in Python with ``_scalars_<variant>`` (the function the
other paths call, so scalar state such as NAdam's :math:`\prod_t \mu_t` evolves identically)
and calls the kernel or the compiled ``_fused_<variant>`` (:mod:`hamopt.runtime.compiled`).
The scalars stay out of the loop on purpose: inductor evaluates a scalar expression inside the
vectorised loop, once per vector of elements, and a ``pow`` there made an in-graph RAD step 3x
slower than torch's fused Adam. The counting goes into the call: ``torch._foreach_add_`` on
0-d CPU tensors costs about 4 µs a tensor (0.8 ms a step for 200 tensors), in the graph or the
kernel it is nothing.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import precedence

from hamopt.codegen.kernel import TRANSCENDENTAL, CxxTensorPrinter
from hamopt.codegen.names import IN_DOUBLE, SQRT_RN, WHOLE
from hamopt.codegen.printer import TensorPrinter

__all__ = ["FusedPrinter", "KernelOrderPrinter"]

_HALF = sp.Rational(1, 2)


def _has_number(expr: sp.Expr) -> bool:
    """On the fused path every symbol is a tensor: a buffer, or a 0-d or per-tensor number."""
    return bool(expr.free_symbols)


class FusedPrinter(TensorPrinter):
    """Tensor equations of the fused path, where every number is a tensor.

    A sub-expression with a symbol in it prints with torch (``torch.sqrt(beta2)`` of a 0-d
    tensor, never ``math.sqrt``, which would turn the tensor into a Python float inside the
    graph); constants still print as numbers; a ``Piecewise`` on tensors prints as nested
    ``torch.where`` (both branches are evaluated, the condition picks per element), its logical
    connectives as ``torch.logical_*``.
    """

    def __init__(self, names):
        super().__init__(names, _has_number)

    def _print_And(self, expr: sp.And) -> str:
        return self._fold_logical(expr, "torch.logical_and")

    def _print_Or(self, expr: sp.Or) -> str:
        return self._fold_logical(expr, "torch.logical_or")

    def _print_Not(self, expr: sp.Not) -> str:
        return f"torch.logical_not({self._print(expr.args[0])})"


#: The exact functions of a tensor (SymPy's name → torch's); the others, computed in float64 as
#: the kernel computes them, keep their names (:data:`~hamopt.codegen.kernel.TRANSCENDENTAL`).
_EXACT = {"Abs": "abs", "floor": "floor", "ceiling": "ceil"}


class KernelOrderPrinter(CxxTensorPrinter):
    """A tensor equation of the fused path in torch, operation for operation as the C++ kernel
    computes it (:class:`~hamopt.codegen.kernel.CxxTensorPrinter`, whose structure it inherits):
    each sub-expression free of tensors is one number (``T(1 - beta1)`` there, ``(1 - beta1)``
    of 0-d float64 tensors here, rounded to the tensor's type where it meets one), the same
    operands in the same order. Where the operations are IEEE's correctly rounded ones (+, −,
    ×, ÷, sqrt, max, min, abs, where) eager torch and the kernel (built without fused
    multiply-add) agree to the bit, so that a step's float32 result is the same on every path
    and a low-precision state rounds it the same way (:mod:`hamopt.runtime.state_storage`).
    ``pow``, ``exp``, ``tanh``… are computed in float64 and rounded once, on both sides
    (``in_double``): libm's and torch's float64 values are within a unit in their last place,
    so they round to the same float32 unless the exact value lies that close to a float32
    rounding boundary (about one element in 10^8)."""

    def __init__(self, names, is_tensor):
        super().__init__(names, is_tensor)
        self._number = FusedPrinter(names)

    def _print(self, expr, **kwargs) -> str:
        if isinstance(expr, sp.Expr) and not self._is_tensor(expr):
            code = self._number.formed(expr)
            bare = (
                expr.is_Symbol or expr.is_Function or expr.is_Pow or (expr.is_Number and expr >= 0)
            )
            return code if bare else f"({code})"
        return super(CxxTensorPrinter, self)._print(expr, **kwargs)

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exp = expr.args
        b = self._print(base)
        if exp == _HALF:
            return f"{SQRT_RN}({b})"
        if exp == -_HALF:
            return f"1/{SQRT_RN}({b})"
        if exp == 2:
            return f"torch.square({b})"
        if exp == -1:
            return f"1/{self.parenthesize(base, precedence(expr))}"
        return f"{IN_DOUBLE}(torch.pow, {b}, {self._print(exp)})"

    def _fold(self, expr, fn: str) -> str:
        torch_name = "maximum" if fn.startswith("maximum") else "minimum"
        tensors = [a for a in expr.args if self._is_tensor(a)]
        out = self._print(tensors[0])
        for a in expr.args:
            if a is tensors[0]:
                continue
            if self._is_tensor(a):
                out = f"torch.{torch_name}({out}, {self._print(a)})"
            else:  # max and min are exact: only the NaN rule matters, and clamp keeps it
                out = f"torch.clamp({out}, {'min' if torch_name == 'maximum' else 'max'}={self._print(a)})"
        return out

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (value, cond) = expr.args
        out = self._print(value) if cond == sp.true else "math.nan"
        if cond != sp.true:
            pieces.append((value, cond))
        for value, cond in reversed(pieces):
            out = f"torch.where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_Relational(self, expr) -> str:
        lhs, rhs = (self._print(a) for a in expr.args)
        return f"{lhs} {expr.rel_op} {rhs}"

    # a condition that is a constant (SymPy's false in a Piecewise of conditions, from the
    # derivative of clip): Python's, where the C++ printer it inherits writes false and true
    def _print_BooleanFalse(self, expr) -> str:
        return "False"

    def _print_BooleanTrue(self, expr) -> str:
        return "True"

    def _print_And(self, expr: sp.And) -> str:
        return self._number._fold_logical(expr, "torch.logical_and")

    def _print_Or(self, expr: sp.Or) -> str:
        return self._number._fold_logical(expr, "torch.logical_or")

    def _print_Not(self, expr: sp.Not) -> str:
        return f"torch.logical_not({self._print(expr.args[0])})"

    def _print_sign(self, expr) -> str:
        return f"torch.sign({self._print(expr.args[0])})"

    def _print_Function(self, expr) -> str:
        name = type(expr).__name__
        args = ", ".join(self._print(a) for a in expr.args)
        if name in _EXACT:
            return f"torch.{_EXACT[name]}({args})"
        if name in TRANSCENDENTAL:
            return f"{IN_DOUBLE}(torch.{name}, {args})"  # as the kernel: in double, rounded once
        return super()._print_Function(expr)

    def _print_ReductionBase(self, expr) -> str:
        return f"{WHOLE}({expr.torch.format(x=self._print(expr.args[0]))})"


for _name in (*_EXACT, *TRANSCENDENTAL):
    setattr(KernelOrderPrinter, f"_print_{_name}", KernelOrderPrinter._print_Function)
