"""Smoothness at p = 0: where the order theory of a scheme applies."""

import pytest
import sympy as sp

from hamopt.checks.smoothness import smooth, smooth_at_zero
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


@pytest.mark.parametrize(
    ("expr", "degree", "verdict"),
    [
        (sp.Max(p**2 - 1, 0), 2, (False, "T' jumps from 0 to 2 at p = 1")),
        (sp.Max(p**2, sp.Abs(p)), 2, (False, "T' jumps from -1 to 1 at p = 0")),
        (  # the Huber energy: T'' jumps where Min(1/2, |p|) switches
            sp.Abs(p)
            + sp.Min(sp.Rational(1, 2), sp.Abs(p)) ** 2
            - sp.Min(sp.Rational(1, 2), sp.Abs(p)),
            3,
            (False, "T'' jumps from 2 to 0 at p = 1/2"),
        ),
        (sp.Max(p**4 / 4 + p**2 / 2, p**2 / 2), 5, (True, "")),  # one branch everywhere
        (sp.log(sp.cosh(p)), 5, (True, "")),
    ],
    ids=["kink-at-1", "kink-at-0", "huber", "one-branch", "smooth"],
)
def test_smooth_looks_at_every_point_where_a_piecewise_part_switches(expr, degree, verdict):
    """A kink away from p = 0 (where the arguments of a Max or Min meet) is found, where
    smooth_at_zero sees none."""
    energy = KineticEnergy(expr, name="piecewise")
    assert smooth(energy, degree) == verdict
    if verdict[1] and not verdict[1].endswith("p = 0"):
        assert smooth_at_zero(energy, degree)[0] is not False
