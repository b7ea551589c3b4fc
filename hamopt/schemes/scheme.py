r"""Splitting schemes as data.

A scheme is a table of ``(sub-flow, fraction of h)`` rows, applied top to bottom, like a
Butcher tableau for splitting methods. The conformal leapfrog is

=====  ========
flow   fraction
=====  ========
D      1/2
F      1/2
K      1
F      1/2
D      1/2
=====  ========

Consistency (order :math:`\ge 1`) needs the fractions of each of K and F, and of the friction
rows D and I together, to add up to 1; the G rows of a non-symplectic variant are corrections
of higher order in ``h`` and are not counted. Any composition of D, I, K and F rows is conformal
symplectic with factor :math:`e^{-r h \sum f_D}\prod_I (1 + r h f_I)^{-1}`
(:meth:`Scheme.conformal_factor`): the exact flow's :math:`e^{-rh}` when the friction is exact,
a first-order approximation of it with implicit friction (Hamiltonian descent).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from hamopt.labels import check_label
from hamopt.system.subflows import CONFORMAL_FLOWS, FLOWS, SYMPLECTIC_FLOWS

#: The sub-flows that are one-parameter groups in t, whose inverse is the flow for -t: what a
#: rotation may move (friction D exactly, kick K, drift F).
INVERTIBLE_FLOWS = ("D", "K", "F")

__all__ = ["Scheme", "compose"]

Row = tuple[str, sp.Expr]


def _rows(items: Iterable[tuple[str, Any]]) -> tuple[Row, ...]:
    """Rows as a scheme keeps them: each flow's name, its fraction of ``h`` an exact number."""
    rows = []
    for k, item in enumerate(items):
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"row {k} must be a pair (sub-flow, fraction of h), got {item!r}")
        flow, frac = item
        rows.append((str(flow), _fraction(flow, frac)))
    return tuple(rows)


def _fraction(flow: Any, frac: Any) -> sp.Expr:
    """A row's fraction of ``h`` as an exact number: a real number (not a bool), a SymPy
    number, or its text (``"1/2"``, as a spec file gives it); TypeError for anything else,
    ValueError for an expression with free symbols (a fraction is a number: ``derive`` and
    the exported module have nothing to give a symbol)."""
    if isinstance(frac, bool) or not isinstance(frac, (numbers.Real, str, sp.Expr)):
        raise TypeError(
            f"the fraction of row {flow!r} must be a real number, a SymPy number or its text, "
            f"got {type(frac).__name__}: {frac!r}"
        )
    try:
        value = sp.sympify(frac)
    except (sp.SympifyError, TypeError) as error:
        raise ValueError(f"the fraction of row {flow!r} is not a number: {frac!r}") from error
    if not isinstance(value, sp.Expr):
        raise ValueError(f"the fraction of row {flow!r} must be a number, got {frac!r}")
    if value.free_symbols:
        symbols = sorted(map(str, value.free_symbols))
        raise ValueError(
            f"the fraction of row {flow!r} must be a number, got {frac!r} (free symbols {symbols})"
        )
    return sp.nsimplify(value)


