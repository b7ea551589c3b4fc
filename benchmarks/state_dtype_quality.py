"""Training quality with low-precision optimizer state (``state_dtype``) against float32 state.

Every hamopt optimizer keeps its buffers in float32 by default (``state_dtype=None``), in
bfloat16 with stochastic rounding (``torch.bfloat16``) or 8-bit block-wise dynamically quantised
(``torch.uint8``, blocks of 256 elements, Dettmers et al. 2022; tensors of fewer than 4096
elements keep float32 state); the rule itself always computes in float32. The question: does
the low-precision state change the result of a training run by more than the seed-to-seed
spread of float32 state? Two tasks, each trained with the same seeds
for every state dtype (a seed fixes the initial weights and the data order, so the three runs of
one seed differ only in how the state is stored):

* **digits MLP** — the network of ``benchmarks/default_path.py`` (64-128-128-10 ReLU,
  cross-entropy, batch 64, scikit-learn's 8×8 digits scaled to [0, 1]) on a stratified 80/20
  split (split seed 0), trained ``--epochs`` epochs with ``hamopt.optim.Adam`` and
  ``hamopt.optim.RAD`` at their defaults (lr 1e-3; RAD δ = 1, ζ = 1e-16). Metric: final test
  accuracy.
* **CartPole-v1 DQN** — ``papers/rad/cartpole.py``'s ``train`` with the setting of
  ``papers/rad/reproduce.py`` (``dqn_config``: 2×128 Q-network, batch 128, a gradient step every
  4 environment steps, target copy every 100, ε over 15 % of the steps; lr 2.5e-3 for every
  optimizer; RAD with ζ annealed over the run, ``max_iter`` = its gradient steps). ``train``
  stacks the runs of several seeds into one tensor per layer, which an 8-bit block of 256
  elements would span, so it is called once per seed, the state dtypes being separate optimizer
  entries of that call (own tensors, own optimizer). Metrics: the greedy return at the end
  (10 episodes on separately seeded environments) and the training return over the last 20 %
  of the steps.

A run whose optimizer raises hamopt's non-finite-gradient error (``nonfinite="raise"``, the
default) is counted as *diverged*: its optimizer stops stepping and the run is scored as it
stands (a NaN network predicts class 0 / action 0). Reported per (optimizer, state dtype): mean,
seed-to-seed standard deviation, min and max over seeds, the difference of the mean to the
float32 mean, the paired per-seed difference (mean ± 2 s.e.), the diverged runs, and the
verdict: "within" when the mean lies inside [min, max] of the float32 per-seed results, else
"outside" (and whether it lies inside float32's mean ± 2·std/√n).

    python benchmarks/state_dtype_quality.py            # 20 + 16 seeds, 30,000 DQN steps: 6-12 min
    python benchmarks/state_dtype_quality.py --quick    # 3 seeds, 5 epochs, 3,000 DQN steps: ~25 s
    python benchmarks/state_dtype_quality.py --seeds 5 --dqn-steps 10000 --jobs 1

Runs are spread over ``--jobs`` worker processes (one torch thread each). Writes a Markdown
report (default ``benchmarks/results/state_dtype_quality.md``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tables  # the benchmarks' folder is the script's, on sys.path
import torch
from default_path import network  # the digits MLP

if TYPE_CHECKING:
    from cartpole import DQNConfig  # papers/rad/cartpole.py, put on sys.path by dqn_config()

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "state_dtype_quality.md"

#: Label → ``state_dtype`` argument; the first is the reference.
STATE_DTYPES: dict[str, torch.dtype | None] = {
    "float32": None,
    "bfloat16": torch.bfloat16,
    "uint8": torch.uint8,
}
REFERENCE = "float32"
OPTIMIZERS = ("Adam", "RAD")

SPLIT_SEED = 0  # the stratified train/test split of the digits
TEST_SHARE = 0.2
DIGITS_BATCH = 64
DQN_SIZE = dict(rl_start=1_000, rl_eval=10)  # papers/rad/reproduce.py's full size, but the steps


# -- guarding the optimizer: a non-finite gradient ends that run's training ----------------------


@dataclass
class Divergence:
    """Where hamopt's non-finite check stopped a run (None: it never did)."""

    step: int | None = None
    message: str = ""
    trace: str = field(default="", repr=False)


