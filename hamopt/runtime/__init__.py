r"""The runtime every generated optimizer shares: ordinary Python, tested once.

A generated module holds what is specific to its derivation — the equations of each rule on
each path, its tables, the docstring with the derivation — and its class derives from
:class:`GeneratedOptimizer`, which does everything else (:mod:`~hamopt.runtime.optimizer`).
An exported module (``export(path)``, ``hamopt derive -o``) carries this runtime inlined
(:func:`hamopt.codegen.inline.standalone`), so it needs only torch.

Modules, in the order an exported module inlines them:

* :mod:`~hamopt.runtime.tensors` — complex and half-precision views, the DTensor helpers;
* :mod:`~hamopt.runtime.scalars` — the step-dependent scalars on numbers or (compiling) tensors;
* :mod:`~hamopt.runtime.arguments` — constructor arguments as a table, and their checks;
* :mod:`~hamopt.runtime.nonfinite` — the gradients' checks before anything changes;
* :mod:`~hamopt.runtime.state_storage` — buffers in bfloat16 or 8 bits (``state_dtype``);
* :mod:`~hamopt.runtime.state_dict` — ``load_state_dict``'s checks;
* :mod:`~hamopt.runtime.kernel` — the C++ kernels (``prelude.h`` and the rules'), built and
  called as the operator ``torch.ops.hamopt.kernel_step_v1`` (directly where nothing watches);
* :mod:`~hamopt.runtime.compiled` — the fused path on torch.compile;
* :mod:`~hamopt.runtime.stored_step` — the step of a group whose buffers are in bfloat16 or 8
  bits: the kernel, else the reference tensor by tensor; under ``torch.compile`` one operator,
  ``torch.ops.hamopt.stored_step_v1``, that runs it;
* :mod:`~hamopt.runtime.optimizer` — the base class;
* :mod:`~hamopt.runtime.multigradient` — the base class of an optimizer that takes several
  gradients per step (one per kick of its scheme); inlined only into a module that imports it.
"""

from hamopt.runtime.arguments import REQUIRED, Argument, choice, fixed, flag, pair, real
from hamopt.runtime.kernel import Kernel
from hamopt.runtime.multigradient import GeneratedMultiGradientOptimizer
from hamopt.runtime.optimizer import GeneratedOptimizer, Rule
from hamopt.runtime.scalars import scalar
from hamopt.runtime.tensors import (
    before,
    foreach_copy,
    foreach_max_abs,
    in_double,
    max_abs,
    nonsingular,
    sqrt_rn,
    whole,
)

__all__ = [
    "MODULES",
    "ON_DEMAND",
    "REQUIRED",
    "Argument",
    "GeneratedMultiGradientOptimizer",
    "GeneratedOptimizer",
    "Kernel",
    "Rule",
    "before",
    "choice",
    "fixed",
    "flag",
    "foreach_copy",
    "foreach_max_abs",
    "in_double",
    "max_abs",
    "nonsingular",
    "pair",
    "real",
    "scalar",
    "sqrt_rn",
    "whole",
]

#: The runtime's modules in dependency order (an exported module inlines them so).
MODULES = (
    "tensors",
    "scalars",
    "arguments",
    "nonfinite",
    "state_storage",
    "state_dict",
    "kernel",
    "compiled",
    "stored_step",
    "optimizer",
)
#: Modules that an exported module inlines after :data:`MODULES`, and only where it imports
#: one of their names.
ON_DEMAND = ("multigradient",)
