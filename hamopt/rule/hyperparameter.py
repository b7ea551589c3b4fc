"""Optimizer hyperparameters: constructor arguments with defaults, ranges and symbols.

A :class:`Hyperparameter` is one constructor argument of a generated optimizer. It names the
SymPy symbol(s) the rule uses (``betas`` carries two, ``beta1`` and ``beta2``), its default,
and the valid values; code generation writes it as a row of the generated class's argument
table (:class:`hamopt.runtime.Argument`), which checks every value with a message naming the
argument and its range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

# the marker of an argument without default: the runtime's, which generated code reads
from hamopt.runtime.arguments import REQUIRED

if TYPE_CHECKING:
    from hamopt.parameters import Parameter

__all__ = [
    "REQUIRED",
    "Hyperparameter",
    "choice",
    "energy_parameter",
    "flag",
    "optional",
    "pair",
    "real",
]


@dataclass(frozen=True)
class Hyperparameter:
    """One constructor argument.

    Parameters
    ----------
    name
        The argument name (``"lr"``, ``"betas"``).
    symbols
        The rule's symbols it provides, one per component.
    default
        Default value, :data:`REQUIRED`, or ``None`` for an optional argument.
    intervals
        Valid values of each component.
    kind
        ``"real"``, ``"int"`` (choices), or ``"bool"`` (a flag that selects a variant).
    choices
        For ``"int"`` arguments, the allowed values.
    optional
        ``None`` is allowed (it selects a variant, e.g. RAD's annealed ζ).
    doc
        One line.
    keyword_only
        After ``*`` in the constructor (``maximize``).
    """

    name: str
    symbols: tuple[sp.Symbol, ...]
    default: Any
    intervals: tuple[sp.Interval, ...] = ()
    kind: str = "real"
    choices: tuple[Any, ...] = ()
    optional: bool = False
    doc: str = ""
    keyword_only: bool = False

    @property
    def is_pair(self) -> bool:
        return len(self.symbols) > 1

    def range_text(self, i: int = 0) -> str:
        iv = self.intervals[i]
        left = "(" if iv.left_open else "["
        right = ")" if iv.right_open else "]"
        return f"{left}{iv.start}, {iv.end}{right}".replace("oo", "inf")


def energy_parameter(prm: Parameter, doc: str, symbol: sp.Symbol | None = None) -> Hyperparameter:
    """The constructor argument of a kinetic energy's parameter ``prm``: its name, default
    (:data:`REQUIRED` where it has none, as torch's ``lr``) and interval; its own doc, else
    ``doc``."""
    default = REQUIRED if prm.default is None else prm.default
    return real(prm.name, default, prm.interval, prm.doc or doc, symbol=symbol)


def real(
    name: str,
    default: Any,
    interval: sp.Interval,
    doc: str = "",
    symbol: sp.Symbol | None = None,
    **kw: Any,
) -> Hyperparameter:
    """A real-valued argument with one symbol (named like the argument unless given)."""
    sym = symbol if symbol is not None else sp.Symbol(name, real=True)
    return Hyperparameter(name, (sym,), default, (interval,), "real", doc=doc, **kw)


def optional(
    name: str,
    default: Any,
    interval: sp.Interval,
    doc: str = "",
    symbol: sp.Symbol | None = None,
    keyword_only: bool = False,
) -> Hyperparameter:
    """A real argument that may be ``None``."""
    sym = symbol if symbol is not None else sp.Symbol(name, real=True)
    return Hyperparameter(
        name,
        (sym,),
        default,
        (interval,),
        "real",
        optional=True,
        doc=doc,
        keyword_only=keyword_only,
    )


def pair(
    name: str,
    default: tuple[float, float],
    symbols: tuple[sp.Symbol, sp.Symbol],
    intervals: tuple[sp.Interval, sp.Interval],
    doc: str = "",
) -> Hyperparameter:
    """A pair of reals (``betas``)."""
    return Hyperparameter(name, tuple(symbols), tuple(default), tuple(intervals), "real", doc=doc)


def choice(name: str, default: int, choices: tuple[int, ...], doc: str = "") -> Hyperparameter:
    """An integer picked from ``choices``; selects a variant of the rule."""
    return Hyperparameter(name, (), default, (), "int", choices=choices, doc=doc)


def flag(name: str, default: bool, doc: str = "", keyword_only: bool = False) -> Hyperparameter:
    """A boolean; selects a variant of the rule."""
    return Hyperparameter(name, (), default, (), "bool", doc=doc, keyword_only=keyword_only)
