r"""SGD (with momentum and Nesterov), DLPF and NAG from the classical kinetic energy.

:math:`T = \sum_i p_i^2/2m`. Conformal Euler in the sum form (:math:`b = -p/h`, dampening
:math:`d`) is ``torch.optim.SGD`` with :math:`\alpha = h^2/((1-d)m)`; the NAG scheme is its
Nesterov variant. In EMA form, the leapfrog's first-same-as-last rewrite is DLPF,
:math:`\Delta\theta = -\alpha(1+\beta_1)/2\,v` with :math:`\alpha = h^2/((1-\beta_1)m)`, and the
NAG scheme is RAD's NAG, :math:`-\tfrac{\alpha}{2}(\beta_1 v + (1-\beta_1) g)`. With
``momentum = 0`` the references take a plain gradient step: the no-momentum closure.
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import compose, coupled_weight_decay, no_momentum
from hamopt.kinetic import classical
from hamopt.rule.hyperparameter import flag, real
from hamopt.rule.spec import OptimizerSpec
from hamopt.schemes import euler, leapfrog, nag
from hamopt.variables import Momentum, beta1, g, v
from hamopt.zoo import common
from hamopt.zoo.common import LR, NONNEG, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["dlpf", "nag_optimizer", "sgd"]

MU = sp.Symbol("momentum", real=True)


def _plain(hps, reference):
    """Gradient descent: conformal Euler with no momentum."""
    base = derive_to_target(
        classical(),
        euler,
        Momentum("ema", "grad"),
        -LR * v,
        [LR],
        hps,
        buffer="momentum_buffer",
        beta=MU,
        reference=reference,
    )
    rule = compose(base.draft, [coupled_weight_decay(WD), no_momentum()]).rule(
        "plain", base.provenance
    )
    return ('group["momentum"] == 0', rule)


def sgd() -> OptimizerSpec:
    """``torch.optim.SGD``: plain, heavy ball (sum form, dampening), Nesterov (NAG scheme)."""
    hps = (
        common.lr(1e-3),
        real("momentum", 0, NONNEG, "momentum μ = e^{-rh}", symbol=MU),
        real(
            "dampening",
            0,
            sp.Interval(0, 1),
            "dampening d: b = μb + (1-d)g",
            symbol=sp.Symbol("dampening", real=True),
        ),
        common.weight_decay(0.0),
        flag("nesterov", False, "Nesterov's variant (the NAG scheme)"),
    )
    reference = (
        "torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, "
        "nesterov=False, *, maximize=False)"
    )
    heavy = derive_to_target(
        classical(),
        euler,
        Momentum("sum", "grad", dampened=True),
        -LR * v,
        [LR],
        hps,
        buffer="momentum_buffer",
        beta=MU,
        reference=reference,
    )
    nesterov = derive_to_target(
        classical(),
        nag,
        Momentum("sum", "grad"),
        -LR * (g + beta1 * v),
        [LR],
        hps,
        buffer="momentum_buffer",
        beta=MU,
        reference=reference,
    )
    variants = (
        _plain(hps, reference),
        (
            'group["nesterov"]',
            compose(nesterov.draft, [coupled_weight_decay(WD)]).rule(
                "nesterov", nesterov.provenance
            ),
        ),
        (
            "True",
            compose(heavy.draft, [coupled_weight_decay(WD)]).rule("heavy_ball", heavy.provenance),
        ),
    )
    return OptimizerSpec(
        "SGD",
        hps,
        variants,
        summary="SGD with momentum: classical energy, conformal Euler (sum form).",
        reference=reference,
        checks=(
            (
                "nesterov and (momentum <= 0 or dampening != 0)",
                "Nesterov momentum requires a momentum and zero dampening",
            ),
        ),
        unsupported=(("differentiable", False), ("fused", None)),
    )


def _rad_classical(name: str, scheme, target, rule_name: str, summary: str) -> OptimizerSpec:
    """A pytorch-rad classical optimizer: EMA momentum with first-gradient init, coupled decay,
    and the reference's plain gradient step at ``momentum = 0``."""
    hps = (common.lr(common.REQUIRED), common.momentum(0.0), common.weight_decay(0.0))
    reference = f"rad.optim.{name}(params, lr, momentum=0, weight_decay=0)"
    base = derive_to_target(
        classical(),
        scheme,
        Momentum("ema", "grad"),
        target,
        [LR],
        hps,
        buffer="momentum_buffer",
        beta=MU,
        reference=reference,
    )
    rule = compose(base.draft, [coupled_weight_decay(WD)]).rule(rule_name, base.provenance)
    return OptimizerSpec(
        name,
        hps,
        (_plain(hps, reference), ("True", rule)),
        summary=summary,
        reference=reference,
        unsupported=(("output_info", False),),
    )


def dlpf() -> OptimizerSpec:
    """``rad.optim.DLPF``: the dissipative leapfrog."""
    return _rad_classical(
        "DLPF",
        leapfrog,
        -LR * (1 + beta1) / 2 * v,
        "leapfrog",
        "DLPF: classical energy, conformal leapfrog (first-same-as-last).",
    )


def nag_optimizer() -> OptimizerSpec:
    """``rad.optim.NAG``: the NAG scheme in EMA form (not conformal symplectic)."""
    return _rad_classical(
        "NAG",
        nag,
        -LR / 2 * (beta1 * v + (1 - beta1) * g),
        "nag",
        "NAG: classical energy, Nesterov's scheme (not conformal symplectic).",
    )
