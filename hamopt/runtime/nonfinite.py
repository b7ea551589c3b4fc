r"""The prologue of every step: each gradient is checked before anything changes.

Over *all* groups, before any parameter, buffer or step counter is touched, a sparse gradient
raises ``ValueError`` (but for an optimizer whose torch reference takes one: SGD, which checks
its stored values), and a gradient holding a NaN or ±Inf is handled by its group's
``nonfinite`` option: ``"raise"`` raises ``ValueError`` naming the optimizer, the group and the
parameter, ``"skip"`` skips the whole step, ``"ignore"`` does not look (torch.optim's behaviour).

On plain CPU float32 and float64 gradients the optimizer's C++ library reads every gradient
once, vectorised and in parallel (``all_finite`` in ``prelude.h``: an element is NaN or ±Inf
exactly when every bit of its exponent is set), at the cost of one read of the gradients. Where
an optimizer of one param group steps by its kernel (the CPU default, or ``fused=True``), the
kernel reads them itself, in the call that steps (``checked_step``: the sweep, then the update
or nothing), with no Python per tensor
(:meth:`~hamopt.runtime.optimizer.GeneratedOptimizer._checked_kernel_step` says when).
Elsewhere, the test is :math:`\max_i |g_i| < \infty` per gradient — NaN propagates through the max,
which, unlike :math:`\lVert g\rVert_2`, cannot overflow in float16 — one read of every gradient
(``torch._foreach_norm(grads, inf)`` on an accelerator; on CPU, where that norm is not
vectorised, :math:`\max(\max g, -\min g)` by ``torch.aminmax``) and a single host sync for the
whole step. A sharded (DTensor, FSDP2) gradient is read on its local shard and the verdict is
all-reduced over its device mesh, so every rank raises, skips or steps alike.

Inside ``torch.compile(optimizer.step)``, on plain CPU gradients, the check reads nothing on the
host, so that it costs no graph break (:func:`in_graph`): each gradient of a "raise" group is
asserted finite in the graph (``torch._assert_async``, which raises RuntimeError with the eager
message when the graph runs), and every write of the step is taken under the mask "no gradient
of a checked group is bad", so that a step that raises or is skipped changes nothing. On an
accelerator the host read stays (a device-side assertion would end the process's CUDA context).
"""

import functools
import math
import operator

import torch

from hamopt.runtime.tensors import PLAIN, real_views

__all__ = [
    "finite",
    "group_index",
    "in_graph",
    "passes",
    "position",
    "traced",
    "verdict",
    "with_grad",
]


def position(group: dict, p: torch.Tensor) -> int:
    """Index of ``p`` in its group's list of parameters."""
    return next(k for k, q in enumerate(group["params"]) if q is p)


def group_index(optimizer, group: dict) -> int | None:
    """Index of ``group`` in the optimizer's ``param_groups`` (None: a dict not among them)."""
    return next((i for i, g in enumerate(optimizer.param_groups) if g is group), None)


#: What ``nonfinite`` may be.
POLICIES = ("raise", "skip", "ignore")


def with_grad(optimizer, index: int, group: dict) -> list[torch.Tensor]:
    """The group's parameters that have a gradient; a sparse gradient, a parameter on the
    meta device, or a ``nonfinite`` that is not a policy (set in ``param_groups`` after the
    constructor: ``"Skip"`` skipped the step on the kernel's path and applied the NaN on
    torch's), raises ValueError."""
    if group["nonfinite"] not in POLICIES:
        raise ValueError(
            f"{type(optimizer).__name__}: nonfinite must be 'raise', 'skip' or 'ignore', got {group['nonfinite']!r} (param group {index}); nothing was updated"
        )
    params = [p for p in group["params"] if p.grad is not None]
    for p in params:
        if p.is_meta:
            raise ValueError(
                f"{type(optimizer).__name__}: parameter {position(group, p)} of param group {index} is on the meta device, which holds no data to update; materialise it first (e.g. module.to_empty(device=...))"
            )
        if p.grad.layout != torch.strided and not (
            p.grad.layout == torch.sparse_coo and optimizer.SPARSE_GRADIENTS
        ):
            raise ValueError(
                f"{type(optimizer).__name__} does not support sparse gradients (parameter {position(group, p)} of param group {index}); nothing was updated"
            )
    return params


