"""Speed limit: bounded-velocity energies move less than h·c whatever the gradient."""

import pytest
import sympy as sp

from hamopt.checks.speed_limit import speed_bound, speed_limit
from hamopt.kinetic import adam_energy, classical, massless, relativistic, relativistic_norm
from hamopt.schemes import euler, leapfrog, leapfrog_fsal, yoshida


def test_speed_bounds():
    c = sp.Symbol("c", positive=True)
    assert speed_bound(relativistic()) == c
    assert speed_bound(relativistic_norm()) == c
    assert speed_bound(adam_energy()) == 1
    assert speed_bound(massless()) == 1
    assert speed_bound(classical()) == sp.oo


@pytest.mark.parametrize("scheme", [euler, leapfrog, leapfrog_fsal, yoshida], ids=lambda s: s.name)
@pytest.mark.parametrize("make", [relativistic, relativistic_norm], ids=lambda f: f.__name__)
def test_relativistic_step_is_below_h_c_at_gradient_1e6(make, scheme):
    res = speed_limit(make(c=2.0), scheme, gradient=1e6, h=0.1)
    assert res.passed and res.details["strict"], res
    assert res.value < 1.0


@pytest.mark.parametrize("make", [relativistic, relativistic_norm], ids=lambda f: f.__name__)
def test_bound_holds_for_gradient_1e12(make):
    res = speed_limit(make(), euler, gradient=1e12)
    assert res.passed and res.value <= 1.0 + 1e-12


def test_classical_has_no_speed_limit():
    """No bound to hold the step to: the check does not apply (undetermined), it does not fail."""
    res = speed_limit(classical(), euler, gradient=1e6, h=0.1)
    assert res.verdict == "undetermined" and not res.passed
    assert "not applicable" in res.reason and "oo" in res.reason
    assert res.value > 1e4


def test_a_speed_clipped_by_max_and_min_has_its_bound():
    """Huber's velocity max(-δ, min(δ, p)): SymPy's limit of min(δ, p) raised a TypeError in
    its series code, and ``verify`` dropped the speed-limit row without a word."""
    from hamopt.kinetic import huber

    assert speed_bound(huber()) == sp.Symbol("delta", positive=True)
    res = speed_limit(huber(delta=2.0), leapfrog, gradient=1e6, h=0.1)
    assert res.passed and res.details["bound"] == 2.0
