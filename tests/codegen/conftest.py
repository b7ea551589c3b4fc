"""The generated in-place paths against the NumPy evaluator: one descent for every such test."""

import numpy as np
import pytest
import torch


def _descend(make, target: torch.Tensor, steps: int, sign: float = 1.0) -> np.ndarray:
    """θ from zeros after ``steps`` steps of the optimizer ``make([θ])`` on the loss
    sign·Σ(θ - target)⁴/4, whose gradient the evaluator is given as (θ - target)³ (``sign``
    -1 with ``maximize=True``): the final θ."""
    theta = torch.nn.Parameter(torch.zeros_like(target))
    optimizer = make([theta])
    for _ in range(steps):
        optimizer.zero_grad()
        (sign * ((theta - target) ** 4).sum() / 4).backward()
        optimizer.step()
    return theta.detach().numpy()


@pytest.fixture
def descend():
    """:func:`_descend`: a generated optimizer's descent on the quartic of the tests."""
    return _descend
