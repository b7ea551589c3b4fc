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

Inside ``torch.compile(optimizer.step)`` the step is one node of the graph, the operator
``torch.ops.hamopt.stored_step_v1`` (:func:`traced_stored_step`): it declares what it writes,
and runs the eager step on the graph's tensors when the graph runs, so its numbers, random keys
and stored bits are the eager step's, and no step count is read on the host while tracing.
"""

import itertools
import operator
import weakref

import torch

from hamopt.runtime.kernel import KERNEL_TYPES, count_writes, define_operator, kernel_step
from hamopt.runtime.nonfinite import group_index
from hamopt.runtime.state_dict import scalar_dtype
from hamopt.runtime.state_storage import (
    DTYPES,
    FORMATS,
    extra_numbers,
    format_of,
    holds,
    keys,
    load,
    sized,
    state_keys,
    store_,
    stored_buffer,
)
from hamopt.runtime.tensors import PLAIN, dense_grad, one_d, real_views, upcast

__all__ = [
    "checked_stored_step",
    "convert",
    "gather",
    "registered",
    "stored_step",
    "traced_stored_step",
]


@torch.compiler.disable
def stored_step(optimizer, group: dict, name: str, fmt: str, go=None) -> None:
    """One step of rule ``name`` on the parameters of ``group`` that have a gradient, its
    buffers in format ``fmt`` (``"bfloat16"``, ``"int8"``). Traced, where the group's tensors
    are not plain tensors (:func:`traced_stored_step` is the traced step), it runs eagerly (a
    graph break), the check's mask ``go`` (a 0-d bool tensor) saying whether to step."""
    if go is not None and not bool(go):
        return
    optimizer._check_state_format(group)
    params, grads, state_steps, held, places = [], [], [], [], []
    gather(optimizer, group, name, params, grads, state_steps, held, places)
    _run(optimizer, group, name, fmt, params, grads, state_steps, held, places)


def checked_stored_step(optimizer, group: dict, name: str, with_grads: list) -> bool | None:
    """The step of a low-precision group by the one kernel call that reads its gradients first
    (``checked_step``, as :meth:`~hamopt.runtime.optimizer.GeneratedOptimizer._checked_kernel_step`
    for float32 state): True, it stepped; False, a gradient holds NaN or ±Inf and nothing was
    written; None, nothing done, where the step is not that one call (tensors of two formats:
    an 8-bit group's small ones in float32; complex or half-precision parameters; no kernel).
    ``with_grads``: the group's parameters that have a gradient."""
    optimizer._check_state_format(group)
    fmt = FORMATS[group["state_dtype"]]
    if any(p.dtype != torch.float32 for p in with_grads) or (  # complex or half precision
        sized(fmt) and len({format_of(fmt, p.numel()) for p in with_grads}) != 1
    ):
        return None  # before gather: the caller's check, then stored_step, gather once
    params, grads, state_steps, held, places = [], [], [], [], []
    gather(optimizer, group, name, params, grads, state_steps, held, places)
    return _run(optimizer, group, name, fmt, params, grads, state_steps, held, places, True)


def traced_stored_step(optimizer, group: dict, name: str, go=None) -> bool:
    """The step of a low-precision group inside ``torch.compile(optimizer.step)``: one node of
    the graph, the operator ``torch.ops.hamopt.stored_step_v1``, which runs the eager step
    (kernel or reference) on the group's tensors when the graph runs, nothing where the
    check's mask ``go`` is False. The state is made, and the tensors gathered, by
    ``optimizer._init_group``, which dynamo runs eagerly. So the step stores the eager step's
    bits (its numbers and random keys computed on the host, as eager), and breaks no graph.
    False, doing nothing, where a gradient is not a plain tensor (a DTensor shard):
    :func:`stored_step` then runs eagerly."""
    if not all(type(p.grad) in PLAIN for p in group["params"] if p.grad is not None):
        return False
    params, grads, state_steps, held, places = [], [], [], [], []
    key, index = optimizer._init_group(group, name, params, grads, state_steps, held, places)
    if params:
        _STORED_OPERATOR(key, index, name, params, grads, held, state_steps, places, go)
    return True


