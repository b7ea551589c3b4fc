"""Training-step time under torch.compile against eager, torch.optim and the zoo's optimizers.

The task is the digits MLP of :mod:`hamopt.compare.tasks` (sklearn's 8×8 digits, 64-128-10
ReLU, float32, minibatches of 64). A training step is ``zero_grad``, the cross-entropy of a
minibatch, ``backward()`` and ``opt.step()``. Two compiled training steps are timed against the
eager one:

* torch's recipe for a compiled optimizer: the same eager step with ``torch.compile(opt.step)``
  in place of ``opt.step``, the zero_grad, forward and backward eager;
* the whole function under ``torch.compile``, so that the optimizer's step is compiled with the
  forward and backward passes around it.

(inductor unless ``--backend`` says otherwise). Per optimizer: dynamo is reset, then three
copies of the network from the same seed, one per training step, take ``--warmup`` untimed
steps (the compiled ones compile there, recompilations included), then ``--steps`` timed rounds
in which each takes one step on the same minibatch, in turn (each first as often), so that a
change in machine load hits all alike. Reported per optimizer:

* median ms per training step, eager and compiled both ways, and each ratio (compiled / eager;
  the issue asks for <= 1, a compiled step no slower than the eager one);
* the whole function's warm-up seconds (compilation) and what dynamo counted there: graph
  breaks (splits of a frame plus frames it could not split and ran eagerly) and its warnings
  (such as a hit recompile limit, after which the step runs eagerly); the graph breaks of
  ``torch.compile(opt.step)`` in its warm-up;
* the largest relative distance between a compiled copy's parameters and the eager copy's at
  the end.

The first row, ``no optimizer``, takes the same steps with a ``step()`` that does nothing: what
compiling changes in the zero_grad, forward and backward alone. The column "compiling the step"
subtracts it from each optimizer's difference, compiled - eager: what compiling the optimizer's
step adds to (> 0) or saves from (< 0) the training step.

The zoo's optimizers run at their defaults (``nonfinite="raise"``, a finiteness check of the
gradients each step) unless ``--nonfinite`` is given.

    python benchmarks/compiled_step.py                  # default: ~5 minutes on 2 cores
    python benchmarks/compiled_step.py --path foreach   # every optimizer with foreach=True
    python benchmarks/compiled_step.py --only 'Adam' --steps 300

Writes a Markdown table (default ``benchmarks/results/compiled_step.md``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import tables  # the benchmarks' folder is the script's, on sys.path
import torch
import torch._dynamo
from torch._dynamo.utils import counters
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "compiled_step.md"

#: ``--path`` → the keyword arguments that select it (``default``: the constructors' own).
PATHS = {
    "default": {},
    "single-tensor": dict(foreach=False),
    "foreach": dict(foreach=True),
    "fused": dict(fused=True),
}


BASELINE = "no optimizer"

#: The zoo's other optimizers (name → lr): rows after Adam, SGD and RAD.
REST_OF_THE_ZOO = {
    "AdamW": 1e-3,
    "Adamax": 2e-3,
    "NAdam": 2e-3,
    "RAdam": 1e-3,
    "RGD": 1e-3,
    "DLPF": 1e-2,
    "NAG": 1e-2,
    "Lion": 1e-4,
    "Apollo": 1e-2,
}


class NoOptimizer:
    """The training step's zero_grad and a ``step()`` that does nothing: the baseline row."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        return None


def candidates(
    path: str = "default", nonfinite: str | None = None, only: str | None = None
) -> dict[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]]:
    """Name → factory of an optimizer over the given parameters, on ``path``.

    ``only``: a regular expression; the names it does not match are left out."""
    import hamopt.optim as ours

    kw = PATHS[path]
    zoo = dict(kw, **({} if nonfinite is None else {"nonfinite": nonfinite}))
    out = {
        BASELINE: NoOptimizer,
        "torch.optim.Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, **kw),
        "hamopt Adam": lambda ps: ours.Adam(ps, lr=1e-3, **zoo),
        "torch.optim.SGD(momentum=0.9)": lambda ps: torch.optim.SGD(
            ps, lr=0.01, momentum=0.9, **kw
        ),
        "hamopt SGD(momentum=0.9)": lambda ps: ours.SGD(ps, lr=0.01, momentum=0.9, **zoo),
        "hamopt RAD": lambda ps: ours.RAD(ps, lr=1e-3, **zoo),
        # the rest of the zoo
        **{
            f"hamopt {name}": functools.partial(getattr(ours, name), lr=lr, **zoo)
            for name, lr in REST_OF_THE_ZOO.items()
        },
        # low-precision state: under torch.compile one operator that runs the eager step
        "hamopt Adam, state_dtype=bfloat16": lambda ps: ours.Adam(
            ps, lr=1e-3, state_dtype=torch.bfloat16, **zoo
        ),
        "hamopt Adam, state_dtype=uint8": lambda ps: ours.Adam(
            ps, lr=1e-3, state_dtype=torch.uint8, **zoo
        ),
    }
    if only is None:
        return out
    pattern = re.compile(only)
    return {name: make for name, make in out.items() if name == BASELINE or pattern.search(name)}


