r"""The conformal Hamiltonian system :math:`H(q, p) = T(p) + U(q)` with friction ``r``.

.. math::

    \dot q = \nabla_p H = \nabla T(p), \qquad
    \dot p = -\nabla_q H - r p = -\nabla U(q) - r p,

with the energy law :math:`\dot H = -r\, p\cdot\nabla T(p)`.

Two concrete systems share one small interface (``friction``, ``exp``, ``velocity``,
``grad_U``, ``time``) so that a splitting scheme can step either of them with the same code:

* :class:`ConformalHamiltonian` — symbolic (SymPy column vectors);
* :class:`TorchSystem` — numeric (1-D ``torch`` tensors, differentiable by autograd).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import sympy as sp
import torch

from hamopt.kinetic.energy import KineticEnergy
from hamopt.symbols import momenta, positions
from hamopt.symbols import p as P
from hamopt.symbols import q as Q
from hamopt.symbols import r as R

__all__ = ["ConformalHamiltonian", "GradU", "TorchSystem"]

#: The gradient of a generic potential at one coordinate, printed :math:`\nabla U`.
GradU = sp.Function(r"\nabla U", real=True)


class ConformalHamiltonian:
    r"""Symbolic conformal Hamiltonian system.

    Parameters
    ----------
    kinetic
        The kinetic energy :math:`T(p)`.
    potential
        :math:`U(q)` as a SymPy expression in the position symbols, or ``None`` for a generic
        potential (an undefined function).
    friction
        The friction ``r`` (a symbol by default, or a number :math:`\ge 0`).
    n
        ``None``: one coordinate ``q, p`` standing for every coordinate of its group
        (norm-coupled energies keep :math:`\lVert p \rVert` unevaluated) — the view used to
        write update rules. An integer: ``n`` explicit particles ``q_1 … q_n`` — the view used
        for proofs (Jacobians, energy law).

    Examples
    --------
    >>> from hamopt.kinetic import classical
    >>> sys = ConformalHamiltonian(classical())
    >>> sys.vector_field()
    (Matrix([[p/m]]), Matrix([[-p*r - \nabla U(q)]]))
    """

    numeric = False

    def __init__(
        self,
        kinetic: KineticEnergy,
        potential: sp.Expr | None = None,
        friction: sp.Expr | float = R,
        n: int | None = None,
    ) -> None:
        if not isinstance(kinetic, KineticEnergy):
            raise TypeError(f"kinetic must be a KineticEnergy, got {type(kinetic).__name__}")
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError(f"n must be a positive integer or None, got {n!r}")
        friction = sp.sympify(friction)
        if friction.is_negative or friction.has(sp.nan, sp.zoo, sp.oo):
            raise ValueError(f"friction r must be a finite number >= 0, got {friction}")
        self.kinetic = kinetic
        self.friction = friction
        self.n = n
        self.q = sp.Matrix([Q] if n is None else positions(n))
        self.p = sp.Matrix([P] if n is None else momenta(n))
        if potential is None:
            self.U = None if n is None else sp.Function("U", real=True)(*self.q)
        else:
            potential = sp.sympify(potential)
            names = {sym.name for sym in self.q}
            extra = sorted(sym.name for sym in potential.free_symbols if sym.name not in names)
            if extra:
                raise ValueError(
                    f"potential depends on {extra}; it may depend only on {sorted(names)}"
                )
            by_name = {sym.name: sym for sym in self.q}
            self.U = potential.xreplace({x: by_name[x.name] for x in potential.free_symbols})

    # -- the interface the schemes use ---------------------------------------------------------
    exp = staticmethod(sp.exp)

    @staticmethod
    def time(fraction: sp.Expr, h: sp.Expr) -> sp.Expr:
        """Sub-step length ``fraction * h``."""
        return fraction * h

    def velocity(self, p: sp.Matrix) -> sp.Matrix:
        r""":math:`\nabla T(p)`."""
        if self.n is None:
            return sp.Matrix([self.kinetic.representative_velocity(p[0])])
        return sp.Matrix(self.kinetic.velocity(list(p)))

    def grad_U(self, q: sp.Matrix) -> sp.Matrix:
        r""":math:`\nabla U(q)`."""
        if self.U is None:
            return sp.Matrix([GradU(q[0])])
        grad = [sp.diff(self.U, x) for x in self.q]
        if list(q) == list(self.q):
            return sp.Matrix(grad)
        point = dict(zip(self.q, q, strict=True))
        return sp.Matrix([gi.subs(point, simultaneous=True) for gi in grad])

    # -- the continuous system -----------------------------------------------------------------
    @property
    def T(self) -> sp.Expr:
        """Kinetic energy of the state's momenta (explicit particles only)."""
        self._require_particles("T")
        return self.kinetic.energy(list(self.p))

    @property
    def H(self) -> sp.Expr:
        """:math:`H = T(p) + U(q)` (explicit particles only)."""
        self._require_particles("H")
        return self.T + self.U

    def vector_field(self) -> tuple[sp.Matrix, sp.Matrix]:
        r""":math:`(\dot q, \dot p) = (\nabla T(p), -\nabla U(q) - r p)`."""
        return self.velocity(self.p), -self.grad_U(self.q) - self.friction * self.p

    def energy_rate(self) -> sp.Expr:
        r""":math:`\dot H = \nabla_q H \cdot \dot q + \nabla_p H \cdot \dot p` by the chain rule."""
        self._require_particles("energy_rate")
        qdot, pdot = self.vector_field()
        dHdq = sp.Matrix([sp.diff(self.H, x) for x in self.q])
        dHdp = sp.Matrix([sp.diff(self.H, y) for y in self.p])
        return (dHdq.T * qdot + dHdp.T * pdot)[0, 0]

    def energy_law(self) -> sp.Expr:
        r"""The law's right-hand side :math:`-r\, p\cdot\nabla T(p)`."""
        return -self.friction * (self.p.T * self.velocity(self.p))[0, 0]

    def _require_particles(self, what: str) -> None:
        if self.n is None:
            raise ValueError(f"{what} needs explicit particles: build the system with n=1, 2, …")

    def __repr__(self) -> str:
        pot = "generic U" if self.U is None else f"U = {self.U}"
        return f"ConformalHamiltonian({self.kinetic.name}, {pot}, r = {self.friction})"


