"""What every task's training loop shares: building an optimizer at a learning rate, taking a
step through a closure, noticing a divergence, and the record of one run.

Every step goes through ``optimizer.step(closure)``, as ``torch.optim.LBFGS`` requires and as
every ``torch.optim`` optimizer accepts: an optimizer that re-evaluates the loss and gradient
at intermediate positions (a multi-gradient scheme) does so by calling the closure again. A
run *diverges* when a loss, a gradient or a parameter stops being finite; it then stops, and
its task measures the final metric where it stopped.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Trace", "default_dtype", "make_optimizer", "step"]


@dataclass(frozen=True)
class Trace:
    """One run: the learning curve ``y`` at the points ``x``, the task's final metric, and
    whether the run diverged (then ``y`` is ``nan`` from the divergence on)."""

    x: np.ndarray
    y: np.ndarray
    final: float
    diverged: bool

    def __post_init__(self) -> None:
        if np.shape(self.x) != np.shape(self.y) or np.ndim(self.x) != 1:
            raise ValueError(
                f"x and y must be 1-D of one length, got {np.shape(self.x)}, {np.shape(self.y)}"
            )


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Build models in ``dtype`` whatever the caller's default, so that a seed gives the same
    initial weights everywhere (torch draws them in the default dtype)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def make_optimizer(cls: type, params: Iterable[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """``cls(params, lr=lr)``: every other hyperparameter at the class's own default.

    A class that refuses this (an unknown ``lr`` argument, a value out of its range) raises a
    ``ValueError`` naming the class and the learning rate.
    """
    try:
        return cls(list(params), lr=lr)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{cls.__name__} cannot be built with lr={lr:g}: {exc}") from exc


def step(
    optimizer: torch.optim.Optimizer,
    params: Sequence[torch.Tensor],
    loss_fn: Callable[[], torch.Tensor],
) -> float:
    """One ``optimizer.step(closure)`` on ``loss_fn``; the loss at the start of the step, or
    ``nan`` once the run has diverged.

    The closure zeroes the gradients, evaluates ``loss_fn()`` and back-propagates; the loss
    returned is that of its first evaluation in this step (whatever the optimizer returns). An
    optimizer that refuses a non-finite gradient (hamopt's ``nonfinite="raise"``) has diverged;
    any other error propagates, and so does a ``ValueError`` for an optimizer that never
    calls the closure.
    """
    losses: list[float] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    try:
        optimizer.step(closure)
    except (ValueError, RuntimeError):
        if not _finite(p.grad for p in params if p.grad is not None):
            return math.nan
        raise
    if not losses:
        raise ValueError(f"{type(optimizer).__name__}.step(closure) never called the closure")
    loss = losses[0]
    if not math.isfinite(loss) or not _finite(p.detach() for p in params):
        return math.nan
    return loss


def _finite(tensors: Iterable[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)
