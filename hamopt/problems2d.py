"""Two-dimensional test functions for trajectory plots, with starts, views and step sizes.

Each :class:`Problem2D` has a torch function of a 2-vector, a default start, the view box
for contour plots, the known minimum, and a step size per optimizer family (:func:`lr_for`)
chosen so that 500 steps make visible progress from the default start. An optimizer of no
known family (a derived one, from a spec file or an exported module, or a ``torch.optim``
class not listed here) runs at its own constructor defaults with the step size of
:data:`LR_GRID` that ends lowest after the plotted steps (:func:`probe_lr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["LR_GRID", "PROBLEMS", "Problem2D", "known", "lr_for", "options_for", "probe_lr"]

#: Step sizes tried for an optimizer of no known family: every half decade from 1e-4 to 1.
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class Problem2D:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    start: tuple[float, float]
    view: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    minimum: tuple[float, float]
    log_levels: bool = True
    #: step size by optimizer family: "adaptive" (sign-like steps), "momentum" (gradient steps
    #: with momentum 0.9), "plain" (gradient steps), "cautious" (RAdam), "curvature" (Apollo)
    lrs: dict[str, float] = field(default_factory=dict)


def _rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _rastrigin(x: torch.Tensor) -> torch.Tensor:
    return 20 + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(dim=0)


def _beale(x: torch.Tensor) -> torch.Tensor:
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def _quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x[0] ** 2 + 10 * x[1] ** 2)


PROBLEMS: dict[str, Problem2D] = {
    "rosenbrock": Problem2D(
        "rosenbrock",
        _rosenbrock,
        (-1.5, 2.0),
        (-2.0, 2.0, -1.0, 3.0),
        (1.0, 1.0),
        lrs={
            "adaptive": 0.05,
            "momentum": 2e-4,
            "plain": 1e-3,
            "cautious": 1e-3,
            "curvature": 3e-5,
        },
    ),
    "rastrigin": Problem2D(
        "rastrigin",
        _rastrigin,
        (-2.3, 2.7),
        (-4.5, 4.5, -4.5, 4.5),
        (0.0, 0.0),
        log_levels=False,
        lrs={
            "adaptive": 0.05,
            "momentum": 2e-3,
            "plain": 5e-3,
            "cautious": 5e-3,
            "curvature": 1e-4,
        },
    ),
    "beale": Problem2D(
        "beale",
        _beale,
        (1.0, 1.5),
        (-4.5, 4.5, -4.5, 4.5),
        (3.0, 0.5),
        lrs={
            "adaptive": 0.02,
            "momentum": 1e-3,
            "plain": 5e-3,
            "cautious": 5e-3,
            "curvature": 1e-4,
        },
    ),
    "quadratic": Problem2D(
        "quadratic",
        _quadratic,
        (-3.0, 2.0),
        (-4.0, 4.0, -3.0, 3.0),
        (0.0, 0.0),
        lrs={
            "adaptive": 0.05,
            "momentum": 0.01,
            "plain": 0.05,
            "cautious": 0.02,
            "curvature": 3e-4,
        },
    ),
}

#: Optimizers whose step is (close to) a sign step: the step size is a distance.
_ADAPTIVE = {"Adam", "AdamW", "Adamax", "NAdam", "RAD"}
#: Optimizers that take unnormalised gradient steps at first (RAdam before ρ_t > 5): small steps.
_CAUTIOUS = {"RAdam"}
#: Apollo divides by max(|B|, 0.01) while its curvature estimate B is still small, so its first
#: steps are up to 100·lr·|m|: it needs a step size about 100× below plain gradient descent's.
_CURVATURE = {"Apollo"}
#: Momentum optimizers run with momentum 0.9 (their default is none).
_MOMENTUM = {"SGD", "DLPF", "NAG", "RGD"}
#: pytorch-rad's momentum is an EMA, v = β v + (1-β) g: the step is 1/(1-β) = 10× smaller than
#: SGD's sum form at the same lr, so these run at 10× the momentum family's lr.
_EMA = {"DLPF", "NAG", "RGD"}


def _family(name: str) -> str:
    base = name.split(".")[-1]
    if base in _ADAPTIVE:
        return "adaptive"
    if base in _CAUTIOUS:
        return "cautious"
    if base in _CURVATURE:
        return "curvature"
    if base in _MOMENTUM:
        return "momentum"
    return "adaptive" if "adam" in base.lower() else "plain"


def lr_for(name: str, problem: Problem2D) -> float:
    """A step size for optimizer ``name`` (``"RAD"``, ``"torch.SGD"``…) on ``problem``."""
    lr = problem.lrs[_family(name)]
    return 10 * lr if name.split(".")[-1] in _EMA else lr


def known(name: str, cls: type | None = None) -> bool:
    """Whether ``name`` is of a family with tuned step sizes (the zoo, ``torch.SGD``,
    ``torch.Adam``…); given ``cls``, it must also be the shipped class (of
    :mod:`hamopt.optim` or :mod:`torch.optim`), not a derived one that shares its name."""
    listed = name.split(".")[-1] in _ADAPTIVE | _CAUTIOUS | _CURVATURE | _MOMENTUM
    if cls is None:
        return listed
    return listed and cls.__module__.startswith(("hamopt.optim.", "torch.optim."))


def probe_lr(cls: type, problem: Problem2D, steps: int = 200) -> float:
    r"""The step size of :data:`LR_GRID` with which ``cls`` (at its other defaults) ends
    lowest on ``problem`` after ``steps`` steps from its start; a step size whose run raises
    or leaves a non-finite loss is out. ``ValueError`` when every one is.

    Deterministic: the problems are deterministic and every run starts at ``problem.start``.
    """
    from hamopt.compare.training import step

    best, best_lr, errors = math.inf, None, []
    for lr in LR_GRID:
        x = torch.nn.Parameter(torch.tensor(problem.start, dtype=torch.float64))
        try:
            opt = cls([x], lr=lr)
            # step(closure), which LBFGS needs; nan: diverged (a non-finite loss or gradient)
            losses = (step(opt, [x], lambda x=x: problem.fn(x)) for _ in range(steps))
            if any(math.isnan(loss) for loss in losses):
                continue
            final = float(problem.fn(x.detach()))
        except (ValueError, RuntimeError, ArithmeticError) as err:  # a non-finite gradient…
            errors.append(f"{type(err).__name__}: {err}")
            continue
        if math.isfinite(final) and final < best:
            best, best_lr = final, lr
    if best_lr is None and len(errors) == len(LR_GRID) and len(set(errors)) == 1:
        raise ValueError(f"{cls.__name__} cannot run on {problem.name}: {errors[0]}")
    if best_lr is None:
        raise ValueError(
            f"{cls.__name__} diverges on {problem.name} at every step size of {list(LR_GRID)}"
        )
    return best_lr


def options_for(
    name: str, problem: Problem2D, cls: type | None = None, steps: int = 200
) -> dict[str, object]:
    """Constructor options for ``name`` on ``problem``: the step size, and momentum 0.9 for
    the momentum family (SGD, DLPF, NAG, RGD). An optimizer of no known family (see
    :func:`known`; ``cls`` tells a derived class from a shipped one of the same name) keeps
    its own defaults and gets :func:`probe_lr`'s step size for ``steps`` steps."""
    if cls is not None and not known(name, cls):
        return {"lr": probe_lr(cls, problem, steps)}
    opts: dict[str, object] = {"lr": lr_for(name, problem)}
    base = name.split(".")[-1]
    if base in _MOMENTUM:
        opts["momentum"] = 0.9
    if base == "Apollo":
        opts["warmup"] = 10
    return opts
