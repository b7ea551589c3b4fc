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
  per-tensor lists of step-dependent scalars (``step_sizes``…). torch.compile specialises on
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

from hamopt.codegen.printer import TensorPrinter

__all__ = ["FusedPrinter"]


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

    def _fold_logical(self, expr: sp.Expr, fn: str) -> str:
        args = [self._print(a) for a in expr.args]
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out
