r"""Conformal symplectic (leapfrog / DLPF) against non-symplectic (NAG) on long runs.

A conformal symplectic one-step map :math:`\Phi` has :math:`J^\top\Omega J = e^{-rh}\Omega`
(:math:`J = \partial\Phi/\partial(q,p)`) at *every* state, so along any trajectory the
phase-space volume shrinks by exactly :math:`\det J = e^{-nrh}` per step and, in the
conservative limit r = 0, backward error analysis keeps the energy error bounded for
exponentially long times. The NAG scheme (the leapfrog rewrite with its position update based
at :math:`\theta_k`, a gradient drift G that is no flow of the system) has neither property.
Three measurements:

1. **Energy, r = 0, 10⁴ steps** — :func:`hamopt.checks.conservative_energy_drift` on its
   default problem (two coupled anharmonic oscillators, h = 0.01): the leapfrog's
   :math:`|H_k - H_0|` stays bounded; NAG's and explicit Euler's grow.
2. **Symplecticity along a long damped run** — the same problem with friction r, each scheme's
   own trajectory; at every ``every``-th step :math:`J` by autograd,
   :func:`hamopt.checks.symplectic.symplectic_residual` and :math:`\log\det J`, summed into the
   log phase-space volume against the exact :math:`-nrh\,k`.
3. **The generated optimizers** — on a quadratic loss the step of ``hamopt.optim.DLPF`` and of
   ``hamopt.optim.NAG`` is a linear map of (θ, momentum buffer); its matrix, read off column by
   column from the optimizers themselves, is checked for :math:`J^\top\Omega J = \mu\,\Omega`
   (the buffer is a fixed multiple of the momentum p, which changes Ω by a constant factor and
   leaves the conformal factor μ = β1 = e^{-rh}). The map being constant, the residual is that of
   every step of every run on this loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LongRun", "energy_drift", "generated_residual", "long_run"]


def energy_drift(steps: int = 10_000):
    """``conservative_energy_drift`` for the leapfrog and for NAG (classical energy)."""
    from hamopt.checks import conservative_energy_drift
    from hamopt.kinetic import classical
    from hamopt.schemes import leapfrog, nag

    return {
        s.name: conservative_energy_drift(classical(), scheme=s, steps=steps)
        for s in (leapfrog, nag)
    }


@dataclass(frozen=True)
class LongRun:
    """Per scheme: the steps where J was taken, the residuals, and the log-volume error."""

    steps: int
    h: float
    friction: float
    n: int
    checked: np.ndarray  # step indices k where J was evaluated
    residual: dict[str, np.ndarray]  # ‖JᵀΩJ − e^{−rh}Ω‖_max at those steps
    volume_error: dict[str, np.ndarray]  # Σ log det J − (−n r h k) at those steps (sampled)


def long_run(
    steps: int = 5_000, every: int = 10, h: float = 0.1, friction: float = 0.05, n: int = 2
) -> LongRun:
    """Measurement 2 of the module docstring, on ``anharmonic(n)``.

    :math:`\\log\\det J` is summed only at the checked steps and scaled by ``every``: that is
    exact for the leapfrog (its det J is the constant :math:`e^{-nrh}`) and an estimate of
    the drift for NAG.
    """
    from hamopt.checks.integrate import anharmonic, numeric_system
    from hamopt.checks.symplectic import symplectic_residual
    from hamopt.kinetic import classical
    from hamopt.schemes import leapfrog, nag

    system = numeric_system(classical(), anharmonic(n, quartic=0.05), friction)
    factor = float(np.exp(-friction * h))
    checked = np.arange(0, steps, every)
    residual, volume = {}, {}
    for scheme in (leapfrog, nag):

        def step(q: torch.Tensor, p: torch.Tensor, s=scheme) -> tuple[torch.Tensor, torch.Tensor]:
            return s.step(system, q, p, h)

        def flat(x: torch.Tensor, s=scheme) -> torch.Tensor:
            q1, p1 = s.step(system, x[:n], x[n:], h)
            return torch.cat([q1, p1])

        q = torch.linspace(1.0, -0.5, n, dtype=torch.float64)
        p = torch.linspace(0.5, 1.0, n, dtype=torch.float64)
        res, logdet = [], []
        for k in range(steps):
            if k % every == 0:
                res.append(symplectic_residual(step, q, p, factor))
                jac = torch.autograd.functional.jacobian(flat, torch.cat([q, p]))
                logdet.append(float(torch.linalg.slogdet(jac).logabsdet))
            with torch.no_grad():
                q, p = step(q, p)
        residual[scheme.name] = np.array(res)
        exact = -n * friction * h
        volume[scheme.name] = np.cumsum((np.array(logdet) - exact) * every)
    return LongRun(steps, h, friction, n, checked, residual, volume)


def _optimizer_matrix(cls, matrix: torch.Tensor, lr: float, momentum: float) -> torch.Tensor:
    """The matrix of one step (θ, b) → (θ', b') of ``cls`` on the loss ½θᵀAθ, from the optimizer
    itself: a step from each unit vector (the step is linear, the buffer past its first step)."""
    n = matrix.shape[0]
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = cls([theta], lr=lr, momentum=momentum)
    theta.grad = torch.zeros(n, dtype=torch.float64)
    opt.step()  # creates the state (step 1: first-gradient init)
    state = opt.state[theta]
    columns = []
    for i in range(2 * n):
        x = torch.zeros(2 * n, dtype=torch.float64)
        x[i] = 1.0
        with torch.no_grad():
            theta.copy_(x[:n])
            state["momentum_buffer"].copy_(x[n:])
            state["step"].fill_(5.0)  # past the first-gradient init
            theta.grad = matrix @ theta.detach()
        opt.step()
        columns.append(torch.cat([theta.detach(), state["momentum_buffer"]]).clone())
    return torch.stack(columns, 1)


def generated_residual(n: int = 10, lr: float = 0.05, momentum: float = 0.9) -> dict[str, float]:
    """Measurement 3: ‖JᵀΩJ − μΩ‖_max / ‖J‖²_max for the generated DLPF and NAG."""
    from hamopt.checks.problems import random_quadratic
    from hamopt.checks.symplectic import omega
    from hamopt.optim import DLPF, NAG

    matrix = random_quadratic(n, seed=3).matrix
    out = {}
    for cls in (DLPF, NAG):
        jac = _optimizer_matrix(cls, matrix, lr, momentum)
        om = omega(n, like=jac)
        scale = float(jac.abs().max()) ** 2
        out[cls.__name__] = float((jac.T @ om @ jac - momentum * om).abs().max()) / scale
    return out
