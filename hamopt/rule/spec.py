"""An optimizer: constructor arguments plus one update rule per variant.

Discrete options (``order``, ``amsgrad``, ``nesterov``, ``zeta=None``) do not become branches
inside one rule: each selects a *variant*, a separately derived :class:`UpdateRule`, and the
generated optimizer dispatches on the group's options. ``variants`` is an ordered list of
``(condition, rule)`` where ``condition`` is Python source over ``group[...]`` (the first true
condition wins; the last is usually ``"True"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hamopt.labels import identifier_problem
from hamopt.rule.hyperparameter import Hyperparameter
from hamopt.rule.update_rule import UpdateRule

#: Runtime options a reference may take by position (``torch.optim.Adamax``'s ``foreach``).
POSITIONAL_OPTIONS = ("foreach",)

__all__ = ["OptimizerSpec"]


@dataclass(frozen=True)
class OptimizerSpec:
    """Everything code generation needs for one optimizer class.

    Parameters
    ----------
    name
        Class name (``"RAD"``).
    hyperparameters
        Constructor arguments in order (after ``params``).
    variants
        ``(condition, rule)`` pairs, first match wins.
    summary
        First line of the class docstring.
    reference
        The implementation it reproduces (constructor signature).
    checks
        Extra constructor checks: ``(bad condition, message)`` Python source pairs.
    unsupported
        ``(argument, default)`` accepted for drop-in compatibility but only at the default;
        anything else raises ``ValueError`` naming the argument.
    resolved
        ``(argument, Python expression)`` pairs run in the constructor after validation,
        rebinding the argument before it is stored in the defaults: the reference's derived
        defaults (Apollo's ``init_lr=None`` → ``lr / 1000``). Expressions read the arguments.
    positional
        The reference's order of its positional arguments where a refused one sits between
        hyperparameters (lion-pytorch's ``use_triton`` before ``decoupled_weight_decay``), or
        where it takes a runtime option by position (``torch.optim.Adamax``'s ``foreach``);
        empty: the hyperparameters, then the refused arguments.
    reference_state
        ``(key, value)``: per-parameter state the reference keeps that no rule here reads, at
        the value it holds in every state these rules can continue (``rad.optim.RAD``'s
        Nesterov product ``mu_product``, 1.0 without ``nesterov``): written into each
        parameter's saved state, so that the reference loads the checkpoint, and taken off a
        loaded one (refused at any other value).
    """

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    variants: tuple[tuple[str, UpdateRule], ...]
    summary: str = ""
    reference: str = ""
    checks: tuple[tuple[str, str], ...] = ()
    unsupported: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    resolved: tuple[tuple[str, str], ...] = ()
    positional: tuple[str, ...] = ()
    reference_state: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        why = identifier_problem(self.name)
        if why is not None:
            raise ValueError(f"optimizer name {self.name!r} cannot name the class: {why}")
        if not self.variants:
            raise ValueError(f"optimizer {self.name} has no rule")
        names = [hp.name for hp in self.hyperparameters]
        reserved = {"params", "foreach", "maximize", "self", "group", "state"}
        bad = reserved & set(names) - {"maximize"}
        if bad:
            raise ValueError(f"optimizer {self.name}: argument name(s) {sorted(bad)} are reserved")
        if len(set(names)) != len(names):
            raise ValueError(f"optimizer {self.name}: argument names repeat: {names}")
        unresolvable = sorted({n for n, _ in self.resolved} - set(names))
        if unresolvable:
            raise ValueError(f"optimizer {self.name}: resolved {unresolvable} are not arguments")
        refused = {n for n, _ in self.unsupported}
        unknown = sorted(set(self.positional) - {*names, *refused, *POSITIONAL_OPTIONS})
        if unknown:
            raise ValueError(f"optimizer {self.name}: positional {unknown} are not arguments")
        rule_names = [r.name for _, r in self.variants]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError(f"optimizer {self.name}: variant names repeat: {rule_names}")
