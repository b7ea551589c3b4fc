"""Change of variables: physical (h, r, m, c) to machine-learning hyperparameters."""

import pytest
import sympy as sp

from hamopt.kinetic import adam_energy, classical, relativistic, relativistic_norm
from hamopt.rule.reductions import Norm2
from hamopt.schemes import euler, leapfrog, nag, yoshida
from hamopt.symbols import h
from hamopt.variables import Momentum, beta1, change_of_variables, g, match, v

lr, delta, zeta, eps = sp.symbols("lr delta zeta eps", positive=True)
m, c, epsilon = sp.symbols("m c epsilon", positive=True)


def test_classical_euler_is_momentum_sgd_in_ema_form():
    """θ ← θ - α v with α = h²/((1-β1) m) (MATH.md §4)."""
    step = change_of_variables(classical(), euler)
    assert sp.simplify(step.displacement + h**2 * v / ((1 - beta1) * m)) == 0
    assert step.recursion == beta1 * v + (1 - beta1) * g


def test_relativistic_euler_gives_rad_hyperparameters():
    """α = hcδ and ζ = δ²(mc(1-β1)/h)², derived by solving, then proved."""
    step = change_of_variables(relativistic(), euler)
    found = match(step.displacement, -lr * v / sp.sqrt(delta**2 * v**2 + zeta), [lr, zeta])
    assert sp.simplify(found[lr] - h * c * delta) == 0
    assert sp.simplify(found[zeta] - delta**2 * (m * c * (1 - beta1) / h) ** 2) == 0


def test_leapfrog_gives_rad_order_two_with_the_same_map():
    first = change_of_variables(relativistic(), euler)
    known = match(first.displacement, -lr * v / sp.sqrt(delta**2 * v**2 + zeta), [lr, zeta])
    second = change_of_variables(relativistic(), leapfrog)
    target = (
        -lr
        / 2
        * (v / sp.sqrt(delta**2 * v**2 + zeta) + v / sp.sqrt(delta**2 * v**2 + zeta / beta1**2))
    )
    assert match(second.displacement, target, [lr, zeta], known=known) == known


def test_adam_energy_gives_adam_learning_rate_and_eps():
    """α = h and ε_Adam = ε(1-β1)/h (MATH.md §5)."""
    step = change_of_variables(adam_energy(), euler)
    found = match(step.displacement, -lr * v / (sp.Abs(v) + eps), [lr, eps])
    assert found[lr] == h
    assert sp.simplify(found[eps] - epsilon * (1 - beta1) / h) == 0


def test_norm_coupled_uses_the_group_norm():
    step = change_of_variables(relativistic_norm(), euler)
    assert step.displacement.has(Norm2(v))
    found = match(step.displacement, -lr * v / sp.sqrt(delta**2 * Norm2(v) ** 2 + 1), [lr, delta])
    assert sp.simplify(found[delta] - h / (m * c * (1 - beta1))) == 0


def test_dlpf_is_momentum_with_lr_times_one_plus_beta_over_two():
    step = change_of_variables(classical(), leapfrog)
    found = match(step.displacement, -lr * (1 + beta1) / 2 * v, [lr])
    assert sp.simplify(found[lr] - h**2 / ((1 - beta1) * m)) == 0


def test_sum_form_and_dampening():
    step = change_of_variables(classical(), euler, Momentum("sum", "grad", dampened=True))
    d = sp.Symbol("dampening", nonnegative=True)
    assert sp.simplify(step.recursion - (beta1 * v + (1 - d) * g)) == 0
    assert match(step.displacement, -lr * v, [lr])[lr] == sp.factor(h**2 / (m * (1 - d)))


def test_nag_uses_the_fresh_gradient():
    step = change_of_variables(classical(), nag, Momentum("sum", "grad"))
    assert match(step.displacement, -lr * (g + beta1 * v), [lr])[lr] == h**2 / m


def test_impossible_target_is_rejected():
    step = change_of_variables(relativistic(), euler)
    with pytest.raises(ValueError, match=r"no hyperparameters make|is not"):
        match(step.displacement, -lr * v, [lr])


def test_multi_gradient_scheme_is_rejected():
    with pytest.raises(ValueError, match="yoshida takes 3 gradients per step"):
        change_of_variables(classical(), yoshida)


def test_bad_momentum_conventions():
    with pytest.raises(ValueError, match="momentum form must be 'ema' or 'sum'"):
        Momentum("nesterov")
    with pytest.raises(ValueError, match="momentum init must be 'zeros' or 'grad'"):
        Momentum("ema", "ones")
    with pytest.raises(ValueError, match="dampening belongs to the sum form"):
        Momentum("ema", dampened=True)
