r"""The closures by name: what :func:`hamopt.derive` composes from a list of names.

Every closure of :mod:`hamopt.closures.library` that needs no argument but the rule's own
symbols is here. A derivation names any subset; they are applied in the order of their
*stage* (weight decay, mass, running maximum, momentum, bias correction, step-size schedules),
so a list means the same whatever its order. At most one closure of the stages marked
*one of* may be named; a closure needs what its stage says it needs.

========================== ========= ======================================================
name                       stage     effect (symbols: α = lr, λ = weight decay)
========================== ========= ======================================================
coupled_weight_decay       decay     :math:`g \leftarrow g + \lambda\theta` (one of)
decoupled_weight_decay     decay     :math:`\theta \leftarrow \theta(1 - \alpha\lambda)` (one of)
diagonal_mass              mass      momenta in units of :math:`\sqrt y + \epsilon` (one of)
second_moment              mass      :math:`u^2 \to k^2 y` in the inverse mass (one of)
frozen_mass                mass      every :math:`|x| \to \sqrt y` (one of)
infinity_norm              mass      :math:`|v| + \epsilon \to u = \max(\beta_2 u, |g|+\epsilon)` (one of)
amsgrad                    maximum   :math:`\hat y = \max(\hat y, y)` in place of ``y`` (needs a mass)
no_momentum                momentum  :math:`\beta_1 = 0`: the buffer is the gradient (one of)
lookahead                  momentum  Lion's :math:`\Delta\theta(c)`, :math:`c = \beta_1 v + (1-\beta_1)g`; :math:`v \leftarrow \beta_2 v + (1-\beta_2) g` (one of)
bias_correction            bias      :math:`v/(1-\beta_1^t)`, :math:`y/(1-\beta_2^t)` (one of)
step_size_bias_correction  bias      :math:`\alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)` (one of; needs a mass)
rectification              schedule  RAdam's :math:`r_t` (needs step_size_bias_correction)
momentum_schedule          schedule  Dozat's :math:`\mu_t` (needs a Nesterov-type step)
========================== ========= ======================================================

Presets: ``"none"`` is ``coupled_weight_decay`` alone (the particle's own momentum);
``"adam"`` is ``diagonal_mass, bias_correction, coupled_weight_decay`` — the adaptive closure
that works for every energy and is Adam for the classical one (see the README).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sympy as sp

from hamopt.closures import library
from hamopt.closures.draft import Closure

__all__ = ["CLOSURES", "PRESETS", "Entry", "Symbols", "resolve"]


@dataclass(frozen=True)
class Symbols:
    """The rule's symbols a closure may refer to."""

    lr: sp.Symbol
    beta2: sp.Symbol
    eps: sp.Symbol
    weight_decay: sp.Symbol
    momentum_decay: sp.Symbol


@dataclass(frozen=True)
class Entry:
    """A closure by name: its stage, whether the stage admits only one, what it needs."""

    name: str
    stage: int
    exclusive: bool
    make: Callable[[Symbols], Closure]
    needs: tuple[str, ...] = ()
    doc: str = ""


_DECAY, _MASS, _MAXIMUM, _MOMENTUM, _BIAS, _SCHEDULE = range(6)
_MASSES = ("diagonal_mass", "second_moment", "frozen_mass", "infinity_norm")