class _Warnings(logging.Handler):
    """Counts the WARNING (and worse) records of the compiler's loggers, each once."""

    LOGGERS = ("torch", "torch._dynamo", "torch._inductor")

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen: dict[int, str] = {}

    def emit(self, record):
        self.seen.setdefault(id(record), record.getMessage().strip().splitlines()[0])

    def __enter__(self):
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def _forget_warnings_given_once() -> None:
    """Let dynamo warn again what it warns once per process (``warning_once``, a cache), so
    that each row reports its own warnings, not only the first row to meet one."""
    from torch._logging import _internal

    once = getattr(_internal, "warning_once", None)
    if hasattr(once, "cache_clear"):
        once.cache_clear()


def _breaks() -> int:
    """Graph breaks dynamo counted so far: splits, and frames it gave up on (run eagerly)."""
    return sum(counters["graph_break"].values()) + sum(counters["unimplemented"].values())


def run_optimizer(
    make: Callable, batches: list, steps: int, warmup: int, backend: str
) -> dict[str, object]:
    """One optimizer, eager against compiled: medians, warm-up, breaks, warnings, distance."""
    from hamopt.compare.tasks import mlp

    torch._dynamo.reset()
    counters.clear()
    _forget_warnings_given_once()
    nets, steppers = [], []
    for copy in range(3):
        torch.manual_seed(0)
        net = mlp()
        opt = make(list(net.parameters()))
        # the third copy: torch's recipe, torch.compile(opt.step) in an eager training step
        step = torch.compile(opt.step, backend=backend) if copy == 2 else opt.step

        def train_step(x, y, net=net, opt=opt, step=step):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            step()
            return loss

        nets.append(net)
        steppers.append(train_step)
    eager, compiled, recipe = steppers[0], torch.compile(steppers[1], backend=backend), steppers[2]
    start = time.perf_counter()
    with _Warnings() as logged, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(warmup):
            compiled(*batches[k % len(batches)])
    seconds = time.perf_counter() - start
    for k in range(warmup):
        eager(*batches[k % len(batches)])
    notes = [*logged.seen.values(), *(str(w.message).splitlines()[0] for w in caught)]
    breaks = _breaks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the compiled row's notes are the ones reported
        for k in range(warmup):
            recipe(*batches[k % len(batches)])
    more = _breaks() - breaks  # the recipe's own, counted apart from the timed rounds'
    times: dict[str, list[float]] = {"eager": [], "compiled": [], "recipe": []}
    order = [("eager", eager), ("compiled", compiled), ("recipe", recipe)]
    for k in range(steps):
        batch = batches[(warmup + k) % len(batches)]
        turn = k % len(order)  # each copy first, second and third as often
        for name, fn in order[turn:] + order[:turn]:
            begin = time.perf_counter()
            fn(*batch)
            times[name].append(time.perf_counter() - begin)
    with torch.no_grad():
        distance = max(
            float((a - b).abs().max() / b.abs().max())
            for copy in (1, 2)
            for a, b in zip(nets[copy].parameters(), nets[0].parameters(), strict=True)
        )
    torch._dynamo.reset()
    return {
        "eager": statistics.median(times["eager"]),
        "compiled": statistics.median(times["compiled"]),
        "recipe": statistics.median(times["recipe"]),
        "warmup_s": seconds,
        "breaks": breaks,
        "more_breaks": _breaks() - breaks - more,  # in the timed rounds: recompilations
        "recipe_breaks": more,
        "notes": notes,
        "distance": distance,
    }


def time_step(
    make: Callable, batch: tuple, steps: int, warmup: int, backend: str
) -> tuple[float, float]:
    """``opt.step()`` alone, eager against ``torch.compile(opt.step)``: median seconds of each,
    interleaved, on the gradients of one minibatch (kept: the same work every round)."""
    from hamopt.compare.tasks import mlp

    torch._dynamo.reset()
    optimizers = []
    for _ in range(2):
        torch.manual_seed(0)
        net = mlp()
        F.cross_entropy(net(batch[0]), batch[1]).backward()
        optimizers.append(make(list(net.parameters())))
    compiled = torch.compile(optimizers[1].step, backend=backend)
    order = [("eager", optimizers[0].step), ("compiled", compiled)]
    for _ in range(warmup):
        for _, fn in order:
            fn()
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for k in range(steps):
        for name, fn in order if k % 2 == 0 else order[::-1]:
            begin = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - begin)
    torch._dynamo.reset()
    return statistics.median(times["eager"]), statistics.median(times["compiled"])


