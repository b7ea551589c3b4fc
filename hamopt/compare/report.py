r"""What a comparison writes: a Markdown table, learning-curve plots and the raw numbers.

:func:`write` puts three files into the output directory:

* ``compare.md`` — one row per optimizer: its best lr, the final metric at that lr as
  :math:`\bar x \pm t_{0.975,\,n-1}\, s/\sqrt n` over the seeds (:mod:`hamopt.compare.stats`),
  and the mean final metric at every lr of the grid (the best in bold; runs that diverged are
  counted);
* ``curves.png`` — left, each optimizer's learning curve at its best lr, the mean over seeds
  with the 95 % band (for a curve drawn on a log scale, a loss, both are taken over
  :math:`\log_{10}` of the values: a geometric mean and band); right, the final metric against
  the lr (mean and interval);
* ``compare.json`` — every run's curve and final metric (``null`` for a number that is not
  finite), the settings, and each optimizer's best lr.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hamopt.compare.run import Comparison, Entry
from hamopt.compare.stats import interval

__all__ = ["markdown", "plot", "table", "to_json", "write"]


def table(comparison: Comparison) -> str:
    """The Markdown table (module docstring)."""
    task = comparison.task
    head = ["optimizer", "best lr", f"{task.metric} at best lr (mean ± 95 % CI)"]
    head += [f"lr = {lr:g}" for lr in comparison.lrs]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|" + "---:|" * len(comparison.lrs)]
    for entry in comparison.entries:
        best = comparison.best_lr(entry)
        cells = [entry.label.replace("|", "\\|"), f"{best:g}", _best_cell(entry, best)]
        cells += [_lr_cell(entry, lr, lr == best) for lr in comparison.lrs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best_cell(entry: Entry, lr: float) -> str:
    finals = entry.finals(lr)
    if not np.all(np.isfinite(finals)):
        return f"diverged ({entry.diverged(lr)}/{finals.size})"
    return interval(finals).format()


def _lr_cell(entry: Entry, lr: float, best: bool) -> str:
    finals = entry.finals(lr)
    k, n = entry.diverged(lr), finals.size
    note = f" ({k}/{n} diverged)" if k else ""
    if not np.all(np.isfinite(finals)):
        return f"—{note}"
    mean = f"{float(finals.mean()):.4g}"
    return (f"**{mean}**" if best else mean) + note


def markdown(comparison: Comparison) -> str:
    """``compare.md``: a heading, the settings, the table and where each optimizer came from."""
    c, task = comparison, comparison.task
    lines = [
        f"# hamopt compare: {task.name}",
        "",
        f"{task.summary}; {c.budget} {task.unit.removesuffix('s') if c.budget == 1 else task.unit}"
        f" per run; seeds {_join(c.seeds)}; "
        f"lr grid {_join(f'{lr:g}' for lr in c.lrs)}.",
        f"Final metric: {task.metric} ({task.direction}), the mean over the seeds ± the 95 % "
        "Student-t interval t(0.975, n−1)·s/√n; each optimizer's best lr has the best mean "
        "(bold), other hyperparameters at the optimizer's defaults.",
        "",
        table(c),
        "",
        "Optimizers: " + "; ".join(f"{e.label} = `{e.ref}`" for e in c.entries) + ".",
        f"Wall time {c.wall_time:.1f} s ({c.threads} torch thread{'s' if c.threads > 1 else ''}).",
        "",
    ]
    return "\n".join(lines)


def plot(comparison: Comparison, path: str | Path) -> Path:
    """``curves.png`` (module docstring)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c, task = comparison, comparison.task
    fig = Figure(figsize=(12, 4.6))
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    styles = ("-", "--", "-.", ":")
    curves, finals = [], []  # what is drawn on each panel, for its scale
    for i, entry in enumerate(c.entries):
        best = c.best_lr(entry)
        runs = entry.traces[best]
        x = runs[0].x
        mean, low, high = _band(np.array([tr.y for tr in runs]), log=task.log_curve)
        style = styles[i % len(styles)]
        drawn = np.isfinite(mean).any()  # else every seed diverged at every lr
        label = f"{entry.label} (lr = {best:g})" if drawn else f"{entry.label} (diverged)"
        (line,) = ax.plot(x, mean, style, lw=1.6, label=label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.18, lw=0)
        stats = [interval(entry.finals(lr)) for lr in c.lrs]
        means = np.array([s.mean if np.isfinite(s.mean) else np.nan for s in stats])
        halves = np.array([s.half if np.isfinite(s.half) else 0.0 for s in stats])
        bx.errorbar(c.lrs, means, yerr=halves, fmt="o" + style, color=line.get_color(), capsize=4)
        curves.append(mean)
        finals.append(means)
    mean = "geometric mean" if task.log_curve else "mean"
    ax.set(
        xlabel=task.unit,
        ylabel=task.curve,
        title=f"{task.name}: {task.curve} at the best lr, {mean} ± 95 % band, {len(c.seeds)} seeds",
    )
    if task.log_curve and _positive(curves):
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    bx.set(
        xscale="log",
        xlabel="learning rate",
        ylabel=f"final {task.metric}" if "final" not in task.metric else task.metric,
        title=f"{task.metric} ({task.direction}) against lr",
    )
    if not task.higher_is_better and task.log_curve and _positive(finals):
        bx.set_yscale("log")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _positive(arrays: list[np.ndarray]) -> bool:
    """Whether any of ``arrays`` holds a finite value > 0 (a log scale has something to show)."""
    return any(bool((np.isfinite(a) & (a > 0)).any()) for a in arrays)


