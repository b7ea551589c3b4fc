"""Order of accuracy: the fitted slope of the global error matches each scheme's order."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.checks.integrate import anharmonic, explicit_euler, explicit_euler_step, numeric_system
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


def test_steps_too_coarse_to_be_asymptotic_are_undetermined_not_a_failure():
    """2, 4 and 8 leapfrog steps over t = 1: local slopes 2.20 then 2.03, a fitted 2.12 (outside
    2 ± 0.1). The slopes still drift and the last has reached the order: the steps are too
    coarse to tell, so the check says so instead of FAIL. A wrongly declared order, whose
    slopes have settled at 1, still fails (test_wrongly_declared_order_fails)."""
    res = order_of_accuracy(classical(), leapfrog, steps=[2, 4, 8])
    slopes = res.details["local_slopes"]
    assert abs(res.value - 2) > 0.1 and abs(slopes[-1] - 2) <= 0.1 and np.ptp(slopes) > 0.1
    assert res.verdict == "undetermined"
    assert "not yet asymptotic" in res.reason and "use more steps" in res.reason


def test_fsal_rotation_measures_order_two_in_its_rotated_variables():
    """K·F½·D·F½ is the leapfrog seen from the half step, R = P∘S∘P⁻¹ (P = D½·F½): from the
    same (q0, p0) it measures order 1 (its rows without the rotation recorded fail), and
    P⁻¹∘R^N∘P = S^N measures the leapfrog's 2."""
    assert leapfrog_fsal.rotation == ((("D", sp.Rational(1, 2)), ("F", sp.Rational(1, 2))))
    res = order_of_accuracy(classical(), leapfrog_fsal)
    assert res.passed and abs(res.value - 2) <= 0.1
    raw = Scheme("raw", leapfrog_fsal.rows, order=2)
    res = order_of_accuracy(classical(), raw)
    assert not res.passed and abs(res.value - 1) <= 0.1


def test_fsal_rotation_has_the_leapfrogs_energy_error_order():
    """The energy checks iterate a rotation in its rotated variables too (``trajectory``): the
    energy error of K·F½·D·F½ shrinks like h², as the leapfrog's; its rows without the
    rotation recorded measure h¹."""
    from hamopt.checks.energy import energy_error_order

    res = energy_error_order(classical(), leapfrog_fsal)
    assert res.passed and abs(res.value - 2) <= 0.1
    raw = energy_error_order(classical(), Scheme("raw", leapfrog_fsal.rows, order=2))
    assert not raw.passed and abs(raw.value - 1) <= 0.1


def test_rotate_then_its_inverse_is_the_identity():
    system = numeric_system(relativistic(m=1.0, c=1.0), anharmonic(3), friction=0.5)
    q, p = torch.tensor([1.0, -0.5, 0.8], dtype=torch.float64), torch.tensor([0.5, 1.0, -0.7])
    p = p.to(torch.float64)
    q1, p1 = leapfrog_fsal.rotate(system, q, p, 0.1)
    assert not torch.equal(p1, p)
    q2, p2 = leapfrog_fsal.rotate(system, q1, p1, 0.1, inverse=True)
    assert torch.allclose(q2, q, rtol=0, atol=1e-14) and torch.allclose(p2, p, rtol=0, atol=1e-14)


@pytest.mark.parametrize("start", [1, 2, 3])
def test_a_rotation_of_a_rotation_keeps_both_and_its_order(start):
    """rotated(k) of P ∘ S ∘ P⁻¹ is (L ∘ P) ∘ S ∘ (L ∘ P)⁻¹: its rotation is P's rows then
    L's, so the order is measured in its own variables (it lost P's, and failed at slope 1)."""
    twice = leapfrog_fsal.rotated(start)
    assert twice.rotation == leapfrog_fsal.rotation + leapfrog_fsal.rows[:start]
    res = order_of_accuracy(relativistic(), twice)
    assert res.verdict == "pass" and abs(res.value - 2) <= 0.1, res.row()


