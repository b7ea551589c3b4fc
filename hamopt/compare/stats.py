r"""Statistics over seeds: the mean with its Student-t confidence interval, and the score that
ranks learning rates.

For :math:`n` values :math:`x_1, \dots, x_n` with mean :math:`\bar x` and sample standard
deviation :math:`s = \sqrt{\sum_i (x_i - \bar x)^2 / (n - 1)}`, the two-sided interval at level
:math:`1 - a` (95 %: :math:`a = 0.05`) is

.. math::

    \bar x \pm t_{1 - a/2,\; n - 1}\, \frac{s}{\sqrt n},

with :math:`t_{q,\,\nu}` the :math:`q`-quantile of Student's t with :math:`\nu` degrees of
freedom (``scipy.stats.t.ppf``). It needs :math:`n \ge 2`; with one value the half-width is
``nan`` ("no interval").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "interval", "score"]


@dataclass(frozen=True)
class Interval:
    """``mean ± half`` over ``n`` values (``half`` is ``nan`` when ``n < 2``)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def format(self, digits: int = 4) -> str:
        """``"0.9611 ± 0.0083"`` (``digits`` significant digits), or the mean alone."""
        if math.isnan(self.half):
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {self.half:.2g}"


def interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and half-width of the two-sided Student-t interval at ``level`` (module docstring).

    >>> iv = interval([1.0, 2.0, 3.0])
    >>> iv.mean, round(iv.half, 4)          # t_{0.975, 2} · 1 / √3
    (2.0, 2.4841)
    """
    from scipy.stats import t

    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("interval of no values")
    mean = float(x.mean())
    if x.size < 2 or not np.all(np.isfinite(x)):
        return Interval(mean, math.nan, int(x.size))
    half = float(t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, half, int(x.size))


def score(values: Sequence[float] | np.ndarray, higher_is_better: bool) -> float:
    """The mean of ``values`` oriented so that larger is better (``-mean`` when lower is
    better); ``-inf`` if any value is not finite (a diverged run disqualifies its lr)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return -math.inf
    mean = float(x.mean())
    return mean if higher_is_better else -mean
