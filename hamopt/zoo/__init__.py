"""The zoo: every shipped optimizer as a derivation (energy × scheme × closures).

``ZOO`` maps a class name to ``(module name, spec builder)``; ``hamopt.optim`` holds the
generated modules, and ``python -m hamopt.zoo.regenerate`` rewrites them from here.
"""

from __future__ import annotations

from collections.abc import Callable

from hamopt.rule.spec import OptimizerSpec
from hamopt.zoo.adam import adam, adamax, adamw
from hamopt.zoo.apollo import apollo
from hamopt.zoo.classical import dlpf, nag_optimizer, sgd
from hamopt.zoo.lion import lion
from hamopt.zoo.nadam import nadam
from hamopt.zoo.radam import radam
from hamopt.zoo.relativistic import rad, rgd

__all__ = ["ZOO"]

ZOO: dict[str, tuple[str, Callable[[], OptimizerSpec]]] = {
    "SGD": ("sgd", sgd),
    "DLPF": ("dlpf", dlpf),
    "NAG": ("nag", nag_optimizer),
    "RGD": ("rgd", rgd),
    "RAD": ("rad", rad),
    "Adam": ("adam", adam),
    "AdamW": ("adamw", adamw),
    "Adamax": ("adamax", adamax),
    "NAdam": ("nadam", nadam),
    "RAdam": ("radam", radam),
    "Apollo": ("apollo", apollo),
    "Lion": ("lion", lion),
}
