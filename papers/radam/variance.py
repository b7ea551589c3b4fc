r"""The variance of Adam's adaptive learning rate :math:`\psi_t = \sqrt{1/\hat v_t}` (Liu et al.).

With gradients :math:`g_i \sim N(0, \sigma^2)` and :math:`\hat v_t = v_t/(1-\beta_2^t)`, the
paper models :math:`\psi_t^2` as a scaled inverse :math:`\chi^2` with :math:`\rho_t` degrees of
freedom (the length of the simple moving average that approximates the EMA). Then, for
:math:`\sigma = 1`,

.. math::
    \mathrm{Var}[\psi] = \frac{\rho}{\rho-2} - \frac{\rho\,2^{2\rho-5}}{\pi}
        B\!\left(\tfrac{\rho-1}{2}, \tfrac{\rho-1}{2}\right)^2
      = \frac{\rho}{\rho-2} - \frac{\rho}{2}\frac{\Gamma((\rho-1)/2)^2}{\Gamma(\rho/2)^2}
    \quad (\rho > 2,\ \text{infinite otherwise}),

(:func:`model_variance`, :func:`model_variance_beta_form`) and, to first order,
:math:`\mathrm{Var}[\psi] \approx \rho/(2(\rho-2)(\rho-4))` for :math:`\rho > 4`
(:func:`approximate_variance`), the approximation the rectifier :math:`r_t` is built from.

Exactly, :math:`\hat v_t` is a weighted sum of :math:`t` independent :math:`\chi^2_1`
variables, so :math:`P(\hat v_t < u) \sim c\,u^{t/2}` near 0 and
:math:`P(\psi_t > x) \sim c\,x^{-t}`: the tail index of :math:`\psi_t` is :math:`t`, and its
variance is infinite for :math:`t \le 2`. :func:`hill_index` estimates the tail index from
samples; :func:`monte_carlo` draws the samples from the generated optimizer's state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import betaln, gammaln

__all__ = [
    "MonteCarlo",
    "approximate_variance",
    "hill_index",
    "model_variance",
    "model_variance_beta_form",
    "monte_carlo",
    "satterthwaite_dof",
]


def model_variance(rho: float) -> float:
    r"""Variance of :math:`\psi` when :math:`\psi^2` is scaled-inverse-:math:`\chi^2(\rho, 1)`."""
    if rho <= 2:
        return math.inf
    return rho / (rho - 2) - rho / 2 * math.exp(2 * (gammaln((rho - 1) / 2) - gammaln(rho / 2)))


def model_variance_beta_form(rho: float) -> float:
    """The paper's form of :func:`model_variance`, with the Beta function (log domain)."""
    if rho <= 2:
        return math.inf
    a = (rho - 1) / 2
    log_term = math.log(rho) + (2 * rho - 5) * math.log(2) - math.log(math.pi) + 2 * betaln(a, a)
    return rho / (rho - 2) - math.exp(log_term)


def approximate_variance(rho: float) -> float:
    r"""The paper's first-order approximation :math:`\rho/(2(\rho-2)(\rho-4))`, ``nan`` for ρ ≤ 4."""
    return rho / (2 * (rho - 2) * (rho - 4)) if rho > 4 else math.nan


def satterthwaite_dof(t: int | np.ndarray, beta2: float) -> np.ndarray:
    r"""Satterthwaite's degrees of freedom of :math:`\sum_i w_i\chi^2_1`, :math:`w_i = \beta_2^{t-i}`.

    :math:`\nu_t = (\sum w_i)^2/\sum w_i^2 = (1-\beta_2^t)(1+\beta_2)/((1-\beta_2)(1+\beta_2^t))`
    tends to :math:`(1+\beta_2)/(1-\beta_2) = \rho_\infty` like :math:`\rho_t`, but matches the
    variance of :math:`\hat v_t` where :math:`\rho_t` matches its centre of mass.
    """
    bt = np.asarray(beta2, dtype=np.float64) ** np.asarray(t, dtype=np.float64)
    return (1 - bt) * (1 + beta2) / ((1 - beta2) * (1 + bt))


def hill_index(samples: np.ndarray, top: int) -> float:
    r"""Hill's estimate of the tail index from the ``top`` largest samples.

    :math:`\hat\alpha = 1/\mathrm{mean}_{i<k}\log(x_{(i)}/x_{(k)})`; a tail
    :math:`P(X > x) \sim c\,x^{-\alpha}` has a finite variance iff :math:`\alpha > 2`.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())[::-1]
    if not 0 < top < len(x):
        raise ValueError(f"top must lie in (0, {len(x)}), got {top}")
    return float(1 / np.mean(np.log(x[:top] / x[top])))


@dataclass(frozen=True)
class MonteCarlo:
    """Sample variances of :math:`\\psi_t` (per chain-count prefix) and tail indices."""

    steps: np.ndarray  # t = 1..T
    variances: dict[int, np.ndarray]  # chains used -> Var[ψ_t] for every t
    tail: dict[int, float]  # t -> Hill index of ψ_t (all chains)


def monte_carlo(
    optimizer: type,
    *,
    beta2: float,
    steps: int,
    chains: int,
    prefixes: Sequence[int],
    tail_steps: Sequence[int],
    seed: int,
) -> MonteCarlo:
    r"""Feed :math:`g \sim N(0, 1)` to ``optimizer`` on ``chains`` coordinates (float64).

    After each step :math:`\psi_t = \sqrt{(1-\beta_2^t)/v_t}` is read from the optimizer's
    ``exp_avg_sq``; its sample variance is taken over the first ``n`` chains for each ``n`` in
    ``prefixes`` (and over all of them), and Hill's tail index over all chains at
    ``tail_steps`` (top ``chains // 200`` samples).
    """
    if steps < 1 or chains < 400:
        raise ValueError(f"need steps ≥ 1 and chains ≥ 400, got {steps}, {chains}")
    sizes = sorted({*(int(n) for n in prefixes if 1 < n < chains), chains})
    gen = torch.Generator().manual_seed(seed)
    theta = torch.zeros(chains, dtype=torch.float64, requires_grad=True)
    opt = optimizer([theta], lr=1e-3, betas=(0.9, beta2))
    variances = {n: np.empty(steps) for n in sizes}
    tail = {}
    for t in range(1, steps + 1):
        theta.grad = torch.randn(chains, generator=gen, dtype=torch.float64)
        opt.step()
        psi = torch.sqrt((1 - beta2**t) / opt.state[theta]["exp_avg_sq"])
        for n in sizes:
            variances[n][t - 1] = float(psi[:n].var())
        if t in tail_steps:
            tail[t] = hill_index(psi.numpy(), chains // 200)
    return MonteCarlo(np.arange(1, steps + 1), variances, tail)
