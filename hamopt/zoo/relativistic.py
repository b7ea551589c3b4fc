r"""RAD and RGD from the relativistic kinetic energies.

Per-particle :math:`T = \sum_i c\sqrt{p_i^2 + m^2c^2}` under conformal Euler gives
:math:`\Delta\theta = -\alpha v/\sqrt{\delta^2v^2 + \zeta}` with :math:`\alpha = hc\delta`,
:math:`\zeta = \delta^2(mc(1-\beta_1)/h)^2`; the leapfrog's first-same-as-last rewrite gives the
order-2 form with :math:`\zeta/\beta_1^2` in its second drift. The second-moment closure with
step-size bias correction is the official RAD. The norm-coupled energy with :math:`\zeta = 1`
gives RGD.
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import (
    compose,
    coupled_weight_decay,
    decoupled_weight_decay,
    schedule,
    second_moment,
    step_size_bias_correction,
)
from hamopt.kinetic import relativistic, relativistic_norm
from hamopt.rule.hyperparameter import choice, optional, real
from hamopt.rule.reductions import Norm2
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import step
from hamopt.schemes import euler, leapfrog
from hamopt.variables import Momentum, beta1, v
from hamopt.zoo import common
from hamopt.zoo.common import BETA2, LR, NONNEG, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["rad", "rgd"]

DELTA = sp.Symbol("delta", real=True)
ZETA = sp.Symbol("zeta", real=True)
MAX_ITER = sp.Symbol("max_iter", real=True)
POSITIVE = sp.Interval.open(0, sp.oo)


def _rad_targets(zeta: sp.Expr):
    order1 = -LR * v / sp.sqrt(DELTA**2 * v**2 + zeta)
    order2 = (
        -LR
        / 2
        * (v / sp.sqrt(DELTA**2 * v**2 + zeta) + v / sp.sqrt(DELTA**2 * v**2 + zeta / beta1**2))
    )
    return order1, order2


def annealed_zeta() -> sp.Expr:
    r""":math:`\zeta_t = \mathrm{clip}(e^{40(t/T - 1)}, 10^{-16}, 1)` with ``T = max_iter``."""
    exponent = 40 * (step / MAX_ITER - 1)
    return sp.Piecewise((1, exponent >= 0), (sp.Max(sp.Float(1e-16), sp.exp(exponent)), True))


def rad() -> OptimizerSpec:
    """``rad.optim.RAD``: orders 1 and 2; fixed ζ, ζ annealed with ``max_iter``, or ζ = 1."""
    hps = (
        common.lr(1e-3),
        common.betas(),
        real("delta", 1, NONNEG, "speed coefficient δ (speed limit α/δ = hc)", symbol=DELTA),
        choice(
            "order", 1, (1, 2), "1: conformal Euler; 2: conformal leapfrog (first-same-as-last)"
        ),
        common.weight_decay(0.0),
        real("momentum_decay", 4e-3, NONNEG, "unused (only with nesterov, which is not supported)"),
        optional(
            "max_iter",
            None,
            POSITIVE,
            "steps over which ζ anneals to 1 (when zeta is None)",
            symbol=MAX_ITER,
        ),
        optional(
            "zeta",
            1e-16,
            NONNEG,
            "symplectic factor ζ (0: Adam with ε = 0); None anneals it",
            symbol=ZETA,
        ),
    )
    reference = (
        "rad.optim.RAD(params, lr=1e-3, betas=(0.9, 0.999), delta=1, order=1, "
        "weight_decay=0, max_iter=None, zeta=1e-16)"
    )
    order1, order2 = _rad_targets(ZETA)
    first = derive_to_target(
        relativistic(),
        euler,
        Momentum("ema", "zeros"),
        order1,
        [LR, ZETA],
        hps,
        reference=reference,
    )
    second = derive_to_target(
        relativistic(),
        leapfrog,
        Momentum("ema", "zeros"),
        order2,
        [LR, ZETA],
        hps,
        known=first.mapping,
        reference=reference,
    )
    zetas = [
        ('group["zeta"] is not None', "fixed", None),
        ('group["max_iter"] is not None', "annealed", annealed_zeta()),
        ("True", "unit", sp.Integer(1)),
    ]
    variants = []
    for order, base in ((1, first), (2, second)):
        for cond, label, zeta_t in zetas:
            closures = [decoupled_weight_decay(WD, LR), second_moment(BETA2)]
            if zeta_t is not None:
                doc = (
                    "ζ annealed: clip(exp(40(t/max_iter - 1)), 1e-16, 1)"
                    if label == "annealed"
                    else "ζ = 1 (zeta and max_iter both None)"
                )
                closures.append(schedule(ZETA, "zeta_t", zeta_t, doc))
            closures.append(step_size_bias_correction(LR))
            rule = compose(base.draft, closures).rule(f"order{order}_{label}", base.provenance)
            variants.append((f'group["order"] == {order} and {cond}', rule))
    return OptimizerSpec(
        "RAD",
        hps,
        tuple(variants),
        summary="RAD: relativistic energy, second-moment closure, step-size bias correction.",
        reference=reference,
        unsupported=(
            ("bound_lr", None),
            ("final_delta", None),
            ("amsgrad", False),
            ("nesterov", False),
            ("output_info", False),
        ),
        reference_state=(("mu_product", 1.0),),  # Nesterov's product, 1 without nesterov
    )


def rgd() -> OptimizerSpec:
    """``rad.optim.RGD``: the norm-coupled relativistic energy over each parameter tensor."""
    hps = (
        common.lr(common.REQUIRED),
        common.momentum(0.0),
        real("delta", 0, NONNEG, "strength of normalisation δ", symbol=DELTA),
        common.weight_decay(0.0),
        choice("order", 1, (1, 2), "1: conformal Euler; 2: conformal leapfrog"),
    )
    mu = sp.Symbol("momentum", real=True)
    n2 = Norm2(v) ** 2
    order1 = -LR * v / sp.sqrt(DELTA**2 * n2 + 1)
    order2 = -LR / 2 * (v / sp.sqrt(DELTA**2 * n2 + 1) + v / sp.sqrt(DELTA**2 * n2 + 1 / beta1**2))
    reference = "rad.optim.RGD(params, lr, momentum=0, delta=0, weight_decay=0, order=1)"
    momentum = Momentum("ema", "grad")
    first = derive_to_target(
        relativistic_norm(),
        euler,
        momentum,
        order1,
        [LR, DELTA],
        hps,
        buffer="momentum_buffer",
        beta=mu,
        reference=reference,
    )
    second = derive_to_target(
        relativistic_norm(),
        leapfrog,
        momentum,
        order2,
        [LR, DELTA],
        hps,
        known=first.mapping,
        buffer="momentum_buffer",
        beta=mu,
        reference=reference,
    )
    variants = tuple(
        (
            f'group["order"] == {order}',
            compose(base.draft, [coupled_weight_decay(WD)]).rule(f"order{order}", base.provenance),
        )
        for order, base in ((1, first), (2, second))
    )
    return OptimizerSpec(
        "RGD",
        hps,
        variants,
        summary="RGD: norm-coupled relativistic energy (França et al.), per parameter tensor.",
        reference=reference,
        checks=(
            (
                "order == 2 and momentum == 0",
                "order=2 needs momentum > 0: its second drift divides by momentum², got 0",
            ),
        ),
        unsupported=(("output_info", False),),
    )
