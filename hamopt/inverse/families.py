r"""The library's velocity families, fitted to a sampled velocity map.

Each family is a velocity :math:`v(p; \theta)` of a library energy, written with an amplitude
:math:`a > 0` in front (the unit in which a probe measures the step, e.g. a learning rate or
:math:`1/\delta`):

=================  =====================================  ====================================
family             :math:`v(p)`                            energy (``hamopt.kinetic``)
=================  =====================================  ====================================
``classical``      :math:`a\,p`                            ``classical(m = 1/a)``
``massless``       :math:`a\,\mathrm{sign}(p)`             ``massless()``
``adam``           :math:`a\,p/(|p| + \epsilon)`           ``adam_energy(epsilon)``
``relativistic``   :math:`a\,p/\sqrt{p^2 + b^2}`           ``relativistic(m = b/a, c = a)``
``power``          :math:`a\,\mathrm{sign}(p)|p|^{k}`      ``power(a = k + 1)``
``log_cosh``       :math:`a\tanh(\beta p)`                 ``log_cosh(beta)``
``huber``          :math:`a\,\mathrm{clip}(p, -\delta, \delta)`  ``huber(delta)``
=================  =====================================  ====================================

:func:`fit` fits every family by least squares on the *relative* error
:math:`(v_\theta(p_k) - v_k)/|v_k|` (every decade of ``p`` counts alike), each from a grid of
starting points, and returns the families sorted by their worst relative error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FAMILIES", "Family", "Fit", "fit"]


@dataclass(frozen=True)
class Family:
    name: str
    params: tuple[str, ...]  # besides the amplitude a
    velocity: Callable[..., np.ndarray]  # velocity(p, a, *params)
    energy: str  # how to build the library energy from the fitted values


def _relativistic(p, a, b):
    return a * p / np.sqrt(p * p + b * b)


def _huber(p, a, d):
    return a * np.clip(p, -d, d)


FAMILIES: tuple[Family, ...] = (
    Family("classical", (), lambda p, a: a * p, "classical(m=1/a)"),
    Family("massless", (), lambda p, a: a * np.sign(p), "massless()"),
    Family("adam", ("epsilon",), lambda p, a, e: a * p / (np.abs(p) + e), "adam_energy(epsilon)"),
    Family("relativistic", ("b",), _relativistic, "relativistic(m=b/a, c=a)"),
    Family(
        "power",
        ("k",),
        lambda p, a, k: a * np.sign(p) * np.abs(p) ** k,
        "power(a=k+1)",
    ),
    Family("log_cosh", ("beta",), lambda p, a, b: a * np.tanh(b * p), "log_cosh(beta)"),
    Family("huber", ("delta",), _huber, "huber(delta)"),
)


@dataclass(frozen=True)
class Fit:
    """One family fitted: its amplitude and parameters, and the worst relative error."""

    family: str
    amplitude: float
    params: dict[str, float]
    residual: float  # max_k |v_θ(p_k) − v_k| / |v_k|

    def __str__(self) -> str:
        values = ", ".join(f"{k} = {v:.6g}" for k, v in self.params.items())
        inner = f"a = {self.amplitude:.6g}" + (f", {values}" if values else "")
        return f"{self.family} ({inner}; max relative error {self.residual:.1e})"


#: Relative errors below this count as exact (ties go to the family with fewer parameters).
EXACT = 1e-12


def fit(p: np.ndarray, v: np.ndarray) -> list[Fit]:
    """Every family fitted to the samples ``v = v(p)`` (``p ≠ 0``), best first (at equal error
    below :data:`EXACT`, fewer parameters first: ``p`` is ``classical``, not ``power(a = 2)``)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # trial parameters that overflow
        fits = _fit_all(p, v)
    return sorted(fits, key=lambda f: (max(f.residual, EXACT), len(f.params)))


def _fit_all(p: np.ndarray, v: np.ndarray) -> list[Fit]:
    from scipy.optimize import least_squares

    p = np.asarray(p, dtype=float)
    v = np.asarray(v, dtype=float)
    keep = np.isfinite(p) & np.isfinite(v) & (p != 0) & (v != 0)
    p, v = p[keep], v[keep]
    if p.size < 4:
        raise ValueError("need at least 4 samples with p ≠ 0 and v ≠ 0 to fit a velocity family")
    weight = 1 / np.abs(v)
    scale = np.abs(p)
    starts = np.geomspace(max(scale.min(), 1e-300), scale.max(), 9)
    fits = []
    for fam in FAMILIES:
        best = None
        grid = [()] if not fam.params else [(x,) for x in starts]
        if fam.name == "power":
            grid = [(k,) for k in (0.25, 0.5, 1.0, 2.0, 3.0)]
        for start in grid:
            x0 = np.log([_amplitude(fam, p, v, start), *start])

            def residual(x, fam=fam):
                r = (fam.velocity(p, *np.exp(x)) - v) * weight
                return np.where(np.isfinite(r), r, 1e6)

            try:
                sol = least_squares(residual, x0, method="lm", xtol=1e-15, ftol=1e-15)
            except ValueError:  # fewer samples than parameters for "lm", or a bad start
                continue
            worst = float(np.max(np.abs(residual(sol.x))))
            if best is None or worst < best[0]:
                best = (worst, np.exp(sol.x))
        if best is None:
            continue
        worst, values = best
        fits.append(
            Fit(
                fam.name,
                float(values[0]),
                dict(zip(fam.params, map(float, values[1:]), strict=True)),
                worst,
            )
        )
    return fits


def _amplitude(fam: Family, p: np.ndarray, v: np.ndarray, start: tuple) -> float:
    """A starting amplitude: the median ratio of the samples to the family at a = 1."""
    ratio = v / fam.velocity(p, 1.0, *start)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.median(ratio)) if ratio.size else 1.0