def finite(work: list, optimizer=None) -> torch.Tensor | list[bool] | None:
    """``[no "raise" gradient is NaN or ±Inf, no "skip" one is]``, agreed over every device
    mesh of a sharded gradient; None where no group looks.

    ``work``: ``(group, rule, params with a gradient)`` per group. On plain CPU float32 and
    float64 gradients, the ``optimizer``'s C++ library reads them (:func:`_by_kernel`) and the
    answer is two bools; else it is a float tensor (1: true), which the caller reads on the
    host — one sync for the whole step. Either goes to :func:`verdict`."""
    checked = _checked(work)
    if not checked:
        return None
    quick = _by_kernel(checked, optimizer)
    if quick is not None:
        return quick
    shards = [_local(p.grad) for _, _, p in checked]
    full = [
        k for k, s in enumerate(shards) if s.numel()
    ]  # an empty shard is finite (and has no max)
    maxima = dict(zip(full, _max_abs([shards[k] for k in full]) if full else (), strict=True))
    device = shards[0].device
    ok = torch.stack(
        [
            _finite([m for k, m in maxima.items() if checked[k][1]["nonfinite"] == how], device)
            for how in ("raise", "skip")
        ]
    ).float()
    meshes = []
    for _, _, p in checked:
        mesh = getattr(p.grad, "device_mesh", None)
        if mesh is not None and mesh not in meshes:
            meshes.append(mesh)
    for mesh in meshes:
        for dim in range(mesh.ndim):
            torch.distributed.all_reduce(
                ok, op=torch.distributed.ReduceOp.MIN, group=mesh.get_group(dim)
            )
    return ok


def passes(optimizer) -> bool:
    """The check of every group's gradients, start to end: True to go on, False to skip the
    step (a "skip" group's gradient is bad), ValueError naming the first bad parameter of a
    "raise" group. One read on the host (none where no group looks)."""
    work = [
        (group, optimizer._rule(group), with_grad(optimizer, i, group))
        for i, group in enumerate(optimizer.param_groups)
    ]
    ok = finite(work, optimizer)
    if ok is None:
        return True
    raise_ok, skip_ok = ok.tolist() if isinstance(ok, torch.Tensor) else ok
    return verdict(optimizer, work, raise_ok, skip_ok)


def traced(work: list) -> bool:
    """Whether the check runs in the graph (:func:`in_graph`): the step is being traced by
    ``torch.compile``, every checked gradient is a plain CPU tensor, and no group steps with
    autograd (``differentiable=True`` takes the single-tensor path, which the mask does not
    reach, and reads the verdict on the host)."""
    return (
        torch.compiler.is_compiling()
        and not any(group["differentiable"] for group, _, _ in work)
        and all(
            type(p.grad) in PLAIN and p.grad.is_cpu and p.grad.layout == torch.strided
            for _, _, p in _checked(work)
        )
    )


def in_graph(optimizer, work: list) -> torch.Tensor | None:
    """The check inside a traced step, with no read on the host: each gradient of a "raise"
    group asserted finite in the graph (RuntimeError with :func:`verdict`'s message naming the
    parameter, when the graph runs); returned, the mask (a 0-d bool tensor) under which the
    step writes: True where no gradient of a "raise" or "skip" group is bad. None where no
    group looks."""
    checked = [(i, g, p) for i, g, p in _checked(work) if p.grad.numel()]
    if not checked:
        return None
    flags = [g.isfinite().all() for g in real_views([p.grad for _, _, p in checked])]
    for (i, group, p), ok in zip(checked, flags, strict=True):
        if group["nonfinite"] == "raise":
            torch._assert_async(ok, _message(optimizer, i, group, p))
    return functools.reduce(operator.and_, flags)  # no stacked copy of the flags