class Guarded:
    """An optimizer that stops stepping after hamopt reports a non-finite gradient.

    ``nonfinite="raise"`` (hamopt's default) raises ``ValueError`` before updating anything; the
    parameters are left where the previous steps put them and every later ``step()`` is a
    no-op, so one run's divergence neither crashes nor touches the other runs of a batch.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.steps = 0
        self.divergence = Divergence()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        if self.divergence.step is not None:
            return
        self.steps += 1
        try:
            self.optimizer.step()
        except ValueError as error:
            if "non-finite" not in str(error):
                raise
            self.divergence = Divergence(self.steps, str(error), traceback.format_exc())


def make_optimizer(
    name: str, params: list[torch.Tensor], state_dtype: torch.dtype | None, **overrides
) -> torch.optim.Optimizer:
    """``hamopt.optim.<name>`` at its defaults, with ``state_dtype`` and ``overrides``."""
    import hamopt.optim

    return getattr(hamopt.optim, name)(params, state_dtype=state_dtype, **overrides)


# -- digits MLP ----------------------------------------------------------------------------------


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): the digits scaled to [0, 1], stratified 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        x / 16.0, y, test_size=TEST_SHARE, stratify=y, random_state=SPLIT_SEED
    )
    f, i = torch.float32, torch.int64
    return (torch.tensor(xtr, dtype=f), torch.tensor(ytr, dtype=i),
            torch.tensor(xte, dtype=f), torch.tensor(yte, dtype=i))  # fmt: skip


@dataclass(frozen=True)
class DigitsRun:
    optimizer: str
    state_dtype: str
    seed: int
    test_accuracy: float
    train_loss: float
    divergence: Divergence
    seconds: float


def train_digits(optimizer: str, dtype: str, seed: int, epochs: int) -> DigitsRun:
    """One run: ``seed`` sets the initial weights and the minibatch order (not the state)."""
    start = time.perf_counter()
    xtr, ytr, xte, yte = digits_split()
    net = network(seed)
    opt = Guarded(make_optimizer(optimizer, list(net.parameters()), STATE_DTYPES[dtype]))
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(ytr), generator=order)
        for b in range(0, len(ytr), DIGITS_BATCH):
            idx = perm[b : b + DIGITS_BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
        if opt.divergence.step is not None:
            break
    with torch.no_grad():
        accuracy = float((net(xte).argmax(1) == yte).float().mean())
        loss = float(torch.nn.functional.cross_entropy(net(xtr), ytr))
    return DigitsRun(
        optimizer, dtype, seed, accuracy, loss, opt.divergence, time.perf_counter() - start
    )


# -- CartPole DQN --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DQNRun:
    optimizer: str
    state_dtype: str
    seed: int
    greedy_return: float
    late_return: float
    divergence: Divergence
    seconds: float  # of the whole train() call this run shared with the others of its seed


def _paper():
    """papers/rad/reproduce.py, whose CartPole DQN setting this script takes."""
    if str(ROOT / "papers" / "rad") not in sys.path:
        sys.path.insert(0, str(ROOT / "papers" / "rad"))
    import reproduce

    return reproduce


def dqn_config(steps: int) -> DQNConfig:
    """papers/rad/reproduce.py's ``dqn_config`` with ``steps`` environment steps per run."""
    return _paper().dqn_config({**DQN_SIZE, "rl_steps": steps})


def dqn_overrides(optimizer: str, gradient_steps: int) -> dict:
    """papers/rad's CartPole settings: its lr for all, RAD with ζ annealed over the run."""
    lr = _paper().DQN_LR
    if optimizer == "RAD":
        return dict(lr=lr, zeta=None, max_iter=gradient_steps)
    return dict(lr=lr)


