"""Hyperparameters shared by the zoo (names, defaults and ranges of the references)."""

from __future__ import annotations

import sympy as sp

from hamopt.rule.hyperparameter import REQUIRED, Hyperparameter, pair, real

__all__ = ["BETA1", "BETA2", "EPS", "LR", "REQUIRED", "WD", "betas", "eps", "lr", "weight_decay"]

LR = sp.Symbol("lr", real=True)
BETA1 = sp.Symbol("beta1", real=True)
BETA2 = sp.Symbol("beta2", real=True)
EPS = sp.Symbol("eps", real=True)
WD = sp.Symbol("weight_decay", real=True)
NONNEG = sp.Interval(0, sp.oo)
UNIT = sp.Interval.Ropen(0, 1)


def lr(default: object = 1e-3) -> Hyperparameter:
    return real("lr", default, NONNEG, "learning rate α", symbol=LR)


def betas(default: tuple[float, float] = (0.9, 0.999)) -> Hyperparameter:
    return pair(
        "betas",
        default,
        (BETA1, BETA2),
        (UNIT, UNIT),
        "(β1, β2): momentum β1 = e^{-rh} and second-moment decay β2",
    )


def eps(default: float = 1e-8) -> Hyperparameter:
    return real("eps", default, NONNEG, "ε added to the denominator", symbol=EPS)


def weight_decay(default: float = 0.0) -> Hyperparameter:
    return real("weight_decay", default, NONNEG, "weight decay λ", symbol=WD)


def momentum(default: object = 0.0) -> Hyperparameter:
    return real(
        "momentum",
        default,
        UNIT,
        "momentum μ = β1 = e^{-rh}",
        symbol=sp.Symbol("momentum", real=True),
    )
