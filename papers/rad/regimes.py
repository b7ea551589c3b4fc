r""" "Adam-like early, conformal-symplectic later": RAD's step against Adam's along a training run.

With ζ annealed (``zeta=None, max_iter=T``, the paper's usage), RAD's step is (see
``reduction.py``)

.. math::

    \Delta\theta_t = -\frac{\alpha}{\delta}\,\frac{\hat v_t}{\sqrt{\hat y_t + \zeta_t/(\delta^2 b_{2,t})}}
                   = -\frac{\alpha}{\delta}\,\frac{\hat v_t}{\sqrt{(y_t + \zeta_t/\delta^2)/b_{2,t}}},
    \qquad \zeta_t = \mathrm{clip}\big(e^{40(t/T - 1)},\ 10^{-16},\ 1\big),

with :math:`b_{2,t} = 1 - \beta_2^t` and :math:`y_t` the raw second moment. Where
:math:`\zeta_t/\delta^2 \ll y_t` it is Adam's step; where :math:`\zeta_t/\delta^2 \gg y_t` it is
:math:`-\alpha\sqrt{b_{2,t}}\,\hat v_t/\sqrt{\zeta_t}` — linear in the momentum, the velocity
of the classical kinetic energy, i.e. the conformal-symplectic heavy-ball dynamics. "ζ's term
dominates" on a coordinate means :math:`\zeta_t > \delta^2 y_t`.

:func:`measure` trains the digits MLP with the zoo's RAD and, every ``every`` steps, takes the
step Adam (``torch.optim.Adam``, ε = 0) would take from the *same* state and gradient; it
records, over all coordinates, the quantiles of :math:`|\Delta\theta^{RAD}|/|\Delta\theta^{Adam}|`
and the share where ζ dominates, over the coordinates that have had a gradient (:math:`y_t > 0`;
a dead ReLU unit's weights never move under either rule). The network is float64, so that the
measured steps are exact to ~1e-9 relative, and RAD's measured step is checked against the
formula above, so the ζ schedule used for the share is the one the optimizer applied.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # papers/: digits.py

__all__ = ["Regimes", "measure", "plot", "zeta_schedule"]


def zeta_schedule(t: int, max_iter: int) -> float:
    """RAD's annealed ζ at step t (rad.optim's schedule, reproduced by the zoo's RAD)."""
    return 1.0 if t / max_iter >= 1 else max(1e-16, math.exp(-40 + 40 * t / max_iter))


@dataclass(frozen=True)
class Regimes:
    steps: np.ndarray  # measured optimizer steps t
    total: int  # T = max_iter
    ratio_quantiles: np.ndarray  # (len(steps), 3): 10 %, 50 %, 90 % of |Δθ_RAD| / |Δθ_Adam|
    zeta_share: np.ndarray  # share of coordinates with ζ_t > δ² y_t
    formula_gap: float  # max gap |Δθ_RAD − formula| / max|formula| over tensors and steps
    accuracy: float  # RAD's final test accuracy

    def phase(self, low: float, high: float) -> np.ndarray:
        """Boolean mask of the measured steps with low ≤ t/T < high."""
        frac = self.steps / self.total
        return (frac >= low) & (frac < high)