def train_dqn(optimizers: Sequence[str], seed: int, steps: int) -> list[DQNRun]:
    """One ``cartpole.train`` call for ``seed``: every (optimizer, state dtype) its own entry."""
    config = dqn_config(steps)
    from cartpole import train

    guards: dict[str, Guarded] = {}

    def factory(name: str, optimizer: str, dtype: str) -> Callable:
        def make(params: list[torch.Tensor], gradient_steps: int) -> Guarded:
            overrides = dqn_overrides(optimizer, gradient_steps)
            guards[name] = Guarded(
                make_optimizer(optimizer, params, STATE_DTYPES[dtype], **overrides)
            )
            return guards[name]

        return make

    entries = {
        f"{o} state_dtype={d}": factory(f"{o} state_dtype={d}", o, d)
        for o in optimizers
        for d in STATE_DTYPES
    }
    runs = train(entries, [seed], config, progress=False)
    late = runs.late_training_return()
    out = []
    for i, name in enumerate(runs.names):
        optimizer, dtype = name.split(" state_dtype=")
        out.append(
            DQNRun(
                optimizer,
                dtype,
                seed,
                float(runs.evaluation[i, 0]),
                float(late[i, 0]),
                guards[name].divergence,
                runs.wall_time,
            )
        )
    return out


# -- running the jobs ----------------------------------------------------------------------------


def _job(task: tuple) -> list:
    """One unit of work in a worker process (one torch thread)."""
    torch.set_num_threads(1)
    kind, *args = task
    if kind == "digits":
        return [train_digits(*args)]
    return train_dqn(*args)


