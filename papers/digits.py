r"""The small real-data benchmark of the Adam and RAdam reproductions: scikit-learn's digits.

The 1797 8×8 images of ``sklearn.datasets.load_digits`` ship inside the scikit-learn wheel, so
nothing is downloaded. Pixels (0…16) are scaled to [0, 1]; a stratified split keeps 20 % for
testing. Two models, as in Kingma & Ba's §6: multiclass logistic regression
(:math:`\mathrm{softmax}(Wx + b)`) and a ReLU multilayer perceptron. :func:`train` runs
minibatch training with the cross-entropy loss and records the full training-set loss after
every epoch (and before the first), so curves from different optimizers share their x-axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hamopt.compare.tasks import DigitsSplit, digits_split, logistic
from hamopt.compare.tasks import mlp as _mlp

__all__ = [
    "Result",
    "Split",
    "best",
    "load",
    "logistic",
    "mlp",
    "progress",
    "summary",
    "sweep",
    "train",
]

OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


#: The data and the models are the ones ``hamopt compare`` trains (:mod:`hamopt.compare.tasks`).
Split = DigitsSplit
load = digits_split


def mlp(hidden: Sequence[int] = (128, 128), features: int = 64, classes: int = 10) -> nn.Module:
    """A ReLU multilayer perceptron, two hidden layers of 128 by default (Kingma & Ba's §6)."""
    return _mlp(hidden, features, classes)


@dataclass(frozen=True)
class Result:
    """One training run.

    ``losses[k]`` is the full training-set loss after ``k`` epochs (``nan`` after a
    divergence); ``iterations[k]`` the number of minibatch steps taken by then.
    """

    losses: np.ndarray
    iterations: np.ndarray
    test_accuracy: float
    diverged: bool

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def train(
    model: Callable[[], nn.Module],
    optimizer: OptimizerFactory,
    split: Split,
    *,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
) -> Result:
    """Train ``model()`` with ``optimizer(parameters)`` for ``epochs`` epochs of minibatches.

    The initial weights and the minibatch order depend on ``seed`` only, so two optimizers
    run with the same seed start from the same weights and see the same batches. A
    non-finite training loss stops the run (``diverged``); the test accuracy is still
    measured, on the weights where it stopped.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be ≥ 1, got {epochs}, {batch_size}")
    torch.manual_seed(seed)
    net = model()
    opt = optimizer(list(net.parameters()))
    order = torch.Generator().manual_seed(seed)
    n = len(split.y_train)
    batches = math.ceil(n / batch_size)
    losses = np.full(epochs + 1, np.nan)
    losses[0] = _loss(net, split.x_train, split.y_train)
    diverged = False
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=order)
        for b in range(batches):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(net(split.x_train[idx]), split.y_train[idx]).backward()
            opt.step()
        losses[epoch] = _loss(net, split.x_train, split.y_train)
        if not math.isfinite(losses[epoch]):
            losses[epoch:] = np.nan
            diverged = True
            break
    with torch.no_grad():
        accuracy = float((net(split.x_test).argmax(dim=1) == split.y_test).float().mean())
    return Result(losses, np.arange(epochs + 1) * batches, accuracy, diverged)


Sweep = dict[str, dict[float, list[Result]]]


def sweep(
    model: Callable[[], nn.Module],
    optimizers: Mapping[str, Callable[[float], OptimizerFactory]],
    split: Split,
    *,
    lrs: Sequence[float],
    seeds: Sequence[int],
    epochs: int,
    batch_size: int = 128,
    log: Callable[[str], None] = print,
) -> Sweep:
    """Train every optimizer at every learning rate with every seed; ``log`` reports progress.

    ``optimizers[name](lr)`` returns an optimizer factory. Returns
    ``results[name][lr] = [Result per seed]``.
    """
    results: Sweep = {}
    for name, make in optimizers.items():
        results[name] = {
            lr: [
                train(model, make(lr), split, epochs=epochs, batch_size=batch_size, seed=s)
                for s in seeds
            ]
            for lr in lrs
        }
        log(f"  {name}: {len(lrs)} learning rates × {len(seeds)} seeds done")
    return results


def progress(runs: Sequence[Result]) -> float:
    """Mean over epochs and seeds of log10(training loss): lower is faster (∞ if one diverged).

    The area under the log-loss curve: it rewards a fast start as well as a low end point.
    """
    curves = np.array([r.losses for r in runs])
    return float(np.mean(np.log10(curves))) if np.all(np.isfinite(curves)) else math.inf


def best(by_lr: Mapping[float, Sequence[Result]]) -> float:
    """The learning rate with the best :func:`progress` (diverged runs lose)."""
    return min(by_lr, key=lambda lr: progress(by_lr[lr]))


def summary(runs: Sequence[Result]) -> dict[str, float]:
    """Mean and standard deviation over seeds of the final loss and the test accuracy."""
    finals = np.array([r.final_loss for r in runs])
    accs = np.array([r.test_accuracy for r in runs])
    return {
        "loss": float(np.mean(finals)),
        "loss_std": float(np.std(finals)),
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "diverged": float(sum(r.diverged for r in runs)),
    }