def gather(optimizer, group, name, params, grads, state_steps, held, places) -> int:
    """Fill the lists for a step of rule ``name`` on ``group``: its parameters that have a
    gradient, their gradients, step counters, every tensor of their state in the order of the
    rule's buffers and each buffer's state keys (``held``), and their places among all the
    optimizer's parameters (the random keys' positions); a parameter's first state is made
    here. Each buffer's tensors are checked to be what its format keeps (:func:`_check_held`)
    where they are not the very tensors checked at the group's last step. Returns the group's
    index."""
    rule = optimizer.RULES[name]
    fmt = FORMATS[group["state_dtype"]]
    index = group_index(optimizer, group)
    first = sum(len(g["params"]) for g in optimizer.param_groups[:index])  # its first's place
    # a tensor's format → its state keys, in the order of the rule's buffers; a tensor's
    # format is the group's but for an 8-bit group's small tensors (format_of: by its size)
    own_keys = {own: _keys(optimizer, rule, own) for own in {fmt, format_of(fmt, 0)}}
    by_size, tensor_keys, states = sized(fmt), own_keys[fmt], optimizer.state
    for k, p in enumerate(group["params"]):
        grad = p.grad
        if grad is None:
            continue
        state = states[p]
        if not state:
            _first_state(optimizer, state, rule, fmt, p)
        params.append(p)
        grads.append(dense_grad(p) if grad.layout == torch.sparse_coo else grad)
        state_steps.append(state["step"])
        if by_size:
            tensor_keys = own_keys[format_of(fmt, 2 * p.numel() if p.is_complex() else p.numel())]
        held.extend(map(state.get, tensor_keys))
        places.append(first + k)
    checked = optimizer.__dict__.setdefault("_checked_state", {})
    sizes = _sizes(params, grads, held)
    record = checked.get(id(group))
    if record is None or not record.holds(group, params, held, sizes):
        where = f"param group {index}"
        optimizer._check_parameters_for(group["state_dtype"], group["params"], where)
        _check_grads(optimizer, group, index, params, grads)
        _check_held(optimizer, group, index, rule, fmt, params, held)
        live = {id(g) for g in optimizer.param_groups}  # a record per group still there
        optimizer._checked_state = {k: r for k, r in checked.items() if k in live}
        optimizer._checked_state[id(group)] = _Checked(group, params, held, sizes)
    return index


def _sizes(params: list, grads: list, held: list) -> tuple | None:
    """What ``.data = ...`` (or ``set_``) changes of a tensor that stays the same object, and
    the kernel, reading past a buffer's end, must not miss: each parameter's, gradient's and
    state tensor's size in bytes, and each parameter's dtype (a float16 ``.data`` of a float32
    parameter's bytes has twice its elements). Numbers and dtypes, no tuple a tensor: a
    container made per tensor and step would wake Python's garbage collector, whose sweeps
    cost more than the check. None where a state tensor is missing."""
    try:
        nbytes = (*map(_NBYTES, params), *map(_NBYTES, grads), *map(_NBYTES, held))
    except AttributeError:  # a state key missing (None): checked, and refused, every step
        return None
    return (*nbytes, *map(_DTYPE, params))


_DTYPE, _NBYTES = operator.attrgetter("dtype"), operator.attrgetter("nbytes")


class _Checked:
    """What :func:`gather` checked of a group: its parameters that had a gradient and their
    state tensors, by identity, and their sizes (:func:`_sizes`). It keeps none of them alive:
    a weak reference to each, whose death voids the record (so that an ``id`` it holds is
    never a new tensor's). ``serial``: this record's number, new for every record made."""

    serials = itertools.count()

    def __init__(self, group: dict, params: list, held: list, sizes: tuple | None):
        self.group, self.sizes, self.alive = group, sizes, sizes is not None
        self.serial = next(self.serials)
        self.counts, self.ids = (len(params), len(held)), tuple(map(id, (*params, *held)))
        self.refs = [weakref.ref(t, self._void) for t in (*params, *held)] if self.alive else []

    def _void(self, _ref) -> None:
        self.alive = False

    def holds(self, group: dict, params: list, held: list, sizes: tuple | None) -> bool:
        """Whether these are the checked group's very tensors, each of the size it had."""
        return (
            self.alive
            and group is self.group
            and sizes == self.sizes
            and (len(params), len(held)) == self.counts
            and tuple(map(id, (*params, *held))) == self.ids
        )


def _check_grads(optimizer, group, index, params, grads) -> None:
    """ValueError where a gradient is not of its parameter's shape: a parameter whose data
    was replaced after its gradient was made (the kernel would read past the gradient's end)."""
    for p, g in zip(params, grads, strict=True):
        if g.shape != p.shape:
            k = next(j for j, q in enumerate(group["params"]) if q is p)
            raise ValueError(
                f"{type(optimizer).__name__}: the gradient of parameter {k} of param group {index} has shape {tuple(g.shape)}, the parameter {tuple(p.shape)} (its data replaced after the gradient was made?)"
            )