def test_a_rotation_through_a_row_that_is_not_an_exact_flow_records_none():
    """I (implicit friction) is not a group in t: rotating past it records no rotation."""
    from hamopt.schemes import hamiltonian_descent

    start = next(i for i, (flow, _) in enumerate(hamiltonian_descent.rows) if flow == "I") + 1
    assert hamiltonian_descent.rotated(start).rotation == ()


def test_a_composition_of_equal_rotations_records_the_rotation_and_its_order():
    """Two half steps of P ∘ S ∘ P⁻¹ with the same P are P ∘ S½ S½ ∘ P⁻¹: compose records P
    (scaled by ½), and the order is 2 in those variables (without it, slope 1: a FAIL)."""
    from hamopt.schemes import compose

    half = sp.Rational(1, 2)
    twice = compose("twice", [(leapfrog_fsal, half), (leapfrog_fsal, half)], order=2)
    assert twice.rotation == tuple((flow, half * frac) for flow, frac in leapfrog_fsal.rotation)
    res = order_of_accuracy(relativistic(), twice)
    assert res.verdict == "pass" and abs(res.value - 2) <= 0.1, res.row()


def test_a_composition_of_different_rotations_records_none_and_fails_a_false_order():
    """A triple jump of leapfrog_fsal conjugates its parts by different P_w, which do not
    cancel: it is no rotation of Yoshida's scheme, records none, and its order 4 is false."""
    from hamopt.schemes import compose

    w1 = 1 / (2 - sp.cbrt(2))
    parts = [(leapfrog_fsal, w1), (leapfrog_fsal, -sp.cbrt(2) * w1), (leapfrog_fsal, w1)]
    jump = compose("jump_fsal", parts, order=4)
    assert jump.rotation == ()
    assert order_of_accuracy(classical(), jump).verdict == "fail"


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


def test_a_slope_off_the_order_on_an_energy_with_a_kink_away_from_zero_is_undetermined():
    """max(p² - 1, 0): the leapfrog's slope misses 2 (the velocity jumps at |p| = 1, which the
    default trajectory crosses); the theory does not apply there, so no FAIL."""
    from hamopt.kinetic import KineticEnergy
    from hamopt.symbols import p

    res = order_of_accuracy(KineticEnergy(sp.Max(p**2 - 1, 0), name="hinge"), leapfrog)
    assert abs(res.value - 2) > 0.1
    assert res.verdict == "undetermined"
    assert res.reason == "not applicable: T' jumps from 0 to 2 at p = 1; order 2 needs T ∈ C³"


@pytest.mark.parametrize("check", ["order", "energy"])
@pytest.mark.parametrize("final_time", [1e-3, 1e-6])
def test_errors_at_float64_rounding_are_undetermined_not_failed(check, final_time):
    """At a short final time every step count's error is ~1e-15, rounding, and their slope
    any number (1.29 and -0.84 were FAILs of the leapfrog's true order 2)."""
    from hamopt.checks.energy import energy_error_order

    run = order_of_accuracy if check == "order" else energy_error_order
    res = run(relativistic(), leapfrog, final_time=final_time)
    assert res.verdict == "undetermined", res.row()
    assert "float64 rounding over the steps" in res.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(steps=[10, 10]), r"at least two different step counts .* got \[10, 10\]"),
        (dict(steps=[10]), r"at least two different step counts"),
        (dict(steps=[10.5, 20]), r"steps must be whole numbers of steps, got \[10.5, 20\]"),
        (dict(tolerance=-1), r"tolerance must be a finite number > 0, got -1"),
        (dict(tolerance=float("nan")), r"tolerance must be a finite number > 0, got nan"),
    ],
)
def test_bad_steps_and_tolerances_are_refused(kwargs, message):
    """(Equal step counts gave NumPy's RankWarning and a FAIL; a negative tolerance failed
    every scheme.)"""
    with pytest.raises(ValueError, match=message):
        order_of_accuracy(relativistic(), leapfrog, **kwargs)
