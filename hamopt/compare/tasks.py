r"""The tasks ``hamopt compare`` trains on: each a seeded training run, a learning curve and a
final metric with its direction.

=================  =======================================  ======================  ========
task               what is trained                          final metric            budget
=================  =======================================  ======================  ========
``digits-mlp``     64-128-10 ReLU MLP on sklearn's digits    test accuracy (↑)       epochs
``digits-logreg``  linear softmax (64-10) on the digits      test accuracy (↑)       epochs
``rosenbrock``     the 2-D Rosenbrock function               final loss (↓)          steps
``cartpole-dqn``   a DQN on gymnasium's CartPole-v1          greedy return (↑)       steps
=================  =======================================  ======================  ========

**Digits.** The 1797 8×8 images of ``sklearn.datasets.load_digits`` (shipped inside the
scikit-learn wheel: nothing is downloaded), pixels scaled to [0, 1], a stratified split that
keeps 20 % for testing, fixed for every run (split seed 0). A run with seed ``s`` draws the
initial weights (``torch.manual_seed(s)``) and the minibatch order (a generator seeded with
``s``), so two optimizers run with one seed start from the same weights and see the same
batches. Minibatches of 64, the cross-entropy loss; the curve is the loss on the whole
training set after every epoch (and before the first).

**Rosenbrock.** :math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` in float64
(:data:`hamopt.problems2d.PROBLEMS`), from the problem's start :math:`(-1.5, 2)` moved by
:math:`\mathcal N(0, 0.1^2 I)` drawn with the seed; the curve is the loss at every step.

**CartPole.** See :mod:`hamopt.compare.dqn`; the curve is the mean return of the last ten
training episodes, the metric the mean return of ten greedy episodes after training.

scikit-learn and gymnasium are test extras (``pip install 'hamopt[test]'``); a task whose
package is missing raises an ``ImportError`` that says so before anything is trained.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hamopt.compare.training import Trace, default_dtype, make_optimizer, step

__all__ = [
    "TASKS",
    "DigitsSplit",
    "Task",
    "digits_split",
    "logistic",
    "mlp",
    "train_digits",
]

#: Minibatch size of the digits tasks.
BATCH = 64


@dataclass(frozen=True)
class Task:
    """A training task: ``run(cls, lr, seed, budget)`` trains once and returns its
    :class:`~hamopt.compare.training.Trace`."""

    name: str
    summary: str
    metric: str  # the final metric, e.g. "test accuracy"
    higher_is_better: bool
    unit: str  # what the budget counts: "epochs" or "steps"
    budget: int  # default budget
    curve: str  # what the learning curve shows
    log_curve: bool  # plot the curve on a log scale
    run: Callable[[type, float, int, int], Trace]
    requires: tuple[str, ...] = ()  # importable packages the task needs

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def check_available(self) -> None:
        """Raise ``ImportError`` naming the missing package(s) of this task, if any."""
        missing = [pkg for pkg in self.requires if importlib.util.find_spec(pkg) is None]
        if missing:
            dist = {"sklearn": "scikit-learn"}
            names = ", ".join(dist.get(pkg, pkg) for pkg in missing)
            raise ImportError(
                f"the {self.name} task needs {names}, which is not installed "
                f"(a test extra: pip install 'hamopt[test]')"
            )


# -- digits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitsSplit:
    """Training and test tensors (float32 features in [0, 1], int64 labels)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@functools.lru_cache(maxsize=4)
