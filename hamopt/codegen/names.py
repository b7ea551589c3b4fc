"""Names the generated code binds itself, which an optimizer's hyperparameters may not take.

A hyperparameter becomes a Python name in the generated module: a keyword argument of the
step functions, a local variable, a key of the parameter group. If it were called ``step`` or
``grad`` it would shadow the generated code's own ``step`` (the step counter) or ``grad`` and
the optimizer would compute something else without a word; if it were called ``torch`` the
step would crash deep inside torch; ``lambda`` would not even compile. :func:`check_names`
refuses such a spec before any code is generated, naming the clash.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Callable, Iterable

import sympy as sp

from hamopt.rule.update_rule import UpdateRule, grad, param, step

__all__ = [
    "FOREACH_COPY",
    "GENERATED_NAMES",
    "IN_DOUBLE",
    "SQRT_RN",
    "WHOLE",
    "check_names",
    "clash",
    "first_free",
    "plural",
    "rule_names",
]

#: The runtime's helper every reduction over a whole tensor prints inside
#: (:func:`hamopt.runtime.tensors.whole`: on a sharded DTensor, the reduction over every shard).
WHOLE = "whole"

#: The runtime's correctly rounded square root the fused path prints (the kernel's ``std::sqrt``;
#: :func:`hamopt.runtime.tensors.sqrt_rn`).
SQRT_RN = "sqrt_rn"

#: The runtime's float64 evaluation of a transcendental function the fused path prints (the
#: kernel's ``T(std::tanh(double(x)))``; :func:`hamopt.runtime.tensors.in_double`).
IN_DOUBLE = "in_double"

#: The runtime's helper the foreach path writes its results back with
#: (:func:`hamopt.runtime.tensors.foreach_copy`).
FOREACH_COPY = "foreach_copy"

#: Names every generated module binds, with what they are.
GENERATED_NAMES: dict[str, str] = {
    "math": "the math module",
    "torch": "the torch module",
    WHOLE: "the runtime's reduction over a whole (sharded) tensor",
    SQRT_RN: "the runtime's correctly rounded square root",
    IN_DOUBLE: "the runtime's float64 evaluation of a function, rounded once",
    FOREACH_COPY: "the runtime's list copy",
    "scalar": "the runtime's math on numbers or tensors",
    "before": "the runtime's copy of a buffer read before it changes (differentiable=True)",
    "nonsingular": "the runtime's argument of a switch's branch, finite in the backward",
    "max_abs": "the runtime's largest magnitude of a tensor (0 for an empty one)",
    "foreach_max_abs": "the runtime's largest magnitude of each tensor of a list",
    "params": "the list of parameters",
    "param": "the parameter being updated",
    "grads": "the list of gradients",
    "grad": "the gradient",
    "step": "the step counter t",
    "steps": "the list of step counters",
    "state_steps": "the step counter tensors",
    "state": "the per-parameter state",
    "i": "the loop index",
    "x": "a loop variable of the foreach path",
    "self": "the optimizer",
    "group": "the parameter group",
    "variant": "the selected rule",
    "buffers": "the names of the state buffers",
    "lists": "the lists of state buffers",
    "closure": "the loss closure",
    "loss": "the loss",
    "fn": "the selected step function",
    "values": "the hyperparameter table",
    "defaults": "the group defaults",
    "maximize": "the maximize option",
    "foreach": "the foreach option",
    "fused": "the fused option",
    "nonfinite": "the option for NaN or infinite gradients",
    "numbers": "the fused path's tensor of hyperparameters and per-tensor scalars",
    "n": "the fused path's number of tensors",
    "differentiable": "torch.optim's differentiable option",
    "capturable": "torch.optim's capturable option",
    "state_dtype": "the option for the dtype the state is kept in",
}


def clash(name: str, bound: Iterable[str] = ()) -> str | None:
    """Why ``name`` cannot be a hyperparameter of a generated optimizer, or ``None``.

    ``bound`` adds the names a particular rule binds (its buffers, intermediates).

    >>> clash("step")
    'the generated code uses step for the step counter t'
    >>> clash("mass") is None
    True
    """
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name} is a Python keyword"
    if name in GENERATED_NAMES:
        return f"the generated code uses {name} for {GENERATED_NAMES[name]}"
    if name in set(bound):
        return f"the optimizer already uses {name} (an argument or a quantity of its rule)"
    if name.startswith("_") or hasattr(builtins, name):
        return f"{name} would shadow a Python builtin or a private name of the module"
    return None


def check_names(optimizer: str, hyperparameters: Iterable[str], bound: Iterable[str]) -> None:
    """Raise ``ValueError`` if a hyperparameter name clashes with a name the code binds."""
    bound = set(bound)
    for name in hyperparameters:
        why = clash(name, bound)
        if why is not None:
            raise ValueError(
                f"optimizer {optimizer}: hyperparameter name {name!r} is reserved: {why}"
            )


def first_free(base: str, taken: Callable[[str], bool]) -> str:
    """The first of ``base``, ``base_2``, ``base_3``, … that ``taken`` does not claim.

    >>> first_free("denoms", {"denoms", "denoms_2"}.__contains__)
    'denoms_3'
    """
    k = 1
    while taken(name := base if k == 1 else f"{base}_{k}"):
        k += 1
    return name


def plural(name: str) -> str:
    """List name in the foreach and fused paths: ``exp_avg`` → ``exp_avgs``, ``zeta_t`` →
    ``zeta_t_list``, and ``a`` → ``a_list`` (``as`` is a keyword).

    >>> plural("exp_avg"), plural("zeta_t"), plural("m2"), plural("a")
    ('exp_avgs', 'zeta_t_list', 'm2_list', 'a_list')
    """
    short = name + "s"
    clear = not (name[-1].isdigit() or name.endswith("_t") or keyword.iskeyword(short))
    return short if clear and not keyword.issoftkeyword(short) else name + "_list"


def rule_names(rule: UpdateRule, lists: bool = False) -> dict[sp.Symbol, str]:
    """Names of the rule's symbols in generated code: one tensor's, or (``lists``) the lists'."""
    names = {param: "param", grad: "grad", step: "step"}
    for b in rule.buffers:
        names[b.symbol] = b.name
    for a in rule.assignments:
        names.setdefault(a.target, a.target.name)
    if lists:
        names = {sym: plural(name) for sym, name in names.items()}
    return names
