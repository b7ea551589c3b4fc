"""Optimizer hyperparameters: constructor arguments with defaults, ranges and symbols.

A :class:`Hyperparameter` is one constructor argument of a generated optimizer. It names the
SymPy symbol(s) the rule uses (``betas`` carries two, ``beta1`` and ``beta2``), its default,
and the valid values, so that generated constructors validate with messages that name the
argument and its range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

# the marker of an argument without default: the runtime's, which generated code reads
from hamopt.runtime.arguments import REQUIRED

__all__ = ["REQUIRED", "Hyperparameter", "choice", "flag", "optional", "pair", "real"]


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

    def python_check(self) -> list[tuple[str, str, str]]:
        """``(condition that is bad, exception name, message)`` as Python source, for the
        generated constructor (the argument is in a local variable of the same name): a wrong
        type raises ``TypeError``, a value out of range ``ValueError``."""
        n = self.name
        if self.kind == "bool":
            return [
                (
                    f"not isinstance({n}, bool)",
                    "TypeError",
                    f"{n} must be True or False, got {{{n}!r}}",
                )
            ]
        if self.kind == "int":
            allowed = ", ".join(repr(c) for c in self.choices)
            return [
                (
                    f"{n} not in ({allowed},)",
                    "ValueError",
                    f"{n} must be one of {allowed}, got {{{n}!r}}",
                )
            ]
        if self.is_pair:
            out = [
                (
                    f"not (isinstance({n}, (tuple, list)) and len({n}) == {len(self.symbols)})",
                    "TypeError",
                    f"{n} must be a pair of numbers, got {{{n}!r}}",
                )
            ]
            for i, iv in enumerate(self.intervals):
                item = f"{n}[{i}]"
                out += [
                    (
                        _type_bad(item),
                        "TypeError",
                        f"{item} must be a real number, got {{{item}!r}}",
                    ),
                    (
                        _range_bad(item, iv),
                        "ValueError",
                        f"{item} must be in {self.range_text(i)}, got {{{item}!r}}",
                    ),
                ]
            return out
        prefix = f"{n} is not None and " if self.optional else ""
        return [
            (prefix + _type_bad(n), "TypeError", f"{n} must be a real number, got {{{n}!r}}"),
            (
                prefix + _range_bad(n, self.intervals[0]),
                "ValueError",
                f"{n} must be in {self.range_text()}, got {{{n}!r}}",
            ),
        ]


def _type_bad(x: str) -> str:
    return f"(isinstance({x}, bool) or not isinstance({x}, (int, float)))"


def _range_bad(x: str, iv: sp.Interval) -> str:
    parts = []
    if iv.start.is_finite:
        parts.append(f"{x} {'<=' if iv.left_open else '<'} {float(iv.start)!r}")
    if iv.end.is_finite:
        parts.append(f"{x} {'>=' if iv.right_open else '>'} {float(iv.end)!r}")
    parts.append(f"{x} != {x}")  # NaN
    if not (iv.start.is_finite and iv.end.is_finite):  # ±inf: an interval is open at infinity
        parts.append(f"{x} in (float('inf'), float('-inf'))")
    return "(" + " or ".join(parts) + ")"


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
    name: str, default: Any, interval: sp.Interval, doc: str = "", symbol: sp.Symbol | None = None
) -> Hyperparameter:
    """A real argument that may be ``None``."""
    sym = symbol if symbol is not None else sp.Symbol(name, real=True)
    return Hyperparameter(name, (sym,), default, (interval,), "real", optional=True, doc=doc)


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
