r"""Runtime guards of a generated optimizer: its inputs are checked before anything changes.

Every generated module is standalone, so each carries these few functions as generated code:

* ``_check_arguments`` — the constructor's checks (a wrong type raises ``TypeError``, a value
  out of range ``ValueError``, both naming the argument); they also run on the hyperparameters
  of every param group added later (``add_param_group``) and of every loaded group.
* ``_with_grad`` and ``_take_step`` — the prologue of ``step()``. Over *all* groups, before any
  parameter, buffer or step counter is touched: a sparse gradient raises; a gradient holding a
  NaN or ±Inf raises ``ValueError`` naming the optimizer, the group and the parameter, or with
  ``nonfinite="skip"`` the whole step is skipped (``"ignore"`` does not look). The test is
  :math:`\max_i |g_i| < \infty` per gradient — NaN propagates through the max, which, unlike
  :math:`\lVert g\rVert_2`, cannot overflow in float16 — one read of every gradient
  (``torch._foreach_norm(grads, inf)`` on an accelerator; on CPU, where that norm is not
  vectorised and costs 15x a 2-norm, :math:`\max(\max g, -\min g)` by ``torch.aminmax``) and a
  single host sync for the whole step. A sharded (DTensor, FSDP2) gradient is read on its local
  shard and the verdict is all-reduced over its device mesh, so every rank raises, skips or
  steps alike.
* ``_real`` and ``_upcast`` — the tensors the rule sees. A complex parameter
  :math:`z \in \mathbb{C}^n` is the point :math:`(\Re z, \Im z) \in \mathbb{R}^{2n}`
  (``torch.view_as_real``, as ``torch.optim`` does); torch's gradient of a real loss is then
  exactly the :math:`\mathbb{R}^{2n}` gradient, so the derived map on :math:`\mathbb{R}^{2n}` is
  applied unchanged — for a norm-coupled energy the norm is the Euclidean norm of
  :math:`\mathbb{R}^{2n}`, which is the Hermitian norm :math:`(\sum_i |z_i|^2)^{1/2}`. A float16
  or bfloat16 parameter keeps its state in float32 and is updated in float32 (an upcast copy),
  rounded back to its dtype once per step.
* ``_check_state_dict`` — ``load_state_dict`` first checks that the state fits: as many groups
  of as many parameters, valid hyperparameters, and per parameter a whole-number ``step`` and
  exactly the buffers its group's rule keeps, shaped like the parameter. torch's loading casts
  every buffer to the parameter's dtype; the generated ``load_state_dict`` then restores float32
  buffers of half-precision parameters and the scalar state's dtype from the saved tensors, so
  a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

__all__ = [
    "OPTIONS",
    "OPTION_DOCS",
    "add_param_group_method",
    "load_state_dict_method",
    "module_guards",
    "step_prologue",
]

#: Options every generated optimizer takes besides its hyperparameters (keyword-only), with
#: their defaults; a loaded param group that lacks one gets the default.
OPTIONS: dict[str, object] = {"maximize": False, "foreach": None, "nonfinite": "raise"}

#: What each option does, for the class docstring.
OPTION_DOCS: dict[str, str] = {
    "maximize": "maximize the objective instead of minimizing it",
    "foreach": "the foreach path (lists of tensors, torch._foreach_*); None: on CUDA only",
    "nonfinite": (
        'a NaN or ±Inf gradient: "raise" raises ValueError before anything changes, "skip" '
        "skips the whole step (parameters, state and step counters of every group unchanged), "
        '"ignore" applies it unchecked (torch.optim\'s behaviour; saves one read of the '
        "gradients per step)"
    ),
}

_COMMON = '''_HALF = (torch.float16, torch.bfloat16)


def _position(group, p):
    """Index of ``p`` in its group's list of parameters."""
    return next(k for k, q in enumerate(group["params"]) if q is p)


def _check_group(optimizer, group, where):
    """The group's hyperparameters (its own, else the defaults) pass _check_arguments."""
    try:
        _check_arguments(**{name: group.get(name, optimizer.defaults.get(name)) for name in _ARGUMENTS})
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error} ({where})") from None


def _check_new_group(optimizer, group):
    """Before torch's add_param_group: valid hyperparameters, every parameter listed once."""
    where = f"param group {len(optimizer.param_groups)}"
    _check_group(optimizer, group, where)
    params = group.get("params")
    if params is None or isinstance(params, set):
        return  # torch's own error
    group["params"] = params = [params] if isinstance(params, torch.Tensor) else list(params)
    owner = {id(q): i for i, g in enumerate(optimizer.param_groups) for q in g["params"]}
    first = {}
    for k, p in enumerate(params):
        if id(p) in owner:
            raise ValueError(f"{type(optimizer).__name__}: parameter {k} of {where} is already in param group {owner[id(p)]}; a parameter can be in one group only")
        if id(p) in first:
            raise ValueError(f"{type(optimizer).__name__}: parameter {k} of {where} repeats its parameter {first[id(p)]}; list each parameter once")
        first[id(p)] = k


