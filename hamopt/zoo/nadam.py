r"""NAdam from Adam's kinetic energy and Nesterov's scheme.

Adam's energy :math:`T(p) = |p| - \epsilon\log(1 + |p|/\epsilon)` has velocity
:math:`\nabla T(p) = p/(|p| + \epsilon)`. The NAG scheme (kick, gradient drift, damping, drift)
evaluates it twice per step: at the gradient impulse and at the damped momentum. In EMA
variables (:math:`\beta_1 = e^{-rh}`, :math:`v = \beta_1 v + (1-\beta_1) g`) the change of
variables gives

.. math::  \Delta\theta = -\alpha\Big(\frac{(1-\beta_1)g}{|(1-\beta_1)g| + \hat\epsilon}
           + \frac{\beta_1 v}{|\beta_1 v| + \hat\epsilon}\Big),
           \qquad \alpha = h,\ \hat\epsilon = \epsilon(1-\beta_1)/h,

the same map as Adam's (solved by :func:`~hamopt.variables.match` on conformal Euler; for the
two-term NAG form it is verified, since solving it symbolically does not finish in minutes).
The closures then make it ``torch.optim.NAdam``:

* frozen mass — both velocity magnitudes :math:`|x|` become :math:`\sqrt y` (one mass
  :math:`\sqrt y + \epsilon` for the step);
* Dozat's momentum schedule — :math:`\mu_t = \beta_1(1 - \tfrac12 0.96^{t\psi})`,
  :math:`\Pi_t = \prod_{i\le t}\mu_i` (scalar state ``mu_product``): the impulse's
  :math:`\alpha(1-\beta_1)` becomes :math:`\alpha(1-\mu_t)/(1-\Pi_t)` and the momentum's
  :math:`\alpha\beta_1` becomes :math:`\alpha\mu_{t+1}/(1-\Pi_t\mu_{t+1})`; the buffer keeps
  :math:`\beta_1`;
* the second moment bias-corrected, :math:`y/(1-\beta_2^t)`;
* coupled weight decay, or decoupled with ``decoupled_weight_decay=True``.

``mu_product`` is a 0-d tensor of dtype float64 when the default dtype is float64, else
float32, updated in place by tensor arithmetic as torch does, so that its rounding matches.
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import (
    bias_correction,
    compose,
    coupled_weight_decay,
    decoupled_weight_decay,
    frozen_mass,
    momentum_schedule,
)
from hamopt.kinetic import adam_energy
from hamopt.rule.hyperparameter import flag, real
from hamopt.rule.spec import OptimizerSpec
from hamopt.schemes import nag
from hamopt.variables import Momentum, beta1, g, v
from hamopt.zoo import common
from hamopt.zoo.adam import _derived as _adam_derived
from hamopt.zoo.common import BETA2, EPS, LR, NONNEG, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["nadam"]

PSI = sp.Symbol("momentum_decay", real=True)
# ∇T at the impulse (1-β1)g and at the damped momentum β1 v; evaluate=False keeps |β1 v| whole
# (β1 > 0 would split it into β1|v|), so that frozen_mass sees each velocity's magnitude.
TARGET = -LR * (
    (1 - beta1) * g / (sp.Abs((1 - beta1) * g) + EPS)
    + beta1 * v / (sp.Abs(beta1 * v, evaluate=False) + EPS)
)


def nadam() -> OptimizerSpec:
    """``torch.optim.NAdam``: coupled or decoupled weight decay."""
    hps = (
        common.lr(2e-3),
        common.betas(),
        common.eps(),
        common.weight_decay(0.0),
        real(
            "momentum_decay",
            4e-3,
            NONNEG,
            "ψ in Dozat's schedule μ_t = β1(1 - ½·0.96^(tψ))",
            symbol=PSI,
        ),
        flag("decoupled_weight_decay", False, "AdamW-style decay θ ← θ(1 - αλ)"),
    )
    reference = (
        "torch.optim.NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, "
        "weight_decay=0, momentum_decay=4e-3, decoupled_weight_decay=False, *, "
        "foreach=None, maximize=False)"
    )
    mapping = _adam_derived(hps, reference).mapping  # α = h, ε̂ = ε(1-β1)/h, solved on Euler
    base = derive_to_target(
        adam_energy(),
        nag,
        Momentum("ema", "zeros"),
        TARGET,
        [LR, EPS],
        hps,
        known=mapping,
        reference=reference,
    )
    variants = []
    for decoupled in (False, True):
        decay = decoupled_weight_decay(WD, LR) if decoupled else coupled_weight_decay(WD)
        closures = [
            decay,
            frozen_mass(BETA2),
            momentum_schedule(LR, PSI),
            bias_correction(first=False),
        ]
        name = "nadam_decoupled" if decoupled else "nadam"
        cond = f'{"" if decoupled else "not "}group["decoupled_weight_decay"]'
        variants.append((cond, compose(base.draft, closures).rule(name, base.provenance)))
    return OptimizerSpec(
        "NAdam",
        hps,
        tuple(variants),
        summary=(
            "NAdam, derived from Adam's kinetic energy by Nesterov's scheme and Dozat's "
            "momentum schedule."
        ),
        reference=reference,
        unsupported=(("capturable", False), ("differentiable", False)),
    )
