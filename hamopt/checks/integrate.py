r"""Numeric integration shared by the order and energy checks.

* :class:`Potential` — :math:`U(q)` with its gradient in closed form, so that stepping a system
  costs no autograd call; :func:`anharmonic` and :func:`convex_quadratic` are the defaults of
  the checks.
* :func:`numeric_system` — a :class:`~hamopt.system.hamiltonian.TorchSystem` that uses that
  gradient and caches the float value of each sub-step fraction.
* :func:`explicit_euler_step` — the plain (non-symplectic) explicit Euler method, kept for
  contrast; :data:`explicit_euler` wraps it with its order like a
  :class:`~hamopt.schemes.scheme.Scheme`.
* :func:`trajectory`, :func:`energies` — iterate a one-step method and evaluate
  :math:`H(q_k, p_k)` along the way.
* :func:`reference_state` — a tight reference solution of the continuous system
  (``scipy.integrate.solve_ivp``, DOP853).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from hamopt.kinetic.energy import KineticEnergy
from hamopt.system.hamiltonian import TorchSystem

__all__ = [
    "Potential",
    "Stepper",
    "anharmonic",
    "as_potential",
    "check_step",
    "convex_quadratic",
    "energies",
    "explicit_euler",
    "explicit_euler_step",
    "method_named",
    "numeric_system",
    "reference_state",
    "trajectory",
]

Tensor = torch.Tensor
StepFunction = Callable[[Any, Tensor, Tensor, float], tuple[Tensor, Tensor]]


class OneStepMethod(Protocol):
    """Anything with ``name``, ``order`` and ``step(system, q, p, h)``: a
    :class:`~hamopt.schemes.scheme.Scheme` or a :class:`Stepper`."""

    name: str
    order: int

    def step(self, system: Any, q: Tensor, p: Tensor, h: float) -> tuple[Tensor, Tensor]: ...


# -- potentials ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Potential:
    r"""A potential :math:`U(q)` on a 1-D tensor, with its gradient.

    Parameters
    ----------
    name
        Short name for reports.
    value
        :math:`U(q)`, a scalar tensor.
    gradient
        :math:`\nabla U(q)` in closed form, or ``None`` to use autograd.
    minimum
        :math:`\min U`, when known.
    minimizer
        A point where the minimum is reached, when known.
    """

    name: str
    value: Callable[[Tensor], Tensor]
    gradient: Callable[[Tensor], Tensor] | None = None
    minimum: float | None = None
    minimizer: Tensor | None = None

    def __call__(self, q: Tensor) -> Tensor:
        return self.value(q)


def as_potential(potential: Potential | Callable[[Tensor], Tensor]) -> Potential:
    """Wrap a plain callable :math:`U(q)` (gradient by autograd)."""
    if isinstance(potential, Potential):
        return potential
    if not callable(potential):
        raise TypeError("potential must be a Potential or a callable U(q) -> scalar tensor")
    return Potential(getattr(potential, "__name__", "U"), potential)


def anharmonic(n: int = 3, coupling: float = 0.4, quartic: float = 0.25) -> Potential:
    r"""Coupled anharmonic oscillators
    :math:`U(q) = \tfrac12 q^\top A q + \kappa \sum_i q_i^4`,
    :math:`\nabla U(q) = A q + 4\kappa\, q^3`, with :math:`A` tridiagonal (1.5 on the
    diagonal, ``coupling`` beside it) and :math:`\kappa` = ``quartic``.

    Smooth, not quadratic, coupled: the default problem of the accuracy checks.
    Minimum 0 at :math:`q = 0` when :math:`A` is positive definite.

    >>> U = anharmonic(2)
    >>> float(U(torch.tensor([1.0, 0.0], dtype=torch.float64)))
    1.0
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    a = 1.5 * torch.eye(n, dtype=torch.float64)
    idx = torch.arange(n - 1)
    a[idx, idx + 1] = coupling
    a[idx + 1, idx] = coupling

    def value(q: Tensor) -> Tensor:
        return 0.5 * q @ (a @ q) + quartic * (q**4).sum()

    def gradient(q: Tensor) -> Tensor:
        return a @ q + (4 * quartic) * q**3

    positive_definite = bool(torch.linalg.eigvalsh(a).min() > 0)
    return Potential(
        f"anharmonic(n={n})",
        value,
        gradient,
        minimum=0.0 if positive_definite else None,
        minimizer=torch.zeros(n, dtype=torch.float64) if positive_definite else None,
    )