def _with_grad(optimizer, index, group):
    """The group's parameters that have a gradient; a sparse gradient raises ValueError."""
    params = [p for p in group["params"] if p.grad is not None]
    for p in params:
        if p.grad.layout != torch.strided:
            raise ValueError(f"{type(optimizer).__name__} does not support sparse gradients (parameter {_position(group, p)} of param group {index}); nothing was updated")
    return params


def _take_step(optimizer, work):
    """False to skip this step: a NaN or ±Inf gradient, found before anything changes.

    A gradient is finite iff max|g| is (NaN propagates through the max, which cannot overflow):
    one reduction per gradient and one host sync for the whole step. A sharded (DTensor)
    gradient is read on its local shard and the verdict is agreed over its mesh, so every rank
    takes, skips or refuses the step alike. The offending group's ``nonfinite`` decides: "raise"
    raises ValueError, "skip" skips the whole step; "ignore" groups are not read."""
    checked = [(i, group, p) for i, (group, _, params) in enumerate(work) if group["nonfinite"] != "ignore" for p in params]
    if not checked:
        return True
    shards = [p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad for _, _, p in checked]
    full = [k for k, s in enumerate(shards) if s.numel()]  # an empty shard is finite (and has no max)
    maxima = dict(zip(full, _max_abs([shards[k] for k in full]) if full else (), strict=True))
    device = shards[0].device
    ok = torch.stack([_finite([m for k, m in maxima.items() if checked[k][1]["nonfinite"] == how], device) for how in ("raise", "skip")]).float()
    meshes = []
    for _, _, p in checked:
        mesh = getattr(p.grad, "device_mesh", None)
        if mesh is not None and mesh not in meshes:
            meshes.append(mesh)
    for mesh in meshes:
        for dim in range(mesh.ndim):
            torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN, group=mesh.get_group(dim))
    raise_ok, skip_ok = ok.tolist()
    if not raise_ok:
        bad = [checked[k] for k, m in maxima.items() if checked[k][1]["nonfinite"] == "raise" and not m.isfinite()]
        where = f"parameter {_position(bad[0][1], bad[0][2])} of param group {bad[0][0]}, shape {tuple(bad[0][2].shape)}" if bad else "a parameter sharded on another rank"
        raise ValueError(f"{type(optimizer).__name__}: non-finite gradient (NaN or Inf) for {where}; nothing was updated (nonfinite='skip' skips such steps)")
    return bool(skip_ok)


def _max_abs(tensors):
    """max|t| per tensor, NaN where one holds a NaN: ``torch._foreach_norm(tensors, inf)``, one
    kernel on an accelerator; on CPU, where that norm is not vectorised, max(max t, -min t)."""
    if tensors[0].device.type != "cpu":
        return torch._foreach_norm(tensors, math.inf)
    return [torch.maximum(hi, -lo) for lo, hi in map(torch.aminmax, _real(tensors))]


def _finite(maxima, device):
    """Whether every max|g| is finite, as a 0-d bool tensor on ``device``."""
    if not maxima:
        return torch.ones((), dtype=torch.bool, device=device)
    return torch.stack([m.to(device) for m in maxima]).isfinite().all()


def _real(tensors):
    """Complex tensors as their real views: a complex parameter is a point of R^2n (torch.optim's convention)."""
    return [torch.view_as_real(t) if t.is_complex() else t for t in tensors]


def _upcast(tensors):
    """Half-precision tensors as float32 copies: their math is float32."""
    return [t.float() if t.dtype in _HALF else t for t in tensors]


