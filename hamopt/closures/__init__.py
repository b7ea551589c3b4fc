"""Closures: compose small transforms to turn a derived step into an optimizer rule."""

from hamopt.closures.curvature import curvature_mass, velocity_weight_decay
from hamopt.closures.draft import Closure, Draft, compose, start
from hamopt.closures.library import (
    amsgrad,
    bias_correction,
    coupled_weight_decay,
    decoupled_weight_decay,
    diagonal_mass,
    frozen_mass,
    infinity_norm,
    lookahead,
    momentum_schedule,
    no_momentum,
    rectification,
    schedule,
    second_moment,
    step_size_bias_correction,
)

__all__ = [
    "Closure",
    "Draft",
    "amsgrad",
    "bias_correction",
    "compose",
    "coupled_weight_decay",
    "curvature_mass",
    "decoupled_weight_decay",
    "diagonal_mass",
    "frozen_mass",
    "infinity_norm",
    "lookahead",
    "momentum_schedule",
    "no_momentum",
    "rectification",
    "schedule",
    "second_moment",
    "start",
    "step_size_bias_correction",
    "velocity_weight_decay",
]