def _check_held(optimizer, group, index, rule, fmt, params, held) -> None:
    """ValueError where a buffer's tensors are not what its format keeps for its parameter
    (dtypes and sizes: the kernel would read past their end, torch would compute on them)."""
    at = 0
    for p in params:
        numel = 2 * p.numel() if p.is_complex() else p.numel()
        own = format_of(fmt, numel)
        for b in rule.buffers:
            if b in optimizer.SCALAR_STATE:
                at += 1
                continue
            names = state_keys(own, b)
            stored = tuple(held[at : at + len(names)])
            at += len(names)
            if not holds(own, stored, numel):
                found = ", ".join(
                    f"no {key}" if t is None else f"{key}: {t.dtype} of {t.numel()} elements"
                    for key, t in zip(names, stored, strict=True)
                )
                k = next(j for j, q in enumerate(group["params"]) if q is p)
                raise ValueError(
                    f"{type(optimizer).__name__}: state {b} of parameter {k} of param group {index} holds {found}, where state_dtype={group['state_dtype']} keeps {', '.join(map(str, DTYPES[own]))} ({own} format) for its {numel} elements"
                )


def convert(optimizer, group: dict, index: int, made) -> None:
    """Rewrite the state of ``group`` (the optimizer's param group ``index``), made with
    ``state_dtype=made``, in the format its ``state_dtype`` names now: each buffer read as
    float32 (:func:`~hamopt.runtime.state_storage.load`, or the float32 view of a buffer in the
    parameter's own type where ``made`` is None) and stored anew (:func:`~hamopt.runtime.state_storage.store_`, bfloat16 rounded with the
    random key of the buffer at the state's step count), its old tensors dropped. The same
    arithmetic as a step's, so every path goes on from the same bits."""
    old, new = FORMATS.get(made), FORMATS.get(group["state_dtype"])
    first = sum(len(g["params"]) for g in optimizer.param_groups[:index])
    rule = optimizer._rule(group)
    buffers, nonzero = optimizer._stored(rule), optimizer._nonzero(rule)
    for k, p in enumerate(group["params"]):
        state = optimizer.state.get(p)
        if not state:
            continue
        numel = 2 * p.numel() if p.is_complex() else p.numel()
        count = int(state["step"])
        drawn = keys(0, first + k, count, len(buffers))
        for j, b in enumerate(buffers):
            if old is None:  # the parameter's shape and type (float32 for half precision)
                value = state.pop(b)
                value = (torch.view_as_real(value) if value.is_complex() else value).float()
            else:
                own = format_of(old, numel)
                value = load(own, tuple(state.pop(key) for key in state_keys(own, b)))
            if new is None:
                state[b] = fresh = optimizer._initial(b, p)
                (torch.view_as_real(fresh) if fresh.is_complex() else fresh).copy_(value)
            else:
                own = format_of(new, numel)
                columns = stored_buffer(new, b, p)
                store_(own, tuple(columns.values()), value.contiguous(), drawn[j], nonzero[j])
                state.update(columns)


def registered(optimizer) -> str:
    """The name under which the operator finds ``optimizer`` when a graph runs (its entry in
    the operator's table of weakly held optimizers, made here)."""
    key = f"{type(optimizer).__name__}@{id(optimizer):x}"
    if _STORED_OPERATOR.optimizers.get(key) is not optimizer:
        _STORED_OPERATOR.optimizers[key] = optimizer
    return key


def _keys(optimizer, rule, fmt: str) -> list[str]:
    """The state keys of a tensor kept in format ``fmt`` (its own: float32 for a small one
    of an 8-bit group), in the order of the rule's buffers: each buffer's keys."""
    return [
        key
        for b in rule.buffers
        for key in ((b,) if b in optimizer.SCALAR_STATE else state_keys(fmt, b))
    ]


