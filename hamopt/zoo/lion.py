r"""Lion from the massless kinetic energy and the look-ahead.

The massless energy :math:`T(p) = \sum_i |p_i|` has velocity :math:`\mathrm{sign}(p)`: conformal
Euler in EMA variables moves every coordinate by the same length,
:math:`\Delta\theta = -\alpha\,\mathrm{sign}(v)` with :math:`\alpha = h`. Lion (Chen et al.,
*Symbolic Discovery of Optimization Algorithms*, 2023) reads that step at the look-ahead
:math:`c = \beta_1 v + (1-\beta_1) g` — gradient and momentum interpolated before the drift —
and moves the momentum after it with its own decay,
:math:`v \leftarrow \beta_2 v + (1-\beta_2) g` (the ``lookahead`` closure); decoupled weight
decay comes first, :math:`\theta \leftarrow \theta(1 - \alpha\lambda)`. With lion-pytorch's
``decoupled_weight_decay=True`` the decay is :math:`\lambda/\alpha_0` (:math:`\alpha_0` the
constructor's ``lr``), so that :math:`\theta \leftarrow \theta(1 - \alpha\lambda/\alpha_0)`
stays :math:`\theta(1 - \lambda)` at the initial step size.
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import compose, decoupled_weight_decay, lookahead
from hamopt.kinetic import massless
from hamopt.rule.hyperparameter import flag, optional, pair, real
from hamopt.rule.spec import OptimizerSpec
from hamopt.schemes import euler
from hamopt.variables import Momentum, v
from hamopt.zoo import common
from hamopt.zoo.common import BETA1, BETA2, LR, NONNEG, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["lion"]

INIT_LR = sp.Symbol("init_lr", real=True)
CLOSED_UNIT = sp.Interval(0, 1)


def lion() -> OptimizerSpec:
    """``lion_pytorch.Lion``: decoupled decay λ, or λ/α₀ with ``decoupled_weight_decay``."""
    hps = (
        # lr = 0 taken, as torch's and lion-pytorch's: a warm-up schedule starts there
        real("lr", 1e-4, NONNEG, "learning rate α (every coordinate moves by α)", symbol=LR),
        pair(
            "betas",
            (0.9, 0.99),
            (BETA1, BETA2),
            (CLOSED_UNIT, CLOSED_UNIT),
            "(β1, β2): look-ahead c = β1 v + (1-β1) g; momentum decay v = β2 v + (1-β2) g",
        ),
        common.weight_decay(0.0),
        flag(
            "decoupled_weight_decay",
            False,
            "decay θ ← θ(1 - αλ/α₀), λ independent of the step size (lion-pytorch's)",
        ),
        optional(
            "init_lr",
            None,
            NONNEG,  # 0 refused only where it divides: the check below
            "α₀ of decoupled_weight_decay (None: the constructor's lr, as lion-pytorch)",
            symbol=INIT_LR,
            keyword_only=True,
        ),
    )
    reference = (
        "lion_pytorch.Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, "
        "use_triton=False, decoupled_weight_decay=False)"
    )
    base = derive_to_target(
        massless(),
        euler,
        Momentum("ema", "zeros"),
        -LR * sp.sign(v),
        [LR],
        hps,
        beta=BETA1,
        reference=reference,
    )
    variants = []
    for cond, name, decay, rate in (
        ('group["decoupled_weight_decay"]', "scaled_decay", WD / INIT_LR, "λ/α₀"),
        ("True", "lion", WD, "λ"),
    ):
        closures = [lookahead(BETA2), decoupled_weight_decay(decay, LR, rate)]
        rule = compose(base.draft, closures).rule(name, base.provenance)
        variants.append(
            (cond, rule.replace(latex_names={**rule.latex_names, INIT_LR: r"\alpha_0"}))
        )
    return OptimizerSpec(
        "Lion",
        hps,
        tuple(variants),
        summary="Lion: massless energy |p|, conformal Euler read at the look-ahead.",
        reference=reference,
        unsupported=(("use_triton", False),),
        checks=(
            (
                "decoupled_weight_decay and (lr if init_lr is None else init_lr) == 0",
                "decoupled_weight_decay divides by α₀ = init_lr, the constructor's lr where "
                "init_lr is not given: it must be > 0",
            ),
        ),
        resolved=(("init_lr", "float(lr) if init_lr is None else init_lr"),),
        positional=("lr", "betas", "weight_decay", "use_triton", "decoupled_weight_decay"),
    )
