r"""RAdam: Adam's kinetic energy with the variance-rectification closure.

The derivation is Adam's (:mod:`hamopt.zoo.adam`: Adam's energy, conformal Euler,
:math:`\Delta\theta = -\alpha v/(|v| + \hat\epsilon)`, :math:`\alpha = h`,
:math:`\hat\epsilon = \epsilon(1-\beta_1)/h`), closed with the second moment and the
*step-size* bias correction :math:`\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)` (RAdam
adds :math:`\epsilon` to :math:`\sqrt y`, not to :math:`\sqrt{\hat y}`), then rectified:
:math:`\rho_\infty = 2/(1-\beta_2) - 1`, :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`;
while :math:`\rho_t > 5` the step size is :math:`\alpha_t r_t`,
:math:`r_t = \sqrt{(\rho_t-4)(\rho_t-2)\rho_\infty/((\rho_\infty-4)(\rho_\infty-2)\rho_t)}`;
before, the adaptive mass is switched off and the step is momentum SGD,
:math:`-\alpha v/(1-\beta_1^t)`. The branch is carried by scalar ``Piecewise`` expressions
(:func:`~hamopt.closures.rectification`), so one tensor equation serves both phases.

Which convention this reproduces — three exist:

* **torch.optim.RAdam** (reproduced here): threshold :math:`\rho_t > 5`; in the early phase an
  SGD-with-momentum step :math:`-\alpha v/(1-\beta_1^t)`; weight decay every step (coupled,
  or decoupled with ``decoupled_weight_decay=True``).
* the official code (LiyuanLucasLiu/RAdam): threshold :math:`\rho_t \ge 5`; in the early phase
  *no update at all* unless ``degenerated_to_sgd=True`` (then the same momentum-SGD step), and
  decoupled decay only on updating steps. The closure's ``strict=False`` gives the
  :math:`\ge` threshold; the skipped steps are not modelled.
* the paper's text: :math:`\rho_t > 4` (``threshold=4``), the smallest :math:`\rho_t` for which
  :math:`r_t` is real.

The three differ only in the first few steps (for :math:`\beta_2 = 0.999`,
:math:`\rho_5 \approx 4.996` and :math:`\rho_6 \approx 5.994`).
"""

from __future__ import annotations

from hamopt.closures import (
    compose,
    coupled_weight_decay,
    decoupled_weight_decay,
    rectification,
    second_moment,
    step_size_bias_correction,
)
from hamopt.rule.hyperparameter import flag
from hamopt.rule.spec import OptimizerSpec
from hamopt.zoo import common
from hamopt.zoo.adam import _derived
from hamopt.zoo.common import BETA2, LR, WD

__all__ = ["radam"]


def radam() -> OptimizerSpec:
    """``torch.optim.RAdam``: coupled or decoupled weight decay."""
    hps = (
        common.lr(1e-3),
        common.betas(),
        common.eps(),
        common.weight_decay(0.0),
        flag("decoupled_weight_decay", False, "AdamW-style decay θ ← θ(1 - αλ)"),
    )
    reference = (
        "torch.optim.RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, "
        "weight_decay=0, decoupled_weight_decay=False, *, foreach=None, maximize=False)"
    )
    base = _derived(hps, reference)
    variants = []
    for decoupled in (False, True):
        decay = decoupled_weight_decay(WD, LR) if decoupled else coupled_weight_decay(WD)
        closures = [
            decay,
            second_moment(BETA2),
            step_size_bias_correction(LR),
            rectification(LR),
        ]
        name = "radam_decoupled" if decoupled else "radam"
        cond = f'{"" if decoupled else "not "}group["decoupled_weight_decay"]'
        variants.append((cond, compose(base.draft, closures).rule(name, base.provenance)))
    return OptimizerSpec(
        "RAdam",
        hps,
        tuple(variants),
        summary="RAdam, derived from Adam's kinetic energy with variance rectification.",
        reference=reference,
        unsupported=(("capturable", False), ("differentiable", False)),
    )