def run_jobs(tasks: list[tuple], jobs: int) -> list:
    """Every task's runs, over ``jobs`` processes (in this one when ``jobs`` is 1)."""
    results: list = []
    done = 0
    start = time.perf_counter()
    if jobs <= 1:
        outcomes = map(_job, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(jobs)
        outcomes = pool.imap_unordered(_job, tasks)
    try:
        for runs in outcomes:
            results.extend(runs)
            done += 1
            print(
                f"  [{done}/{len(tasks)}] {time.perf_counter() - start:6.1f} s: "
                + ", ".join(f"{r.optimizer} {r.state_dtype} seed {r.seed}" for r in runs[:1])
                + (f" (+{len(runs) - 1})" if len(runs) > 1 else ""),
                flush=True,
            )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


# -- statistics and the report -------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    values: np.ndarray  # per seed, in seed order
    mean: float
    std: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        x = np.asarray(values, dtype=float)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return cls(x, math.nan, math.nan, math.nan, math.nan)
        std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        return cls(x, float(finite.mean()), std, float(finite.min()), float(finite.max()))

    @property
    def half_width(self) -> float:
        """2·std/√n."""
        n = int(np.isfinite(self.values).sum())
        return 2 * self.std / math.sqrt(n) if n > 1 else math.nan


def verdict(row: Summary, ref: Summary) -> str:
    """Whether ``row``'s mean lies in float32's seed interval [min, max] and in its mean ± 2
    s.e.; undetermined with fewer than two finite float32 runs (no spread to judge by)."""
    if not math.isfinite(row.mean):
        return "no finite result"
    if not math.isfinite(ref.half_width):
        return "undetermined: fewer than 2 finite float32 runs (no seed-to-seed spread)"
    inside = ref.low <= row.mean <= ref.high
    band = abs(row.mean - ref.mean) <= ref.half_width
    text = "within the float32 seed interval" if inside else "**outside** the float32 seed interval"
    return text + f"; {'inside' if band else 'outside'} float32 mean ± 2 s.e."


def paired(row: Summary, ref: Summary, digits: int) -> str:
    """Mean ± 2 s.e. of the per-seed differences ``row − ref`` (same seed: same start)."""
    d = row.values - ref.values
    d = d[np.isfinite(d)]
    if d.size < 2:
        return "–"
    return f"{d.mean():+.{digits}f} ± {2 * d.std(ddof=1) / math.sqrt(d.size):.{digits}f}"


def table(
    runs: list, metric: str, label: str, scale: float, digits: int, seeds: list[int]
) -> list[str]:
    """Markdown rows per (optimizer, state dtype) of ``metric`` (an attribute of the runs)."""
    lines = [
        f"| optimizer | state_dtype | mean {label} | std | min | max | mean − float32 "
        "| paired Δ (mean ± 2 s.e.) | diverged | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    optimizers = list(dict.fromkeys(r.optimizer for r in runs))
    for optimizer in optimizers:
        by_dtype = {}
        for dtype in STATE_DTYPES:
            mine = {r.seed: r for r in runs if r.optimizer == optimizer and r.state_dtype == dtype}
            by_dtype[dtype] = (
                Summary.of([getattr(mine[s], metric) * scale for s in seeds]),
                sum(mine[s].divergence.step is not None for s in seeds),
            )
        ref = by_dtype[REFERENCE][0]
        for dtype, (row, diverged) in by_dtype.items():
            f = f"{{:.{digits}f}}"
            diff = "–" if dtype == REFERENCE else f"{row.mean - ref.mean:+.{digits}f}"
            pair = "–" if dtype == REFERENCE else paired(row, ref, digits)
            judged = "(reference)" if dtype == REFERENCE else verdict(row, ref)
            lines.append(
                f"| {optimizer} | {dtype} | {f.format(row.mean)} | {f.format(row.std)} "
                f"| {f.format(row.low)} | {f.format(row.high)} | {diff} | {pair} "
                f"| {diverged}/{len(seeds)} | {judged} |"
            )
    return lines


def per_seed(runs: list, metric: str, scale: float, digits: int, seeds: list[int]) -> list[str]:
    """Markdown: every run's value, one column per seed (``*``: diverged)."""
    lines = [
        "| optimizer | state_dtype | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---|" + "---:|" * len(seeds),
    ]
    for optimizer in dict.fromkeys(r.optimizer for r in runs):
        for dtype in STATE_DTYPES:
            mine = {r.seed: r for r in runs if r.optimizer == optimizer and r.state_dtype == dtype}
            cells = [
                f"{getattr(mine[s], metric) * scale:.{digits}f}"
                + ("*" if mine[s].divergence.step is not None else "")
                for s in seeds
            ]
            lines.append(f"| {optimizer} | {dtype} | " + " | ".join(cells) + " |")
    return lines


def timings(runs: list) -> list[str]:
    """Markdown: median seconds per run for each (optimizer, state dtype)."""
    lines = [
        "| optimizer | " + " | ".join(STATE_DTYPES) + " |",
        "|---|" + "---:|" * len(STATE_DTYPES),
    ]
    for optimizer in dict.fromkeys(r.optimizer for r in runs):
        mine = [r for r in runs if r.optimizer == optimizer]
        cells = [
            f"{np.median([r.seconds for r in mine if r.state_dtype == d]):.2f}"
            for d in STATE_DTYPES
        ]
        lines.append(f"| {optimizer} | " + " | ".join(cells) + " |")
    return lines


def divergences(runs: list, unit: str) -> list[str]:
    """A line per diverged run: where, and hamopt's message; the first traceback in full."""
    bad = [r for r in runs if r.divergence.step is not None]
    if not bad:
        return ["No run diverged (no non-finite gradient was reported by hamopt)."]
    lines = [f"Diverged runs (hamopt's `nonfinite='raise'` check; {unit} counted per run):", ""]
    for r in sorted(bad, key=lambda r: (r.optimizer, r.state_dtype, r.seed)):
        lines.append(
            f"* {r.optimizer} state_dtype={r.state_dtype}, seed {r.seed}: at {unit} "
            f"{r.divergence.step}: `{r.divergence.message}`"
        )
    lines += ["", "The first one's traceback:", "", "```", bad[0].divergence.trace.rstrip(), "```"]
    return lines


def markdown(
    args: argparse.Namespace,
    digits_runs: list[DigitsRun],
    dqn_runs: list[DQNRun],
    walls: dict[str, float],
    command: str,
) -> str:
    seeds_d, seeds_q = list(range(args.seeds)), list(range(args.dqn_seeds))
    steps_per_epoch = math.ceil(len(digits_split()[1]) / DIGITS_BATCH)
    lines = [
        "# Training quality with low-precision optimizer state (`state_dtype`)",
        "",
        f"`{command}` — {walls['total']:.0f} s wall time in all (digits {walls['digits']:.0f} s, "
        f"DQN {walls['dqn']:.0f} s), {args.jobs} worker process(es) with one torch thread each.",
        "",
        f"Machine: 2 CPU cores ({os.cpu_count()} visible), {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}; torch "
        f"{torch.__version__}. State dtypes: None (float32, the reference), torch.bfloat16 "
        "(stochastic rounding), torch.uint8 (8-bit block-wise dynamic quantisation, blocks of "
        "256; tensors of fewer than 4096 elements keep float32 state). Every run is seeded, and "
        "the seed is the same for the three state dtypes.",
        "",
        "Verdict: *within* when the mean lies inside [min, max] of the float32 per-seed results; "
        "the second half says whether it also lies inside the float32 mean ± 2·std/√n. "
        "*Paired Δ*: the mean of the per-seed differences to float32 (same seed: same initial "
        "weights and data order) ± 2 standard errors. A *diverged* run is one where hamopt's "
        "non-finite-gradient check (`nonfinite='raise'`, the default) raised: training stopped "
        "there and the run is scored as it stood (included in the statistics).",
        "",
    ]
    if digits_runs:
        lines += [
            "## Digits MLP: final test accuracy (%)",
            "",
            f"64-128-128-10 ReLU MLP (`benchmarks/default_path.py`'s), cross-entropy, batch "
            f"{DIGITS_BATCH}; scikit-learn's 8×8 digits / 16, stratified split "
            f"{1 - TEST_SHARE:.0%}/{TEST_SHARE:.0%} (`random_state={SPLIT_SEED}`: "
            f"{len(digits_split()[1])} train, {len(digits_split()[3])} test images); "
            f"{args.epochs} epochs ({args.epochs * steps_per_epoch} steps); seeds {seeds_d} "
            "(initial weights via `torch.manual_seed(seed)`, minibatch order via a generator "
            "seeded with `seed`). `hamopt.optim.Adam(params, state_dtype=…)` at its defaults "
            "(lr 1e-3, betas (0.9, 0.999), eps 1e-8); `hamopt.optim.RAD(params, state_dtype=…)` "
            "at its defaults (lr 1e-3, betas (0.9, 0.999), δ = 1, order 1, ζ = 1e-16).",
            "",
            *table(digits_runs, "test_accuracy", "test accuracy", 100, 2, seeds_d),
            "",
            "Per seed (test accuracy %, `*` = diverged):",
            "",
            *per_seed(digits_runs, "test_accuracy", 100, 2, seeds_d),
            "",
            "Wall time per run (s; median over seeds, runs sharing the machine with one "
            f"other job of the {args.jobs}):",
            "",
            *timings(digits_runs),
            "",
            "Final training loss (full training set), for reference:",
            "",
            *table(digits_runs, "train_loss", "train loss", 1, 4, seeds_d),
            "",
            *divergences(digits_runs, "optimizer step"),
            "",
        ]
    if dqn_runs:
        c, lr = dqn_config(args.dqn_steps), dqn_overrides("Adam", 0)["lr"]
        lines += [
            "## CartPole-v1 DQN: returns",
            "",
            f"`papers/rad/cartpole.py` `train` with `papers/rad/reproduce.py`'s `dqn_config`: "
            f"{c.steps:,} environment steps per run, {c.learning_starts:,} random steps first, "
            f"a gradient step every {c.train_every} ({c.gradient_steps:,} in all), batch "
            f"{c.batch_size}, 4-{c.hidden}-{c.hidden}-2 ReLU Q-network, target copy every "
            f"{c.target_every} steps, γ = {c.gamma}, ε {c.eps_start} → {c.eps_end} over "
            f"{c.eps_fraction:.0%} of the steps, Huber loss, no gradient clipping. Optimizers "
            f"(lr {lr:g} for all, as papers/rad): `hamopt.optim.Adam(lr={lr:g})` "
            f"(betas (0.9, 0.999), eps 1e-8) and `hamopt.optim.RAD(lr={lr:g}, zeta=None, "
            f"max_iter={c.gradient_steps})` (δ = 1, ζ annealed over the run, papers/rad's usage). "
            f"Seeds {seeds_q}: one `train(..., seeds=[seed])` call per seed holding the "
            f"{len(args.dqn_optimizers) * len(STATE_DTYPES)} entries "
            '`"<optimizer> state_dtype=<dtype>"` (own tensors and optimizer each, so no 8-bit '
            "block spans two runs). Greedy return: mean over "
            f"{c.eval_episodes} greedy episodes at the end, on environments seeded `seed + "
            "10000`; late training return: mean return of the training episodes that ended in "
            "the last 20 % of the steps.",
            "",
            "### Final greedy return",
            "",
            *table(dqn_runs, "greedy_return", "greedy return", 1, 1, seeds_q),
            "",
            "### Training return, last 20 % of the steps",
            "",
            *table(dqn_runs, "late_return", "late return", 1, 1, seeds_q),
            "",
            "Per seed (greedy return, `*` = diverged):",
            "",
            *per_seed(dqn_runs, "greedy_return", 1, 1, seeds_q),
            "",
            *divergences(dqn_runs, "gradient step"),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="digits seeds (0…n-1)")
    parser.add_argument("--epochs", type=int, default=30, help="digits epochs")
    parser.add_argument("--dqn-seeds", type=int, default=16, help="DQN seeds (0…n-1)")
    parser.add_argument("--dqn-steps", type=int, default=30_000, help="environment steps per run")
    parser.add_argument("--dqn-optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--skip-digits", action="store_true", help="only the DQN")
    parser.add_argument("--skip-dqn", action="store_true", help="only the digits MLP")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--quick", action="store_true", help="defaults 3 seeds, 5 epochs, 3 DQN seeds × 3,000 steps"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report")
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(given)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(seeds=3, epochs=5, dqn_seeds=3, dqn_steps=3_000)
        args = parser.parse_args(given)
    command = shlex.join(["python", "benchmarks/state_dtype_quality.py", *given])

    start = time.perf_counter()
    walls = {"digits": 0.0, "dqn": 0.0}
    digits_runs: list[DigitsRun] = []
    dqn_runs: list[DQNRun] = []
    if not args.skip_dqn:  # the long tasks first, so the pool stays busy to the end
        print(f"DQN: {args.dqn_seeds} seeds × {args.dqn_steps} steps", flush=True)
        t = time.perf_counter()
        tasks = [("dqn", args.dqn_optimizers, s, args.dqn_steps) for s in range(args.dqn_seeds)]
        dqn_runs = run_jobs(tasks, args.jobs)
        walls["dqn"] = time.perf_counter() - t
    if not args.skip_digits:
        print(f"digits: {args.seeds} seeds × {args.epochs} epochs", flush=True)
        t = time.perf_counter()
        tasks = [
            ("digits", o, d, s, args.epochs)
            for s in range(args.seeds)
            for o in OPTIMIZERS
            for d in STATE_DTYPES
        ]
        digits_runs = run_jobs(tasks, args.jobs)
        walls["digits"] = time.perf_counter() - t
    walls["total"] = time.perf_counter() - start
    tables.write(args.out, markdown(args, digits_runs, dqn_runs, walls, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