def convex_quadratic(
    n: int = 10,
    seed: int = 0,
    eigenvalues: tuple[float, float] = (0.5, 4.0),
    minimum: float = 0.3,
) -> Potential:
    r"""Random positive-definite quadratic
    :math:`U(q) = \tfrac12 (q - q_*)^\top A (q - q_*) + U_*`,
    :math:`\nabla U(q) = A(q - q_*)`, the eigenvalues of :math:`A` spread evenly over
    ``eigenvalues`` and :math:`q_*` drawn from a standard normal; :math:`\min U = U_*`.

    >>> U = convex_quadratic(4, minimum=0.3)
    >>> float(U(U.minimizer))
    0.3
    """
    lo, hi = eigenvalues
    if n < 1 or not 0 < lo <= hi:
        raise ValueError(
            f"need n >= 1 and 0 < eigenvalues[0] <= eigenvalues[1], got {n}, {eigenvalues}"
        )
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    a = basis @ torch.diag(torch.linspace(lo, hi, n, dtype=torch.float64)) @ basis.T
    a = 0.5 * (a + a.T)
    center = torch.randn(n, generator=gen, dtype=torch.float64)

    def value(q: Tensor) -> Tensor:
        d = q - center
        return 0.5 * d @ (a @ d) + minimum

    def gradient(q: Tensor) -> Tensor:
        return a @ (q - center)

    return Potential(f"convex quadratic(n={n})", value, gradient, float(minimum), center)


# -- the numeric system -------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _fraction(frac: sp.Expr) -> float:
    # float() of a radical (Yoshida's weights) costs ~0.1 ms per call; do it once per fraction.
    return float(frac)