def _by_kernel(checked: list, optimizer) -> list[bool] | None:
    """The check by the optimizer's kernel library (``all_finite``: one vectorised read of
    every gradient, in one parallel region): where every checked gradient is a plain dense CPU
    float32 or float64 tensor (complex ones as their real views), the library builds, and the
    step is not being traced; else None."""
    kernel = getattr(optimizer, "KERNEL", None)
    if kernel is None or torch.compiler.is_compiling():
        return None
    out = []
    for how in ("raise", "skip"):
        grads = real_views(
            [_stored(p.grad) for _, group, p in checked if group["nonfinite"] == how]
        )
        ok = kernel.all_finite(type(optimizer).__name__, grads) if grads else True
        if ok is None:
            return None
        out.append(ok)
    return out


def verdict(optimizer, work: list, raise_ok: bool, skip_ok: bool) -> bool:
    """False to skip this step; ValueError naming the first bad parameter of a "raise" group."""
    if not raise_ok:
        bad = next(
            (
                (i, g, p)
                for i, g, p in _checked(work)
                if g["nonfinite"] == "raise"
                and _local(p.grad).numel()  # an empty shard is finite
                and not _max_abs([_local(p.grad)])[0].isfinite()
            ),
            None,
        )
        raise ValueError(
            _message(optimizer, *bad) + _itself(bad[2]) if bad else _message(optimizer)
        )
    return bool(skip_ok)


def _message(optimizer, index=None, group=None, p=None) -> str:
    """What a non-finite gradient of parameter ``p`` of param group ``index`` raises (of a
    parameter sharded on another rank, where ``p`` is None)."""
    where = (
        f"parameter {position(group, p)} of param group {index}, shape {tuple(p.shape)}"
        if p is not None
        else "a parameter sharded on another rank"
    )
    return f"{type(optimizer).__name__}: non-finite gradient (NaN or Inf) for {where}; nothing was updated (nonfinite='skip' skips such steps)"


def _itself(p: torch.Tensor) -> str:
    """What the message adds where the parameter itself is not finite (read on the host: the
    eager step's message only, not the traced step's assertions)."""
    if not _max_abs([_local(p)])[0].isfinite():
        return (
            "; the parameter itself is not finite (an earlier step or its initialisation put "
            "NaN or Inf there: the check reads the gradients, not the step it takes; a smaller "
            "lr, or an energy that grows more slowly, keeps a step finite)"
        )
    return ""


def _local(grad: torch.Tensor) -> torch.Tensor:
    """What of a gradient to read: a DTensor's local shard (``to_local()``), a sparse
    gradient's stored values, or the gradient itself."""
    return grad.to_local() if hasattr(grad, "to_local") else _stored(grad)


def _stored(grad: torch.Tensor) -> torch.Tensor:
    """A sparse gradient's stored values (what may be NaN or ±Inf), or the gradient itself."""
    return grad._values() if grad.layout == torch.sparse_coo else grad


def _checked(work: list) -> list:
    return [
        (i, group, p)
        for i, (group, _, params) in enumerate(work)
        if group["nonfinite"] != "ignore"
        for p in params
    ]


def _max_abs(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """max|t| per tensor, NaN where one holds a NaN."""
    if tensors[0].device.type != "cpu":
        return torch._foreach_norm(tensors, math.inf)
    return [torch.maximum(hi, -lo) for lo, hi in map(torch.aminmax, real_views(tensors))]


def _finite(maxima: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Whether every max|g| is finite, as a 0-d bool tensor on ``device``."""
    if not maxima:
        return torch.ones((), dtype=torch.bool, device=device)
    return torch.stack([m.to(device) for m in maxima]).isfinite().all()
