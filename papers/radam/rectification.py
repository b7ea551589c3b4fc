r"""When does RAdam start rectifying, and by how much? Measured on the optimizers themselves.

Three conventions exist for the switch from the momentum-SGD phase
(:math:`\Delta_t = -\alpha\,m_t/(1-\beta_1^t)`) to the rectified adaptive phase
(:math:`\Delta_t = -\alpha\,r_t\,\sqrt{1-\beta_2^t}/(1-\beta_1^t)\cdot m_t/(\sqrt{v_t}+\epsilon)`):
the paper's text (:math:`\rho_t > 4`), the official code (:math:`\rho_t \ge 5`) and
``torch.optim.RAdam`` (:math:`\rho_t > 5`, which the zoo's RAdam reproduces).
:func:`radam_variant` derives the first two with the toolkit's
:func:`hamopt.closures.rectification` closure (``threshold``, ``strict``) and generates their
torch classes; :func:`phases` feeds any of them a random gradient stream and reads off, step by
step, which of the two updates it took and the factor :math:`r_t` it applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

from hamopt.closures import compose, rectification, second_moment, step_size_bias_correction
from hamopt.codegen.module import generate_module
from hamopt.derive import DerivedOptimizer
from hamopt.kinetic import adam_energy
from hamopt.rule.spec import OptimizerSpec
from hamopt.schemes import euler
from hamopt.variables import Momentum, v
from hamopt.zoo import common
from hamopt.zoo.common import BETA2, EPS, LR
from hamopt.zoo.derivation import derive_to_target

__all__ = ["Phases", "first_step", "phases", "radam_variant", "rho"]


def rho(t: int | np.ndarray, beta2: float) -> np.ndarray:
    r""":math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, :math:`\rho_\infty = 2/(1-\beta_2)-1`."""
    t = np.asarray(t, dtype=np.float64)
    return 2 / (1 - beta2) - 1 - 2 * t * beta2**t / (1 - beta2**t)


def first_step(beta2: float, threshold: float, strict: bool, horizon: int = 10_000) -> int:
    """The first t with ρ_t > threshold (``strict``) or ρ_t ≥ threshold."""
    t = np.arange(1, horizon + 1)
    r = rho(t, beta2)
    hit = r > threshold if strict else r >= threshold
    if not hit.any():
        raise ValueError(f"ρ_t never crosses {threshold} within {horizon} steps (β2 = {beta2})")
    return int(t[np.argmax(hit)])


def radam_variant(threshold: int, strict: bool, name: str) -> type:
    """RAdam from Adam's energy with the rectification switch at ``threshold`` (generated)."""
    hps = (common.lr(1e-3), common.betas(), common.eps())
    base = derive_to_target(
        adam_energy(),
        euler,
        Momentum("ema", "zeros"),
        -LR * v / (sp.Abs(v) + EPS),
        [LR, EPS],
        hps,
        reference=f"RAdam, rectification when rho_t {'>' if strict else '>='} {threshold}",
    )
    closures = [
        second_moment(BETA2),
        step_size_bias_correction(LR),
        rectification(LR, threshold=threshold, strict=strict),
    ]
    rule = compose(base.draft, closures).rule(name.lower(), base.provenance)
    spec = OptimizerSpec(name, hps, (("True", rule),), summary=f"{name}: RAdam variant.")
    return DerivedOptimizer(spec, generate_module(spec, command="papers/radam")).cls


@dataclass(frozen=True)
class Phases:
    """Per step: ``adaptive[t-1]`` (rectified phase or not) and the measured ``r[t-1]``."""

    adaptive: np.ndarray
    r: np.ndarray  # nan in the momentum-SGD phase
    residual: float  # largest relative misfit of either update form over the run

    @property
    def first(self) -> int:
        """The first rectified step (0 if none)."""
        return int(np.argmax(self.adaptive)) + 1 if self.adaptive.any() else 0


def phases(
    optimizer: Callable[..., torch.optim.Optimizer],
    *,
    betas: tuple[float, float],
    steps: int,
    chains: int = 16,
    seed: int = 0,
    lr: float = 1e-3,
    eps: float = 1e-8,
) -> Phases:
    r"""Run ``optimizer(params, lr=, betas=, eps=)`` on N(0, 1) gradients and classify each step.

    A step is momentum SGD if it equals :math:`-\alpha m_t/(1-\beta_1^t)` (largest
    difference ≤ 1e-9 of the largest coordinate); otherwise it must be one multiple of the
    unrectified adaptive step on every coordinate — the least-squares factor is :math:`r_t`, and
    ``residual`` the largest misfit of either form relative to the step's largest coordinate.
    """
    b1, b2 = betas
    rng = np.random.default_rng(seed)
    theta = torch.zeros(chains, dtype=torch.float64, requires_grad=True)
    opt = optimizer([theta], lr=lr, betas=betas, eps=eps)
    m = np.zeros(chains)
    vv = np.zeros(chains)
    adaptive = np.zeros(steps, dtype=bool)
    r = np.full(steps, np.nan)
    residual = 0.0
    for t in range(1, steps + 1):
        g = rng.normal(size=chains)
        m = b1 * m + (1 - b1) * g
        vv = b2 * vv + (1 - b2) * g * g
        theta.grad = torch.from_numpy(g.copy())
        before = theta.detach().clone()
        opt.step()
        move = (theta.detach() - before).numpy()
        sgd = -lr * m / (1 - b1**t)
        scale = np.max(np.abs(sgd))
        if np.max(np.abs(move - sgd)) <= 1e-9 * scale:
            residual = max(residual, float(np.max(np.abs(move - sgd)) / scale))
            continue
        unrectified = -lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(vv) + eps)
        factor = float(move @ unrectified / (unrectified @ unrectified))  # least squares
        adaptive[t - 1] = True
        r[t - 1] = factor
        misfit = np.abs(move - factor * unrectified)
        residual = max(residual, float(np.max(misfit) / np.max(np.abs(move))))
    return Phases(adaptive, r, residual)
