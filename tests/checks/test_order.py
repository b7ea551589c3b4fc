"""Order of accuracy: the fitted slope of the global error matches each scheme's order."""

import math

import numpy as np
import pytest

from hamopt.checks.integrate import explicit_euler, explicit_euler_step, numeric_system
from hamopt.checks.order import fit_slope, order_of_accuracy
from hamopt.kinetic import classical, relativistic, relativistic_norm
from hamopt.schemes import Scheme, euler, euler_fkd, leapfrog, leapfrog_fsal, yoshida

ENERGIES = {"classical": classical, "relativistic": relativistic, "norm": relativistic_norm}
TOLERANCE = {1: 0.1, 2: 0.1, 4: 0.3}


@pytest.mark.parametrize("scheme", [euler, euler_fkd, leapfrog, yoshida], ids=lambda s: s.name)
@pytest.mark.parametrize("energy", list(ENERGIES))
def test_fitted_slope_equals_declared_order(energy, scheme):
    res = order_of_accuracy(ENERGIES[energy](), scheme)
    assert abs(res.value - scheme.order) <= TOLERANCE[scheme.order]
    assert res.passed
    errors = np.asarray(res.details["errors"])
    assert len(res.details["h"]) == errors.size >= 4
    assert np.all(np.diff(errors) < 0)  # halving h lowers the error every time
    assert errors.min() > 10 * res.details["reference_error_estimate"]


def test_explicit_euler_is_order_one():
    res = order_of_accuracy(classical(), explicit_euler)
    assert abs(res.value - 1) <= 0.1 and res.passed


def test_wrongly_declared_order_fails():
    wrong = Scheme("wrong", euler.rows, order=2)
    res = order_of_accuracy(classical(), wrong)
    assert res.verdict == "fail" and not res.passed  # a smooth energy: the theory applies
    assert abs(res.value - 1) <= 0.1  # it measures what Euler is, not what was declared


def test_fsal_rotation_measures_order_one_in_raw_variables():
    # K·F½·D·F½ from the same (q0, p0) is the leapfrog seen from the half step: its order 2
    # lives in the rotated variables, so this check must not grant it.
    res = order_of_accuracy(classical(), leapfrog_fsal)
    assert not res.passed
    assert abs(res.value - 1) <= 0.1


def test_errors_at_the_reference_floor_are_refused():
    res = order_of_accuracy(classical(), yoshida, steps=(1024, 2048, 4096))
    assert res.verdict == "undetermined" and not res.passed  # no slope to trust, no FAIL
    assert not res.details["errors_above_reference"]
    assert "reference" in res.details["reason"] and res.reason == res.details["reason"]


def test_fit_slope_recovers_a_power_law():
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    assert fit_slope(h, 3.0 * h**2.5) == pytest.approx(2.5, abs=1e-12)


def test_explicit_euler_step_formula():
    import torch

    from hamopt.checks.integrate import anharmonic

    system = numeric_system(relativistic(), anharmonic(2), friction=0.3)
    q, p = torch.tensor([0.4, -1.0]), torch.tensor([2.0, 0.5])
    h = 0.1
    q1, p1 = explicit_euler_step(system, q, p, h)
    velocity = p / torch.sqrt(p**2 + 1)  # m = c = 1
    assert torch.allclose(q1, q + h * velocity, atol=1e-15)
    assert torch.allclose(p1, p - h * (system.grad_U(q) + 0.3 * p), atol=1e-15)
    assert math.isclose(explicit_euler.order, 1)
