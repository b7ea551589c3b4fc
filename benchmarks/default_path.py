"""Epoch time of a small training loop with what a user writes by default.

The digits MLP of the paper reproductions (64-128-128-10, ReLU, cross-entropy, batch 64,
scikit-learn's 1,797 8×8 digits, float32): one epoch of minibatch steps — forward, backward and
``step()`` — per optimizer, each built with no argument but ``lr``. Every optimizer trains its
own copy of the same initial network on the same batches; the optimizers take their epochs in
turn, round after round, so a change in machine load hits all alike. Reported: the median ms
per epoch and its ratio to ``torch.optim.Adam``'s default in the same rounds.

    python benchmarks/default_path.py                  # 30 rounds: about a minute
    python benchmarks/default_path.py --rounds 60 --threads 1

Writes a Markdown table (default ``benchmarks/results/default_path.md``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import tables  # the benchmarks' folder is the script's, on sys.path
import torch

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "default_path.md"
BASELINE = "torch.optim.Adam"


def candidates() -> dict[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]]:
    """Name → factory: torch's defaults and the zoo's, plus the rows that explain them."""
    import hamopt.optim as ours

    return {
        BASELINE: lambda ps: torch.optim.Adam(ps, lr=1e-3),
        "torch.optim.Adam(fused=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        "hamopt Adam (defaults)": lambda ps: ours.Adam(ps, lr=1e-3),
        "hamopt Adam, nonfinite='ignore'": lambda ps: ours.Adam(ps, lr=1e-3, nonfinite="ignore"),
        "hamopt Adam(foreach=False)": lambda ps: ours.Adam(ps, lr=1e-3, foreach=False),
        "hamopt RAD (defaults)": lambda ps: ours.RAD(ps, lr=1e-3),
        "hamopt Lion (defaults)": lambda ps: ours.Lion(ps, lr=1e-4),
    }


def data(batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The digits, scaled to [0, 1], in shuffled minibatches (seeded)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return [(x[order[i : i + batch]], y[order[i : i + batch]]) for i in range(0, len(x), batch)]


def network(seed: int = 0) -> torch.nn.Module:
    """The 64-128-128-10 ReLU MLP, initialised from ``seed``."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches) -> float:
    """One epoch; its wall time in ms."""
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return (time.perf_counter() - start) * 1e3


def run(rounds: int, warmup: int, batch: int) -> dict[str, list[float]]:
    batches = data(batch)
    runs = {}
    for name, make in candidates().items():
        model = network()
        runs[name] = (model, make(list(model.parameters())))
        for _ in range(warmup):  # builds a kernel, fills the caches
            epoch(*runs[name], batches)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (model, optimizer) in runs.items():
            times[name].append(epoch(model, optimizer, batches))
    return times


def markdown(times: dict[str, list[float]], rounds: int, batch: int, command: str) -> str:
    base = statistics.median(times[BASELINE])
    lines = [
        "# Epoch time of the digits MLP with default arguments",
        "",
        f"torch {torch.__version__}, {tables.machine()}, {torch.get_num_threads()} threads; "
        f"64-128-128-10 float32, batch {batch}; median ms per epoch over {rounds} interleaved "
        f"rounds. `{command}`",
        "",
        "| optimizer | ms per epoch | ratio to torch.optim.Adam |",
        "|---|---:|---:|",
    ]
    for name, ts in times.items():
        median = statistics.median(ts)
        lines.append(f"| {name} | {median:.2f} | {median / base:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed epochs per optimizer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed epochs first")
    parser.add_argument("--batch", type=int, default=64, help="minibatch size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table to write")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python benchmarks/default_path.py " + " ".join(argv or [])
    text = markdown(run(args.rounds, args.warmup, args.batch), args.rounds, args.batch, command)
    tables.write(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
