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
* ``_fused_step_<variant>(...)`` — the signature of the other two paths: read the step counts,
  compute this step's scalars per tensor in Python with ``_scalars_<variant>`` (the function the
  other paths call, so scalar state such as NAdam's :math:`\prod_t \mu_t` evolves identically)
  and call the kernel (``_fused_call``) or the compiled ``_fused_<variant>``. The scalars stay
  out of the loop on purpose: inductor evaluates a scalar expression inside the vectorised loop,
  once per vector of elements, and a ``pow`` there made an in-graph RAD step 3x slower than
  torch's fused Adam. The counting goes into the call: ``torch._foreach_add_`` on 0-d CPU
  tensors costs about 4 µs a tensor (0.8 ms a step for 200 tensors), in the graph or the kernel
  it is nothing.

and once, the runtime: ``_numbers`` and ``_compiled_step``, which compiles each rule once
per process (inductor's FX graph cache keeps the compiled code on disk, so a later process
skips the C++ or Triton compilation) and falls back when it cannot: compilation fails before
any tensor changes, so ``_compiled_step`` warns once, runs the same ``_fused_<variant>``
uncompiled (the same result, slowly) and marks the rule, whose later steps then take the
foreach or single-tensor path.
"""

from __future__ import annotations

import string

import sympy as sp

from hamopt.codegen.printer import TensorPrinter

__all__ = ["FUSED_OPTION", "FUSED_OPTION_DOC", "FusedPrinter", "runtime"]

#: The constructor option selecting the fused path, with its default (torch.optim's spelling).
FUSED_OPTION: dict[str, object] = {"fused": None}

#: What the option does, for the class docstring.
FUSED_OPTION_DOC = {
    "fused": (
        "one call per param group: on CPU a C++ kernel generated from the rule (built on the "
        "first step in a second or two, and cached on disk), else torch.compile (Triton on "
        "GPU; the first step compiles, inductor caches it on disk); None or False: the foreach "
        "or single-tensor path"
    )
}


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


_RUNTIME = '''_COMPILED = {}  # rule → its _fused_<rule> under torch.compile, made on first use
_UNCOMPILABLE = set()  # rules that failed to compile here: the foreach or single-tensor path
# inductor: no size checks on every call (dynamo's guards have checked the inputs); a tensor's
# loop runs on several threads from 16384 elements a thread (below, starting them costs more)
_INDUCTOR = {"size_asserts": False, "cpp.min_chunk_size": 16384}


def _numbers(like, hyperparameters, lists):
    """The hyperparameters, then each per-tensor list, as one float64 tensor on ``like``'s device.

    torch.compile specialises on Python numbers but takes tensors as inputs: a new step count or
    an lr set by a scheduler reuses the compiled code; one tensor is one input to guard."""
    values = [*hyperparameters, *(value for values in lists for value in values)]
    return torch.tensor(values, dtype=torch.float64, device=like.device)


def _compiled_step(variant, *args, **kwargs):
    """``_fused_<variant>(*args, **kwargs)`` compiled by torch.compile, once per process.

    One graph per group layout (number, shapes and dtypes of the tensors); inductor writes the
    loops (C++ on CPU, Triton on GPU) and keeps them in its on-disk cache for later processes.
    Static shapes on purpose: with dynamic ones inductor picks a loop's threading from the sizes
    of the first compilation, and its disk cache then served a single-threaded loop, compiled
    for a small model, to a large one (1.6x slower). Compilation fails before any tensor changes
    (no C++ compiler, an unsupported backend or tensor type, too many layouts): then warn once,
    run the same function uncompiled and send this rule's later steps to the foreach or
    single-tensor path."""
    if variant not in _COMPILED:
        _COMPILED[variant] = torch.compile(_FUSED[variant], fullgraph=True, dynamic=False, options=_INDUCTOR)
    try:
        _COMPILED[variant](*args, **kwargs)
    except (torch._dynamo.exc.TorchDynamoException, torch._dynamo.exc.FailOnRecompileLimitHit) as error:
        _UNCOMPILABLE.add(variant)
        cause = getattr(error, "inner_exception", None) or error  # the backend's own error
        reason = f"{type(cause).__name__}: {next(iter(str(cause).strip().splitlines()), '')}"
        warnings.warn(f"$name(fused=True): rule {variant} could not be compiled, so its steps take the foreach or single-tensor path instead ({reason})", RuntimeWarning, stacklevel=2)
        _FUSED[variant](*args, **kwargs)'''


def runtime(name: str) -> str:
    """Source of the fused path's runtime helpers in the module of optimizer class ``name``."""
    return string.Template(_RUNTIME).substitute(name=name)
