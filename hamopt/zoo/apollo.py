r"""Apollo (Ma, arXiv 2009.13586): the classical energy with a curvature mass.

Derived: the classical energy :math:`T = \sum_i p_i^2/2m` under conformal Euler with the EMA
momentum is :math:`\Delta\theta = -\alpha v`, :math:`\alpha = h^2/((1-\beta)m)`.
Added by closures: the mass becomes the rectified curvature :math:`|B|`, a state variable updated by
the weak secant equation (:func:`hamopt.closures.curvature.curvature_mass`), the
bias-corrected incremental momentum, the weight decay of the reference ('L2' on the gradient,
'decoupled'/'stable' on the velocity) and the linear warm-up of the step size, which reads the
step count *before* the step: :math:`\alpha_t = (\alpha_b - \alpha_0)(t-1)/w + \alpha_0` while
:math:`t - 1 < w`, else :math:`\alpha`.

Reproduces the official code (XuezheMax/apollo, ``optim/apollo.py``); one variant per
``rebound`` × ``weight_decay_type``. ``init_lr=None`` and ``weight_decay_type=None`` are resolved
in the constructor as the reference does (``lr/1000``; ``'L2'`` for the constant rebound, else
``'decoupled'``). The reference's warm-up ramps to ``base_lr``, the constructor's ``lr``
kept in each group, and switches to ``group['lr']`` afterwards, so that a learning-rate
scheduler's ``lr`` counts only after the warm-up: so here too (the keyword-only ``base_lr``,
default the constructor's ``lr``).
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures import compose, coupled_weight_decay, schedule
from hamopt.closures.curvature import curvature_mass, velocity_weight_decay
from hamopt.kinetic import classical
from hamopt.rule.hyperparameter import choice, optional, real
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import step
from hamopt.schemes import euler
from hamopt.variables import Momentum, v
from hamopt.zoo import common
from hamopt.zoo.common import EPS, LR, NONNEG, UNIT, WD
from hamopt.zoo.derivation import derive_to_target

__all__ = ["apollo", "warmup_lr"]

BETA = sp.Symbol("beta", real=True)
WARMUP = sp.Symbol("warmup", real=True)
INIT_LR = sp.Symbol("init_lr", real=True)
BASE_LR = sp.Symbol("base_lr", real=True)

LATEX = {
    sp.Symbol("lr_t", real=True): r"\alpha_t",
    INIT_LR: r"\alpha_0",
    BASE_LR: r"\alpha_b",
    WARMUP: "w",
}

REBOUNDS = ("constant", "belief")
DECAYS = ("L2", "decoupled", "stable")


def warmup_lr() -> sp.Expr:
    r"""Linear warm-up on the count before the step, :math:`t_0 = t - 1`, from
    :math:`\alpha_0` towards :math:`\alpha_b` (the constructor's lr), then :math:`\alpha`."""
    t0 = step - 1
    return sp.Piecewise(((BASE_LR - INIT_LR) * t0 / WARMUP + INIT_LR, t0 < WARMUP), (LR, True))


def apollo() -> OptimizerSpec:
    """The official Apollo: rebound 'constant' or 'belief', decay 'L2', 'decoupled' or 'stable'."""
    hps = (
        common.lr(common.REQUIRED),
        real("beta", 0.9, UNIT, "momentum β = e^{-rh}", symbol=BETA),
        real(
            "eps",
            1e-4,
            NONNEG,
            "ε: regularises ‖d‖₄ (ε/0.01 for the constant rebound) and, "
            "for the belief rebound, the mass (+ε/a_t)",
            symbol=EPS,
        ),
        choice(
            "rebound",
            "constant",
            REBOUNDS,
            "floor ρ of the mass max(|B|, ρ): 'constant' 0.01 or 'belief' ‖g - m‖_∞",
        ),
        real(
            "warmup", 500, NONNEG, "warm-up steps w of the linear step-size schedule", symbol=WARMUP
        ),
        optional(
            "init_lr",
            None,
            NONNEG,
            "step size α_0 at the start of the warm-up (None: lr/1000)",
            symbol=INIT_LR,
        ),
        common.weight_decay(0),
        choice(
            "weight_decay_type",
            None,
            (None, *DECAYS),
            "'L2' (g += λθ), 'decoupled' (d += λθ) or 'stable' (d += λ/mean(D)·θ); None: "
            "'L2' for the constant rebound, else 'decoupled'",
        ),
        optional(
            "base_lr",
            None,
            NONNEG,
            "step size α_b the warm-up ramps to (None: the constructor's lr, the reference's "
            "base_lr; a scheduler's lr takes over after the warm-up)",
            symbol=BASE_LR,
            keyword_only=True,
        ),
    )
    reference = (
        "Apollo(params, lr, beta=0.9, eps=1e-4, rebound='constant', warmup=500, "
        "init_lr=None, weight_decay=0, weight_decay_type=None)  (XuezheMax/apollo)"
    )
    base = derive_to_target(
        classical(),
        euler,
        Momentum("ema", "zeros"),
        -LR * v,
        [LR],
        hps,
        buffer="exp_avg_grad",
        beta=BETA,
        reference=reference,
    )
    warmup = schedule(
        LR, "lr_t", warmup_lr(), "warm-up α_t = (α_b - α_0)(t-1)/w + α_0 while t - 1 < w, else α"
    )
    variants = []
    for rebound in REBOUNDS:
        for decay in DECAYS:
            closures = [
                *([coupled_weight_decay(WD)] if decay == "L2" else []),
                curvature_mass(EPS, LR, rebound),
                *([velocity_weight_decay(WD, stable=decay == "stable")] if decay != "L2" else []),
                warmup,
            ]
            rule = compose(base.draft, closures).rule(f"{rebound}_{decay.lower()}", base.provenance)
            rule = rule.replace(latex_names={**rule.latex_names, **LATEX})
            cond = f'group["rebound"] == "{rebound}" and group["weight_decay_type"] == "{decay}"'
            variants.append((cond, rule))
    return OptimizerSpec(
        "Apollo",
        hps,
        tuple(variants),
        summary="Apollo, derived from the classical energy with a curvature mass: the "
        "rectified |B|, updated by the weak secant equation.",
        reference=reference,
        resolved=(
            ("init_lr", "float(lr) / 1000 if init_lr is None else init_lr"),
            ("base_lr", "float(lr) if base_lr is None else base_lr"),
            (
                "weight_decay_type",
                '("L2" if rebound == "constant" else "decoupled") '
                "if weight_decay_type is None else weight_decay_type",
            ),
        ),
    )
