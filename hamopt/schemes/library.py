r"""The splitting schemes of the source papers.

* :data:`euler` — conformal symplectic Euler D·K·F (order 1):
  :math:`p_{k+1} = e^{-rh}p_k - h\nabla U(q_k)`, :math:`q_{k+1} = q_k + h\nabla T(p_{k+1})`.
* :data:`euler_fkd` — the other ordering, F·K·D (order 1).
* :data:`leapfrog` — conformal leapfrog / Strang D½·F½·K·F½·D½ (order 2).
* :data:`leapfrog_fsal` — the leapfrog's first-same-as-last rewrite: the rotation that starts
  at the kick, K·F½·D·F½, a one-gradient recurrence on the half-step iterate
  :math:`\theta_{k+1/2}` (RAD order 2, DLPF).
* :data:`yoshida` — Yoshida's triple jump of the leapfrog, steps :math:`w_1h, w_0h, w_1h` with
  :math:`w_1 = 1/(2-2^{1/3})`, :math:`w_0 = -2^{1/3}w_1` (order 4).
* :data:`nag` — Nesterov's variant: the leapfrog rewrite with the position update based at
  :math:`\theta_k` (a gradient drift G in place of half the drift). *Not* conformal symplectic;
  kept for contrast.
* :data:`hamiltonian_descent` — Maddison et al.'s first explicit method (arXiv 1809.05042):
  :math:`p_{k+1} = \delta(p_k - h\nabla U(q_k))`, :math:`q_{k+1} = q_k + h\nabla T(p_{k+1})`
  with the implicit friction :math:`\delta = (1 + rh)^{-1}` — K·I·F, conformal symplectic with
  factor :math:`(1 + rh)^{-1}` (order 1).
"""

from __future__ import annotations

import sympy as sp

from hamopt.schemes.scheme import Scheme, compose

__all__ = [
    "SCHEMES",
    "euler",
    "euler_fkd",
    "hamiltonian_descent",
    "leapfrog",
    "leapfrog_fsal",
    "nag",
    "scheme_named",
    "yoshida",
]

half = sp.Rational(1, 2)

euler = Scheme(
    "euler", [("D", 1), ("K", 1), ("F", 1)], order=1, description="conformal symplectic Euler D·K·F"
)
euler_fkd = Scheme(
    "euler_fkd",
    [("F", 1), ("K", 1), ("D", 1)],
    order=1,
    description="conformal symplectic Euler, other ordering F·K·D",
)
leapfrog = Scheme(
    "leapfrog",
    [("D", half), ("F", half), ("K", 1), ("F", half), ("D", half)],
    order=2,
    description="conformal leapfrog (Strang) D½·F½·K·F½·D½",
)
leapfrog_fsal = leapfrog.rotated(
    2, name="leapfrog_fsal", description="leapfrog, first-same-as-last: K·F½·D·F½ on θ_{k+1/2}"
)

_w1 = 1 / (2 - sp.cbrt(2))
_w0 = -sp.cbrt(2) * _w1
yoshida = compose(
    "yoshida",
    [(leapfrog, _w1), (leapfrog, _w0), (leapfrog, _w1)],
    order=4,
    description="Yoshida's triple jump of the leapfrog",
)

nag = Scheme(
    "nag",
    [("K", 1), ("G", 1), ("D", 1), ("F", 1)],
    order=1,
    description="Nesterov (NAG) variant: position update based at θ_k; not conformal symplectic",
)

hamiltonian_descent = Scheme(
    "hamiltonian_descent",
    [("K", 1), ("I", 1), ("F", 1)],
    order=1,
    description="Hamiltonian descent's first explicit method K·I·F: implicit friction 1/(1 + rh)",
)

SCHEMES = {
    s.name: s
    for s in (euler, euler_fkd, leapfrog, leapfrog_fsal, yoshida, nag, hamiltonian_descent)
}


def scheme_named(scheme: Scheme | str) -> Scheme:
    """``scheme`` itself, or the library's scheme of that name: ValueError naming the choices
    for an unknown name, TypeError for anything but a :class:`Scheme` or a name."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; choose from {sorted(SCHEMES)}")
        return SCHEMES[scheme]
    if not isinstance(scheme, Scheme):
        raise TypeError(f"scheme must be a Scheme or its name, got {type(scheme).__name__}")
    return scheme
