r"""Adam, AdamW and Adamax from Adam's kinetic energy.

Adam's energy :math:`T(p) = |p| - \epsilon\log(1 + |p|/\epsilon)` has velocity
:math:`p/(|p| + \epsilon)`. Conformal Euler in EMA variables gives
:math:`\Delta\theta = -\alpha v/(|v| + \hat\epsilon)` with :math:`\alpha = h`,
:math:`\hat\epsilon = \epsilon(1-\beta_1)/h`; the second-moment closure and the estimator
bias correction give ``torch.optim.Adam`` exactly; the infinity norm gives Adamax.
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import (
    amsgrad,
    bias_correction,
    compose,
    coupled_weight_decay,
    decoupled_weight_decay,
    infinity_norm,
    second_moment,
)
from hamopt.kinetic import adam_energy
from hamopt.rule.hyperparameter import flag
from hamopt.rule.spec import OptimizerSpec
from hamopt.schemes import euler
from hamopt.variables import Momentum, v
from hamopt.zoo import common
from hamopt.zoo.common import BETA2, EPS, LR, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["adam", "adamax", "adamw"]

TARGET = -LR * v / (sp.Abs(v) + EPS)


def _derived(hps, reference):
    return derive_to_target(
        adam_energy(), euler, Momentum("ema", "zeros"), TARGET, [LR, EPS], hps, reference=reference
    )


def adam() -> OptimizerSpec:
    """``torch.optim.Adam``: coupled or decoupled decay, with or without AMSGrad."""
    hps = (
        common.lr(1e-3),
        common.betas(),
        common.eps(),
        common.weight_decay(0.0),
        flag("amsgrad", False, "keep the running max of the second moment"),
        flag("decoupled_weight_decay", False, "AdamW-style decay", keyword_only=True),
    )
    reference = (
        "torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, "
        "weight_decay=0, amsgrad=False, *, maximize=False, decoupled_weight_decay=False)"
    )
    base = _derived(hps, reference)
    variants = []
    for ams in (False, True):
        for decoupled in (False, True):
            decay = decoupled_weight_decay(WD, LR) if decoupled else coupled_weight_decay(WD)
            closures = [
                decay,
                second_moment(BETA2),
                *([amsgrad()] if ams else []),
                bias_correction(),
            ]
            name = "adam" + ("w" if decoupled else "") + ("_amsgrad" if ams else "")
            cond = (
                f'{"" if ams else "not "}group["amsgrad"] and '
                f'{"" if decoupled else "not "}group["decoupled_weight_decay"]'
            )
            variants.append((cond, compose(base.draft, closures).rule(name, base.provenance)))
    return OptimizerSpec(
        "Adam",
        hps,
        tuple(variants),
        summary="Adam, derived from Adam's kinetic energy by conformal Euler.",
        reference=reference,
    )


def adamw() -> OptimizerSpec:
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2)."""
    hps = (
        common.lr(1e-3),
        common.betas(),
        common.eps(),
        common.weight_decay(1e-2),
        flag("amsgrad", False, "keep the running max of the second moment"),
    )
    reference = (
        "torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, "
        "weight_decay=1e-2, amsgrad=False, *, maximize=False)"
    )
    base = _derived(hps, reference)
    variants = []
    for ams in (False, True):
        closures = [
            decoupled_weight_decay(WD, LR),
            second_moment(BETA2),
            *([amsgrad()] if ams else []),
            bias_correction(),
        ]
        name = "adamw" + ("_amsgrad" if ams else "")
        cond = f'{"" if ams else "not "}group["amsgrad"]'
        variants.append((cond, compose(base.draft, closures).rule(name, base.provenance)))
    return OptimizerSpec(
        "AdamW",
        hps,
        tuple(variants),
        summary="AdamW: Adam's energy, conformal Euler, decoupled weight decay.",
        reference=reference,
    )


def adamax() -> OptimizerSpec:
    """``torch.optim.Adamax``: the infinity-norm closure of Adam's energy."""
    hps = (common.lr(2e-3), common.betas(), common.eps(), common.weight_decay(0.0))
    reference = (
        "torch.optim.Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, "
        "weight_decay=0, foreach=None, *, maximize=False)"
    )
    base = _derived(hps, reference)
    closures = [coupled_weight_decay(WD), infinity_norm(BETA2), bias_correction()]
    rule = compose(base.draft, closures).rule("adamax", base.provenance)
    return OptimizerSpec(
        "Adamax",
        hps,
        (("True", rule),),
        summary="Adamax: Adam's energy with the infinity-norm closure.",
        reference=reference,
        positional=("lr", "betas", "eps", "weight_decay", "foreach"),  # as torch's
    )
