r"""Apollo's curvature update: the weak secant equation at every step, and the mass it yields.

Read from the state of the generated ``hamopt.optim.Apollo`` before and after each step, per
parameter tensor (the names are those of :mod:`hamopt.closures.curvature`): ``update`` is the
previous direction :math:`d` (the step was :math:`\theta_t - \theta_{t-1} = -\eta_t d`),
``exp_avg_grad`` the bias-corrected gradient average :math:`\hat m`, so
:math:`y_t = \hat m_t - \hat m_{t-1}`, and ``approx_hessian`` the diagonal :math:`B`.

**Weak secant equation** (Ma, §3.1): with the step size divided out, the secant pair is
:math:`(-d, y_t)` and the condition is :math:`d^\top B_t d = -d^\top y_t`. Apollo's update
:math:`B_t = B_{t-1} - \frac{d^\top y_t + d^\top B_{t-1} d}{(\lVert d\rVert_4 + \epsilon')^4}
\mathrm{Diag}(d^2)` meets it up to the regulariser :math:`\epsilon'`; exactly,

.. math:: d^\top B_t d + d^\top y_t = (1-\varrho)(d^\top B_{t-1} d + d^\top y_t),
          \qquad \varrho = \frac{\lVert d\rVert_4^4}{(\lVert d\rVert_4 + \epsilon')^4}.

Measured per step and tensor, relative to :math:`\max(|d^\top B_t d|, |d^\top B_{t-1} d|,
|d^\top y_t|)`: the *relaxed* residual (this identity) and the *plain* residual
:math:`|d^\top B_t d + d^\top y_t|` (the weak secant condition itself).

**Rectified mass.** The step divides by :math:`D = \max(|B|, \rho)` (constant rebound,
ρ = 0.01) or :math:`\max(|B|, \lVert\Delta g\rVert_\infty) + \epsilon/a_t` (belief rebound).
The mass the generated code actually used is read back as :math:`D = \hat m / d` (no weight
decay, so :math:`d = \hat m/D`) wherever :math:`d \ne 0`; its minimum over the run is compared
with the raw curvature :math:`B`, which does go negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SecantRun", "secant_run"]


@dataclass(frozen=True)
class SecantRun:
    """Per step and tensor residuals, and the mass statistics of one run."""

    settings: dict
    relaxed: np.ndarray
    plain: np.ndarray
    min_B: float  # smallest raw curvature entry over the run
    negative_share: float  # share of (step, coordinate) pairs with B < 0
    min_mass: float  # smallest mass D = m̂/d actually used
    mass_mismatch: float  # max |D_used − D_formula| / D_formula (constant rebound)
    steps: int


def _problem(seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A float64 ReLU MLP on scikit-learn's digits (shipped with the wheel)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float64)
    y = torch.tensor(data.target, dtype=torch.int64)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    ).double()
    return net, x, y


def secant_run(steps: int = 300, batch: int = 128, seed: int = 0, **settings) -> SecantRun:
    """Train the digits MLP with ``hamopt.optim.Apollo(**settings)`` on minibatches and measure
    both residuals and the mass at every step (see the module docstring)."""
    from hamopt.optim import Apollo

    if settings.get("weight_decay", 0) != 0:
        raise ValueError("secant_run reads the mass as m̂/d, which needs weight_decay = 0")
    net, x, y = _problem(seed)
    opt = Apollo(net.parameters(), **settings)
    group = opt.param_groups[0]
    constant = group["rebound"] == "constant"
    eps = group["eps"] / (0.01 if constant else 1.0)
    gen = torch.Generator().manual_seed(seed)
    relaxed, plain = [], []
    min_B, negative, total, min_mass, mismatch = np.inf, 0, 0, np.inf, 0.0
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        before = {p: {k: v.clone() for k, v in opt.state[p].items()} for p in net.parameters()}
        opt.step()
        for p in net.parameters():
            old, new = before[p], opt.state[p]
            B = new["approx_hessian"]
            min_B = min(min_B, float(B.min()))
            negative += int((B < 0).sum())
            total += B.numel()
            d_new = new["update"]
            used = d_new != 0
            if used.any():
                mass = new["exp_avg_grad"][used] / d_new[used]
                min_mass = min(min_mass, float(mass.min()))
                if constant:
                    formula = B.abs().clamp(min=0.01)[used]
                    mismatch = max(mismatch, float(((mass - formula).abs() / formula).max()))
            if not old:  # first step: no previous direction, B stays 0
                continue
            d = old["update"]
            y_t = new["exp_avg_grad"] - old["exp_avg_grad"]
            curv_new = float((B * d * d).sum())
            curv_old = float((old["approx_hessian"] * d * d).sum())
            target = float(-(d * y_t).sum())
            n4 = float(torch.linalg.vector_norm(d, 4))
            rho = n4**4 / (n4 + eps) ** 4
            scale = max(abs(curv_new), abs(curv_old), abs(target))
            if scale == 0:
                continue
            relaxed.append(abs((curv_new - target) - (1 - rho) * (curv_old - target)) / scale)
            plain.append(abs(curv_new - target) / scale)
    return SecantRun(
        dict(settings),
        np.array(relaxed),
        np.array(plain),
        min_B,
        negative / max(total, 1),
        min_mass,
        mismatch,
        steps,
    )
