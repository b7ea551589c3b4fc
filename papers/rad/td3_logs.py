r"""The TD3 comparison read back from its run logs: paired seeds, intervals, learning curves.

Each (optimizer, seed) run of ``td3.py`` leaves a JSON-lines log of its evaluations. A *pair* is
a seed whose Adam and RAD runs are both complete and share one configuration; only complete
pairs enter the statistics, so an interrupted batch still gives correct (if fewer) figures.

Per run, two numbers:

* the **final return**: the mean return of the evaluation episodes at the last step;
* the **area under the learning curve**: the trapezoidal integral of the evaluation returns
  over environment steps, divided by the number of steps — the return averaged over training,
  which rewards learning early as well as ending high.

RAD − Adam is compared per seed, with the 95 % Student-t interval of the paired differences
(``rl.interval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Pairs", "pairs", "plot"]


@dataclass(frozen=True)
class Pairs:
    """Complete pairs of one environment: per seed, the two runs' curves."""

    env: str
    config: object  # td3.TD3Config
    seeds: list[int]
    steps: np.ndarray  # evaluation steps (shared by every run)
    returns: dict[str, np.ndarray]  # optimizer → (seeds, evaluations)
    wall: dict[str, np.ndarray]  # optimizer → (seeds,) wall time of each run, seconds

    def final(self, name: str) -> np.ndarray:
        return self.returns[name][:, -1]

    def area(self, name: str) -> np.ndarray:
        """Trapezoidal area under the curve from step 0 (return of the untrained policy taken
        as the first evaluation's) divided by the number of steps."""
        x = np.concatenate([[0], self.steps])
        curves = self.returns[name]
        y = np.concatenate([curves[:, :1], curves], axis=1)
        trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy < 2 has only trapz
        return trapezoid(y, x, axis=1) / x[-1]


def pairs(folder: Path, env: str, names: tuple[str, str] = ("Adam", "RAD")) -> Pairs | None:
    """The complete pairs under ``folder/env`` (None if there are none)."""
    from td3 import load_log

    logs: dict[tuple[str, int], dict] = {}
    for path in sorted((Path(folder) / env).glob("*.jsonl")):
        log = load_log(path)
        if log["done"] and log["optimizer"] in names:
            logs[log["optimizer"], log["seed"]] = log
    seeds = sorted({s for (_, s) in logs})
    seeds = [s for s in seeds if all((n, s) in logs for n in names)]
    if not seeds:
        return None
    config = logs[names[0], seeds[0]]["config"]
    steps = logs[names[0], seeds[0]]["steps"]
    for key in [(n, s) for n in names for s in seeds]:
        if logs[key]["config"] != config or not np.array_equal(logs[key]["steps"], steps):
            raise ValueError(f"{folder}/{env}: runs {key} and {names[0], seeds[0]} differ in setup")
    returns = {n: np.array([logs[n, s]["returns"] for s in seeds]) for n in names}
    wall = {n: np.array([logs[n, s]["wall"] for s in seeds]) for n in names}
    return Pairs(env, config, seeds, steps, returns, wall)


def plot(all_pairs: list[Pairs], path: Path) -> Path:
    """Per environment: evaluation return against steps, mean and 95 % band over seeds."""
    from common import figure
    from rl import bands

    with figure(path, (5.5 * len(all_pairs), 4)) as fig:
        axes = fig.subplots(1, len(all_pairs), squeeze=False)[0]
        for ax, p in zip(axes, all_pairs, strict=True):
            for name, curves in p.returns.items():
                mean, low, high = bands(curves)
                (line,) = ax.plot(p.steps, mean, lw=1.6, label=name)
                ax.fill_between(p.steps, low, high, color=line.get_color(), alpha=0.18, lw=0)
            ax.set_xlabel("environment steps")
            ax.set_ylabel(f"evaluation return ({p.config.eval_episodes} episodes)")
            ax.set_title(f"TD3 on {p.env}, {len(p.seeds)} paired seeds")
            ax.legend(fontsize=8)
    return path
