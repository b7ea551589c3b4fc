r"""The step of a group whose buffers are kept in a low-precision format (``state_dtype``).

An elementwise rule's buffers are stored as :mod:`~hamopt.runtime.state_storage` describes
(bfloat16 rounded stochastically, or 8-bit codes with block maxima) and computed on in float32:

* on CPU, where the group fits (contiguous float32 parameters and gradients, the buffers as
  stored) and the library builds, the kernel ``step_<rule>_<format>`` of the generated module
  (``prelude.h``'s ``BFloat16State`` and ``Int8State`` load and store inside its loop);
* elsewhere, or when ``foreach`` is asked for, the reference, one tensor at a time: the
  buffers loaded as float32 tensors, the rule's fused equations run eagerly on them (printed
  operation for operation as the kernel computes), the new values stored.

An 8-bit group's tensors of fewer than :data:`~hamopt.runtime.state_storage.SMALL` elements
keep float32 buffers and take the rule's own kernel (or the same reference). Both compute the
same float32 numbers and store them by the same integer arithmetic, so every
path stores the same bits. A buffer's random key (bfloat16) depends on the parameter's place
in the optimizer and its step count only: a resumed run draws the bits the uninterrupted one
draws.
"""

import torch

from hamopt.runtime.kernel import kernel_step
from hamopt.runtime.state_dict import scalar_dtype
from hamopt.runtime.state_storage import (
    extra_numbers,
    format_of,
    keys,
    load,
    state_keys,
    store_,
    stored_buffer,
)
from hamopt.runtime.tensors import PLAIN, real_views, upcast

__all__ = ["stored_step"]


@torch.compiler.disable
def stored_step(optimizer, group: dict, name: str, fmt: str, go=None) -> None:
    """One step of rule ``name`` on the parameters of ``group`` that have a gradient, its
    buffers in format ``fmt`` (``"bfloat16"``, ``"int8"``). Under ``torch.compile`` it runs
    eagerly (a graph break): its random keys are numbers of each step, which a graph would
    recompile for; there the check's mask ``go`` (a 0-d bool tensor) says whether to step."""
    if go is not None and not bool(go):
        return
    rule = optimizer.RULES[name]
    index = next(i for i, g in enumerate(optimizer.param_groups) if g is group)
    first = sum(len(g["params"]) for g in optimizer.param_groups[:index])  # its first's place
    params, grads, state_steps, places = [], [], [], []
    for k, p in enumerate(group["params"]):
        if p.grad is None:
            continue
        if len(optimizer.state[p]) == 0:
            _first_state(optimizer, optimizer.state[p], rule, fmt, p)
        params.append(p)
        grads.append(p.grad)
        state_steps.append(optimizer.state[p]["step"])
        places.append(first + k)
    if not params:
        return
    real = real_views(params)
    computed, grads = upcast(real), upcast(real_views(grads))
    formats = {}  # a tensor's format → the indices of its tensors (small 8-bit ones: float32)
    for i, q in enumerate(computed):
        formats.setdefault(format_of(fmt, q.numel()), []).append(i)
    values = optimizer._hyperparameters(group)
    for own, part in formats.items():
        _step_part(optimizer, group, name, own, *(
            [x[i] for i in part] for x in (computed, grads, state_steps, places, params)
        ), values)  # fmt: skip
    for p, q in zip(real, computed, strict=True):
        if q is not p:
            p.copy_(q)  # half precision: rounded once per step


def _step_part(optimizer, group, name, fmt, computed, grads, state_steps, places, params, values):
    """The step of the group's tensors kept in format ``fmt``: the kernel, else the reference."""
    rule = optimizer.RULES[name]
    stored = optimizer._stored(name)
    columns = [[optimizer.state[p][b] for p in params] for b in rule.buffers]
    # held[j][i]: buffer j of tensor i as stored: (values,) or (codes, block maxima)
    held = [
        [tuple(optimizer.state[p][k] for k in state_keys(fmt, b)) for p in params] for b in stored
    ]
    numbers = optimizer._numbers(rule, computed, state_steps, columns, values)
    counts = [int(s) + 1 for s in torch.stack(state_steps).tolist()]  # this step's t
    drawn = [keys(0, place, t, len(stored)) for place, t in zip(places, counts, strict=True)]
    per_buffer = [[d[j] for d in drawn] for j in range(len(stored))]  # [j][i]
    kernel = name if fmt == "float32" else f"{name}_{fmt}"  # float32: the rule's own kernel
    tables = (held, numbers, fmt, per_buffer, group)
    if not (
        (group["fused"] or optimizer._default_is_kernel(group))
        and _kernel(optimizer, kernel, computed, grads, state_steps, *tables)
    ):
        for i in range(len(params)):
            _reference(rule, fmt, i, computed, grads, state_steps, held, numbers, per_buffer, group)


def _first_state(optimizer, state: dict, rule, fmt: str, p: torch.Tensor) -> None:
    """A parameter's first state: step 0, its scalar state, its tensor buffers zero in format
    ``fmt`` (the shape of its real view)."""
    state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
    for buffer in rule.buffers:
        if buffer in optimizer.SCALAR_STATE:
            state[buffer] = optimizer._initial(buffer, p)
        else:
            state.update(stored_buffer(fmt, buffer, p))


def _kernel(optimizer, name, params, grads, state_steps, held, numbers, fmt, per_buffer, group):
    """The kernel ``step_<rule>_<format>`` on the group, where it fits and builds; whether it
    ran. The table's columns after the gradients: each buffer's values or codes, then (8-bit)
    each buffer's block maxima."""
    width = len(held[0][0]) if held else 0
    flat = [h[i][c] for c in range(width) for h in held for i in range(len(params))]
    fits = (
        optimizer.KERNEL is not None
        and all(
            type(p) in PLAIN and p.dtype == torch.float32 and p.is_cpu and p.is_contiguous()
            for p in params
        )
        and all(type(g) in PLAIN and g.dtype == torch.float32 and g.is_contiguous() for g in grads)
        and all(type(t) in PLAIN and t.is_cpu and t.is_contiguous() for t in flat)
        and all(s.is_cpu for s in state_steps)
    )
    library = fits and optimizer.KERNEL.library(type(optimizer).__name__, quiet=not group["fused"])
    if not library:
        return False
    numbers = torch.cat([numbers.cpu(), extra_numbers(fmt, per_buffer)])
    kernel_step(library, name, params, grads, flat, state_steps, numbers, group["maximize"])
    return True


def _reference(rule, fmt, i, params, grads, state_steps, held, numbers, per_buffer, group):
    """Tensor ``i``'s step: its buffers loaded as float32, the rule's fused equations on them
    (the kernel's operations, in torch), the new values stored."""
    n, hypers = len(params), len(rule.numbers)
    buffers = [load(fmt, h[i]) for h in held]
    rule.fused(
        [params[i]],
        [grads[i]],
        [state_steps[i].view(1)],
        *[[b] for b in buffers],
        torch.cat([numbers[:hypers], numbers[hypers + i :: n]]),
        maximize=group["maximize"],
    )
    for h, b, column in zip(held, buffers, per_buffer, strict=True):
        store_(fmt, h[i], b, column[i])
