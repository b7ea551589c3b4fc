r"""``load_state_dict``'s checks: a state that does not fit is refused before anything changes.

A state fits when it has as many groups of as many parameters as the optimizer, valid
hyperparameters, and per parameter exactly what its group's rule keeps (the optimizer's
``_keeps``): a whole-number ``step`` (a multi-gradient optimizer counts none) and buffers shaped
like the parameter (a scalar state: a finite 0-d float tensor).

What torch.optim accepts is accepted too: a checkpoint written by an older torch (a ``step``
saved as a plain number, a flag the group lacks: filled with torch's default, as torch's
``__setstate__`` does), a reference's checkpoint that keeps such flags outside its groups
(lion-pytorch's: filled with the values this optimizer was built with, as every class without
a torch reference does), and a ``torch.optim.SGD`` checkpoint, which keeps no ``step`` (its
momentum buffer exists from the first step on, so the step count is taken as 1: the rule reads
it only to start the buffer at the first gradient).
"""

import math

import torch

__all__ = ["check_state_dict", "scalar_dtype"]


def check_state_dict(optimizer, state_dict: dict) -> tuple[dict, dict]:
    """``(state per parameter, the state dict to hand to torch)`` once ``state_dict`` fits; else
    TypeError or ValueError. The second is a shallow copy with its gaps filled (old formats)."""
    name = type(optimizer).__name__
    if not (
        isinstance(state_dict, dict)
        and isinstance(state_dict.get("state"), dict)
        and isinstance(state_dict.get("param_groups"), list)
    ):
        raise TypeError(
            f"{name}.load_state_dict expects a dict with a 'state' dict and a 'param_groups' list, got {type(state_dict).__name__}"
        )
    saved, groups = state_dict["param_groups"], optimizer.param_groups
    if len(saved) != len(groups):
        raise ValueError(
            f"{name}: the loaded state has {len(saved)} param groups, this optimizer {len(groups)}"
        )
    filled, where = [], {}
    for i, (s, group) in enumerate(zip(saved, groups, strict=True)):
        if not (isinstance(s, dict) and isinstance(s.get("params"), list)):
            raise TypeError(
                f"{name}: param group {i} of the loaded state is not a dict with a 'params' list"
            )
        if len(s["params"]) != len(group["params"]):
            raise ValueError(
                f"{name}: param group {i} of the loaded state has {len(s['params'])} parameters, this optimizer's {len(group['params'])}"
            )
        s = {**optimizer._fillable(), **_built_with(optimizer, group), **s}
        missing = [a.name for a in optimizer.ARGUMENTS if a.name not in s]
        if missing:
            raise ValueError(
                f"{name}: param group {i} of the loaded state lacks {', '.join(missing)}"
            )
        optimizer._check_group(s, f"param group {i} of the loaded state")
        optimizer._check_parameters_for(
            s.get("state_dtype"), group["params"], f"param group {i} (the loaded state's)"
        )
        filled.append(s)
        for j, (key, p) in enumerate(zip(s["params"], group["params"], strict=True)):
            if key in where:
                raise ValueError(f"{name}: the loaded param groups list parameter id {key!r} twice")
            where[key] = (f"parameter {j} of param group {i}", p, optimizer._rule(s), s)
    state, loaded = {}, {}
    for key, per_param in state_dict["state"].items():
        if key not in where:
            raise ValueError(
                f"{name}: the loaded state has state for parameter id {key!r}, which no loaded param group lists"
            )
        at, p, rule, group = where[key]
        if not isinstance(per_param, dict):
            raise TypeError(
                f"{name}: the loaded state of {at} is a {type(per_param).__name__}, not a dict"
            )
        keeps = optimizer._keeps(rule, group, p)
        counted = "step" in keeps
        # torch's SGD keeps no step: taken as 1 where the rule reads it only at the first step
        assumed = counted and not optimizer.RULES[rule].reads_step
        per_param = _without_reference_state(name, at, per_param, optimizer.REFERENCE_STATE)
        per_param = _tensors(per_param, counted, assumed, optimizer.SCALAR_STATE)
        if per_param.keys() != set(keeps):
            raise ValueError(
                f"{name}: the loaded state of {at} holds {sorted(per_param)}, but its rule {rule} keeps {sorted(keeps)}"
            )
        for k, value in per_param.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"{name}: {k} of {at} in the loaded state is a {type(value).__name__}, not a tensor"
                )
            if value.is_meta and not p.is_meta:  # torch: "Cannot copy out of meta tensor"
                raise ValueError(
                    f"{name}: {k} of {at} in the loaded state is on the meta device (a tensor "
                    f"without data), its parameter on {p.device}; load a state that holds data"
                )
        if counted:
            _check_step(name, at, per_param["step"])
        stored = {  # what a buffer kept in a low-precision format is, allocating nothing
            k: like
            for columns in optimizer._stored_like(rule, group, p).values()
            for k, like in columns.items()
        }
        for k in keeps:
            if k in stored:
                _check_stored(name, k, at, per_param[k], stored[k])
            elif k != "step":
                _check_buffer(name, k, at, per_param[k], p, k in optimizer.SCALAR_STATE)
        state[p] = loaded[key] = per_param
    return state, {**state_dict, "state": loaded, "param_groups": filled}


