"""The shared SymPy symbols of the conformal Hamiltonian system.

One owner for every name that several modules print or substitute: position ``q``,
momentum ``p``, step size ``h``, friction ``r``, time ``t``, and the squared group norm ``s``.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["RESERVED_SYMBOLS", "Norm", "h", "momenta", "p", "positions", "q", "r", "s", "t"]

q = sp.Symbol("q", real=True)
p = sp.Symbol("p", real=True)
h = sp.Symbol("h", positive=True)
r = sp.Symbol("r", nonnegative=True)
t = sp.Symbol("t", nonnegative=True)
s = sp.Symbol("s", nonnegative=True)

#: The names of the symbols the conformal Hamiltonian system owns: a parameter may not take them.
RESERVED_SYMBOLS = frozenset({"p", "q", "h", "r", "t", "s"})


def positions(n: int) -> tuple[sp.Symbol, ...]:
    """Position symbols ``q_1 … q_n`` of ``n`` particles."""
    return tuple(sp.Symbol(f"q_{i}", real=True) for i in range(1, n + 1))


def momenta(n: int) -> tuple[sp.Symbol, ...]:
    """Momentum symbols ``p_1 … p_n`` of ``n`` particles."""
    return tuple(sp.Symbol(f"p_{i}", real=True) for i in range(1, n + 1))


class Norm(sp.Function):
    r"""The Euclidean norm :math:`\lVert p \rVert` of a group of momenta, kept unevaluated.

    Used where one coordinate stands for a whole group (a parameter tensor, or all parameters)
    so that norm-coupled rules can be written per coordinate. Positive factors move out:
    :math:`\lVert a p \rVert = a \lVert p \rVert` for :math:`a > 0`.

    >>> Norm(2 * p)
    2*Norm(p)
    >>> Norm(-p)
    Norm(p)
    """

    is_nonnegative = True
    is_real = True

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.could_extract_minus_sign():
            return cls(-arg)
        if arg.is_Mul:
            out, rest = [], []
            for factor in arg.args:
                (out if factor.is_positive else rest).append(factor)
            if out:
                return sp.Mul(*out) * cls(sp.Mul(*rest))
        return None

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        tex = r"\lVert %s \rVert" % printer._print(self.args[0])
        return tex if exp is None else f"{tex}^{{{exp}}}"