def _run(optimizer, group, name, fmt, params, grads, state_steps, held, places, check=False):
    """The step on the gathered lists (:func:`gather`): the tensors of each format of the
    group (8-bit: small tensors in float32) by the kernel or the reference. Whether it
    stepped. ``check`` (float32 parameters of one format: :func:`checked_stored_step`): the
    kernel reads the gradients first, in the call that steps, and writes nothing where one
    holds NaN or ±Inf (False); where the kernel does not run it does nothing (None), and the
    caller checks first."""
    if not params:  # no parameter of the group has a gradient: nothing to step
        return True
    rule = optimizer.RULES[name]
    if check:  # float32 parameters and gradients, as they are
        real = computed = params
    else:
        real = real_views(params)
        computed, grads = upcast(real), upcast(real_views(grads))
    values = optimizer._hyperparameters(group)
    owns = [format_of(fmt, q.numel()) for q in computed] if sized(fmt) else []
    if len(set(owns)) > 1:  # an 8-bit group's small tensors: float32 state, a part of their own
        counts = {own: len(_keys(optimizer, rule, own)) for own in set(owns)}  # state tensors
        parts = {}  # a format → the indices of its tensors, and their state tensors
        at = 0
        for i, own in enumerate(owns):
            indices, tensors = parts.setdefault(own, ([], []))
            indices.append(i)
            tensors += held[at : at + counts[own]]
            at += counts[own]
    else:  # one format: the lists as gathered
        parts = {owns[0] if owns else fmt: (range(len(computed)), held)}
    for own, (part, tensors) in parts.items():
        stepped = _step_part(optimizer, group, name, own, *(
            [x[i] for i in part] for x in (computed, grads, state_steps, places)
        ), tensors, values, check)  # fmt: skip
        if not stepped:  # checked: a bad gradient (False), or not the kernel (None)
            return stepped
    for p, q in zip(real, computed, strict=True):
        if q is not p:
            p.copy_(q)  # half precision: rounded once per step
    return True


def _step_part(
    optimizer, group, name, fmt, computed, grads, state_steps, places, held, values, check=False
):
    """The step of the group's tensors kept in format ``fmt`` (``held``: their state tensors,
    each tensor's in :func:`gather`'s order): the kernel, else (but where ``check`` asks for
    the kernel's check: None) the reference. Whether it stepped."""
    rule = optimizer.RULES[name]
    stored = optimizer._stored(name)
    width = len(state_keys(fmt, stored[0])) if stored else 0
    stride = len(held) // len(computed)  # a tensor's state tensors (_run steps no empty part)
    columns, stored_columns, at = [], [], 0  # a buffer's first tensors; a stored one's all
    for b in rule.buffers:
        columns.append(held[at::stride])
        if b in optimizer.SCALAR_STATE:
            at += 1
        else:
            stored_columns.append([held[at + c :: stride] for c in range(width)])
            at += width
    # stored_columns[j][c][i]: tensor c (values or codes, block maxima) of stored buffer j of
    # tensor i
    steps = [s.item() + 1 for s in state_steps]  # this step's t
    counts = [int(t) for t in steps]
    if group["fused"] or optimizer._default_is_kernel(group):
        flat = [t for c in range(width) for column in stored_columns for t in column[c]]
        tables = (columns, flat, values, steps, counts, places, group, check)
        stepped = _kernel(optimizer, name, fmt, computed, grads, state_steps, *tables)
        if stepped is not None:
            return stepped
    if check:
        return None
    numbers = optimizer._numbers(rule, computed, state_steps, columns, values, steps)
    drawn = [keys(0, place, t, len(stored)) for place, t in zip(places, counts, strict=True)]
    per_buffer = [[d[j] for d in drawn] for j in range(len(stored))]  # [j][i]
    nonzero = optimizer._nonzero(name)
    stored_held = [list(zip(*column, strict=True)) for column in stored_columns]  # [j][i]
    for i in range(len(computed)):
        _reference(
            rule, fmt, i, computed, grads, state_steps, stored_held, numbers, per_buffer, group,
            nonzero,
        )  # fmt: skip
    return True


def _first_state(optimizer, state: dict, rule, fmt: str, p: torch.Tensor) -> None:
    """A parameter's first state: step 0, its scalar state, its tensor buffers zero in format
    ``fmt`` (the shape of its real view)."""
    state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
    for buffer in rule.buffers:
        if buffer in optimizer.SCALAR_STATE:
            state[buffer] = optimizer._initial(buffer, p)
        else:
            state.update(stored_buffer(fmt, buffer, p))


def _kernel(
    optimizer, name, fmt, params, grads, state_steps, columns, flat, values, steps, counts,
    places, group, check,
) -> bool | None:  # fmt: skip
    """The kernel ``step_<rule>_<format>`` (float32: ``step_<rule>``) on the group, where it
    fits and builds: whether it stepped (``check``: False where a gradient holds NaN or ±Inf,
    nothing written), None where it did not run. The table's columns after the gradients
    (``flat``): each buffer's values or codes, then (8-bit) each buffer's block maxima; the
    format's numbers (``extra_numbers`` of the tensors' ``places`` and step ``counts``) follow
    the rule's."""
    if optimizer.KERNEL is None:
        return None
    # the layout checked once, keyed apart from a float32 group's (this fits asks more) and
    # by the record of the state gather checked: a state tensor replaced, even by a view at
    # the same address (a pointer the key holds already), is a layout checked anew
    record = optimizer.__dict__.get("_checked_state", {}).get(id(group))
    key = (f"{name}_{fmt}", getattr(record, "serial", None))
    table = optimizer.KERNEL.layout(key, params, grads, [flat], state_steps, _format_fits)
    if table is None:
        return None
    library = optimizer.KERNEL.library(type(optimizer).__name__, quiet=not group["fused"])
    if not library:
        return None
    kernel = name if fmt == "float32" else f"{name}_{fmt}"  # float32: the rule's own kernel
    rule = optimizer.RULES[name]
    extra = extra_numbers(fmt, places, counts, optimizer._nonzero(name))
    numbers = optimizer._numbers(rule, params, state_steps, columns, values, steps, extra)
    return kernel_step(
        library, kernel, params, grads, flat, state_steps, numbers, group["maximize"], check, table
    )