def _built_with(optimizer, group: dict) -> dict:
    """The flags and optional numbers of ``group`` as this optimizer was built: what a loaded
    group that lacks them takes. A reference may keep them outside its groups (lion-pytorch
    keeps ``decoupled_weight_decay`` and the initial lr on the optimizer, so its checkpoints
    hold neither), and an older torch did not write a newer flag; the constructor's value is
    what the user asked for. None for a drop-in replacement for a torch.optim class
    (``TORCH_CHECKPOINTS``), whose missing flags take torch's defaults, as its
    ``__setstate__`` gives them. The options (``foreach``, ``state_dtype``…) take their
    defaults, as torch fills them."""
    if optimizer.TORCH_CHECKPOINTS:
        return {}
    own = [
        a.name for a in optimizer.ARGUMENTS if a.kind in ("flag", "fixed", "choice") or a.optional
    ]
    return {name: group[name] for name in own if name in group}


def _without_reference_state(name: str, at: str, per_param: dict, reference: dict) -> dict:
    """``per_param`` without the reference's state that no rule reads (``REFERENCE_STATE``),
    where it holds the value these rules can continue from; ValueError at another value (a
    state the reference reached with an option this class refuses)."""
    if not reference or not any(k in per_param for k in reference):
        return per_param
    for k, value in reference.items():
        if k in per_param:
            got = per_param[k]
            whole = isinstance(got, (int, float)) or (
                isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_complex()
            )
            number = float(got) if whole else math.nan
            if isinstance(got, bool) or number != value:
                raise ValueError(
                    f"{name}: {k} of {at} in the loaded state is {got!r}; this class continues "
                    f"only from {value!r} (the reference's value without the options it refuses)"
                )
    return {k: v for k, v in per_param.items() if k not in reference}


def _tensors(per_param: dict, counted: bool, assumed: bool, scalar_state: dict) -> dict:
    """``per_param`` with its step (where ``counted``) and scalar state as tensors: a plain
    number (older torch) converted, a missing step taken as 1 where ``assumed``."""
    per_param = dict(per_param)
    if "step" not in per_param and assumed and per_param:
        per_param["step"] = torch.tensor(1.0, dtype=scalar_dtype())
    for k in (["step"] if counted else []) + list(scalar_state):
        if isinstance(per_param.get(k), (int, float)) and not isinstance(per_param[k], bool):
            per_param[k] = torch.tensor(float(per_param[k]), dtype=scalar_dtype())
    return per_param


def scalar_dtype() -> torch.dtype:
    """The dtype of a step counter or scalar state: float64 under a float64 default dtype, else
    float32 (torch.optim's)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_step(name: str, at: str, step: torch.Tensor) -> None:
    count = float(step) if step.numel() == 1 and not step.is_complex() else math.nan
    if not (count >= 0 and count % 1 == 0):
        raise ValueError(
            f"{name}: step of {at} in the loaded state must be a whole number >= 0, got {step.tolist()!r}"
        )


def _check_stored(name: str, k: str, at: str, value: torch.Tensor, like: torch.Tensor):
    """A buffer kept in its group's ``state_dtype`` format: of ``like``'s dtype and shape
    (bfloat16 values; uint8 codes and float32 ``_absmax`` block maxima; float32 values for a
    small tensor of an 8-bit group)."""
    if value.dtype != like.dtype or value.shape != like.shape:
        raise ValueError(
            f"{name}: {k} of {at} in the loaded state is {value.dtype} of shape {tuple(value.shape)}, and its group's state_dtype keeps {like.dtype} of shape {tuple(like.shape)}"
        )


def _check_buffer(
    name: str, k: str, at: str, value: torch.Tensor, p: torch.Tensor, scalar: bool
) -> None:
    if scalar:
        if value.shape != () or not value.is_floating_point() or not value.isfinite():
            raise ValueError(
                f"{name}: {k} of {at} in the loaded state must be a finite 0-d float tensor, got {value!r}"
            )
        return
    if value.shape != p.shape:
        raise ValueError(
            f"{name}: {k} of {at} in the loaded state has shape {tuple(value.shape)}, the parameter {tuple(p.shape)}"
        )
    if (
        not (value.is_floating_point() or value.is_complex())
        or value.is_complex() != p.is_complex()
    ):
        raise ValueError(
            f"{name}: {k} of {at} in the loaded state is {value.dtype}, which does not fit a {p.dtype} parameter"
        )
