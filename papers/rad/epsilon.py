r""" "A moderately larger ε helps Adam, because it is closer to the dynamics": ε against ζ.

The paper explains the known empirical finding that Adam trains better with an ε larger than
1e-8 by RAD: ε plays the part of the symplectic factor ζ, and a larger ζ moves the update
towards the conformal-symplectic dynamics. This module derives the correspondence and measures
both sides of it.

**Correspondence** (:func:`correspondence`, SymPy). Per coordinate, with :math:`\hat y` the
bias-corrected second moment and :math:`b_2 = 1 - \beta_2^t`,

.. math::

    |\Delta\theta^{Adam}_\varepsilon| = \frac{\alpha|\hat v|}{\sqrt{\hat y} + \varepsilon},\qquad
    |\Delta\theta^{RAD}_\zeta| = \frac{\alpha|\hat v|}{\sqrt{\hat y + \zeta/b_2}}\quad(\delta = 1).

They agree as :math:`\hat y \to 0` (where ε and ζ act) iff :math:`\zeta = b_2\varepsilon^2`
(→ ε² once :math:`\beta_2^t` is negligible), and with that choice
:math:`1 \le |\Delta\theta^{RAD}|/|\Delta\theta^{Adam}| \le \sqrt 2` for every :math:`\hat y`,
because :math:`(\sqrt{\hat y}+\varepsilon)^2 - (\hat y + \varepsilon^2) = 2\varepsilon\sqrt{\hat y} \ge 0`
and :math:`2(\hat y + \varepsilon^2) - (\sqrt{\hat y}+\varepsilon)^2 = (\sqrt{\hat y} - \varepsilon)^2 \ge 0`.
So Adam at ε and RAD at ζ = ε² are drawn on one axis, ε = √ζ.

**Sweeps** (:func:`digits_sweep`, :func:`cartpole_sweep`): Adam at each ε and RAD (δ = 1, ζ
fixed) at ζ = ε², paired seeds, on the digits MLP (final test accuracy) and on CartPole-v1 DQN
(final greedy return, ``cartpole.py``'s setting).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # papers/: digits.py

__all__ = ["Correspondence", "Sweep", "cartpole_sweep", "correspondence", "digits_sweep", "plot"]


@dataclass(frozen=True)
class Correspondence:
    zeta: sp.Expr  # ζ(ε, b2) that matches the two steps as ŷ → 0
    lower: sp.Expr  # (√ŷ+ε)² − (ŷ+ε²), shown ≥ 0
    upper: sp.Expr  # 2(ŷ+ε²) − (√ŷ+ε)², shown ≥ 0
    lower_nonnegative: bool
    upper_nonnegative: bool


def correspondence() -> Correspondence:
    """Derive ζ(ε) and the [1, √2] band of the step ratio (module docstring)."""
    eps, zeta, b2, s = sp.symbols("varepsilon zeta b_2 s", positive=True)  # s = √ŷ
    adam = 1 / (s + eps)
    rad = 1 / sp.sqrt(s**2 + zeta / b2)
    at_zero = sp.Eq(sp.limit(adam, s, 0), sp.limit(rad, s, 0))
    (matched,) = sp.solve(at_zero, zeta)
    lower = sp.factor(sp.expand((s + eps) ** 2 - (s**2 + matched / b2)))
    upper = sp.factor(sp.expand(2 * (s**2 + matched / b2) - (s + eps) ** 2))
    return Correspondence(
        matched,
        lower,
        upper,
        bool(sp.ask(sp.Q.nonnegative(lower))),
        bool(upper == (s - eps) ** 2 or sp.factor(upper - (s - eps) ** 2) == 0),
    )


@dataclass(frozen=True)
class Sweep:
    """``adam[i, j]``, ``rad[i, j]``: the metric at ``eps[i]`` (RAD at ζ = eps[i]²), seed j."""

    task: str
    metric: str
    eps: np.ndarray
    seeds: list[int]
    adam: np.ndarray
    rad: np.ndarray
    wall_time: float


def digits_sweep(
    eps: tuple[float, ...], seeds: list[int], epochs: int = 20, lr: float = 1e-3
) -> Sweep:
    """Adam(ε) and RAD(ζ = ε²) on the digits MLP (64-128-128-10, batch 64): test accuracy."""
    import time

    import torch
    from digits import load, mlp, train

    from hamopt.optim import RAD

    split = load()
    start = time.perf_counter()
    adam, rad = np.zeros((len(eps), len(seeds))), np.zeros((len(eps), len(seeds)))
    for i, e in enumerate(eps):
        for j, seed in enumerate(seeds):
            for out, make in (
                (adam, lambda p, e=e: torch.optim.Adam(p, lr=lr, eps=e)),
                (rad, lambda p, e=e: RAD(p, lr=lr, zeta=e * e)),
            ):
                run = train(mlp, make, split, epochs=epochs, batch_size=64, seed=seed)
                out[i, j] = run.test_accuracy
    wall = time.perf_counter() - start
    return Sweep("digits MLP", "test accuracy", np.array(eps), list(seeds), adam, rad, wall)


def cartpole_sweep(eps: tuple[float, ...], seeds: list[int], config, lr: float = 2.5e-3) -> Sweep:
    """Adam(ε) and RAD(ζ = ε²) with ``cartpole.py``'s DQN: final greedy return."""
    from cartpole import train

    from hamopt.optim import RAD, Adam

    optimizers = {}
    for e in eps:
        optimizers[f"Adam eps={e:g}"] = lambda p, n, e=e: Adam(p, lr=lr, eps=e)
        optimizers[f"RAD zeta={e * e:g}"] = lambda p, n, e=e: RAD(p, lr=lr, zeta=e * e)
    runs = train(optimizers, seeds, config, progress=False)
    evaluation = runs.evaluation
    adam = np.array([evaluation[2 * i] for i in range(len(eps))])
    rad = np.array([evaluation[2 * i + 1] for i in range(len(eps))])
    return Sweep(
        "CartPole-v1 DQN", "final greedy return", np.array(eps), list(seeds), adam, rad,
        runs.wall_time,
    )  # fmt: skip


def plot(sweeps: list[Sweep], path: Path) -> Path:
    """One panel per task: Adam's metric against ε and RAD's against √ζ, mean ± 95 % CI."""
    from common import figure
    from rl import interval

    with figure(path, (5 * len(sweeps), 3.8)) as fig:
        axes = fig.subplots(1, len(sweeps), squeeze=False)[0]
        for ax, sw in zip(axes, sweeps, strict=True):
            for label, values, marker in (
                ("Adam, ε", sw.adam, "o"),
                ("RAD, √ζ (ζ = ε²)", sw.rad, "s"),
            ):
                cis = [interval(v) for v in values]
                mean = np.array([c.mean for c in cis])
                low = np.array([c.low for c in cis])
                high = np.array([c.high for c in cis])
                (line,) = ax.plot(sw.eps, mean, marker=marker, lw=1.4, label=label)
                ax.fill_between(sw.eps, low, high, color=line.get_color(), alpha=0.18, lw=0)
            ax.set_xscale("log")
            ax.set_xlabel("ε  (Adam)   =   √ζ  (RAD, δ = 1)")
            ax.set_ylabel(sw.metric)
            ax.set_title(f"{sw.task}, {len(sw.seeds)} seeds")
            ax.legend(fontsize=8)
    return path