def _band(curves: np.ndarray, log: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point of ``curves`` (seeds × points): mean and 95 % interval of its finite values;
    with ``log``, of their base-10 logarithms, mapped back (a geometric mean and band). Values
    beyond ±1e100 (a run on its way to diverging) count as not finite, and a point with no
    finite value, or whose band overflows, is NaN: not drawn (matplotlib's axes cannot place
    ticks near the largest float)."""
    curves = np.where(np.abs(curves) <= 1e100, curves, np.nan)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            curves = np.log10(np.where(curves > 0, curves, np.nan))
    out = np.full((3, curves.shape[1]), np.nan)
    for k in range(curves.shape[1]):
        col = curves[:, k][np.isfinite(curves[:, k])]
        if col.size:
            iv = interval(col)
            half = iv.half if np.isfinite(iv.half) else 0.0
            out[:, k] = iv.mean, iv.mean - half, iv.mean + half
    if log:
        with np.errstate(over="ignore"):
            out = 10.0**out
    out[~np.isfinite(out)] = np.nan
    return out[0], out[1], out[2]


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The raw numbers of ``compare.json`` (module docstring)."""
    c, task = comparison, comparison.task
    optimizers = []
    for entry in c.entries:
        best = c.best_lr(entry)
        iv = interval(entry.finals(best))
        runs = [
            {
                "lr": lr,
                "seed": seed,
                "final": _num(tr.final),
                "diverged": tr.diverged,
                "x": [_num(v) for v in tr.x],
                "y": [_num(v) for v in tr.y],
            }
            for lr in c.lrs
            for seed, tr in zip(c.seeds, entry.traces[lr], strict=True)
        ]
        optimizers.append(
            {
                "label": entry.label,
                "ref": entry.ref,
                "class": f"{entry.cls.__module__}.{entry.cls.__qualname__}",
                "best_lr": best,
                "final_at_best_lr": {
                    "mean": _num(iv.mean),
                    "half_width_95": _num(iv.half),
                    "n": iv.n,
                },
                "runs": runs,
            }
        )
    return {
        "task": task.name,
        "summary": task.summary,
        "metric": task.metric,
        "higher_is_better": task.higher_is_better,
        "unit": task.unit,
        "budget": c.budget,
        "curve": task.curve,
        "seeds": c.seeds,
        "lrs": c.lrs,
        "threads": c.threads,
        "wall_time_s": c.wall_time,
        "optimizers": optimizers,
    }


def write(comparison: Comparison, out: str | Path) -> dict[str, Path]:
    """Write ``compare.md``, ``curves.png`` and ``compare.json`` into ``out`` (created if
    needed); return their paths by kind (``"table"``, ``"plot"``, ``"json"``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "compare.md", "plot": out / "curves.png", "json": out / "compare.json"}
    paths["table"].write_text(markdown(comparison), encoding="utf-8")
    plot(comparison, paths["plot"])
    paths["json"].write_text(
        json.dumps(to_json(comparison), indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )
    return paths


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _join(items) -> str:
    return ", ".join(str(i) for i in items)
