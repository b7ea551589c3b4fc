r"""The velocity map of a ``torch.optim`` optimizer class, probed, and the energy it matches.

From a fresh state every optimizer of the library family takes its first step along the
velocity of its momentum, and after one step the momentum is the gradient (up to the
optimizer's own normalisation: Adam's and RAD's bias corrections, SGD's first-gradient buffer,
Lion's interpolation, whose sign is that of the gradient). So one step on controlled gradients
reads the velocity map off: a float64 parameter :math:`\theta = 0` (weight decay then does
nothing) with gradient :math:`g_k` on coordinate :math:`k`, :math:`g_k` spanning
:math:`\pm 10^{-12} \dots 10^{4}`, gives

.. math::  v(g_k) = -\Delta\theta_k / \text{lr}.

The probe is repeated twice: with the gradients permuted, where a rule that treats every
coordinate alike gives the permuted step, and with one gradient doubled, where an elementwise
rule moves no other coordinate differently (both bit for bit). A rule that couples coordinates
(a norm, as RGD's, or a matrix) fails the second and is reported as such, not fitted. The samples are
then fitted by every library family (:mod:`hamopt.inverse.families`); the best family is a
match when its worst relative error is within :data:`MATCH_TOLERANCE`.

What the probe cannot see: the velocity *after* the first step, where the momentum is a running
average whose relation to the gradient the probe does not control; an optimizer whose first
step is special-cased differently from the rest (RAdam's rectification warm-up, for one) is
identified by its first step only.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch

from hamopt.inverse.families import Fit, fit
from hamopt.inverse.velocity import FIT_GRID, MATCH_TOLERANCE

__all__ = ["Probe", "identify_optimizer"]


@dataclass(frozen=True)
class Probe:
    """What :func:`identify_optimizer` measured."""

    optimizer: str
    momenta: np.ndarray  # the gradients fed (the momentum after one step)
    velocity: np.ndarray  # -Δθ / lr
    elementwise: bool
    fits: tuple[Fit, ...]  # every library family, best first (empty if not elementwise)
    #: Why the map read is no kinetic energy's velocity ("" where it may be one).
    refusal: str = ""

    @property
    def match(self) -> Fit | None:
        """The best family if it fits within :data:`MATCH_TOLERANCE`."""
        return self.fits[0] if self.fits and self.fits[0].residual <= MATCH_TOLERANCE else None

    def summary(self) -> str:
        if not self.elementwise:
            return (
                f"{self.optimizer}: couples coordinates (not elementwise); no per-particle energy"
            )
        if self.refusal:
            return f"{self.optimizer}: not the velocity of a kinetic energy: {self.refusal}"
        m = self.match
        if m is None:
            return f"{self.optimizer}: no library energy (closest: {self.fits[0]})"
        return f"{self.optimizer}: {m}"


def identify_optimizer(cls: type, *, lr: float = 1e-3, **kwargs) -> Probe:
    """Probe ``cls(params, lr=lr, **kwargs)`` for its velocity map (see the module docstring).

    Raises ``TypeError`` if ``cls`` is not a ``torch.optim.Optimizer`` class and ``ValueError``
    if its first step is not finite on the probe's gradients.
    """
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise TypeError(f"cls must be a torch.optim.Optimizer subclass, got {cls!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    g = FIT_GRID
    step = _first_step(cls, g, lr, kwargs)
    perm = np.random.default_rng(0).permutation(g.size)
    permuted = _first_step(cls, g[perm], lr, kwargs)
    k = int(np.argmax(np.abs(g)))
    bumped = g.copy()
    bumped[k] *= 2
    others = np.arange(g.size) != k
    elementwise = bool(
        np.array_equal(permuted, step[perm])
        and np.array_equal(_first_step(cls, bumped, lr, kwargs)[others], step[others])
    )
    velocity = -step / lr
    if not np.all(np.isfinite(velocity)):
        bad = int(np.flatnonzero(~np.isfinite(velocity))[0])
        raise ValueError(f"{cls.__name__}'s first step is not finite at gradient {g[bad]:.3g}")
    refusal = _not_a_velocity(g, velocity) if elementwise else ""
    fits = tuple(fit(g, velocity)) if elementwise and not refusal else ()
    return Probe(f"{cls.__module__}.{cls.__qualname__}", g, velocity, elementwise, fits, refusal)


def _not_a_velocity(g: np.ndarray, v: np.ndarray) -> str:
    r"""Why the samples ``v(g)`` are no velocity :math:`T'` of an even convex energy: not odd
    (:math:`v(-g) \ne -v(g)`), or decreasing somewhere (:math:`T'' < 0`); "" where they may
    be one. ``g`` is :data:`FIT_GRID`: sorted, each magnitude with both signs. Tolerances are
    relative to the largest :math:`|v|`, a million rounding errors of float64."""
    if int(np.count_nonzero(v)) < 4:  # the fit needs four nonzero steps
        return (
            f"its first step is zero at {v.size - int(np.count_nonzero(v))} of {v.size} gradients "
            f"from {g.min():.3g} to {g.max():.3g}: no velocity map to read (an lr of 0, a "
            "warm-up that starts at 0, or a step that does not move the parameters)"
        )
    tol = 1e6 * np.finfo(float).eps * max(float(np.abs(v).max()), np.finfo(float).tiny)
    odd = np.abs(v + v[::-1])
    if odd.max() > tol:
        k = int(np.argmax(odd))
        return f"not odd: v({g[k]:.3g}) = {v[k]:.6g}, v({g[::-1][k]:.3g}) = {v[::-1][k]:.6g}"
    falls = np.diff(v)
    if falls.min() < -tol:
        k = int(np.argmin(falls))
        return (
            f"decreasing: v({g[k]:.3g}) = {v[k]:.6g} > v({g[k + 1]:.3g}) = {v[k + 1]:.6g} "
            "(a convex energy's velocity does not decrease; maximize=True steps uphill)"
        )
    return ""


def _first_step(cls, g: np.ndarray, lr: float, kwargs) -> np.ndarray:
    theta = torch.zeros(g.size, dtype=torch.float64, requires_grad=True)
    opt = cls([theta], lr=lr, **kwargs)
    theta.grad = torch.from_numpy(g.copy())
    closure = inspect.signature(opt.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(
            f"{cls.__name__}'s step needs a closure (it re-evaluates the loss, as a line search "
            "does), so it is no map of one gradient: identify reads an optimizer's first step "
            "on a given gradient"
        )
    opt.step()
    return theta.detach().numpy().copy()
