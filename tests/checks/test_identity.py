"""The high-precision fall-back for identities SymPy leaves unreduced."""

import pytest
import sympy as sp

from hamopt.checks.identity import DIGITS, POINTS, vanishes_at_random_points

x = sp.Symbol("x", real=True)
y = sp.Symbol("y", positive=True)


def test_an_identity_sympy_leaves_unreduced_holds_at_every_point():
    residual = sp.tanh(x) - sp.sinh(x) / sp.cosh(x)
    assert sp.cancel(sp.expand(residual)) != 0  # what the cheap rewrites leave
    ev = vanishes_at_random_points(residual)
    assert ev.holds is True
    assert (ev.points, ev.digits) == (POINTS, DIGITS)
    assert ev.worst <= 1e-40
    assert ev.describe().endswith(f"at {POINTS} random points ({DIGITS} digits)")
    assert "mpmath" in ev.method and "seeded" in ev.method


def test_a_residual_of_1e_minus_30_is_refuted():
    """Fifty digits see what float64 cannot: a relative error of 1e-30 is not zero."""
    ev = vanishes_at_random_points(sp.cosh(x) ** 2 - sp.sinh(x) ** 2 - 1 + sp.Float("1e-30", 50))
    assert ev.holds is False
    assert 1e-31 < ev.worst < 1e-29
    assert ev.points == 1  # stops at the first refuting point
    assert "at a random point" in ev.describe()


def test_undefined_functions_and_derivatives_get_random_values():
    U = sp.Function("U")(x, y)
    zero = sp.diff(U, x) * (sp.tanh(x) - sp.sinh(x) / sp.cosh(x)) + U * (sp.cosh(y) ** 2 - 1)
    zero -= U * sp.sinh(y) ** 2
    assert zero != 0 and zero.has(sp.Derivative)
    assert vanishes_at_random_points(zero).holds is True
    # independent values for U_x and U_y: their difference is refuted
    assert vanishes_at_random_points(sp.diff(U, x) - sp.diff(U, y)).holds is False


def test_points_are_deterministic_and_fixed_values_are_used():
    expr = sp.tanh(x) * y - y * sp.sinh(x) / sp.cosh(x) + sp.Float("1e-35", 50) * (y - 2)
    assert vanishes_at_random_points(expr, fixed={y: 2}).holds is True
    assert vanishes_at_random_points(expr).holds is False
    assert vanishes_at_random_points(expr, seed=3) == vanishes_at_random_points(expr, seed=3)


def test_nothing_evaluable_is_undecided():
    ev = vanishes_at_random_points(1 / y, fixed={y: 0})
    assert ev.holds is None and ev.points == 0


@pytest.mark.parametrize(("kw", "word"), [({"points": 0}, "points"), ({"digits": 5}, "digits")])
def test_bad_arguments_are_refused(kw, word):
    with pytest.raises(ValueError, match=word):
        vanishes_at_random_points(x, **kw)
