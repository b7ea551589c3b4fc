r"""The symbolic one-step map :math:`(q_k, p_k) \mapsto (q_{k+1}, p_{k+1})` of a scheme.

:class:`StepMap` applies a scheme's rows to a
:class:`~hamopt.system.hamiltonian.ConformalHamiltonian` and keeps both views:

* the **stages** — one assignment per row, each on a fresh named intermediate
  (:math:`p^{(1)} = e^{-rh/2}p_k`, …), the readable form that is printed as LaTeX or Markdown;
* the **composed map** — :math:`q_{k+1}, p_{k+1}` as expressions of :math:`(q_k, p_k)`, the form
  that Jacobians are taken of. It is never passed to ``simplify``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from hamopt.schemes.library import scheme_named
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import h as H
from hamopt.system.hamiltonian import ConformalHamiltonian
from hamopt.system.subflows import FLOWS, TARGET

__all__ = ["Stage", "StepMap"]


@dataclass(frozen=True)
class Stage:
    """One row of a scheme applied: ``targets = exprs`` by sub-flow ``flow`` for ``fraction·h``."""

    flow: str
    fraction: sp.Expr
    targets: tuple[sp.Symbol, ...]
    exprs: tuple[sp.Expr, ...]


class StepMap:
    r"""The one-step map of ``scheme`` on ``system``.

    Examples
    --------
    >>> import sympy as sp
    >>> from hamopt.kinetic import classical
    >>> from hamopt.schemes import euler
    >>> from hamopt.symbols import h, p, q, r
    >>> from hamopt.system.hamiltonian import GradU
    >>> m = StepMap(ConformalHamiltonian(classical()), euler)
    >>> kicked = sp.exp(-r * h) * p - h * GradU(q)
    >>> m.p_out[0] == kicked
    True
    >>> sp.simplify(m.q_out[0] - (q + h * kicked / sp.Symbol("m", positive=True)))
    0
    """

    def __init__(self, system: ConformalHamiltonian, scheme: Scheme | str, h: sp.Expr = H) -> None:
        if not isinstance(system, ConformalHamiltonian):
            raise TypeError(f"system must be a ConformalHamiltonian, got {type(system).__name__}")
        scheme = scheme_named(scheme)
        self.system, self.scheme, self.h = system, scheme, h
        self.stages: list[Stage] = []
        count = {"q": 0, "p": 0}
        last = {
            "q": len(scheme.rows) - 1 - _last_index(scheme, "q"),
            "p": len(scheme.rows) - 1 - _last_index(scheme, "p"),
        }
        q, p = system.q, system.p
        for i, (flow, frac) in enumerate(scheme.rows):
            new_q, new_p = FLOWS[flow](system, q, p, frac * h, h)
            var = TARGET[flow]
            count[var] += 1
            final = i == last[var]
            names = _names(system, var, None if final else count[var])
            expr = new_q if var == "q" else new_p
            self.stages.append(Stage(flow, frac, names, tuple(expr)))
            syms = sp.Matrix(names)
            q, p = (syms, p) if var == "q" else (q, syms)
        self._out_symbols = (q, p)
        back = {}
        for stage in self.stages:
            for target, expr in zip(stage.targets, stage.exprs, strict=True):
                back[target] = expr.xreplace(back)
        self.q_out = q.xreplace(back)
        self.p_out = p.xreplace(back)

    @property
    def state_in(self) -> sp.Matrix:
        """:math:`(q_k, p_k)` stacked."""
        return sp.Matrix.vstack(self.system.q, self.system.p)

    @property
    def state_out(self) -> sp.Matrix:
        """:math:`(q_{k+1}, p_{k+1})` stacked, as expressions of the input state."""
        return sp.Matrix.vstack(self.q_out, self.p_out)

    def jacobian(self) -> sp.Matrix:
        r""":math:`J = \partial(q_{k+1}, p_{k+1}) / \partial(q_k, p_k)` (not simplified)."""
        return self.state_out.jacobian(self.state_in)

    # -- rendering -----------------------------------------------------------------------------
    def _display(self) -> dict[sp.Symbol, sp.Symbol]:
        """Input symbols shown as :math:`q_k, p_k`."""
        out = {}
        for sym in list(self.system.q) + list(self.system.p):
            base, _, idx = sym.name.partition("_")
            out[sym] = sp.Symbol(f"{base}_{{{idx},k}}" if idx else f"{base}_k", real=True)
        return out

    def equations(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        """``(target, expression)`` per stage and coordinate, inputs shown as ``q_k, p_k``."""
        show = self._display()
        return [
            (target, expr.xreplace(show))
            for stage in self.stages
            for target, expr in zip(stage.targets, stage.exprs, strict=True)
        ]

    def latex(self) -> str:
        r"""An ``aligned`` block, one line per stage."""
        lines = [f"{sp.latex(t)} &= {sp.latex(e)}" for t, e in self.equations()]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def markdown(self) -> str:
        """A numbered list, one stage per item, with the sub-flow named."""
        names = {
            "D": "dissipation",
            "I": "implicit dissipation",
            "K": "kick",
            "F": "drift",
            "G": "gradient drift",
        }
        items = []
        for i, stage in enumerate(self.stages, 1):
            show = self._display()
            eqs = ", ".join(
                f"${sp.latex(t)} = {sp.latex(e.xreplace(show))}$"
                for t, e in zip(stage.targets, stage.exprs, strict=True)
            )
            frac = sp.latex(stage.fraction * self.h)
            items.append(f"{i}. {names[stage.flow]} {stage.flow} for ${frac}$: {eqs}")
        header = (
            f"**{self.scheme.name}** (order {self.scheme.order}) for the "
            f"{self.system.kinetic.name} energy ${self.system.kinetic.latex()}$:"
        )
        return "\n".join([header, "", *items])

    def __repr__(self) -> str:
        return f"StepMap({self.system.kinetic.name} × {self.scheme.name})"


def _last_index(scheme: Scheme, var: str) -> int:
    """Rows after the last row that changes ``var``."""
    for k, (flow, _) in enumerate(reversed(scheme.rows)):
        if TARGET[flow] == var:
            return k
    return len(scheme.rows)


def _names(system: ConformalHamiltonian, var: str, count: int | None) -> tuple[sp.Symbol, ...]:
    """Intermediate names ``q^{(1)}`` (or outputs ``q_{k+1}`` when ``count`` is ``None``)."""
    base = system.q if var == "q" else system.p
    out = []
    for sym in base:
        stem, _, idx = sym.name.partition("_")
        sub = f"{idx}," if idx else ""
        if count is None:
            out.append(sp.Symbol(f"{stem}_{{{sub}k+1}}", real=True))
        else:
            out.append(
                sp.Symbol(
                    f"{stem}_{{{idx}}}^{{({count})}}" if idx else f"{stem}^{{({count})}}", real=True
                )
            )
    return tuple(out)
