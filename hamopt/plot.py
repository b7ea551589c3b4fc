"""Trajectories of optimizers on a 2-D test function, with a loss-curve panel.

``hamopt plot RAD torch.Adam my.toml my.py --problem rosenbrock`` (see :mod:`hamopt.cli`).
An optimizer is named as :func:`hamopt.resolve.resolve_optimizer` takes it: a zoo member, a
``torch.NAME``, a spec file or an exported module. Step sizes: :func:`hamopt.problems2d.
options_for` (tuned per family; a derived optimizer gets the best of a grid).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm import tqdm

from hamopt.problems2d import PROBLEMS, Problem2D, known, options_for

__all__ = ["optimizer_class", "plot_trajectories", "trajectory"]


def optimizer_class(name: str) -> type:
    """The optimizer class ``name`` stands for: ``"RAD"`` → :class:`hamopt.optim.RAD`,
    ``"torch.Adam"`` → :class:`torch.optim.Adam`, ``"my.toml"`` → the class derived from the
    spec file, ``"my.py"`` → the class the module defines
    (:func:`hamopt.resolve.resolve_optimizer`)."""
    from hamopt.resolve import resolve_optimizer

    return resolve_optimizer(name)[1]


def trajectory(
    name: str,
    problem: Problem2D,
    steps: int,
    *,
    cls: type | None = None,
    options: dict[str, object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Iterates (``steps + 1`` × 2) and losses (``steps + 1``) of ``name`` on ``problem``
    (``cls``: its class, if resolved already; ``options``: its constructor options, by default
    :func:`~hamopt.problems2d.options_for`)."""
    cls = optimizer_class(name) if cls is None else cls
    if options is None:
        options = options_for(name, problem, cls, steps)
    from hamopt.compare.training import step

    x = torch.nn.Parameter(torch.tensor(problem.start, dtype=torch.float64))
    opt = cls([x], **options)
    points, losses = [x.detach().clone()], []
    for _ in range(steps):  # step(closure): an optimizer that evaluates more (LBFGS) may
        losses.append(step(opt, [x], lambda: problem.fn(x)))  # nan once diverged
        points.append(x.detach().clone())
    losses.append(float(problem.fn(x.detach())))
    return torch.stack(points).numpy(), np.asarray(losses)


def plot_trajectories(
    names: list[str], problem: str, steps: int = 500, out: str | Path = "hamopt-out"
) -> Path:
    """Run every optimizer, draw trajectories over contour lines and loss curves; return the
    PNG's path (``OUT/trajectories_PROBLEM.png``)."""
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; choose from {sorted(PROBLEMS)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    from hamopt.resolve import resolve_optimizer

    if len(set(names)) != len(names):  # one curve would hide the other (as compare refuses)
        twice = sorted({n for n in names if list(names).count(n) > 1})
        raise ValueError(f"optimizer(s) given twice: {', '.join(twice)}")
    resolved = [resolve_optimizer(name) for name in names]  # fail fast on a bad name
    labels = [label for label, _ in resolved]
    prob = PROBLEMS[problem]
    runs, lrs = {}, {}
    for name, (label, cls) in tqdm(
        list(zip(names, resolved, strict=True)), desc=f"optimizers on {problem}", unit="optimizer"
    ):
        options = options_for(label, prob, cls, steps)
        probed = "" if known(label, cls) else ", best of a grid"
        shown = label if labels.count(label) == 1 else f"{label} ({Path(name).name})"
        runs[shown] = trajectory(label, prob, steps, cls=cls, options=options)
        lrs[shown] = f"lr = {options['lr']:g}{probed}"
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(12, 5))
    x0, x1, y0, y1 = prob.view
    xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    grid = torch.tensor(np.stack([xs, ys]), dtype=torch.float64)
    zs = prob.fn(grid).numpy()
    if prob.log_levels:
        levels = np.logspace(np.log10(max(zs.min(), 1e-3)), np.log10(zs.max()), 25)
        ax.contour(xs, ys, zs, levels=levels, norm=matplotlib.colors.LogNorm(), cmap="Greys")
    else:
        ax.contour(xs, ys, zs, levels=25, cmap="Greys")
    ax.plot(*prob.minimum, "k*", markersize=14, label="minimum")
    styles = ("-", "--", "-.", ":")  # curves that coincide (RAD at δ = 1 and Adam) stay visible
    for i, (name, (points, losses)) in enumerate(runs.items()):
        label = f"{name} ({lrs[name]})"
        style = styles[i % len(styles)]
        (line,) = ax.plot(points[:, 0], points[:, 1], style, lw=1.4, label=label)
        ax.plot(points[0, 0], points[0, 1], "o", color=line.get_color())
        ax_loss.plot(np.maximum(losses, 1e-16), style, color=line.get_color(), label=label)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", title=f"{problem}: trajectories")
    ax.legend(fontsize=8)
    ax_loss.set(xlabel="step", ylabel="loss", yscale="log", title=f"{problem}: loss")
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"trajectories_{problem}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