@dataclass(frozen=True)
class Scheme:
    r"""A splitting scheme: named, ordered table of sub-flows and fractions of ``h``.

    Parameters
    ----------
    name
        Short name used in provenance.
    rows
        ``(flow, fraction)`` pairs; ``flow`` is one of ``"D"``, ``"I"``, ``"K"``, ``"F"``, ``"G"``.
    order
        The declared order of accuracy (checked by :mod:`hamopt.checks.order`).
    description
        One line for tables and docstrings.
    rotation
        For a rotation (:meth:`rotated`) of a scheme ``S``: the rows ``P`` moved from its front
        to its end, so that this scheme is :math:`P \circ S \circ P^{-1}`; empty otherwise.
        The order check measures a rotation in its rotated variables (:meth:`rotate`).

    Examples
    --------
    >>> from sympy import Rational as Q
    >>> lf = Scheme("leapfrog", [("D", Q(1, 2)), ("F", Q(1, 2)), ("K", 1), ("F", Q(1, 2)),
    ...                          ("D", Q(1, 2))], order=2)
    >>> lf.conformal_symplectic, lf.gradients_per_step
    (True, 1)
    """

    name: str
    rows: tuple[Row, ...]
    order: int
    description: str = ""
    rotation: tuple[Row, ...] = ()

    def __init__(
        self,
        name: str,
        rows: Iterable[tuple[str, Any]],
        order: int,
        description: str = "",
        rotation: Iterable[tuple[str, Any]] = (),
    ) -> None:
        check_label(name, "scheme name")
        rows = _rows(rows)
        if not rows:
            raise ValueError(f"scheme {name} has no rows")
        for flow, frac in rows:
            if flow not in FLOWS:
                raise ValueError(
                    f"scheme {name}: unknown sub-flow {flow!r}; use one of {sorted(FLOWS)}"
                )
            if frac == 0 or not frac.is_real:
                raise ValueError(
                    f"scheme {name}: fraction of {flow} must be a non-zero real number"
                )
        for flows in ("DI", "K", "F"):
            total = sp.nsimplify(sum(f for fl, f in rows if fl in flows))
            if sp.simplify(total - 1) != 0:
                what = "D and I (the friction)" if flows == "DI" else flows
                raise ValueError(
                    f"scheme {name} is inconsistent: the fractions of {what} add up to {total}, "
                    "not 1"
                )
        if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
            raise ValueError(f"scheme {name}: order must be a positive integer, got {order!r}")
        order = int(order)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "description", description)
        rotation = _rows(rotation)
        if any(flow not in INVERTIBLE_FLOWS for flow, _ in rotation):
            raise ValueError(
                f"scheme {name}: a rotation's rows must be exact flows ({', '.join(INVERTIBLE_FLOWS)}), "
                f"whose inverse is the flow backwards"
            )
        object.__setattr__(self, "rotation", rotation)

    # -- properties ----------------------------------------------------------------------------
    @property
    def conformal_symplectic(self) -> bool:
        """True when every row is a conformal symplectic map (D, I, K or F)."""
        return all(flow in CONFORMAL_FLOWS for flow, _ in self.rows)

    @property
    def exact_friction(self) -> bool:
        """True when the friction is the exact flow (D rows only, no implicit I rows)."""
        return all(flow != "I" for flow, _ in self.rows)

    def conformal_factor(self, r: Any, h: Any) -> sp.Expr:
        r"""The factor by which one step contracts :math:`\Omega`: :math:`e^{-rh f_D}` times
        :math:`(1 + rh f)^{-1}` for each implicit-friction row of fraction :math:`f`."""
        factor = sp.exp(-r * h * self.dissipation_fraction)
        for flow, frac in self.rows:
            if flow == "I":
                factor = factor / (1 + r * h * frac)
        return factor

    @property
    def dissipation_fraction(self) -> sp.Expr:
        r"""Total D time in units of ``h``: the map contracts :math:`\Omega` by
        :math:`e^{-r h f_D}`."""
        return sp.nsimplify(sum(f for fl, f in self.rows if fl == "D"))

    @property
    def gradients_per_step(self) -> int:
        """Gradient evaluations per step (K and G rows)."""
        return sum(1 for fl, _ in self.rows if fl in "KG")

    # -- building new schemes ------------------------------------------------------------------
    def merged(self) -> Scheme:
        """Adjacent rows of the same exact sub-flow merged (each sub-flow is a one-parameter
        group in ``t``, so :math:`X_a X_b = X_{a+b}`)."""
        out: list[list[Any]] = []
        for flow, frac in self.rows:
            if out and out[-1][0] == flow and flow in SYMPLECTIC_FLOWS:
                out[-1][1] = sp.nsimplify(out[-1][1] + frac)
            else:
                out.append([flow, frac])
        rows = [(f, x) for f, x in out if x != 0]
        return Scheme(self.name, rows, self.order, self.description, self.rotation)

    def scaled(self, weight: Any) -> tuple[Row, ...]:
        """The rows with every fraction multiplied by ``weight`` (a sub-step of ``weight·h``)."""
        w = sp.sympify(weight)
        return tuple((flow, w * frac) for flow, frac in self.rows)

    def rotated(self, start: int, name: str | None = None, description: str = "") -> Scheme:
        """The cyclic rotation that starts at row ``start``, ends merged.

        Iterating the rotation is iterating the scheme seen from another point of the step:
        with ``P`` the rows ``…k-1``, ``rotated(k) = P ∘ scheme ∘ P⁻¹``, so
        ``rotated(k)^N = P ∘ scheme^N ∘ P⁻¹``: the same order in the rotated variables
        ``P(q, p)`` (:meth:`rotate`), where ``P`` is made of exact flows (D, K, F; kept as
        :attr:`rotation`). A rotation of a rotation ``P ∘ scheme ∘ P⁻¹`` by rows ``L`` is
        ``(L ∘ P) ∘ scheme ∘ (L ∘ P)⁻¹``: its rotation is ``P``'s rows, then ``L``'s. Elsewhere
        the rotation is still a scheme, with no rotation recorded.
        Without a ``description``, the scheme's own says it was rotated (its rows no longer
        read as the original's).
        """
        if not 0 <= start < len(self.rows):
            raise ValueError(f"start must index a row of {self.name}, got {start}")
        rows = self.rows[start:] + self.rows[:start]
        lead = self.rows[:start]
        exact = all(flow in INVERTIBLE_FLOWS for flow, _ in lead)
        return Scheme(
            name or f"{self.name}@{start}",
            rows,
            self.order,
            description
            or (f"{self.description}, rotated to start at row {start}" if self.description else ""),
            self.rotation + lead if exact else (),
        ).merged()

    def rotate(self, system: Any, q: Any, p: Any, h: Any, inverse: bool = False):
        """The change of variables of a rotation: its :attr:`rotation` rows ``P`` at step
        ``h`` (``inverse``: ``P⁻¹``, the rows reversed and run backwards); the identity for a
        scheme with none."""
        rows = self.rotation if not inverse else [(f, -x) for f, x in reversed(self.rotation)]
        for flow, frac in rows:
            q, p = FLOWS[flow](system, q, p, system.time(frac, h), h)
        return q, p

    def step(self, system: Any, q: Any, p: Any, h: Any) -> tuple[Any, Any]:
        """One step of length ``h`` on a symbolic or numeric system."""
        for flow, frac in self.rows:
            q, p = FLOWS[flow](system, q, p, system.time(frac, h), h)
        return q, p

    def table(self) -> str:
        """The table as Markdown."""
        lines = ["| flow | fraction of h |", "|---|---|"]
        lines += [f"| {flow} | ${sp.latex(frac)}$ |" for flow, frac in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        rows = " ".join(f"{flow}({frac})" for flow, frac in self.rows)
        return f"Scheme({self.name}, order {self.order}: {rows})"


def compose(
    name: str, parts: Sequence[tuple[Scheme, Any]], order: int, description: str = ""
) -> Scheme:
    r"""The scheme that applies ``scheme`` with step ``weight·h`` for each part, in order.

    A part that is a rotation :math:`P_w \circ S_w \circ P_w^{-1}` (:meth:`Scheme.rotated`,
    its rows scaled by ``w``) brings its change of variables along. Where every part's scaled
    rotation is the same :math:`P`, the inner :math:`P^{-1} \circ P` cancel and the
    composition is :math:`P \circ (S_{w_1} \cdots S_{w_n}) \circ P^{-1}`: a rotation by
    :math:`P`, which it records (its order is measured in those variables). Parts rotated by
    different :math:`P_w` (a triple jump of ``leapfrog_fsal``, whose weights differ) compose
    into no rotation of anything, and the composition records none: compose the unrotated
    schemes and rotate the result instead.
    """
    rows: list[Row] = []
    for scheme, weight in parts:
        rows.extend(scheme.scaled(weight))
    return Scheme(name, rows, order, description, _common_rotation(parts)).merged()


def _common_rotation(parts: Sequence[tuple[Scheme, Any]]) -> tuple[Row, ...]:
    """The rotation every part shares once scaled by its weight; ``()`` where they differ."""
    rotations = [
        tuple((flow, sp.nsimplify(sp.sympify(weight) * frac)) for flow, frac in scheme.rotation)
        for scheme, weight in parts
    ]
    first = rotations[0] if rotations else ()
    same = all(
        len(other) == len(first)
        and all(
            a[0] == b[0] and sp.simplify(a[1] - b[1]) == 0
            for a, b in zip(first, other, strict=True)
        )
        for other in rotations[1:]
    )
    return first if same else ()