CLOSURES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "coupled_weight_decay",
            _DECAY,
            True,
            lambda s: library.coupled_weight_decay(s.weight_decay),
            doc="g ← g + λθ",
        ),
        Entry(
            "decoupled_weight_decay",
            _DECAY,
            True,
            lambda s: library.decoupled_weight_decay(s.weight_decay, s.lr),
            doc="θ ← θ(1 - αλ)",
        ),
        Entry(
            "diagonal_mass",
            _MASS,
            True,
            lambda s: library.diagonal_mass(s.beta2, s.eps),
            doc="momenta in units of √y + ε",
        ),
        Entry(
            "second_moment",
            _MASS,
            True,
            lambda s: library.second_moment(s.beta2),
            doc="second moment y for the momentum's square in the inverse mass",
        ),
        Entry(
            "frozen_mass",
            _MASS,
            True,
            lambda s: library.frozen_mass(s.beta2),
            doc="every |x| → √y",
        ),
        Entry(
            "infinity_norm",
            _MASS,
            True,
            lambda s: library.infinity_norm(s.beta2),
            doc="|v| + ε → u = max(β2 u, |g| + ε)",
        ),
        Entry(
            "amsgrad",
            _MAXIMUM,
            False,
            lambda s: library.amsgrad(),
            needs=("diagonal_mass", "second_moment", "frozen_mass"),
            doc="ŷ = max(ŷ, y) in place of y",
        ),
        Entry("no_momentum", _MOMENTUM, True, lambda s: library.no_momentum(), doc="β1 = 0"),
        Entry(
            "lookahead",
            _MOMENTUM,
            True,
            lambda s: library.lookahead(s.beta2),
            doc="Lion's look-ahead: Δθ at c = β1 v + (1-β1) g, then v = β2 v + (1-β2) g",
        ),
        Entry(
            "bias_correction",
            _BIAS,
            True,
            lambda s: library.bias_correction(),
            doc="v/(1-β1^t), y/(1-β2^t)",
        ),
        Entry(
            "step_size_bias_correction",
            _BIAS,
            True,
            lambda s: library.step_size_bias_correction(s.lr),
            needs=_MASSES,
            doc="α√(1-β2^t)/(1-β1^t)",
        ),
        Entry(
            "rectification",
            _SCHEDULE,
            False,
            lambda s: library.rectification(s.lr),
            needs=("step_size_bias_correction",),
            doc="RAdam's variance rectification",
        ),
        Entry(
            "momentum_schedule",
            _SCHEDULE,
            False,
            lambda s: library.momentum_schedule(s.lr, s.momentum_decay),
            doc="Dozat's momentum schedule μ_t",
        ),
    )
}

#: Named lists of closures.
PRESETS: dict[str, tuple[str, ...]] = {
    "none": ("coupled_weight_decay",),
    "adam": ("diagonal_mass", "bias_correction", "coupled_weight_decay"),
}


def resolve(closure: str | Iterable[str]) -> tuple[Entry, ...]:
    """The entries of a preset name, one closure name, or a list of names, in stage order (a
    list of one preset's name is that preset, as in a spec file).

    Raises :class:`ValueError` for unknown names, repeats, two closures of a one-of stage,
    and a closure whose prerequisite is missing; :class:`TypeError` for a non-string name.

    >>> [e.name for e in resolve("adam")]
    ['coupled_weight_decay', 'diagonal_mass', 'bias_correction']
    >>> resolve(["second_moment", "frozen_mass"])
    Traceback (most recent call last):
    ...
    ValueError: closures second_moment and frozen_mass both set the mass; choose one
    """
    if isinstance(closure, str):
        if "," in closure and closure not in PRESETS:
            raise ValueError(
                f"closure {closure!r} is one string: give the names as a list, "
                f"{[name.strip() for name in closure.split(',')]!r} (the command line's "
                "--closure takes them comma-separated)"
            )
        names: list[str] = list(PRESETS.get(closure, (closure,)))
    elif isinstance(closure, Iterable):
        names = list(closure)
        if len(names) == 1 and names[0] in PRESETS:  # ["adam"]: the preset, as in a spec file
            names = list(PRESETS[names[0]])
    else:
        raise TypeError(
            f"closure must be a preset's name or a list of closure names, got "
            f"{type(closure).__name__} {closure!r}"
        )
    entries = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"closure names must be strings, got {type(name).__name__} {name!r}")
        if name in PRESETS:
            raise ValueError(
                f"{name!r} is a preset, the closures {list(PRESETS[name])}: give it alone "
                f"(closure={name!r}), or list its closures among the others"
            )
        if name not in CLOSURES:
            raise ValueError(
                f"unknown closure {name!r}; choose a preset from {sorted(PRESETS)} "
                f"or closures from {sorted(CLOSURES)}"
            )
        if names.count(name) > 1:
            raise ValueError(f"closure {name} is named twice")
        entries.append(CLOSURES[name])
    for a in entries:
        for b in entries:
            if a.name < b.name and a.stage == b.stage and a.exclusive and b.exclusive:
                what = {
                    _DECAY: "add weight decay",
                    _MASS: "set the mass",
                    _MOMENTUM: "change the momentum",
                    _BIAS: "correct bias",
                }
                first, second = sorted((a.name, b.name), key=names.index)
                raise ValueError(f"closures {first} and {second} both {what[a.stage]}; choose one")
        if a.needs and not any(n in names for n in a.needs):
            raise ValueError(f"closure {a.name} needs one of {list(a.needs)} as well")
    return tuple(sorted(entries, key=lambda e: e.stage))
