r"""The reinforcement-learning comparison: statistics, the learning-curve figure, the table.

Across seeds, each optimizer's figure is the mean with a 95 % confidence interval from
Student's t: :math:`\bar x \pm t_{0.975,\,n-1}\,s/\sqrt n`. RAD against Adam is compared
*paired* by seed (the same seed gives both the same initial network and the same first
episode), with the same interval on the per-seed differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Interval", "interval", "plot", "table"]


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        half = (self.high - self.low) / 2
        return f"{self.mean:.1f} ± {half:.1f}"


def interval(values: np.ndarray, level: float = 0.95) -> Interval:
    """Mean and the two-sided ``level`` t-interval of the finite ``values``
    (:func:`hamopt.compare.stats.interval`; all nan when none is finite)."""
    from hamopt.compare import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    iv = stats.interval(x, level)
    return Interval(iv.mean, iv.low, iv.high, iv.n)


def bands(curves: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``curves`` (seeds, points): mean, low and high of the t-interval."""
    stats = [interval(curves[:, k], level) for k in range(curves.shape[1])]
    return tuple(np.array([getattr(s, f) for s in stats]) for f in ("mean", "low", "high"))


def plot(runs, path: Path, points: int = 60) -> Path:
    """Learning curves (mean and 95 % band over seeds) and final greedy returns per seed."""
    from common import figure

    edges = np.linspace(0, runs.config.steps, points + 1)[1:]
    curves = runs.curve(edges)
    with figure(path, (11, 4.2)) as fig:
        ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        for i, name in enumerate(runs.names):
            mean, low, high = bands(curves[i])
            (line,) = ax.plot(edges, mean, lw=1.6, label=name)
            ax.fill_between(edges, low, high, color=line.get_color(), alpha=0.18, lw=0)
            ev = runs.evaluation[i]
            jitter = np.linspace(-0.12, 0.12, ev.size) if ev.size > 1 else np.zeros(1)
            bx.scatter(i + jitter, ev, s=14, color=line.get_color(), alpha=0.7)
            ci = interval(ev)
            if ci.n > 1:
                bx.errorbar(
                    i,
                    ci.mean,
                    yerr=[[ci.mean - ci.low], [ci.high - ci.mean]],
                    fmt="_",
                    color="black",
                    capsize=6,
                    ms=18,
                )
        ax.set_xlabel("environment steps (per run)")
        ax.set_ylabel(f"training return (mean of last {runs.config.window} episodes)")
        ax.set_title(f"DQN on CartPole-v1, {len(runs.seeds)} seeds, mean and 95 % CI")
        ax.set_ylim(0, 520)
        ax.legend(loc="upper left")
        bx.set_xticks(range(len(runs.names)), runs.names)
        bx.set_ylabel(f"greedy return at the end ({runs.config.eval_episodes} episodes)")
        bx.set_ylim(0, 520)
        bx.set_title("final return per seed; mean ± 95 % CI")
    return path


def table(runs) -> str:
    """Markdown table: per optimizer, final greedy return, late training return, and the
    whole-run mean training return (area under the curve), each mean ± 95 % CI."""
    late = runs.late_training_return()
    whole = np.array(
        [[np.mean([r for _, r in eps]) if eps else np.nan for eps in per] for per in runs.episodes]
    )
    lines = [
        "| optimizer | final greedy return | training return, last 20 % of steps "
        "| training return, whole run | seeds |",
        "|---|---|---|---|---|",
    ]
    for i, name in enumerate(runs.names):
        lines.append(
            f"| {name} | {interval(runs.evaluation[i])} | {interval(late[i])} "
            f"| {interval(whole[i])} | {len(runs.seeds)} |"
        )
    return "\n".join(lines)
