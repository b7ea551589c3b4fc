r"""Adam's invariance to a diagonal rescaling of the gradient (Kingma & Ba §2.1).

Feeding :math:`c \odot g` instead of :math:`g` (constant :math:`c_i > 0`) multiplies
:math:`\hat m_t` by :math:`c` and :math:`\sqrt{\hat v_t}` by :math:`c`, so
:math:`\Delta_t = -\alpha\hat m_t/(\sqrt{\hat v_t} + \epsilon)` is unchanged when
:math:`\epsilon \to 0`. :func:`rescaled_gap` trains the same model twice from the same
weights — once on the loss gradient, once on the rescaled gradient — and returns the largest
relative difference of the parameters over the run. For ε > 0 the invariance only holds where
:math:`\sqrt{\hat v} \gg \epsilon`; SGD (no normalisation) is the contrast that must fail.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["rescaled_gap"]


def rescaled_gap(
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    log10_range: float,
    seed: int,
) -> float:
    r"""Largest :math:`\lVert\theta^c_k - \theta_k\rVert_\infty/\lVert\theta_k\rVert_\infty`.

    Full-batch multiclass logistic regression on ``(x, y)`` in float64 for ``steps`` steps;
    :math:`c_i = 10^{u_i}`, :math:`u_i \sim U(-r, r)` with ``r = log10_range``, one factor
    per parameter coordinate.
    """
    if steps < 1 or log10_range < 0:
        raise ValueError(f"need steps ≥ 1 and log10_range ≥ 0, got {steps}, {log10_range}")
    gen = torch.Generator().manual_seed(seed)
    x = x.to(torch.float64)
    models = []
    for _ in range(2):
        torch.manual_seed(seed)
        models.append(nn.Linear(x.shape[1], int(y.max()) + 1).to(torch.float64))
    scales = [
        10 ** ((2 * torch.rand(p.shape, generator=gen, dtype=torch.float64) - 1) * log10_range)
        for p in models[1].parameters()
    ]
    opts = [optimizer(list(m.parameters())) for m in models]
    worst = 0.0
    for _ in range(steps):
        for k, (model, opt) in enumerate(zip(models, opts, strict=True)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            if k == 1:
                for p, c in zip(model.parameters(), scales, strict=True):
                    p.grad.mul_(c)
            opt.step()
        with torch.no_grad():
            for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
                gap = float((a - b).abs().max() / a.abs().max())
                worst = max(worst, gap)
    return worst
