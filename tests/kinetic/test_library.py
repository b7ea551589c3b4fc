"""The library energies: velocities, parameters, numeric functions."""

import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    huber,
    log_cosh,
    massless,
    power,
    relativistic,
    relativistic_norm,
)
from hamopt.symbols import Norm, p

LIBRARY = [
    classical,
    relativistic,
    relativistic_norm,
    adam_energy,
    power,
    massless,
    log_cosh,
    huber,
]


@pytest.mark.parametrize("make", LIBRARY, ids=lambda f: f.__name__)
def test_velocity_is_the_derivative(make):
    """∇T by the closed form equals autograd's gradient of T on a 7-particle group."""
    energy = make()
    T, velocity = energy.torch_functions()
    x = torch.tensor([-3.0, -0.7, -1e-3, 0.2, 0.5, 1.5, 40.0], requires_grad=True)
    (grad,) = torch.autograd.grad(T(x), x)
    torch.testing.assert_close(velocity(x.detach()), grad, rtol=1e-12, atol=1e-14)


def test_relativistic_velocity_matches_math_table():
    m, c = sp.symbols("m c", positive=True)
    e = relativistic()
    assert sp.simplify(e.velocity_expr - c * p / sp.sqrt(p**2 + m**2 * c**2)) == 0


def test_adam_velocity_is_p_over_abs_p_plus_eps():
    eps = sp.Symbol("epsilon", positive=True)
    e = adam_energy()
    d = sp.diff(e.expr, p) - p / (sp.Abs(p) + eps)
    f = sp.lambdify([p, eps], d)
    xs = np.linspace(-5, 5, 101)
    assert np.max(np.abs(f(xs, 0.3))) < 1e-14


def test_norm_coupled_velocity_uses_the_group_norm():
    e = relativistic_norm(m=2.0, c=3.0)
    _, velocity = e.torch_functions()
    x = torch.tensor([3.0, 4.0])
    expected = 3.0 * x / torch.sqrt(torch.tensor(25.0 + 36.0))
    torch.testing.assert_close(velocity(x), expected)
    # one coordinate standing for the group keeps the norm unevaluated
    rep = e.representative_velocity(p)
    assert rep.has(Norm)


def test_norm_coupled_scope_is_recorded():
    assert relativistic_norm().scope == "tensor"
    assert relativistic_norm(scope="global").scope == "global"
    with pytest.raises(ValueError, match="scope must be 'tensor' or 'global'"):
        relativistic_norm(scope="layer")


def test_parameter_values_are_validated():
    e = relativistic(m=0.5, c=2.0)
    values = {sym.name: v for sym, v in e.values().items()}
    assert values == {"m": 0.5, "c": 2.0}
    with pytest.raises(ValueError, match=r"m must be in \(0, inf\), got -1"):
        relativistic(m=-1.0)
    with pytest.raises(ValueError, match=r"a must be in \(1, inf\), got 1.0"):
        power(a=1.0)
    with pytest.raises(ValueError, match="has no parameter"):
        e.values({"mass": 1.0})
    with pytest.raises(TypeError, match="c must be a real number"):
        e.values({"c": "fast"})


def test_user_energy_symbols_are_matched_by_name():
    """A user's plain Symbol('m') becomes the declared positive parameter."""
    m = sp.Symbol("m")  # no assumptions
    e = KineticEnergy(sp.cosh(p / m), ["m"], name="cosh")
    assert e.symbols["m"].is_positive
    assert e.symbols["m"] in e.expr.free_symbols
    assert sp.simplify(e.velocity_expr - sp.sinh(p / e.symbols["m"]) / e.symbols["m"]) == 0


def test_latex_shows_the_sum_or_the_norm():
    assert classical().latex().startswith(r"T(p) = \sum_i")
    assert r"\lVert p \rVert" in relativistic_norm().latex()


def test_log_cosh_and_huber_regimes():
    """log-cosh: classical slope β at 0, massless far out; Huber: clip(p, −δ, δ), and its
    energy is exact (no cancellation) at large |p|."""
    _, v = log_cosh(beta=2.0).numpy_functions()
    np.testing.assert_allclose(v(np.array([1e-8, 50.0])), [2e-8, 1.0], rtol=1e-12)
    tau, v = huber(delta=0.5).numpy_functions()
    np.testing.assert_array_equal(v(np.array([-3.0, 0.2, 7.0])), [-0.5, 0.2, 0.5])
    assert tau(np.array([1e8]))[0] == 0.5 * 1e8 - 0.125
