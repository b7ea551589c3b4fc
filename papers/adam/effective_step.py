r"""Adam's effective step :math:`\Delta_t = \alpha\,\hat m_t/\sqrt{\hat v_t}` on gradient streams.

Kingma & Ba §2.1 bound it by

.. math::
    |\Delta_t| \le \alpha\,\frac{1-\beta_1}{\sqrt{1-\beta_2}} \quad\text{if } 1-\beta_1 > \sqrt{1-\beta_2},
    \qquad |\Delta_t| \le \alpha \quad\text{otherwise}

(:func:`paper_bound`). Cauchy–Schwarz gives the exact worst case over all streams
(:func:`tight_bound`): with :math:`\gamma = \beta_1^2/\beta_2`,

.. math::
    \sup_{g_1..g_t} \frac{|\Delta_t|}{\alpha} = \frac{1-\beta_1}{\sqrt{1-\beta_2}}
    \sqrt{\frac{1-\gamma^t}{1-\gamma}}\;\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t},

attained by :math:`g_i \propto (\beta_1/\beta_2)^{t-i}` (the ``adversarial`` stream). It
exceeds the paper's bound whenever :math:`\beta_1^2 < \beta_2` and :math:`t` is large.

:func:`max_steps` runs an optimizer (the generated ``hamopt.optim.Adam``) on many independent
chains of each stream at once — Adam acts coordinate-wise, so each coordinate of one parameter
tensor is one chain — and records :math:`\max |\Delta_t|/\alpha` over the chains at every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Stream", "max_steps", "paper_bound", "streams", "tight_bound"]

Draw = Callable[[np.random.Generator, int, int], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Stream:
    """A gradient stream: ``draw(rng, chains, steps)`` yields one array of ``chains`` per step."""

    name: str
    draw: Draw
    random: bool = True  # False: a constructed worst case, not a random stream
    stationary: bool = True  # False: the gradient's distribution drifts with t


def paper_bound(beta1: float, beta2: float) -> float:
    r"""The paper's bound on :math:`|\Delta_t|/\alpha` in its two cases."""
    ratio = (1 - beta1) / math.sqrt(1 - beta2)
    return ratio if (1 - beta1) > math.sqrt(1 - beta2) else 1.0


def tight_bound(beta1: float, beta2: float, t: int) -> float:
    r"""The exact supremum of :math:`|\Delta_t|/\alpha` over all streams (ε = 0)."""
    gamma = beta1**2 / beta2
    geometric = t if gamma == 1 else (1 - gamma**t) / (1 - gamma)
    return (
        (1 - beta1)
        / math.sqrt(1 - beta2)
        * math.sqrt(geometric)
        * math.sqrt(1 - beta2**t)
        / (1 - beta1**t)
    )


def _iid(sample: Callable[[np.random.Generator, int], np.ndarray]) -> Draw:
    def draw(rng: np.random.Generator, chains: int, steps: int) -> Iterator[np.ndarray]:
        for _ in range(steps):
            yield sample(rng, chains)

    return draw


def _sparse(density: float) -> Draw:
    return _iid(lambda rng, n: rng.normal(size=n) * (rng.random(n) < density))


def _spike(rng: np.random.Generator, chains: int, steps: int) -> Iterator[np.ndarray]:
    for t in range(1, steps + 1):
        yield np.full(chains, 1.0 if t == steps else 0.0)


def _log_walk(rng: np.random.Generator, chains: int, steps: int) -> Iterator[np.ndarray]:
    walk = np.zeros(chains)
    for _ in range(steps):
        yield np.exp(walk)
        walk = walk + 0.3 * rng.normal(size=chains)


def _adversarial(beta1: float, beta2: float) -> Draw:
    def draw(rng: np.random.Generator, chains: int, steps: int) -> Iterator[np.ndarray]:
        for t in range(1, steps + 1):
            yield np.full(chains, (beta1 / beta2) ** (steps - t))

    return draw


def streams(beta1: float, beta2: float) -> list[Stream]:
    """The streams of the effective-step check (the adversarial one depends on the betas)."""
    return [
        Stream("Gaussian N(0, 1)", _iid(lambda rng, n: rng.normal(size=n))),
        Stream("Gaussian N(1, 0.3²)", _iid(lambda rng, n: rng.normal(1.0, 0.3, size=n))),
        Stream("Cauchy (heavy tail)", _iid(lambda rng, n: rng.standard_cauchy(size=n))),
        Stream("sparse, 10 % non-zero", _sparse(0.1)),
        Stream("sparse, 1 % non-zero", _sparse(0.01)),
        Stream("sparse, 0.1 % non-zero", _sparse(0.001)),
        Stream("one spike at the last step", _spike),
        Stream("log-normal random walk", _log_walk, stationary=False),
        Stream(
            "adversarial g_i ∝ (β1/β2)^(T-i)",
            _adversarial(beta1, beta2),
            random=False,
            stationary=False,
        ),
    ]


def max_steps(
    optimizer: Callable[..., torch.optim.Optimizer],
    stream: Stream,
    *,
    betas: tuple[float, float],
    steps: int,
    chains: int,
    seed: int,
    eps: float = 1e-30,
) -> np.ndarray:
    r""":math:`\max_\text{chains} |\Delta_t|/\alpha` for :math:`t = 1..` ``steps`` (float64).

    ``optimizer(params, lr=1.0, betas=betas, eps=eps)`` builds the optimizer; with α = 1 the
    parameter's move is :math:`\Delta_t/\alpha`.
    """
    if steps < 1 or chains < 1:
        raise ValueError(f"steps and chains must be ≥ 1, got {steps}, {chains}")
    theta = torch.zeros(chains, dtype=torch.float64, requires_grad=True)
    opt = optimizer([theta], lr=1.0, betas=betas, eps=eps)
    out = np.empty(steps)
    rng = np.random.default_rng(seed)
    for t, g in enumerate(stream.draw(rng, chains, steps)):
        theta.grad = torch.from_numpy(np.asarray(g, dtype=np.float64))
        before = theta.detach().clone()
        opt.step()
        out[t] = float((theta.detach() - before).abs().max())
    return out