def _format_fits(params, grads, columns, state_steps) -> bool:
    """Whether a format's kernel takes these tensors (``columns``: one list, the buffers'
    tensors as stored): plain contiguous float32 CPU parameters and gradients of their shapes,
    plain contiguous CPU state tensors, and CPU step counters all float32 or all float64 (the
    kernel reads them all as the first one's type; the state tensors' types and sizes are
    :func:`gather`'s check)."""
    kind = state_steps[0].dtype if state_steps else torch.float32
    return (
        all(
            type(p) in PLAIN and p.dtype == torch.float32 and p.is_cpu and p.is_contiguous()
            for p in params
        )
        and all(
            type(g) in PLAIN
            and g.dtype == torch.float32
            and g.is_contiguous()
            and g.shape == p.shape
            for p, g in zip(params, grads, strict=True)
        )
        and all(type(t) in PLAIN and t.is_cpu and t.is_contiguous() for ts in columns for t in ts)
        and kind in KERNEL_TYPES
        and all(s.is_cpu and s.dtype == kind for s in state_steps)
    )


def _reference(rule, fmt, i, params, grads, state_steps, held, numbers, per_buffer, group, nonzero):
    """Tensor ``i``'s step: its buffers loaded as float32, the rule's fused equations on them
    (the kernel's operations, in torch), the new values stored (``nonzero``: per buffer, as
    :func:`~hamopt.runtime.state_storage.store_` takes it)."""
    n, hypers = len(params), len(rule.numbers)
    buffers = [load(fmt, h[i]) for h in held]
    rule.fused(  # a 0-d tensor as 1-d: with the 0-d float64 numbers torch would compute in float64
        [one_d(params[i])],
        [one_d(grads[i])],
        [state_steps[i].view(1)],
        *[[one_d(b)] for b in buffers],
        torch.cat([numbers[:hypers], numbers[hypers + i :: n]]),
        maximize=group["maximize"],
    )
    for h, b, column, keep in zip(held, buffers, per_buffer, nonzero, strict=True):
        store_(fmt, h[i], b, column[i], keep)


def _operator_step(key, index, rule, params, grads, held, state_steps, places, go=None):
    """The operator's implementation: :func:`_run` on the lists it was given (the graph's
    tensors: the optimizer's own, or copies a compiler writes back), nothing where the mask
    ``go`` is False. The optimizer and its group's options are looked up when it runs."""
    if go is not None and not go.item():
        return
    optimizer = _STORED_OPERATOR.optimizers[key]
    group = optimizer.param_groups[index]
    fmt = FORMATS[group["state_dtype"]]
    with torch.no_grad():
        _run(optimizer, group, rule, fmt, params, grads, state_steps, held, places)


def _operator_step_inplace(key, index, rule, params, grads, held, state_steps, places, go=None):
    """What an in-place op does above its implementation: run it, then count the writes."""
    with torch._C._AutoDispatchBelowADInplaceOrView():
        _STORED_OPERATOR(key, index, rule, params, grads, held, state_steps, places, go)
    count_writes(params, held, state_steps)


def _writes_nothing_here(*args) -> None:
    """The operator's fake kernel: no data, nothing to compute."""


_STORED_OPERATOR = define_operator(
    "stored_step_v1",  # a new schema: a new version
    "(str optimizer, int group, str rule, Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] held, Tensor(c!)[] state_steps, int[] places, Tensor? go=None) -> ()",
    {"CompositeExplicitAutograd": _operator_step, "ADInplaceOrView": _operator_step_inplace},
    _writes_nothing_here,
)
if not hasattr(_STORED_OPERATOR, "optimizers"):  # name → optimizer, shared by every copy
    _STORED_OPERATOR.optimizers = weakref.WeakValueDictionary()
