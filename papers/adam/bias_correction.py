r"""Adam's initialisation bias (Kingma & Ba §3): :math:`E[v_t] = E[g^2]\,(1-\beta_2^t)`.

The second moment starts at :math:`v_0 = 0` and follows
:math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`, so
:math:`v_t = (1-\beta_2)\sum_{i=1}^t \beta_2^{t-i} g_i^2`. Under a stationary stream
(:math:`E[g_i^2] = E[g^2]`) the geometric sum gives

.. math::  E[v_t] = E[g^2]\,(1-\beta_2)\sum_{i=1}^t \beta_2^{t-i} = E[g^2]\,(1-\beta_2^t),

which is the factor the update rule divides by (``bias_correction2``).
:func:`symbolic` proves it from the *generated rule's own assignments*; :func:`monte_carlo`
measures it on the generated optimizer's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

from hamopt.rule.update_rule import UpdateRule, grad, step

__all__ = ["MonteCarlo", "Symbolic", "monte_carlo", "symbolic"]


@dataclass(frozen=True)
class Symbolic:
    """What :func:`symbolic` proved: each item ``True`` when the difference simplified to 0."""

    general: bool  # (1-β2) Σ_{i≤t} β2^(t-i) = 1 - β2^t for symbolic t
    unrolled: int  # E[v_t] = E[g²](1-β2^t) for t = 1..unrolled, from the rule's recursion
    requested: int  # how many steps were unrolled at most
    rule_factor: bool  # the rule's bias_correction2 is 1 - β2^t

    @property
    def holds(self) -> bool:
        return self.general and self.unrolled == self.requested and self.rule_factor


def _assignment(rule: UpdateRule, name: str) -> sp.Expr:
    for a in rule.assignments:
        if a.target.name == name:
            return a.expr
    raise ValueError(f"rule {rule.name} assigns no {name}")


def symbolic(rule: UpdateRule, steps: int = 8) -> Symbolic:
    """Prove the identity from ``rule`` (Adam's: ``exp_avg_sq`` and ``bias_correction2``)."""
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    recursion = _assignment(rule, "exp_avg_sq")
    factor = _assignment(rule, "bias_correction2")
    y = next(s for s in recursion.free_symbols if s.name == "exp_avg_sq")
    beta2 = next(s for s in recursion.free_symbols if s.name == "beta2")
    t, i = sp.symbols("t i", integer=True, positive=True)
    b = sp.Symbol("beta2", positive=True)
    second = sp.Symbol("E_g2", positive=True)  # E[g²]

    series = sp.summation((1 - b) * b ** (t - i), (i, 1, t))
    general = sp.simplify(series - (1 - b**t)) == 0

    unrolled = 0
    v: sp.Expr = sp.Integer(0)
    for k in range(1, steps + 1):
        g_k = sp.Symbol(f"g_{k}", real=True)
        v = sp.expand(recursion.xreplace({y: v, grad: g_k}))
        expectation = v.subs(g_k**2, second)
        for j in range(1, k):
            expectation = expectation.subs(sp.Symbol(f"g_{j}", real=True) ** 2, second)
        if sp.simplify(expectation - second * (1 - beta2**k)) != 0:
            break
        unrolled = k
    rule_factor = sp.simplify(factor.xreplace({step: t, beta2: b}) - (1 - b**t)) == 0
    return Symbolic(general, unrolled, steps, rule_factor)


@dataclass(frozen=True)
class MonteCarlo:
    """Mean of :math:`v_t` over chains, its standard error, and the prediction, per step."""

    mean: np.ndarray
    stderr: np.ndarray
    predicted: np.ndarray  # E[g²](1-β2^t)
    second_moment: float  # E[g²]

    @property
    def z(self) -> np.ndarray:
        """(mean - predicted)/stderr at every step."""
        return (self.mean - self.predicted) / self.stderr


def monte_carlo(
    optimizer: type,
    *,
    mean: float,
    std: float,
    betas: tuple[float, float],
    steps: int,
    chains: int,
    seed: int,
) -> MonteCarlo:
    r"""Run ``optimizer`` on ``chains`` stationary streams :math:`g \sim N(\mu, \sigma^2)`.

    Reads the optimizer's ``exp_avg_sq`` state (:math:`v_t`) after every step (float64).
    """
    if steps < 1 or chains < 2 or std < 0:
        raise ValueError(f"need steps ≥ 1, chains ≥ 2, std ≥ 0; got {steps}, {chains}, {std}")
    gen = torch.Generator().manual_seed(seed)
    theta = torch.zeros(chains, dtype=torch.float64, requires_grad=True)
    opt = optimizer([theta], lr=1e-3, betas=betas)
    means, errs = np.empty(steps), np.empty(steps)
    for t in range(steps):
        theta.grad = mean + std * torch.randn(chains, generator=gen, dtype=torch.float64)
        opt.step()
        v = opt.state[theta]["exp_avg_sq"]
        means[t] = float(v.mean())
        errs[t] = float(v.std()) / np.sqrt(chains)
    second = mean**2 + std**2
    predicted = second * (1 - betas[1] ** np.arange(1, steps + 1))
    return MonteCarlo(means, errs, predicted, second)
