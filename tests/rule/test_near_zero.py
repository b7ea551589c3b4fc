"""Which buffers 8-bit state keeps from reading 0 (``hamopt/rule/near_zero.py``)."""

import hamopt
import hamopt.optim
from hamopt.kinetic import adam_energy, relativistic
from hamopt.rule.near_zero import kept_nonzero, position_update
from hamopt.rule.update_rule import grad, param
from hamopt.zoo import ZOO


def _rules(name: str) -> dict:
    return {rule.name: rule for _, rule in ZOO[name][1]().variants}


def test_the_position_update_reads_the_buffers_as_the_step_starts():
    """Adam with coupled weight decay: g ← g + λθ is assigned before the moments read it, the
    moments before θ's update reads them; Δθ is written in the values at the start."""
    adam = _rules("Adam")["adam"]
    delta = position_update(adam)
    names = {s.name for s in delta.free_symbols}
    assert {"exp_avg", "exp_avg_sq", "grad", "param", "weight_decay"} <= names
    at = {s: 0.5 for s in delta.free_symbols} | {grad: 1.0, param: 2.0}
    lr, beta1, beta2, eps, wd, t = 0.5, 0.5, 0.5, 0.5, 0.5, 0.5
    g = 1.0 + wd * 2.0
    m, v = beta1 * 0.5 + (1 - beta1) * g, beta2 * 0.5 + (1 - beta2) * g**2
    expected = -lr * m / (1 - beta1**t) / (eps + (v / (1 - beta2**t)) ** 0.5)
    assert abs(float(delta.xreplace(at)) - expected) < 1e-12


def test_adam_keeps_its_second_moment_nonzero_and_rounds_its_first_to_nearest():
    """m̂/(√v̂ + ε) is largest at v = 0 (m/ε) and 0 at m = 0: v is kept nonzero, m is not. With
    decoupled decay, AMSGrad's running max, Adamax's ∞-norm the same; Lion's sign(·) and the
    momentum of SGD step 0 at a zero momentum and a zero gradient: nearest."""
    adam = _rules("Adam")
    assert kept_nonzero(adam["adam"]) == ["exp_avg_sq"]
    assert kept_nonzero(adam["adamw"]) == ["exp_avg_sq"]
    assert kept_nonzero(adam["adam_amsgrad"]) == ["exp_avg_sq", "max_exp_avg_sq"]
    assert kept_nonzero(_rules("AdamW")["adamw"]) == ["exp_avg_sq"]  # λ = 0.01 by default
    assert kept_nonzero(_rules("Adamax")["adamax"]) == ["exp_inf"]
    assert kept_nonzero(_rules("RAD")["order1_annealed"]) == ["exp_avg_sq"]
    assert kept_nonzero(_rules("Lion")["lion"]) == []
    assert kept_nonzero(_rules("SGD")["nesterov"]) == []
    assert hamopt.optim.Adam.RULES["adam"].nonzero == ("exp_avg_sq",)


def test_a_buffer_inside_a_denominator_that_never_vanishes_rounds_to_nearest():
    """Relativistic momentum: Δθ ∝ u/√(u² + m²c²), u = v̂/(√ŷ + ε). v sits in a denominator
    that is never 0, and Δθ → 0 as v → 0: read as 0, a tiny v steps less, not more. So v is
    stored at its nearest value; ŷ, read as 0, makes u as large as v̂/ε, and is kept nonzero.
    The same for Adam's energy by leapfrog."""
    for energy in (relativistic(), adam_energy()):
        cls = hamopt.derive(energy, "leapfrog", "adam", name="Derived").cls
        assert cls.RULES["adam"].nonzero == ("exp_avg_sq",), energy


def test_a_rule_with_a_reduction_keeps_every_buffer_nonzero():
    """A norm over the tensor makes each element's step read every other element: no 8-bit
    state (``state_dtype`` refuses the rule), and nothing to guess; every tensor buffer is
    recorded as kept nonzero, as before the rule recorded any."""
    assert kept_nonzero(_rules("RGD")["order1"]) == ["momentum_buffer"]
    assert kept_nonzero(_rules("Apollo")["belief_decoupled"]) == [
        "exp_avg_grad", "approx_hessian", "update",
    ]  # fmt: skip
