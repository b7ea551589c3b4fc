"""The update rule, the hand-off between the symbolic and the numeric half."""

from hamopt.rule.hyperparameter import REQUIRED, Hyperparameter
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Assign, Buffer, Provenance, UpdateRule, grad, param, step

__all__ = [
    "REQUIRED",
    "Assign",
    "Buffer",
    "Hyperparameter",
    "OptimizerSpec",
    "Provenance",
    "UpdateRule",
    "grad",
    "param",
    "step",
]