class _ClosedFormSystem(TorchSystem):
    """A :class:`TorchSystem` with a closed-form :math:`\\nabla U` and cached fractions."""

    def __init__(
        self,
        kinetic: KineticEnergy,
        potential: Potential,
        friction: float,
        values: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(kinetic, potential.value, friction, values)
        self._gradient = potential.gradient

    @staticmethod
    def time(fraction: sp.Expr, h: float) -> float:
        return _fraction(fraction) * h

    def grad_U(self, q: Tensor) -> Tensor:
        if self._gradient is None:
            return super().grad_U(q)
        return self._gradient(q)


def numeric_system(
    kinetic: KineticEnergy,
    potential: Potential | Callable[[Tensor], Tensor],
    friction: float,
    values: Mapping[str, float] | None = None,
) -> TorchSystem:
    r"""The conformal Hamiltonian system :math:`H = T(p) + U(q)` with friction ``r`` on 1-D
    float64 tensors, stepping without autograd when ``potential`` carries its gradient."""
    return _ClosedFormSystem(kinetic, as_potential(potential), friction, values)


# -- one-step methods ---------------------------------------------------------------------------
def explicit_euler_step(system: Any, q: Tensor, p: Tensor, h: float) -> tuple[Tensor, Tensor]:
    r"""One step of the explicit Euler method on the whole vector field:

    .. math::

        q_{k+1} = q_k + h\,\nabla T(p_k), \qquad
        p_{k+1} = p_k - h\,(\nabla U(q_k) + r p_k).

    Order 1, *not* conformal symplectic: in the conservative limit its energy error grows.
    """
    return q + h * system.velocity(p), p - h * (system.grad_U(q) + system.friction * p)


@dataclass(frozen=True)
class Stepper:
    """A one-step method that is not a splitting scheme, with the interface of a
    :class:`~hamopt.schemes.scheme.Scheme` (``name``, ``order``, ``step``)."""

    name: str
    function: StepFunction
    order: int
    description: str = ""

    def step(self, system: Any, q: Tensor, p: Tensor, h: float) -> tuple[Tensor, Tensor]:
        return self.function(system, q, p, h)


#: Explicit Euler as a :class:`Stepper` (order 1, not conformal symplectic).
explicit_euler = Stepper(
    "explicit_euler", explicit_euler_step, 1, "explicit Euler q += h∇T(p), p -= h(∇U + rp)"
)


def check_step(h: object, steps: object, least: int = 1) -> None:
    """ValueError unless ``h`` is a finite number > 0 and ``steps`` an int >= ``least`` (a
    check on h = 0 or on no steps measures nothing)."""
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 < h < math.inf:
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < least:
        raise ValueError(f"steps must be an int >= {least}, got {steps!r}")


def method_named(method: OneStepMethod | str) -> OneStepMethod:
    """A scheme's name as the library's :class:`~hamopt.schemes.scheme.Scheme` (ValueError
    naming the choices for an unknown one); a Scheme or a :class:`Stepper` as it is."""
    from hamopt.schemes.library import scheme_named

    return scheme_named(method) if isinstance(method, str) else method


def _step_function(method: OneStepMethod | StepFunction) -> StepFunction:
    step = getattr(method, "step", None)
    if callable(step):
        return step
    if callable(method):
        return method
    raise TypeError("method must be a Scheme, a Stepper or a function (system, q, p, h)")


def trajectory(
    system: Any,
    method: OneStepMethod | StepFunction,
    q0: Tensor,
    p0: Tensor,
    h: float,
    steps: int,
) -> tuple[Tensor, Tensor]:
    r"""Iterate ``method`` ``steps`` times from :math:`(q_0, p_0)` with step ``h``.

    A rotation of a scheme, :math:`R = P \circ S \circ P^{-1}` (a
    :class:`~hamopt.schemes.scheme.Scheme` with a ``rotation``, such as
    :data:`~hamopt.schemes.leapfrog_fsal`), is iterated in its rotated variables: from
    :math:`P(q_0, p_0)`, each row read back through :math:`P^{-1}`, so that row ``k`` is
    :math:`P^{-1} R^k P (q_0, p_0) = S^k (q_0, p_0)` and the checks measure the scheme it
    rotates, whose order and energy error it has (:meth:`~hamopt.schemes.scheme.Scheme.rotate`).

    Returns
    -------
    qs, ps
        Tensors of shape ``(steps + 1, n)``: row ``k`` is :math:`(q_k, p_k)`.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    step = _step_function(method)
    rotate = method.rotate if getattr(method, "rotation", ()) else None
    q, p = q0.detach().clone(), p0.detach().clone()
    qs, ps = [q], [p]
    with torch.no_grad():
        y = rotate(system, q, p, h) if rotate else (q, p)
        for _ in range(steps):
            y = step(system, *y, h)
            q, p = rotate(system, *y, h, inverse=True) if rotate else y
            qs.append(q)
            ps.append(p)
    return torch.stack(qs), torch.stack(ps)


def energies(system: Any, qs: Tensor, ps: Tensor) -> np.ndarray:
    r""":math:`H(q_k, p_k) = T(p_k) + U(q_k)` for every row of ``qs, ps``."""
    with torch.no_grad():
        try:
            out = torch.func.vmap(system.energy)(qs, ps)
        except Exception:  # a potential vmap cannot trace: row by row
            out = torch.stack([system.energy(q, p) for q, p in zip(qs, ps, strict=True)])
    return out.detach().cpu().numpy().astype(float)


# -- reference solution -------------------------------------------------------------------------
def reference_state(
    system: Any,
    q0: Tensor,
    p0: Tensor,
    final_time: float,
    *,
    rtol: float = 1e-13,
    atol: float = 1e-13,
    times: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The continuous solution of :math:`\dot q = \nabla T(p)`,
    :math:`\dot p = -\nabla U(q) - r p` from :math:`(q_0, p_0)`, by
    ``scipy.integrate.solve_ivp`` (DOP853) at tolerances ``rtol``, ``atol``.

    Returns :math:`(q(T), p(T))` as 1-D tensors, or, with ``times``, tensors of shape
    ``(len(times), n)``.
    """
    n = q0.numel()

    def field(_t: float, y: np.ndarray) -> np.ndarray:
        state = torch.from_numpy(y)
        with torch.no_grad():
            dq, dp = system.vector_field(state[:n], state[n:])
        return torch.cat([dq, dp]).numpy()

    y0 = torch.cat([q0, p0]).detach().to(torch.float64).numpy()
    t_eval = None if times is None else np.asarray(times, dtype=float)
    sol = solve_ivp(
        field, (0.0, float(final_time)), y0, method="DOP853", rtol=rtol, atol=atol, t_eval=t_eval
    )
    if not sol.success:
        raise RuntimeError(f"reference solution failed: {sol.message}")
    ys = torch.from_numpy(sol.y.T.copy())
    if times is None:
        return ys[-1, :n], ys[-1, n:]
    return ys[:, :n], ys[:, n:]


def _check_finite(name: str, *arrays: Tensor) -> None:
    for x in arrays:
        if not torch.isfinite(x).all():
            raise FloatingPointError(f"{name}: the integration produced non-finite values")


def _as_tensor(x: Sequence[float] | Tensor | np.ndarray, n: int | None = None) -> Tensor:
    out = torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float64).reshape(-1).clone()
    if n is not None and out.numel() != n:
        raise ValueError(f"expected {n} coordinates, got {out.numel()}")
    return out
