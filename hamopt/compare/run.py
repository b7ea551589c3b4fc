"""Train every optimizer over the seeds and the learning-rate grid, and pick its best lr.

:func:`compare` resolves each reference (:func:`hamopt.resolve.resolve_optimizer`: zoo names,
``torch.NAME``, spec files, exported modules), then runs ``task.run(cls, lr, seed, budget)``
for every optimizer × lr × seed under one progress bar. An optimizer's best lr is the one with
the best mean final metric over the seeds in the task's direction
(:func:`hamopt.compare.stats.score`: an lr where a run diverged ranks last; ties go to the
first lr of the grid).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hamopt.compare.stats import score
from hamopt.compare.tasks import TASKS, Task
from hamopt.compare.training import Trace

__all__ = ["Comparison", "Entry", "compare", "parse_lr_grid"]


@dataclass(frozen=True)
class Entry:
    """One optimizer's runs: ``traces[lr]`` is the list of runs, one per seed."""

    label: str
    ref: str
    cls: type
    traces: dict[float, list[Trace]]

    def finals(self, lr: float) -> np.ndarray:
        """The final metric of every seed at ``lr``."""
        return np.array([tr.final for tr in self.traces[lr]], dtype=float)

    def diverged(self, lr: float) -> int:
        """How many seeds diverged at ``lr``."""
        return sum(tr.diverged for tr in self.traces[lr])


@dataclass(frozen=True)
class Comparison:
    """Every run of a comparison, and what it was run with."""

    task: Task
    entries: list[Entry]
    lrs: list[float]
    seeds: list[int]
    budget: int
    threads: int
    wall_time: float

    def best_lr(self, entry: Entry) -> float:
        """The lr of ``entry`` with the best mean final metric (module docstring); an lr where
        a run diverged ranks last, whatever its final metric (a diverged network's test
        accuracy is still a number: its NaN outputs pick class 0)."""
        scores = [
            -math.inf if entry.diverged(lr) else score(entry.finals(lr), self.task.higher_is_better)
            for lr in self.lrs
        ]
        return self.lrs[int(np.argmax(scores))]


def parse_lr_grid(text: str) -> list[float]:
    """``"1e-3,3e-3,1e-2"`` → ``[0.001, 0.003, 0.01]``: positive, finite, distinct numbers.

    >>> parse_lr_grid("1e-3, 3e-3,1e-2")
    [0.001, 0.003, 0.01]
    """
    if not text.strip():
        raise ValueError(f"no learning rate in {text!r}")
    lrs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"an empty entry in {text!r}")
        try:
            lr = float(item)
        except ValueError:
            raise ValueError(f"learning rate {item!r} is not a number") from None
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rates must be positive and finite, got {item}")
        if lr in lrs:
            raise ValueError(f"learning rate {item} is listed twice")
        lrs.append(lr)
    return lrs


def compare(
    refs: Sequence[str],
    task: str | Task,
    *,
    seeds: int | Sequence[int] = 3,
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
    budget: int | None = None,
    threads: int = 1,
    progress: bool = True,
) -> Comparison:
    """Train every optimizer of ``refs`` on ``task`` at every lr of ``lrs`` with every seed.

    Parameters
    ----------
    refs
        Optimizer references (:func:`hamopt.resolve.resolve_optimizer`), each given once.
    task
        A name of :data:`hamopt.compare.tasks.TASKS` or a :class:`Task`.
    seeds
        A count ``N`` (seeds ``0 … N-1``) or the seeds themselves (distinct).
    lrs
        The learning-rate grid (positive, distinct).
    budget
        Epochs or steps per run (the task's ``unit``); default the task's.
    threads
        torch's intra-op threads while training (restored afterwards); the tasks' models are
        small, so one thread per run is the fastest on a few cores.
    progress
        Show a tqdm bar over all runs.
    """
    from hamopt.resolve import resolve_optimizer

    if isinstance(refs, str):
        raise TypeError(f"refs must be a list of optimizer references, got the text {refs!r}")
    task = _task(task)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"need at least one seed, all distinct; got {seeds!r}")
    lr_list = [float(lr) for lr in lrs]
    if not lr_list or len(set(lr_list)) != len(lr_list):
        raise ValueError(f"need at least one learning rate, all distinct; got {list(lrs)}")
    if any(not (math.isfinite(lr) and lr > 0) for lr in lr_list):
        raise ValueError(f"learning rates must be positive and finite, got {lr_list}")
    budget = task.budget if budget is None else int(budget)
    if budget < 1:
        raise ValueError(f"the budget ({task.unit}) must be >= 1, got {budget}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if not refs:
        raise ValueError("no optimizer to compare")
    if len(set(refs)) != len(refs):
        twice = sorted({r for r in refs if list(refs).count(r) > 1})
        raise ValueError(f"optimizer(s) given twice: {', '.join(twice)}")
    task.check_available()
    resolved = [(ref, *resolve_optimizer(ref)) for ref in refs]  # fail fast on a bad name
    seen: dict[object, str] = {}  # a file by its path, any other reference by its class
    for ref, _, cls in resolved:
        key = Path(ref).resolve() if Path(ref).suffix in (".py", ".toml") else cls
        if key in seen:
            raise ValueError(f"optimizer given twice: {seen[key]} and {ref} name the same one")
        seen[key] = ref
    labels = [label for _, label, _ in resolved]
    resolved = [
        (ref, label if labels.count(label) == 1 else f"{label} ({ref})", cls)
        for ref, label, cls in resolved
    ]

    total = len(resolved) * len(lr_list) * len(seed_list)
    start = time.perf_counter()
    entries = []
    with _threads(threads), _bar(total, progress, task.name) as bar:
        for ref, label, cls in resolved:
            traces: dict[float, list[Trace]] = {}
            for lr in lr_list:
                bar.set_postfix_str(f"{label}, lr={lr:g}")
                traces[lr] = []
                for seed in seed_list:
                    try:
                        traces[lr].append(task.run(cls, lr, seed, budget))
                    except RuntimeError as err:  # torch's refusal (SparseAdam: dense gradients)
                        raise ValueError(
                            f"{label} cannot run on {task.name} (lr={lr:g}, seed {seed}): {type(err).__name__}: {err}"
                        ) from err
                    bar.update(1)
            entries.append(Entry(label, ref, cls, traces))
    return Comparison(
        task,
        entries,
        lr_list,
        seed_list,
        budget,
        threads,
        time.perf_counter() - start,
    )


def _task(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return TASKS[task]


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bar(total: int, show: bool, desc: str):
    """A tqdm bar over the runs; ``show=False`` gives a silent one (tqdm's ``disable``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=f"compare on {desc}", unit="run", disable=not show)
