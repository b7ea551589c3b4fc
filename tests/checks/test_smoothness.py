"""Smoothness at p = 0: where the order theory of a scheme applies."""

import pytest
import sympy as sp

from hamopt.checks.smoothness import smooth_at_zero
from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    massless,
    power,
    relativistic,
    relativistic_norm,
)
from hamopt.symbols import p


@pytest.mark.parametrize(
    "energy",
    [
        classical(),
        relativistic(),
        relativistic_norm(),
        KineticEnergy(sp.log(sp.cosh(p)), name="log-cosh"),
        KineticEnergy(p**4 / 4 + p**2 / 2, name="quartic"),
    ],
    ids=lambda e: e.name,
)
def test_smooth_energies_are_c5(energy):
    assert smooth_at_zero(energy, 5) == (True, "")


def test_a_kink_breaks_continuity_of_the_velocity():
    smooth, why = smooth_at_zero(massless(), 2)
    assert smooth is False and why == "T' jumps from -1 to 1 at p = 0"


def test_power_1_5_is_c1_not_c2():
    assert smooth_at_zero(power(1.5), 1) == (True, "")
    assert smooth_at_zero(power(1.5), 2) == (False, "T'' is unbounded at p = 0")


def test_cubic_modulus_is_c2_not_c3():
    cubic = KineticEnergy(sp.Abs(p) ** 3 / 3, name="cubic modulus")
    assert smooth_at_zero(cubic, 2)[0] is True
    assert smooth_at_zero(cubic, 3) == (False, "T''' jumps from -2 to 2 at p = 0")


def test_parameter_values_are_used():
    """Adam's energy is C² at any ε > 0; its T''' jumps by ±2/ε²."""
    assert smooth_at_zero(adam_energy(), 2, {"epsilon": 1.0})[0] is True
    assert smooth_at_zero(adam_energy(), 3, {"epsilon": 1.0}) == (
        False,
        "T''' jumps from 2 to -2 at p = 0",
    )


def test_negative_degree_is_refused():
    with pytest.raises(ValueError, match="degree"):
        smooth_at_zero(classical(), -1)
