"""Step time of the generated optimizers against torch.optim (and rad.optim.RAD if installed).

Float32 parameters of a few total sizes, each split into 10 equal tensors, with fixed random
gradients; per optimizer ``--warmup`` untimed steps, then ``--steps`` rounds in which every
optimizer takes one timed step in turn (so load changes hit all alike); the median ms/step. Reported as ratios to ``torch.optim.Adam`` (its default, ``foreach=False``
on CPU) measured in the same run. Writes a Markdown table (default
``benchmarks/results/step_time.md``) and a plot beside it (``.png``).

    python benchmarks/step_time.py                      # 1M parameters: under a minute
    python benchmarks/step_time.py --sizes 100000,10000000 --steps 50
    hamopt bench --sizes 10000 --steps 5 --out /tmp/step_time.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "step_time.md"
BASELINE = "torch.optim.Adam"


def candidates() -> dict[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]]:
    """Name → factory of an optimizer over the given parameters."""
    import hamopt.optim as ours

    out: dict[str, Callable] = {
        BASELINE: lambda ps: torch.optim.Adam(ps, lr=1e-3),
        "torch.optim.Adam(foreach=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
        "hamopt Adam": lambda ps: ours.Adam(ps, lr=1e-3, foreach=False),
        "hamopt Adam(foreach=True)": lambda ps: ours.Adam(ps, lr=1e-3, foreach=True),
        "hamopt RAD": lambda ps: ours.RAD(ps, lr=1e-3, foreach=False),
        "hamopt RAD(foreach=True)": lambda ps: ours.RAD(ps, lr=1e-3, foreach=True),
        "torch.optim.SGD(momentum=0.9)": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9),
        "hamopt SGD(momentum=0.9)": lambda ps: ours.SGD(ps, lr=1e-3, momentum=0.9, foreach=False),
        "hamopt SGD(momentum=0.9, foreach=True)": lambda ps: ours.SGD(
            ps, lr=1e-3, momentum=0.9, foreach=True
        ),
    }
    try:
        from rad.optim import RAD as RefRAD

        out["rad.optim.RAD"] = lambda ps: RefRAD(ps, lr=1e-3)
    except ImportError:
        pass
    return out


def make_params(total: int, device: str, tensors: int = 10) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    size = max(total // tensors, 1)
    params = []
    for _ in range(tensors):
        prm = torch.randn(size, generator=gen).to(device).requires_grad_()
        prm.grad = torch.randn(size, generator=gen).to(device)
        params.append(prm)
    return params


def run(sizes: list[int], steps: int, warmup: int, device: str) -> dict[int, dict[str, float]]:
    """Median ms per ``step()`` by size and optimizer. The optimizers take turns, one step
    each per round, so that a change in machine load hits all of them alike."""
    from tqdm import tqdm

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    table: dict[int, dict[str, float]] = {}
    factories = candidates()
    for n in sizes:
        opts = {name: make(make_params(n, device)) for name, make in factories.items()}
        for opt in opts.values():
            for _ in range(warmup):
                opt.step()
        sync()
        times: dict[str, list[float]] = {name: [] for name in opts}
        for _ in tqdm(range(steps), desc=f"step time, {n:,} params", unit="round"):
            for name, opt in opts.items():
                start = time.perf_counter()
                opt.step()
                sync()
                times[name].append(time.perf_counter() - start)
        table[n] = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
        del opts
    return table


def markdown(table: dict[int, dict[str, float]], steps: int, warmup: int, device: str) -> str:
    sizes = list(table)
    names = list(next(iter(table.values())))
    lines = [
        "# Optimizer step time",
        "",
        f"Median ms per `step()` over {steps} steps after {warmup} warm-up steps; float32, "
        f"10 tensors per size, device `{device}`, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}. "
        f"Ratio = time / time of `{BASELINE}` (default: single-tensor on CPU) in the same run.",
        "",
        "| optimizer | " + " | ".join(f"{n:,} params: ms | ratio" for n in sizes) + " |",
        "|---|" + "---:|---:|" * len(sizes),
    ]
    for name in names:
        cells = []
        for n in sizes:
            ms, base = table[n][name], table[n][BASELINE]
            cells.append(f"{ms:.3f} | {ms / base:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict[int, dict[str, float]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = list(table)
    names = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
    width = 0.8 / len(sizes)
    y = np.arange(len(names))
    for i, n in enumerate(sizes):
        ratios = [table[n][name] / table[n][BASELINE] for name in names]
        ax.barh(y + i * width, ratios, height=width, label=f"{n:,} params")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(y + width * (len(sizes) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set(xlabel=f"step time / {BASELINE}", title="Optimizer step time (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="1000000", help="total parameter counts, comma-separated"
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table to write")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or min(sizes) < 10 or args.steps < 1 or args.warmup < 0:
        parser.error("need sizes >= 10, --steps >= 1 and --warmup >= 0")
    table = run(sizes, args.steps, args.warmup, args.device)
    text = markdown(table, args.steps, args.warmup, args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    figure = plot(table, args.out.with_suffix(".png"))
    print(text)
    print(f"wrote {args.out}\nwrote {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