def _check_state_dict(optimizer, state_dict):
    """The loaded state per parameter, once ``state_dict`` is known to fit; else TypeError or ValueError.

    As many groups of as many parameters as the optimizer, valid hyperparameters; per parameter a
    whole-number step and exactly the buffers its group's rule keeps, shaped like the parameter."""
    name = type(optimizer).__name__
    if not (isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict) and isinstance(state_dict.get("param_groups"), list)):
        raise TypeError(f"{name}.load_state_dict expects a dict with a 'state' dict and a 'param_groups' list, got {type(state_dict).__name__}")
    saved, groups = state_dict["param_groups"], optimizer.param_groups
    if len(saved) != len(groups):
        raise ValueError(f"{name}: the loaded state has {len(saved)} param groups, this optimizer {len(groups)}")
    where = {}
    for i, (s, group) in enumerate(zip(saved, groups, strict=True)):
        if not (isinstance(s, dict) and isinstance(s.get("params"), list)):
            raise TypeError(f"{name}: param group {i} of the loaded state is not a dict with a 'params' list")
        if len(s["params"]) != len(group["params"]):
            raise ValueError(f"{name}: param group {i} of the loaded state has {len(s['params'])} parameters, this optimizer's {len(group['params'])}")
        missing = [k for k in _ARGUMENTS if k not in s and k not in _OPTIONS]
        if missing:
            raise ValueError(f"{name}: param group {i} of the loaded state lacks {', '.join(missing)}")
        _check_group(optimizer, s, f"param group {i} of the loaded state")
        for j, (key, p) in enumerate(zip(s["params"], group["params"], strict=True)):
            if key in where:
                raise ValueError(f"{name}: the loaded param groups list parameter id {key!r} twice")
            where[key] = (f"parameter {j} of param group {i}", p, optimizer._variant(s))
    state = {}
    for key, per_param in state_dict["state"].items():
        if key not in where:
            raise ValueError(f"{name}: the loaded state has state for parameter id {key!r}, which no loaded param group lists")
        at, p, variant = where[key]
        if not isinstance(per_param, dict):
            raise TypeError(f"{name}: the loaded state of {at} is a {type(per_param).__name__}, not a dict")
        keeps = {"step", *_BUFFERS[variant]}
        if per_param.keys() != keeps:
            raise ValueError(f"{name}: the loaded state of {at} holds {sorted(per_param)}, but its rule {variant} keeps {sorted(keeps)}")
        for k, value in per_param.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name}: {k} of {at} in the loaded state is a {type(value).__name__}, not a tensor")
        step = float(per_param["step"]) if per_param["step"].numel() == 1 and not per_param["step"].is_complex() else math.nan
        if not (step >= 0 and step % 1 == 0):
            raise ValueError(f"{name}: step of {at} in the loaded state must be a whole number >= 0, got {per_param['step'].tolist()!r}")
        for k in _BUFFERS[variant]:
            value = per_param[k]
'''

_SCALAR_CHECK = """            if k in _SCALAR_STATE:
                if value.shape != () or not value.is_floating_point() or not value.isfinite():
                    raise ValueError(f"{name}: {k} of {at} in the loaded state must be a finite 0-d float tensor, got {value!r}")
                continue
"""

_BUFFER_CHECK = """            if value.shape != p.shape:
                raise ValueError(f"{name}: {k} of {at} in the loaded state has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}")
            if not (value.is_floating_point() or value.is_complex()) or value.is_complex() != p.is_complex():
                raise ValueError(f"{name}: {k} of {at} in the loaded state is {value.dtype}, which does not fit a {p.dtype} parameter")
        state[p] = per_param
    return state"""


def module_guards(scalar_state: bool) -> str:
    """Source of the module-level guard functions (``scalar_state``: the rule keeps a 0-d state,
    ``_SCALAR_STATE``, checked as a finite float instead of as a tensor like the parameter)."""
    return _COMMON + (_SCALAR_CHECK if scalar_state else "") + _BUFFER_CHECK


def step_prologue() -> list[str]:
    """Lines of ``step()`` (at method indentation) after the closure: ``work`` holds
    ``(group, variant, params with a gradient)`` for every group, checked; a skipped step
    returns the loss."""
    return [
        "work = [(group, self._variant(group), _with_grad(self, i, group)) for i, group in enumerate(self.param_groups)]",
        "if not _take_step(self, work):",
        "    return loss",
    ]


def load_state_dict_method(scalar_state: bool) -> list[str]:
    """Lines of the generated ``load_state_dict`` (at class-body indentation)."""
    doc = "scalar state keeps torch's scalar dtype, " if scalar_state else ""
    lines = [
        "def load_state_dict(self, state_dict):",
        '    """torch\'s load_state_dict once ``state_dict`` is known to fit (else TypeError or',
        "    ValueError, and nothing changes); the buffers of a half-precision parameter stay",
        f'    float32, {doc}as they were saved."""',
        "    state = _check_state_dict(self, state_dict)",
        "    super().load_state_dict(state_dict)",
        "    for p, saved in state.items():  # torch cast every buffer to the parameter's dtype",
        '        for name in sorted(saved.keys() - {"step"}):',
    ]
    if scalar_state:
        lines += [
            "            if name in _SCALAR_STATE:",
            '                self.state[p][name] = saved[name].to(dtype=_scalar_dtype(), device="cpu")',
            "            elif p.dtype in _HALF:",
        ]
    else:
        lines.append("            if p.dtype in _HALF:")
    lines.append(
        "                self.state[p][name] = saved[name].to(dtype=torch.float32, device=p.device)"
    )
    return lines


def add_param_group_method() -> list[str]:
    """Lines of the generated ``add_param_group`` (at class-body indentation)."""
    return [
        "def add_param_group(self, param_group):",
        "    \"\"\"torch's add_param_group after this optimizer's checks of the group's hyperparameters",
        '    and of its parameters (each in one group, listed once)."""',
        "    if isinstance(param_group, dict):",
        "        _check_new_group(self, param_group)",
        "    super().add_param_group(param_group)",
    ]