@functools.lru_cache(maxsize=256)
def _as_float(fraction: sp.Expr) -> float:
    """A scheme fraction as a float (cached: Yoshida's cube roots are slow to evaluate)."""
    return float(fraction)


class TorchSystem:
    r"""Numeric conformal Hamiltonian system on 1-D float64 ``torch`` tensors.

    Parameters
    ----------
    kinetic
        The kinetic energy; the particles form one group for norm-coupled energies.
    potential
        :math:`U(q)`, a function of a 1-D tensor returning a scalar tensor.
    friction
        ``r >= 0``.
    values
        Parameter values of the kinetic energy (defaults otherwise).

    ``grad_U`` keeps the autograd graph, so Jacobians of whole steps can be taken.
    """

    numeric = True

    def __init__(
        self,
        kinetic: KineticEnergy,
        potential: Callable[[torch.Tensor], torch.Tensor],
        friction: float,
        values: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(kinetic, KineticEnergy):
            raise TypeError(
                f"kinetic must be a KineticEnergy, got {type(kinetic).__name__} "
                "(an expression in p: KineticEnergy(expr))"
            )
        if not callable(potential):
            raise TypeError("potential must be a callable U(q) -> scalar tensor")
        if (
            not isinstance(friction, (int, float))
            or isinstance(friction, bool)
            or not 0 <= friction < math.inf  # nan fails this too
        ):
            raise ValueError(f"friction r must be a finite real number >= 0, got {friction!r}")
        self.kinetic = kinetic
        self.potential = potential
        self.friction = float(friction)
        self.kinetic_energy, self._velocity = kinetic.torch_functions(values)

    exp = staticmethod(math.exp)

    @staticmethod
    def time(fraction: sp.Expr, h: float) -> float:
        return _as_float(fraction) * h

    def velocity(self, p: torch.Tensor) -> torch.Tensor:
        return self._velocity(p)

    def grad_U(self, q: torch.Tensor) -> torch.Tensor:
        r""":math:`\nabla U(q)` by autograd; 0 for a potential that does not depend on q (a
        constant tensor, which autograd refused: "element 0 of tensors does not require
        grad")."""
        with torch.enable_grad():
            x = q if q.requires_grad else q.detach().requires_grad_(True)
            u = self._potential_at(x)
            if not u.requires_grad:
                return torch.zeros_like(q)
            (g,) = torch.autograd.grad(u, x, create_graph=q.requires_grad, allow_unused=True)
        return torch.zeros_like(q) if g is None else g

    def _potential_at(self, q: torch.Tensor) -> torch.Tensor:
        """U(q), or a ValueError naming what is wrong with the potential for this q (a matrix
        of another size, a vector where a scalar belongs)."""
        try:
            u = self.potential(q)
        except (RuntimeError, IndexError) as exc:
            raise ValueError(
                f"the potential fails on q of {q.numel()} coordinates: {exc}"
            ) from None
        if not isinstance(u, torch.Tensor) or u.numel() != 1:
            shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ValueError(f"the potential must return one number (a scalar tensor), got {shape}")
        return u.reshape(())

    def energy(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """:math:`H(q, p) = T(p) + U(q)`."""
        return self.kinetic_energy(p) + self._potential_at(q)

    def vector_field(self, q: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.velocity(p), -self.grad_U(q) - self.friction * p
