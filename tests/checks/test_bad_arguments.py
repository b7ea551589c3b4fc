"""The numeric checks refuse arguments that measure nothing, and name what is wrong with a
potential, before a deep torch error (or a verdict on h = 0) comes out."""

import pytest
import sympy as sp

from hamopt.checks import numeric_symplecticity, order_of_accuracy, speed_limit
from hamopt.checks.energy import conservative_energy_drift, energy_convergence, energy_error_order
from hamopt.checks.problems import random_quadratic
from hamopt.kinetic import relativistic
from hamopt.symbols import p

K = relativistic()
QUADRATIC = random_quadratic(20)


@pytest.mark.parametrize(
    ("check", "error", "message"),
    [
        (
            lambda: numeric_symplecticity(K, "leapfrog", QUADRATIC, h=0),
            ValueError,
            "h must be a finite number > 0, got 0",
        ),
        (lambda: numeric_symplecticity(K, "leapfrog", QUADRATIC, h=-0.1), ValueError, "h must be"),
        (
            lambda: numeric_symplecticity(K, "leapfrog", QUADRATIC, n=2.5),
            ValueError,
            r"n must be an int >= 1 \(particles\), got 2.5",
        ),
        (
            lambda: numeric_symplecticity(K, "leapfrog", QUADRATIC, n=3),
            ValueError,
            "the potential fails on q of 3 coordinates: size mismatch",
        ),
        (
            lambda: numeric_symplecticity(K, "leapfrog", lambda q: q**2),
            ValueError,
            r"the potential must return one number \(a scalar tensor\), got \(20,\)",
        ),
        (
            lambda: numeric_symplecticity(p**2 / 2, "leapfrog", QUADRATIC),
            TypeError,
            "kinetic must be a KineticEnergy, got Mul",
        ),
        (lambda: speed_limit(K, "leapfrog", h=0), ValueError, "h must be"),
        (
            lambda: speed_limit(K, "leapfrog", steps=0),
            ValueError,
            "steps must be an int >= 1, got 0",
        ),
        (
            lambda: speed_limit(K, "leapfrog", gradient=0),
            ValueError,
            "gradient must be a finite number > 0",
        ),
        (
            lambda: order_of_accuracy(K, "leapfrog", steps=[0, 10]),
            ValueError,
            "steps must be an int >= 1, got 0",
        ),
        (
            lambda: order_of_accuracy(K, "leapfrog", QUADRATIC),
            ValueError,
            "the potential fails on q of 3 coordinates",
        ),
        (lambda: energy_error_order(K, "leapfrog", steps=[0, 10]), ValueError, "steps must be"),
        (lambda: energy_convergence(K, "leapfrog", h=0), ValueError, "h must be"),
        (
            lambda: conservative_energy_drift(K, steps=1),
            ValueError,
            "steps must be an int >= 2, got 1",
        ),
    ],
)
def test_a_check_names_what_is_wrong(check, error, message):
    with pytest.raises(error, match=message):
        check()


def test_a_scalar_potential_of_one_element_is_taken():
    """A potential that returns a 1-element tensor (``q @ A @ q[None]``-style) is one number."""
    result = numeric_symplecticity(K, "leapfrog", lambda q: (q**2).sum().reshape(1), n=4)
    assert result.passed and sp.Float(result.value) < 1e-12
