"""Every shipped optimizer, at the step size the plots give it, behaves on every 2-D problem."""

import math

import pytest

from hamopt.optim import __all__ as ZOO_NAMES
from hamopt.plot import trajectory
from hamopt.problems2d import PROBLEMS

NAMES = [*ZOO_NAMES, "torch.SGD", "torch.Adam"]


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_every_optimizer_stays_finite_and_descends(problem):
    prob = PROBLEMS[problem]
    for name in NAMES:
        _, losses = trajectory(name, prob, 300)
        assert all(math.isfinite(x) for x in losses), f"{name} diverged on {problem}"
        if problem != "rastrigin":  # many local minima: finite is all one can ask
            assert losses[-1] < 0.9 * losses[0], f"{name} made no progress on {problem}"


def test_an_optimizer_that_cannot_run_says_why():
    """torch.optim.SparseAdam takes sparse gradients only: every probed step size raises the
    same error, which is what the probe reports (it said the optimizer diverges)."""
    import torch

    from hamopt.problems2d import probe_lr

    with pytest.raises(
        ValueError, match=r"SparseAdam cannot run on quadratic: RuntimeError: .*dense"
    ):
        probe_lr(torch.optim.SparseAdam, PROBLEMS["quadratic"], steps=3)


def test_an_optimizer_that_needs_a_closure_is_plotted():
    """torch.optim.LBFGS evaluates the loss several times a step (step(closure)): its step size
    is probed and its trajectory drawn, where ``opt.step()`` failed for want of a closure."""
    points, losses = trajectory("torch.LBFGS", PROBLEMS["quadratic"], 5)
    assert points.shape == (6, 2) and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 1e-6 * losses[0]  # a quasi-Newton method on a quadratic


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_a_function_evaluates_a_grid_pointwise(problem):
    """The contour plot evaluates a problem on a (2, H, W) grid of points: one value per point
    (Rastrigin summed the whole grid into one number, and every plot of it failed), each the
    value at that point alone."""
    import torch

    fn = PROBLEMS[problem].fn
    grid = torch.stack(
        torch.meshgrid(torch.linspace(-2, 2, 5), torch.linspace(-1, 3, 4), indexing="xy")
    )
    values = fn(grid)
    assert values.shape == (4, 5)
    for i, j in ((0, 0), (2, 3), (3, 4)):
        torch.testing.assert_close(values[i, j], fn(grid[:, i, j]))
