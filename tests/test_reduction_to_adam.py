"""RAD → Adam, the toolkit's named check (MATH.md §5), symbolic and numeric."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

import hamopt.optim as zoo
from hamopt.closures import bias_correction, compose, second_moment
from hamopt.rule.evaluate import run
from hamopt.rule.update_rule import param
from hamopt.zoo.adam import adam as adam_spec
from hamopt.zoo.common import BETA2, EPS, LR
from hamopt.zoo.relativistic import DELTA, ZETA, _rad_targets
from hamopt.zoo.relativistic import rad as rad_spec

POSITIVE = {
    sp.Symbol(name, real=True): sp.Symbol(name, positive=True)
    for name in ("exp_avg_sq", "bias_correction1", "bias_correction2", "lr", "eps")
}


def _final_delta(rule):
    """Δθ of the rule, with the second moment and bias corrections known to be positive."""
    final = [a for a in rule.assignments if a.target == param][-1]
    return (final.expr - param).xreplace(POSITIVE)


def _adam_rule():
    spec = adam_spec()
    return dict(spec.variants)['not group["amsgrad"] and not group["decoupled_weight_decay"]']


def _rad_estimator_rule(order=1):
    """RAD with the estimator-form bias correction (the paper's form)."""
    spec = rad_spec()
    zeta = ZETA
    from hamopt.kinetic import relativistic
    from hamopt.schemes import euler, leapfrog
    from hamopt.variables import Momentum
    from hamopt.zoo.derivation import derive_to_target

    order1, order2 = _rad_targets(zeta)
    base = derive_to_target(
        relativistic(), euler, Momentum(), order1, [LR, zeta], spec.hyperparameters
    )
    if order == 2:
        base = derive_to_target(
            relativistic(),
            leapfrog,
            Momentum(),
            order2,
            [LR, zeta],
            spec.hyperparameters,
            known=base.mapping,
        )
    return compose(base.draft, [second_moment(BETA2), bias_correction()]).rule(
        f"rad_estimator{order}", base.provenance
    )


def test_adam_energy_with_second_moment_closure_is_adam():
    """The derived Adam rule is torch's: θ ← θ - α v̂ / (√ŷ + ε), symbol for symbol."""
    rule = _adam_rule()
    m, y = sp.Symbol("exp_avg", real=True), sp.Symbol("exp_avg_sq", real=True)
    b1, b2 = sp.Symbol("bias_correction1", real=True), sp.Symbol("bias_correction2", real=True)
    torch_form = (-LR * (m / b1) / (sp.sqrt(y) / sp.sqrt(b2) + EPS)).xreplace(POSITIVE)
    assert sp.simplify(_final_delta(rule) - torch_form) == 0


@pytest.mark.parametrize("order", [1, 2])
def test_rad_delta_one_zeta_zero_minus_adam_eps_zero_is_zero(order):
    """Symbolic: RAD(δ = 1, ζ = 0) − Adam(ε = 0) simplifies to 0, orders 1 and 2."""
    rad = _final_delta(_rad_estimator_rule(order)).xreplace({DELTA: 1, ZETA: 0})
    adam = _final_delta(_adam_rule()).xreplace({POSITIVE[EPS]: 0})
    assert sp.simplify(rad - adam) == 0


@pytest.mark.parametrize("order", [1, 2])
def test_generated_rad_equals_torch_adam_eps_zero(order, train, relative_difference):
    """Numeric: generated RAD(delta=1, zeta=0) vs torch.optim.Adam(eps=0), 500 steps."""
    rad = train(zoo.RAD, steps=500, lr=1e-3, delta=1.0, zeta=0.0, order=order)
    adam = train(torch.optim.Adam, steps=500, lr=1e-3, eps=0.0)
    assert relative_difference(adam, rad) <= 1e-12


def test_rad_with_delta_is_adam_with_lr_over_delta(train, relative_difference):
    rad = train(zoo.RAD, steps=300, lr=2e-3, delta=2.0, zeta=0.0)
    adam = train(torch.optim.Adam, steps=300, lr=1e-3, eps=0.0)
    assert relative_difference(adam, rad) <= 1e-12


def test_zeta_eps_squared_ratio_stays_in_one_root_two():
    """With ζ = ε² (estimator form), RAD's step over Adam's is R = (√ŷ + ε)/√(ŷ + ε²), which
    stays in [1, √2] at every step and every coordinate (MATH.md §5)."""
    eps = 1e-3
    adam, rad = _adam_rule(), _rad_estimator_rule(1)
    rng = np.random.default_rng(0)
    stream = [rng.normal(scale=10 ** rng.uniform(-5, 1), size=200) for _ in range(60)]
    theta0 = rng.normal(size=200)
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=eps, weight_decay=0.0, delta=1.0, zeta=eps**2)

    def after(rule, k):
        """θ after k steps on the first k gradients of the stream (θ-independent)."""
        grads = iter(stream[:k])
        return run(rule, theta0, lambda _theta: next(grads), hyper, k)

    adam_path = [after(adam, k) for k in range(len(stream) + 1)]
    rad_path = [after(rad, k) for k in range(len(stream) + 1)]
    ratios = []
    for k in range(1, len(stream) + 1):
        step_a = adam_path[k] - adam_path[k - 1]
        step_r = rad_path[k] - rad_path[k - 1]
        ok = np.abs(step_a) > 0
        ratios.append(step_r[ok] / step_a[ok])
    ratios = np.concatenate(ratios)
    assert ratios.min() >= 1 - 1e-9
    assert ratios.max() <= math.sqrt(2) + 1e-9
    assert ratios.max() > 1.01  # the bound is exercised, not trivially 1
