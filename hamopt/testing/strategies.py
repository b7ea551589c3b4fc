r"""Hypothesis strategies: random valid kinetic energies and hyperparameters.

Every energy is drawn from a grammar whose productions keep :math:`T` even, convex, finite and
non-negative, so each one must pass :func:`hamopt.kinetic.validation.validate_kinetic`:

.. code-block:: text

    T    ::= c·atom | T + c·atom | c·h(atom)                   c > 0 rational
    atom ::= p²/(2m)            sqrt(p² + m²)          log(cosh(a p))/a
           | (cosh(a p) - 1)/a²  sqrt(p⁴ + m⁴)          p^(2k)/(2k), k = 1, 2, 3
           | |p|^k/k, k = 5/2, 3, 7/2                   m p atan(p/m) - m² log(1 + p²/m²)/2
           | |p| - ε log(1 + |p|/ε)
    h    ::= x²  |  sqrt(x² + m²)  |  x asinh(x)

Why each production is valid:

* every atom is even with :math:`T'' \ge 0` (for instance
  :math:`(\sqrt{p^4+m^4})'' = (6p^2m^4 + 2p^6)/(p^4+m^4)^{3/2}`, and the arctangent atom has
  velocity :math:`m\arctan(p/m)` and :math:`T'' = 1/(1 + p^2/m^2)`), finite, and :math:`\ge 0`;
* positive multiples and sums of even, convex, non-negative functions are even, convex and
  non-negative;
* each outer ``h`` is convex and non-decreasing on :math:`x \ge 0` (for ``x asinh(x)``,
  :math:`h'' = (2 + x^2)/(1 + x^2)^{3/2}`), so :math:`h \circ T` is
  convex when :math:`T` is convex and non-negative (:math:`(h\circ T)'' = h''(T)T'^2 +
  h'(T)T'' \ge 0`), and even when :math:`T` is.

The parameters (``m``, ``a``, ``ε``) are positive :class:`~hamopt.parameters.Parameter` objects
with random defaults, named by kind and position (``m0``, ``a1``…) so they never clash.

.. code-block:: python

    from hypothesis import given
    from hamopt.testing.strategies import energies

    @given(energies())
    def test_my_property(drawn):
        T = drawn.kinetic()  # a validated KineticEnergy
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from hypothesis import strategies as st

from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameters import Parameter, positive
from hamopt.symbols import p

__all__ = [
    "ATOMS",
    "OUTER",
    "DrawnEnergy",
    "build",
    "energies",
    "energy_trees",
    "hyperparameters",
    "parameter_values",
]

_x = sp.Symbol("x", nonnegative=True)

#: Atoms: name → (parameter kind or None, T(p, s) with s the parameter's symbol).
ATOMS = {
    "quadratic": ("m", lambda s: p**2 / (2 * s)),
    "relativistic": ("m", lambda s: sp.sqrt(p**2 + s**2)),
    "log_cosh": ("a", lambda s: sp.log(sp.cosh(s * p)) / s),
    "cosh": ("a", lambda s: (sp.cosh(s * p) - 1) / s**2),
    "soft_quartic": ("m", lambda s: sp.sqrt(p**4 + s**4)),
    "even_power_1": (None, lambda s: p**2 / 2),
    "even_power_2": (None, lambda s: p**4 / 4),
    "even_power_3": (None, lambda s: p**6 / 6),
    "abs_power_5/2": (None, lambda s: sp.Abs(p) ** sp.Rational(5, 2) * sp.Rational(2, 5)),
    "abs_power_3": (None, lambda s: sp.Abs(p) ** 3 / 3),
    "abs_power_7/2": (None, lambda s: sp.Abs(p) ** sp.Rational(7, 2) * sp.Rational(2, 7)),
    "arctan": ("m", lambda s: s * p * sp.atan(p / s) - s**2 * sp.log(1 + p**2 / s**2) / 2),
    "adam": ("epsilon", lambda s: sp.Abs(p) - s * sp.log(1 + sp.Abs(p) / s)),
}

#: Outer functions h(x), convex and non-decreasing on x >= 0: name → (kind or None, h(x, s)).
OUTER = {
    "square": (None, lambda x, s: x**2),
    "hyperbola": ("m", lambda x, s: sp.sqrt(x**2 + s**2)),
    "x_asinh": (None, lambda x, s: x * sp.asinh(x)),
}


@dataclass(frozen=True)
class DrawnEnergy:
    """A drawn energy: its expression in ``p`` and its parameters, before validation."""

    expr: sp.Expr
    params: tuple[Parameter, ...]

    def kinetic(self, name: str = "drawn") -> KineticEnergy:
        """The validated :class:`KineticEnergy` (raises ``ValueError`` if validation fails)."""
        return KineticEnergy(self.expr, self.params, name=name)

    def defaults(self) -> dict[str, float]:
        """Parameter values by name: the defaults."""
        return {prm.name: prm.default for prm in self.params}

    def __repr__(self) -> str:
        values = ", ".join(f"{prm.name}={prm.default!r}" for prm in self.params)
        return f"DrawnEnergy(T(p) = {sp.sstr(self.expr)}{'; ' + values if values else ''})"


def build(tree: tuple) -> DrawnEnergy:
    """The energy of a grammar tree (see :func:`energy_trees`); parameters are named in order.

    >>> build(("sum", ("atom", "relativistic", 1.0), ("scale", 2, ("atom", "log_cosh", 0.5))))
    DrawnEnergy(T(p) = sqrt(m0**2 + p**2) + 2*log(cosh(a1*p))/a1; m0=1.0, a1=0.5)
    >>> build(("outer", "square", None, ("atom", "even_power_1", None))).expr
    p**4/4
    """
    params: list[Parameter] = []

    def parameter(kind: str | None, value: float | None) -> sp.Symbol | None:
        if kind is None:
            return None
        prm = positive(f"{kind}{len(params)}", float(value), f"parameter {kind} of the energy")
        params.append(prm)
        return prm.symbol

    def walk(node: tuple) -> sp.Expr:
        head = node[0]
        if head == "atom":
            kind, form = ATOMS[node[1]]
            return form(parameter(kind, node[2]))
        if head == "scale":
            return sp.Rational(node[1]) * walk(node[2])
        if head == "sum":
            return walk(node[1]) + walk(node[2])
        if head == "outer":
            kind, form = OUTER[node[1]]
            inner = walk(node[3])  # inner parameters first: names follow the reading order
            return form(_x, parameter(kind, node[2])).xreplace({_x: inner})
        raise ValueError(f"unknown node {head!r} in the energy grammar")

    expr = walk(tree)
    return DrawnEnergy(expr, tuple(params))


def _values() -> st.SearchStrategy[float]:
    return st.floats(min_value=0.5, max_value=2.0, allow_nan=False, allow_infinity=False)


def _atoms() -> st.SearchStrategy[tuple]:
    return st.sampled_from(sorted(ATOMS)).flatmap(
        lambda name: st.tuples(
            st.just("atom"), st.just(name), _values() if ATOMS[name][0] else st.none()
        )
    )


def _outer(inner: st.SearchStrategy[tuple]) -> st.SearchStrategy[tuple]:
    return st.sampled_from(sorted(OUTER)).flatmap(
        lambda name: st.tuples(
            st.just("outer"), st.just(name), _values() if OUTER[name][0] else st.none(), inner
        )
    )


def energy_trees(terms: int = 2) -> st.SearchStrategy[tuple]:
    """Grammar trees: ``c·atom``, a sum of 2 to ``terms`` terms ``c·atom``, or ``c·h(atom)``
    (each about equally often), as nested tuples ``("atom", name, value)``, ``("outer", name, value, T)``, ``("scale", c, T)``,
    ``("sum", T, T)``.

    The size is bounded on purpose: the derivation's ``simplify`` grows quickly with the
    expression (a composition plus one more term can take minutes), while each of these
    derives in a few seconds at most.
    """
    coefficient = st.fractions(1, 4, max_denominator=4)
    composed = st.tuples(st.just("scale"), coefficient, _outer(_atoms()))
    term = st.tuples(st.just("scale"), coefficient, _atoms())
    sums = st.lists(term, min_size=2, max_size=max(terms, 2)).map(_sum)
    return st.one_of(term, sums, composed) if terms > 1 else st.one_of(term, composed)


def _sum(terms: list[tuple]) -> tuple:
    tree = terms[0]
    for term in terms[1:]:
        tree = ("sum", tree, term)
    return tree


def energies(terms: int = 2) -> st.SearchStrategy[DrawnEnergy]:
    """Random valid energies of the grammar (see :func:`energy_trees`)."""
    return energy_trees(terms).map(build)


def parameter_values(drawn: DrawnEnergy) -> st.SearchStrategy[dict[str, float]]:
    """Values for every parameter of ``drawn`` (each in [0.5, 2], like the defaults)."""
    return st.fixed_dictionaries({prm.name: _values() for prm in drawn.params})


def hyperparameters() -> st.SearchStrategy[dict[str, float]]:
    """Optimizer hyperparameters by the derived rule's symbol names: ``lr`` in [1e-3, 0.1],
    ``beta1`` in [0.5, 0.95], ``beta2`` in [0.9, 0.999], ``eps`` in [1e-8, 1e-3], ``weight_decay`` 0 or in [0, 0.1]."""
    return st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.1),
            "beta1": st.floats(0.5, 0.95),
            "beta2": st.floats(0.9, 0.999),
            "eps": st.floats(1e-8, 1e-3),
            "weight_decay": st.one_of(st.just(0.0), st.floats(0.0, 0.1)),
        }
    )
