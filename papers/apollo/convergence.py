r"""Convergence of Apollo, Adam and SGD with momentum on a small real task, over seeds.

The task is the ReLU MLP on scikit-learn's digits of ``papers/digits.py`` (shared with the
Adam and RAdam reproductions; the data ship in the wheel): minibatches of 128, the full
training loss recorded after every epoch. Each optimizer first gets a small learning-rate grid
on a tuning seed (the rate with the lowest final training loss is kept), then runs on every other
seed at that rate; the same seed gives all optimizers the same initial weights and the same batches.
Reported per optimizer: the final training loss, the first epoch at which the training loss
falls below ``target`` (``epochs + 1`` for a seed that never gets there), and the test accuracy, each as mean and 95 % t-interval over seeds.

Apollo runs with its defaults (constant rebound, ε = 1e-4, L2 decay 0) except a warm-up of
``warmup`` steps instead of 500: the whole run is a few hundred steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["GRIDS", "Comparison", "compare", "interval"]

#: Learning rates tried per optimizer on the tuning seed.
GRIDS: dict[str, tuple[float, ...]] = {
    "Apollo": (0.003, 0.01, 0.03, 0.1),
    "Adam": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
    "SGD-momentum": (0.03, 0.1, 0.3, 1.0),
}


def _factory(name: str, lr: float, warmup: int) -> Callable[[list], torch.optim.Optimizer]:
    from hamopt.optim import SGD, Adam, Apollo

    if name == "Apollo":
        return lambda p: Apollo(p, lr=lr, warmup=warmup)
    if name == "Adam":
        return lambda p: Adam(p, lr=lr)
    if name == "SGD-momentum":
        return lambda p: SGD(p, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(GRIDS)}")


def interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided t-interval of the finite ``values``
    (:func:`hamopt.compare.stats.interval`; half-width nan for one value)."""
    from hamopt.compare import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    iv = stats.interval(x, level)
    return iv.mean, iv.half


@dataclass(frozen=True)
class Comparison:
    """``losses[name]``: (seeds, epochs + 1) training losses; per-seed test accuracies."""

    lrs: dict[str, float]
    grid_losses: dict[str, dict[float, float]]
    losses: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    seeds: list[int]
    epochs: int
    target: float

    def epochs_to_target(self, name: str) -> np.ndarray:
        """Per seed: first epoch with training loss < target; a seed that never gets there is
        counted as ``epochs + 1`` (censored), so that it weighs against the optimizer."""
        out = []
        for row in self.losses[name]:
            hit = np.flatnonzero(row < self.target)
            out.append(float(hit[0]) if hit.size else float(self.epochs + 1))
        return np.array(out)

    def never(self, name: str) -> int:
        """Seeds whose training loss never fell below the target."""
        return int(sum(not (row < self.target).any() for row in self.losses[name]))

    def final(self, name: str) -> np.ndarray:
        return self.losses[name][:, -1]


def compare(
    seeds: Sequence[int],
    epochs: int,
    *,
    tune_seed: int = 0,
    warmup: int = 50,
    target: float = 0.05,
) -> Comparison:
    """Tune on ``tune_seed`` over :data:`GRIDS`, then train every optimizer on every seed of
    ``seeds`` (which should not hold ``tune_seed``)."""
    from digits import load, mlp, train

    split = load(seed=0)
    model = lambda: mlp((64, 64))  # noqa: E731
    lrs, grid_losses = {}, {}
    for name, grid in GRIDS.items():
        tried = {}
        for lr in grid:
            result = train(model, _factory(name, lr, warmup), split, epochs=epochs, seed=tune_seed)
            tried[lr] = result.final_loss if not result.diverged else math.inf
        grid_losses[name] = tried
        lrs[name] = min(tried, key=lambda lr: (not math.isfinite(tried[lr]), tried[lr]))
    losses, accuracy = {}, {}
    for name, lr in lrs.items():
        runs = [
            train(model, _factory(name, lr, warmup), split, epochs=epochs, seed=s) for s in seeds
        ]
        losses[name] = np.stack([r.losses for r in runs])
        accuracy[name] = np.array([r.test_accuracy for r in runs])
    return Comparison(lrs, grid_losses, losses, accuracy, list(seeds), epochs, target)
