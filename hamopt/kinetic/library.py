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
:func:`log_cosh`            :math:`\sum_i \log\cosh(\beta p_i)/\beta`                 :math:`\tanh(\beta p)`
:func:`huber`               :math:`\sum_i \mu_i(|p_i| - \mu_i/2)`, :math:`\mu_i = \min(|p_i|, \delta)`   :math:`\mathrm{clip}(p, -\delta, \delta)`
==========================  =======================================================  =====================

The closed-form velocities are checked against :math:`dT/dp` when each energy is built.
"""

from __future__ import annotations

import sympy as sp

from hamopt.kinetic.energy import KineticEnergy, Scope
from hamopt.parameters import Parameter, in_range, positive
from hamopt.symbols import p, s

__all__ = [
    "adam_energy",
    "classical",
    "huber",
    "log_cosh",
    "massless",
    "power",
    "relativistic",
    "relativistic_norm",
]


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


def log_cosh(beta: float = 1.0) -> KineticEnergy:
    r"""Log-cosh energy :math:`T(p) = \sum_i \log\cosh(\beta p_i)/\beta`; velocity
    :math:`\tanh(\beta p)`: classical (:math:`\beta p`) near 0, massless (sign) far out.

    >>> log_cosh().velocity_expr
    tanh(beta*p)
    """
    sharp = positive("beta", beta, "sharpness: the velocity's slope at p = 0")
    B = sharp.symbol
    return KineticEnergy(
        sp.log(sp.cosh(B * p)) / B, [sharp], name="log_cosh", velocity=sp.tanh(B * p)
    )


def huber(delta: float = 1.0) -> KineticEnergy:
    r"""Huber energy :math:`T(p) = \sum_i \mu_i(|p_i| - \mu_i/2)`, :math:`\mu_i = \min(|p_i|, \delta)`:
    :math:`p^2/2` for :math:`|p| \le \delta`, :math:`\delta|p| - \delta^2/2` beyond (a form
    without the cancellation of :math:`p^2/2 - (|p|-\delta)^2/2` at large ``p``); velocity
    :math:`\mathrm{clip}(p, -\delta, \delta)`.

    >>> huber().velocity_expr
    Max(-delta, Min(delta, p))
    """
    width = positive("delta", delta, "half-width of the quadratic region")
    D = width.symbol
    mu = sp.Min(sp.Abs(p), D)
    return KineticEnergy(
        mu * (sp.Abs(p) - mu / 2),
        [width],
        name="huber",
        velocity=sp.Max(-D, sp.Min(p, D)),
    )