def digits_split(seed: int = 0, test_fraction: float = 0.2) -> DigitsSplit:
    """sklearn's digits scaled to [0, 1], split by class with ``seed`` (cached)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    data = load_digits()
    x = np.asarray(data.data, dtype=np.float32) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    parts = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    x_tr, x_te, y_tr, y_te = (torch.from_numpy(a) for a in parts)
    return DigitsSplit(x_tr, y_tr, x_te, y_te)


def logistic(features: int = 64, classes: int = 10) -> nn.Module:
    """Multiclass logistic regression: one linear layer (the softmax lives in the loss)."""
    return nn.Linear(features, classes)


def mlp(hidden: Sequence[int] = (128,), features: int = 64, classes: int = 10) -> nn.Module:
    """A ReLU multilayer perceptron with the given hidden widths (default 64-128-10)."""
    if not hidden or any(int(w) < 1 for w in hidden):
        raise ValueError(f"hidden widths must be positive integers, got {tuple(hidden)}")
    layers: list[nn.Module] = []
    width = features
    for w in hidden:
        layers += [nn.Linear(width, int(w)), nn.ReLU()]
        width = int(w)
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def train_digits(
    model: Callable[[], nn.Module],
    cls: type,
    lr: float,
    seed: int,
    epochs: int,
    *,
    batch_size: int = BATCH,
    split: DigitsSplit | None = None,
) -> Trace:
    """Train ``model()`` with ``cls(params, lr=lr)`` for ``epochs`` epochs; the curve is the
    full training-set loss per epoch, the final metric the test accuracy (module docstring)."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    data = digits_split() if split is None else split
    torch.manual_seed(seed)
    with default_dtype(torch.float32):
        net = model()
    params = list(net.parameters())
    opt = make_optimizer(cls, params, lr)
    order = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    losses = np.full(epochs + 1, np.nan)
    losses[0] = _loss(net, data.x_train, data.y_train)
    diverged = False
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=order)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if math.isnan(step(opt, params, lambda xb=xb, yb=yb: _ce(net, xb, yb))):
                diverged = True
                break
        if diverged:
            break
        losses[epoch] = _loss(net, data.x_train, data.y_train)
        if not math.isfinite(losses[epoch]):
            losses[epoch], diverged = np.nan, True
            break
    with torch.no_grad():
        accuracy = float((net(data.x_test).argmax(dim=1) == data.y_test).float().mean())
    return Trace(np.arange(epochs + 1, dtype=float), losses, accuracy, diverged)


def _ce(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(net(x), y)


def _loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(_ce(net, x, y))


# -- rosenbrock ---------------------------------------------------------------------------------


def train_rosenbrock(cls: type, lr: float, seed: int, steps: int, spread: float = 0.1) -> Trace:
    """``steps`` steps on the 2-D Rosenbrock function from its start moved by
    :math:`\\mathcal N(0, \\text{spread}^2 I)` drawn with ``seed``; curve: the loss per step."""
    from hamopt.problems2d import PROBLEMS

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    problem = PROBLEMS["rosenbrock"]
    gen = torch.Generator().manual_seed(seed)
    start = torch.tensor(problem.start, dtype=torch.float64)
    start += spread * torch.randn(2, generator=gen, dtype=torch.float64)
    x = nn.Parameter(start)
    opt = make_optimizer(cls, [x], lr)
    losses = np.full(steps + 1, np.nan)
    diverged = False
    for k in range(steps):
        losses[k] = step(opt, [x], lambda: problem.fn(x))
        if math.isnan(losses[k]):
            diverged = True
            break
    if not diverged:
        losses[steps] = float(problem.fn(x.detach()))
        diverged = not math.isfinite(losses[steps])
    final = math.inf if diverged else float(losses[steps])
    return Trace(np.arange(steps + 1, dtype=float), losses, final, diverged)


# -- cartpole -----------------------------------------------------------------------------------


def train_cartpole(cls: type, lr: float, seed: int, steps: int) -> Trace:
    """A DQN run on CartPole-v1 (:func:`hamopt.compare.dqn.train_dqn`)."""
    from hamopt.compare.dqn import train_dqn

    return train_dqn(cls, lr, seed, steps)


#: The tasks by name.
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "digits-mlp",
            "64-128-10 ReLU MLP on sklearn's digits, batch 64",
            "test accuracy",
            True,
            "epochs",
            20,
            "training loss",
            True,
            lambda cls, lr, seed, epochs: train_digits(mlp, cls, lr, seed, epochs),
            ("sklearn",),
        ),
        Task(
            "digits-logreg",
            "linear softmax (64-10) on sklearn's digits, batch 64",
            "test accuracy",
            True,
            "epochs",
            20,
            "training loss",
            True,
            lambda cls, lr, seed, epochs: train_digits(logistic, cls, lr, seed, epochs),
            ("sklearn",),
        ),
        Task(
            "rosenbrock",
            "2-D Rosenbrock function from (-1.5, 2) + N(0, 0.1²), float64",
            "final loss",
            False,
            "steps",
            500,
            "loss",
            True,
            train_rosenbrock,
        ),
        Task(
            "cartpole-dqn",
            "DQN on gymnasium's CartPole-v1 (64-64 ReLU Q-network)",
            "greedy return",
            True,
            "steps",
            10_000,
            "training return (last 10 episodes)",
            False,
            train_cartpole,
            ("gymnasium",),
        ),
    )
}
