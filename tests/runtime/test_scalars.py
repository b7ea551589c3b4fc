"""The step-dependent scalars on a number (eager: math, bit for bit) or a tensor (compiling)."""

import math

import torch

from hamopt.runtime.scalars import scalar


def test_numbers_take_math_and_tensors_torch():
    assert scalar.sqrt(2.0) == math.sqrt(2.0) and isinstance(scalar.sqrt(2.0), float)
    t = scalar.sqrt(torch.tensor(2.0, dtype=torch.float64))
    assert isinstance(t, torch.Tensor) and math.isclose(float(t), math.sqrt(2.0), rel_tol=1e-15)
    assert math.isnan(scalar.sqrt(-1.0))  # outside the domain: NaN, as torch gives


def test_where_takes_one_branch_of_a_number_and_both_of_a_tensor():
    calls = []

    def branch(value):
        calls.append(value)
        return value

    assert scalar.where(True, lambda: branch(1.0), lambda: 1 / 0) == 1.0  # the other not run
    out = scalar.where(torch.tensor(False), lambda: branch(2.0), lambda: branch(3.0))
    assert float(out) == 3.0 and calls == [1.0, 2.0, 3.0]


def test_max_min_and_logic_on_numbers_and_tensors():
    assert scalar.maximum(1.0, 3.0, 2.0) == 3.0 and scalar.minimum(1.0, 3.0) == 1.0
    assert float(scalar.maximum(torch.tensor(1.0), 3.0)) == 3.0
    assert scalar.logical_and(True, False) is False
    assert bool(scalar.logical_or(torch.tensor(False), True))


def test_a_scalar_state_is_read_as_its_number_eagerly():
    state = torch.tensor(0.5)
    assert scalar.value(state) == 0.5 and isinstance(scalar.value(state), float)