def measure(
    epochs: int = 20,
    seed: int = 0,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    delta: float = 1.0,
    batch_size: int = 64,
    every: int = 5,
) -> Regimes:
    """Train the digits MLP (64-128-128-10) with RAD(ζ annealed over the run) and compare each
    ``every``-th step with Adam's from the same state; see the module docstring."""
    from digits import load, mlp

    from hamopt.optim import RAD

    split = load()
    n = len(split.y_train)
    batches = math.ceil(n / batch_size)
    total = epochs * batches
    torch.manual_seed(seed)
    net = mlp().double()  # float64: steps of 1e-7 on weights of 0.1 measured to ~1e-9
    x_train, x_test = split.x_train.double(), split.x_test.double()
    params = list(net.parameters())
    opt = RAD(params, lr=lr, betas=betas, delta=delta, zeta=None, max_iter=total)
    order = torch.Generator().manual_seed(seed)
    steps, quantiles, shares, gap = [], [], [], 0.0
    t = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order)
        for b in range(batches):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x_train[idx]), split.y_train[idx]).backward()
            t += 1
            if t % every:
                opt.step()
                continue
            before = [p.detach().clone() for p in params]
            adam = _adam_step(params, opt, lr, betas)
            opt.step()
            rad = [p.detach() - p0 for p, p0 in zip(params, before, strict=True)]
            zeta = zeta_schedule(t, total)
            b1, b2 = 1 - betas[0] ** t, 1 - betas[1] ** t
            ratios, dominant, size = [], 0, 0
            for p, d_rad, d_adam in zip(params, rad, adam, strict=True):
                v, y = opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]
                formula = -(lr / delta) * (v / b1) / torch.sqrt((y + zeta / delta**2) / b2)
                scale = formula.abs().max().clamp_min(1e-30)
                gap = max(gap, float((d_rad - formula).abs().max() / scale))
                seen = y > 0  # coordinates that ever had a gradient (dead units never move)
                moved = seen & (d_adam != 0)
                ratios.append((d_rad[moved] / d_adam[moved]).abs().flatten())
                dominant += int((zeta > delta**2 * y[seen]).sum())
                size += int(seen.sum())
            steps.append(t)
            quantiles.append(np.quantile(torch.cat(ratios).double().numpy(), [0.1, 0.5, 0.9]))
            shares.append(dominant / size)
    with torch.no_grad():
        accuracy = float((net(x_test).argmax(1) == split.y_test).float().mean())
    return Regimes(np.array(steps), total, np.array(quantiles), np.array(shares), gap, accuracy)


def _adam_step(params, rad, lr, betas) -> list[torch.Tensor]:
    """The step ``torch.optim.Adam(eps=0)`` takes from RAD's moments and the current gradient."""
    clones = [p.detach().clone().requires_grad_() for p in params]
    adam = torch.optim.Adam(clones, lr=lr, betas=betas, eps=0.0)
    for p, c in zip(params, clones, strict=True):
        c.grad = p.grad.clone()
        s = rad.state.get(p, {})
        if s:
            adam.state[c] = {
                "step": torch.tensor(float(s["step"])),
                "exp_avg": s["exp_avg"].clone(),
                "exp_avg_sq": s["exp_avg_sq"].clone(),
            }
    adam.step()
    return [c.detach() - p.detach() for c, p in zip(clones, params, strict=True)]


def plot(regimes: Regimes, path: Path) -> Path:
    """Left: quantiles of |Δθ_RAD|/|Δθ_Adam| over the run; right: share where ζ dominates."""
    from common import figure

    frac = regimes.steps / regimes.total
    with figure(path, (10, 3.8)) as fig:
        ax, bx = fig.subplots(1, 2)
        q = regimes.ratio_quantiles
        ax.fill_between(frac, q[:, 0], q[:, 2], alpha=0.25, lw=0, label="10–90 % of coordinates")
        ax.plot(frac, q[:, 1], lw=1.6, label="median")
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("t / T (share of the run)")
        ax.set_ylabel(r"$|\Delta\theta^{RAD}| / |\Delta\theta^{Adam}|$ per coordinate")
        ax.set_title("RAD's step against Adam's, same state")
        ax.legend(fontsize=8)
        bx.plot(frac, regimes.zeta_share, lw=1.6)
        bx.set_ylim(-0.02, 1.02)
        bx.set_xlabel("t / T (share of the run)")
        bx.set_ylabel(r"share with $\zeta_t > \delta^2 y_t$")
        bx.set_title("coordinates in the symplectic (ζ-dominated) regime")
    return path
