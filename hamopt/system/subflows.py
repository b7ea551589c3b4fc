r"""The exactly solvable sub-flows of the conformal Hamiltonian system (step ``t``).

===== =============================== =====================================================
name  vector field                    exact flow
===== =============================== =====================================================
D     :math:`\dot p = -r p`           :math:`p \leftarrow e^{-rt} p`
I     :math:`\dot p = -r p` (implicit) :math:`p \leftarrow p/(1 + rt)` (backward Euler)
K     :math:`\dot p = -\nabla U(q)`   :math:`p \leftarrow p - t\,\nabla U(q)`
F     :math:`\dot q = \nabla T(p)`    :math:`q \leftarrow q + t\,\nabla T(p)`
G     (none: not a flow)              :math:`q \leftarrow q + t\,\nabla T(-h\,\nabla U(q))`
===== =============================== =====================================================

K and F are symplectic, D is conformal symplectic with factor :math:`e^{-rt}`. I is not the
flow of its field but its backward-Euler step, the friction of Hamiltonian descent (Maddison et
al., 2018): still conformal symplectic, with factor :math:`(1 + rt)^{-1}`, which agrees with
:math:`e^{-rt}` to first order in ``t``. G, the
*gradient drift*, is no flow of the system: it moves the position by the velocity of the
impulse of a fresh gradient, as Nesterov's look-ahead does, and is kept to build the NAG
variant, which is *not* conformal symplectic.

Every function takes ``(system, q, p, t, h)`` and returns the new ``(q, p)``; ``system`` is a
:class:`~hamopt.system.hamiltonian.ConformalHamiltonian` or a
:class:`~hamopt.system.hamiltonian.TorchSystem`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CONFORMAL_FLOWS",
    "DISSIPATION_FLOWS",
    "FLOWS",
    "SYMPLECTIC_FLOWS",
    "dissipate",
    "drift",
    "gradient_drift",
    "implicit_dissipate",
    "kick",
]


def dissipate(system: Any, q: Any, p: Any, t: Any, h: Any) -> tuple[Any, Any]:
    r"""D: :math:`p \leftarrow e^{-rt} p`."""
    return q, system.exp(-system.friction * t) * p


def implicit_dissipate(system: Any, q: Any, p: Any, t: Any, h: Any) -> tuple[Any, Any]:
    r"""I: :math:`p \leftarrow p/(1 + rt)` — the implicit (backward) Euler step of
    :math:`\dot p = -rp`, Hamiltonian descent's friction (Maddison et al.); conformal with factor
    :math:`(1 + rt)^{-1}` instead of the exact flow's :math:`e^{-rt}`."""
    return q, p / (1 + system.friction * t)


def kick(system: Any, q: Any, p: Any, t: Any, h: Any) -> tuple[Any, Any]:
    r"""K: :math:`p \leftarrow p - t\,\nabla U(q)`."""
    return q, p - t * system.grad_U(q)


def drift(system: Any, q: Any, p: Any, t: Any, h: Any) -> tuple[Any, Any]:
    r"""F: :math:`q \leftarrow q + t\,\nabla T(p)`."""
    return q + t * system.velocity(p), p


def gradient_drift(system: Any, q: Any, p: Any, t: Any, h: Any) -> tuple[Any, Any]:
    r"""G: :math:`q \leftarrow q + t\,\nabla T(-h\,\nabla U(q))` (not a flow of the system)."""
    return q + t * system.velocity(-h * system.grad_U(q)), p


FLOWS = {"D": dissipate, "I": implicit_dissipate, "K": kick, "F": drift, "G": gradient_drift}
#: Which variable each sub-flow changes.
TARGET = {"D": "p", "I": "p", "K": "p", "F": "q", "G": "q"}
#: The sub-flows that are exact flows of the system (conformal symplectic).
SYMPLECTIC_FLOWS = frozenset("DKF")
#: The sub-flows that are conformal symplectic maps: the exact ones and the implicit friction.
CONFORMAL_FLOWS = frozenset("DIKF")
#: The friction sub-flows (one of them, D or I, makes up each step's dissipation).
DISSIPATION_FLOWS = frozenset("DI")
