r"""The kinetic energies of the source papers.

==========================  =======================================================  =====================
constructor                 :math:`T(p)`                                              velocity
==========================  =======================================================  =====================
:func:`classical`           :math:`\sum_i p_i^2 / 2m`                                 :math:`p/m`
:func:`relativistic`        :math:`\sum_i c\sqrt{p_i^2 + m^2c^2}`                     :math:`cp/\sqrt{p^2+m^2c^2}`
:func:`relativistic_norm`   :math:`c\sqrt{\lVert p\rVert^2 + m^2c^2}` (França's RGD)  :math:`cp/\sqrt{\lVert p\rVert^2+m^2c^2}`
:func:`adam_energy`         :math:`\sum_i |p_i| - \epsilon\log(1 + |p_i|/\epsilon)`    :math:`p/(|p|+\epsilon)`
:func:`power`               :math:`\sum_i |p_i|^a / a`, :math:`a > 1`                 :math:`\mathrm{sign}(p)|p|^{a-1}`
:func:`massless`            :math:`\sum_i |p_i|`                                      :math:`\mathrm{sign}(p)`
==========================  =======================================================  =====================

The closed-form velocities are checked against :math:`dT/dp` when each energy is built.
"""

from __future__ import annotations

import sympy as sp

from hamopt.kinetic.energy import KineticEnergy, Scope
from hamopt.parameters import Parameter, in_range, positive
from hamopt.symbols import p, s

__all__ = ["adam_energy", "classical", "massless", "power", "relativistic", "relativistic_norm"]


def _mass(default: float) -> Parameter:
    return positive("m", default, "mass")


def _light(default: float) -> Parameter:
    return positive("c", default, "speed of light: the bound on every coordinate's speed")


def classical(m: float = 1.0) -> KineticEnergy:
    r"""Newtonian energy :math:`T(p) = \sum_i p_i^2/(2m)`; velocity :math:`p/m`.

    >>> classical().velocity_expr
    p/m
    """
    mass = _mass(m)
    return KineticEnergy(
        p**2 / (2 * mass.symbol), [mass], name="classical", velocity=p / mass.symbol
    )


def relativistic(m: float = 1.0, c: float = 1.0) -> KineticEnergy:
    r"""Per-particle relativistic energy :math:`T(p) = \sum_i c\sqrt{p_i^2 + m^2c^2}`.

    Velocity :math:`cp/\sqrt{p^2 + m^2c^2}`: every coordinate moves slower than ``c``.

    >>> relativistic().velocity_expr
    c*p/sqrt(c**2*m**2 + p**2)
    """
    mass, light = _mass(m), _light(c)
    M, C = mass.symbol, light.symbol
    return KineticEnergy(
        C * sp.sqrt(p**2 + M**2 * C**2),
        [mass, light],
        name="relativistic",
        velocity=C * p / sp.sqrt(p**2 + M**2 * C**2),
    )


def relativistic_norm(m: float = 1.0, c: float = 1.0, scope: Scope = "tensor") -> KineticEnergy:
    r"""Norm-coupled relativistic energy :math:`T(p) = c\sqrt{\lVert p\rVert^2 + m^2c^2}`
    (França et al.'s relativistic gradient descent).

    Velocity :math:`cp/\sqrt{\lVert p\rVert^2 + m^2c^2}`: the whole group moves slower than
    ``c``. ``scope`` picks the group: each parameter ``"tensor"`` or all parameters
    (``"global"``).

    >>> relativistic_norm().velocity_expr
    c/sqrt(c**2*m**2 + s)
    """
    mass, light = _mass(m), _light(c)
    M, C = mass.symbol, light.symbol
    return KineticEnergy(
        C * sp.sqrt(p**2 + M**2 * C**2),
        [mass, light],
        name="relativistic_norm",
        coupling="norm",
        scope=scope,
        velocity=C / sp.sqrt(s + M**2 * C**2),
    )


def adam_energy(epsilon: float = 1e-8) -> KineticEnergy:
    r"""Adam's energy :math:`T(p) = \sum_i |p_i| - \epsilon\log(1 + |p_i|/\epsilon)`.

    Velocity :math:`p/(|p| + \epsilon)`, the shape of Adam's step :math:`v/(\sqrt{y}+\epsilon)`.

    >>> adam_energy().velocity_expr
    p/(epsilon + Abs(p))
    """
    eps = positive("epsilon", epsilon, "softening of |p| near zero")
    E = eps.symbol
    return KineticEnergy(
        sp.Abs(p) - E * sp.log(1 + sp.Abs(p) / E),
        [eps],
        name="adam",
        velocity=p / (sp.Abs(p) + E),
    )


def power(a: float = 1.5) -> KineticEnergy:
    r"""Power energy :math:`T(p) = \sum_i |p_i|^a / a` with :math:`a > 1` (Maddison et al.).

    >>> power().velocity_expr
    Abs(p)**(a - 1)*sign(p)
    """
    expo = in_range("a", a, sp.Interval.open(1, sp.oo), "exponent of |p|")
    A = expo.symbol
    return KineticEnergy(
        sp.Abs(p) ** A / A, [expo], name="power", velocity=sp.sign(p) * sp.Abs(p) ** (A - 1)
    )


def massless() -> KineticEnergy:
    r"""Massless energy :math:`T(p) = \sum_i |p_i|`; velocity :math:`\mathrm{sign}(p)`.

    >>> massless().velocity_expr
    sign(p)
    """
    return KineticEnergy(sp.Abs(p), [], name="massless", velocity=sp.sign(p))
