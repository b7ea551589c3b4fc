"""What a derivation was given: enough to derive the same optimizer again.

:func:`hamopt.derive` records its inputs as a :class:`Recipe`; spec files
(:mod:`hamopt.specfile`) write and read it as TOML, and exported modules carry that text, so a
derived optimizer can always be traced back to, and re-derived from, its energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from hamopt.kinetic.energy import KineticEnergy
from hamopt.schemes.scheme import Scheme

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe:
    """The inputs of one derivation.

    ``closures`` is the preset name as given (``("adam",)``) or the list of closure names;
    ``lr`` is ``None`` when the derivation chose the default.
    """

    name: str
    kinetic: KineticEnergy
    scheme: Scheme
    closures: tuple[str, ...]
    momentum: str = "ema"
    init: str = "zeros"
    parameterisation: str = "ml"
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    description: str = ""