def minibatches(count: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` minibatches of 64 training digits, drawn without replacement per epoch."""
    from hamopt.compare.tasks import BATCH, digits_split

    data = digits_split()
    n = len(data.y_train)
    gen = torch.Generator().manual_seed(seed)
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    while len(out) < count:
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - BATCH + 1, BATCH):  # full batches only: one shape to compile
            idx = perm[start : start + BATCH]
            out.append((data.x_train[idx], data.y_train[idx]))
    return out[:count]


def run(steps: int, warmup: int, path: str, backend: str, nonfinite=None, only=None) -> dict:
    from tqdm import tqdm

    batches = minibatches(warmup + steps)
    table = {}
    for name, make in tqdm(candidates(path, nonfinite, only).items(), unit="optimizer"):
        table[name] = run_optimizer(make, batches, steps, warmup, backend)
        if name != BASELINE:
            eager, compiled = time_step(make, batches[0], steps, warmup, backend)
            table[name].update(step_eager=eager, step_compiled=compiled)
    return table


def _short(note: str, width: int = 80) -> str:
    """A warning as a table cell: its start, ``|`` escaped."""
    note = note if len(note) <= width else note[: width - 1].rstrip() + "…"
    return note.replace("|", "\\|")


def markdown(table: dict, args: argparse.Namespace, command: str = "") -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Compiled training step",
        "",
        *([f"`{command}`", ""] if command else []),
        "The digits MLP (64-128-10 ReLU, float32, batch 64): median ms per training step "
        "(zero_grad, forward, backward, `opt.step()`) over "
        f"{args.steps} rounds after {args.warmup} warm-up steps, eager against two compiled "
        f"ones, `torch.compile(backend={args.backend!r})`, path `{args.path}`, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, "
        f"{tables.machine()}, load average {load:.2f} at the end. "
        "Two compiled training steps: *`compile(opt.step)`*, torch's recipe for a compiled "
        "optimizer, the eager zero_grad, forward and backward with `torch.compile(opt.step)`; "
        "*whole function*, the training step's function under `torch.compile`, forward and "
        "backward compiled too. Ratio = compiled / eager (<= 1: the compiled training step is no "
        "slower); the three copies take their steps in turn, each first as often. "
        "Warm-up = seconds of the whole function's warm-up steps (compilation). Breaks = graph "
        "breaks dynamo counted in that warm-up (splits, and frames it ran eagerly), + those of "
        "the timed rounds (recompilations); recipe breaks = those of `torch.compile(opt.step)` "
        "in its warm-up. Δθ = largest relative distance of a compiled copy's parameters to the "
        "eager copy's at the end. Step µs = `opt.step()` alone, median over as many interleaved "
        "rounds on the "
        "gradients of one minibatch, eager and under `torch.compile(opt.step)` (its ratio: "
        "compiled / eager). Compiling the step = (compiled - eager) - (the same for "
        f"`{BASELINE}`, whose `step()` does nothing), µs: what compiling the optimizer's step "
        "adds to the training step (< 0: saves).",
        "",
        "| optimizer | eager ms | `compile(opt.step)` ms | ratio | no slower "
        "| whole function ms | ratio | no slower | compiling the step µs | warm-up s | breaks "
        "| recipe breaks | dynamo warnings | Δθ | step µs eager | step µs compiled "
        "| step ratio |",
        "|---|---:|---:|---:|:---:|---:|---:|:---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    base = table.get(BASELINE)
    for name, row in table.items():
        ratio = row["compiled"] / row["eager"]
        recipe = row["recipe"] / row["eager"]
        notes = "; ".join(_short(note) for note in sorted(set(row["notes"]))) or "-"
        more = f" + {row['more_breaks']}" if row["more_breaks"] else ""
        own = "-"
        if base is not None and name != BASELINE:
            change = row["compiled"] - row["eager"] - (base["compiled"] - base["eager"])
            own = f"{1e6 * change:+.0f}"
        step = (
            f"{1e6 * row['step_eager']:.0f} | {1e6 * row['step_compiled']:.0f} "
            f"| {row['step_compiled'] / row['step_eager']:.2f}"
            if "step_eager" in row
            else "- | - | -"
        )
        lines.append(
            f"| {name} | {1e3 * row['eager']:.3f} | {1e3 * row['recipe']:.3f} | {recipe:.2f} "
            f"| {'yes' if recipe <= 1 else 'no'} | {1e3 * row['compiled']:.3f} | {ratio:.2f} "
            f"| {'yes' if ratio <= 1 else 'no'} | {own} | {row['warmup_s']:.1f} "
            f"| {row['breaks']}{more} | {row['recipe_breaks']} | {notes} "
            f"| {row['distance']:.1e} | {step} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="timed rounds (median)")
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed steps first (compiles; > 8 recompiles)"
    )
    parser.add_argument("--path", choices=list(PATHS), default="default", help="optimizer path")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument(
        "--nonfinite", choices=["raise", "skip", "ignore"], help="the zoo's nonfinite option"
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", metavar="REGEX", help="optimizers whose name matches")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table to write")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error("need --steps >= 1 and --warmup >= 1")
    if args.only is not None:
        try:
            re.compile(args.only)
        except re.error as error:
            parser.error(f"--only: not a regular expression: {error}")
        if not candidates(only=args.only):
            parser.error(f"--only {args.only!r} matches no optimizer")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    table = run(args.steps, args.warmup, args.path, args.backend, args.nonfinite, args.only)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/compiled_step.py", *given])
    text = markdown(table, args, command)
    tables.write(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
