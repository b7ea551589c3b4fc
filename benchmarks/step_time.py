"""Step time of the generated optimizers against torch.optim and pytorch-rad, with a triad.

An optimizer step is memory-bound, so it is measured against the machine's streaming bandwidth:
a STREAM triad ``a = b + s·c`` on float32 arrays as long as the model, timed in the same rounds.

Per configuration (total float32 parameters × number of equal tensors): one shared set of
parameters with fixed random gradients; every optimizer takes ``--warmup`` untimed steps (the
fused ones compile there), then ``--steps`` rounds in which the triad and every optimizer take
one timed step in turn, so a change in machine load hits all alike. Reported per optimizer:

* median ms per ``step()`` and the ratio to ``torch.optim.Adam(fused=True)`` of the same rounds;
* effective bandwidth: the bytes a step must move, (2 + 1)·4 for reading θ and g and writing θ
  plus 2 × the state bytes (read and written), over the median time; and its % of the triad's;
* optimizer-state bytes per parameter (full-size buffers) and the other state per tensor;
* peak memory a step adds on top of what exists before it. On CPU torch's allocations do not go
  through malloc hooks that tracemalloc sees; the torch profiler (``profile_memory=True``)
  records every allocation and free of torch's CPU allocator, including the buffers of
  inductor-compiled code, and the peak is the maximum of their running sum over one step. On
  CUDA: ``torch.cuda.max_memory_allocated`` over the step.

The generated optimizers run with ``nonfinite="ignore"`` (torch.optim's behaviour: no NaN check)
except the rows marked "(defaults)", which take no arguments but ``lr`` (the default path and
the default check, ``"raise"``, which reads every gradient once more), and one fused row with
``"raise"``. The ``state_dtype`` rows keep Adam's and RAD's buffers in bfloat16 (stochastic
rounding) or 8 bits (block-wise quantisation), with and without the check. Where torchao is
installed (``pip install -e ".[bench]"``), its 8-bit Adam (``torchao.optim.Adam8bit``, blocks of
256, its step compiled by torch.compile) is timed beside them: it quantises only the tensors
whose size is a multiple of 256 and at least 4096, and keeps the others in float32 (the state
column shows which), so time it at sizes such as ``--sizes 10.24M,51.2M --tensors 10,200``.

    python benchmarks/step_time.py             # 1M parameters in 10 tensors: a few minutes
    python benchmarks/step_time.py --sizes 1M,10M,50M --tensors 10,200    # the acceptance run
    python benchmarks/step_time.py --device cuda
    python benchmarks/step_time.py --only 'RAD' # the RADs (and the baseline)
    hamopt bench --sizes 10000 --steps 5 --out /tmp/step_time.md

Writes a Markdown table (default ``benchmarks/results/step_time.md``) and a plot beside it.
"""

from __future__ import annotations

import argparse
import functools
import gc
import math
import os
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.optim import Optimizer

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "step_time.md"
BASELINE = "torch.optim.Adam(fused=True)"
TRIAD = "triad a = b + s·c"


def candidates(only: str | None = None) -> dict[str, Callable[[list[torch.Tensor]], Optimizer]]:
    """Name → factory of an optimizer over the given parameters.

    ``only``: a regular expression; the names it does not match are left out, save the
    baseline, ``torch.optim.Adam(fused=True)``, which every ratio needs."""
    import hamopt.optim as ours

    fast = dict(nonfinite="ignore")
    out: dict[str, Callable] = {
        "torch.optim.Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
        "torch.optim.Adam(foreach=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
        BASELINE: lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        "hamopt Adam (defaults)": lambda ps: ours.Adam(ps, lr=1e-3),
        "hamopt Adam, nonfinite='ignore'": lambda ps: ours.Adam(ps, lr=1e-3, **fast),
        "hamopt RAD (defaults)": lambda ps: ours.RAD(ps, lr=1e-3),
        "hamopt RAD, nonfinite='ignore'": lambda ps: ours.RAD(ps, lr=1e-3, **fast),
        "hamopt Adam(fused=True)": lambda ps: ours.Adam(ps, lr=1e-3, fused=True, **fast),
        "hamopt AdamW(fused=True)": lambda ps: ours.AdamW(ps, lr=1e-3, fused=True, **fast),
        "hamopt RAD(fused=True)": lambda ps: ours.RAD(ps, lr=1e-3, fused=True, **fast),
        "hamopt RAD(fused=True), nonfinite='raise'": lambda ps: ours.RAD(ps, lr=1e-3, fused=True),
        "hamopt RAD(order=2, fused=True)": lambda ps: ours.RAD(
            ps, lr=1e-3, order=2, fused=True, **fast
        ),
        "hamopt RAD(foreach=False)": lambda ps: ours.RAD(ps, lr=1e-3, foreach=False, **fast),
        "hamopt RAD(foreach=True)": lambda ps: ours.RAD(ps, lr=1e-3, foreach=True, **fast),
        "hamopt RGD(fused=True)": lambda ps: ours.RGD(
            ps, lr=1e-3, momentum=0.9, delta=1.0, fused=True, **fast
        ),
        "torch.optim.SGD(momentum=0.9)": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9),
        "torch.optim.SGD(momentum=0.9, fused=True)": lambda ps: torch.optim.SGD(
            ps, lr=1e-3, momentum=0.9, fused=True
        ),
        "hamopt SGD(momentum=0.9, fused=True)": lambda ps: ours.SGD(
            ps, lr=1e-3, momentum=0.9, fused=True, **fast
        ),
    }
    out |= {  # the list and the one-tensor paths (torch's: foreach=True and the for-loop)
        "hamopt Adam(foreach=True)": lambda ps: ours.Adam(ps, lr=1e-3, foreach=True, **fast),
        "hamopt Adam(foreach=True) (defaults)": lambda ps: ours.Adam(ps, lr=1e-3, foreach=True),
        "hamopt Adam(foreach=False)": lambda ps: ours.Adam(ps, lr=1e-3, foreach=False, **fast),
        "torch.optim.SGD(momentum=0.9, foreach=True)": lambda ps: torch.optim.SGD(
            ps, lr=1e-3, momentum=0.9, foreach=True
        ),
        "hamopt SGD(momentum=0.9, foreach=True)": lambda ps: ours.SGD(
            ps, lr=1e-3, momentum=0.9, foreach=True, **fast
        ),
        "hamopt SGD(momentum=0.9, foreach=False)": lambda ps: ours.SGD(
            ps, lr=1e-3, momentum=0.9, foreach=False, **fast
        ),
        "hamopt Lion(foreach=True)": lambda ps: ours.Lion(ps, lr=1e-4, foreach=True, **fast),
        "hamopt Lion(foreach=False)": lambda ps: ours.Lion(ps, lr=1e-4, foreach=False, **fast),
    }
    out |= {  # a derived rule whose position update reads √y + ε four times (codegen/shared.py)
        f"{DERIVED}(foreach=True)": lambda ps: _derived()(ps, lr=1e-3, foreach=True, **fast),
        f"{DERIVED}(foreach=False)": lambda ps: _derived()(ps, lr=1e-3, foreach=False, **fast),
        f"{DERIVED}(fused=True)": lambda ps: _derived()(ps, lr=1e-3, fused=True, **fast),
    }
    for cls in (ours.Adam, ours.RAD):  # low-precision state: (defaults) and without the check
        for dtype in (torch.bfloat16, torch.uint8):
            name = f"hamopt {cls.__name__}(state_dtype={str(dtype).removeprefix('torch.')})"
            out[f"{name} (defaults)"] = lambda ps, c=cls, d=dtype: c(ps, lr=1e-3, state_dtype=d)
            out[f"{name}, nonfinite='ignore'"] = lambda ps, c=cls, d=dtype: c(
                ps, lr=1e-3, state_dtype=d, **fast
            )
    try:
        from rad.optim import RAD as RefRAD

        out["rad.optim.RAD"] = lambda ps: RefRAD(ps, lr=1e-3)
    except ImportError:
        pass
    pattern = re.compile(only or "")
    if pattern.search(TORCHAO):  # imported only when asked for: torchao takes seconds to load
        try:
            from torchao.optim import Adam8bit

            out[TORCHAO] = lambda ps: Adam8bit(ps, lr=1e-3, block_size=256)
        except ImportError:
            pass
    return {name: make for name, make in out.items() if name == BASELINE or pattern.search(name)}


#: torchao's 8-bit Adam, the comparison point for 8-bit state (where torchao is installed).
TORCHAO = "torchao.optim.Adam8bit"


#: The rows of a derived optimizer: RAD's energy by leapfrog, its mass the second moment.
DERIVED = "derived relativistic leapfrog diagonal_mass"


@functools.cache
def _derived() -> type[Optimizer]:
    """The class of :data:`DERIVED`, derived once per process."""
    import hamopt
    from hamopt.kinetic import relativistic

    return hamopt.derive(relativistic(), "leapfrog", "diagonal_mass", name="Derived").cls


def make_params(total: int, tensors: int, device: str) -> list[torch.Tensor]:
    """``tensors`` float32 parameters of ``total // tensors`` elements, with random gradients."""
    gen = torch.Generator().manual_seed(0)
    size = max(total // tensors, 1)
    params = []
    for _ in range(tensors):
        p = torch.randn(size, generator=gen).to(device).requires_grad_()
        p.grad = torch.randn(size, generator=gen).to(device)
        params.append(p)
    return params


def state_bytes(opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> tuple[float, str]:
    """State bytes per parameter of the tensors that grow with it (full-size buffers; 8-bit
    state's codes and block maxima), and the names of the other state per tensor."""
    full, other = 0, set()
    for p in params:
        for name, value in opt.state[p].items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and p.numel() > 1:
                full += _nbytes(value)
            else:
                other.add(name)
    return full / sum(p.numel() for p in params), ", ".join(sorted(other)) or "-"


def _nbytes(t: torch.Tensor) -> int:
    """The bytes a state tensor holds: its own, or a tensor subclass's inner tensors' (torchao's
    8-bit state: its codes and block scales, where the subclass reports float32 elements)."""
    flatten = getattr(t, "__tensor_flatten__", None)
    if flatten is None:
        return t.numel() * t.element_size()
    return sum(_nbytes(getattr(t, name)) for name in flatten()[0])


def peak_step_memory(step: Callable[[], object], device: str) -> int:
    """Bytes allocated at the peak of one call of ``step`` above what was allocated before."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        now += e.nbytes()
        peak = max(peak, now)
    return peak


def triad(n: int, device: str) -> Callable[[], None]:
    """One STREAM triad ``a = b + s·c`` on float32 arrays of ``n`` elements (12 bytes each)."""
    a = torch.empty(n, device=device)
    b, c = torch.rand(n, device=device), torch.rand(n, device=device)
    return lambda: torch.add(b, c, alpha=3.0, out=a)


def run_config(
    n: int, tensors: int, steps: int, warmup: int, device: str, only: str | None = None
) -> dict[str, dict]:
    """Per optimizer (and the triad): median seconds, traffic bytes/param, state, peak bytes."""
    from tqdm import tqdm

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    params = make_params(n, tensors, device)
    numel = sum(p.numel() for p in params)
    runs = {TRIAD: triad(numel, device)}
    opts = {}
    for name, make in candidates(only).items():
        opts[name] = make(params)
        runs[name] = opts[name].step
    info: dict[str, dict] = {TRIAD: {"bytes": 12.0, "state": 0.0, "other": "-", "peak": 0}}
    for name, opt in opts.items():
        for _ in range(max(warmup, 1)):  # creates the state; the fused paths compile
            opt.step()
        full, other = state_bytes(opt, params)
        info[name] = {"bytes": 12.0 + 2 * full, "state": full, "other": other}
        info[name]["peak"] = peak_step_memory(opt.step, device)
    sync()
    times: dict[str, list[float]] = {name: [] for name in runs}
    desc = f"{n:,} params in {tensors} tensors"
    for _ in tqdm(range(steps), desc=desc, unit="round"):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            sync()
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        info[name]["seconds"] = statistics.median(ts)
        info[name]["numel"] = numel
    del opts, runs, params
    gc.collect()
    return info


def run(sizes, tensor_counts, steps: int, warmup: int, device: str, only: str | None = None):
    """Every configuration: ``(parameters, tensors)`` → :func:`run_config`'s table."""
    return {
        (n, k): run_config(n, k, steps, warmup, device, only) for n in sizes for k in tensor_counts
    }


def _mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:.2f}"


def markdown(table: dict, steps: int, warmup: int, device: str, command: str = "") -> str:
    import tables  # the sibling module; this script's folder is on sys.path when it runs

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Optimizer step time",
        "",
        *([f"`{command}`", ""] if command else []),
        f"Median ms per `step()` over {steps} rounds after {max(warmup, 1)} warm-up steps; float32 "
        f"parameters in equal tensors, device `{device}`, torch {torch.__version__}, "
        f"{tables.threads()}, {tables.machine()}, "
        f"load average {load:.2f} at the end. Ratio = time / time of `{BASELINE}` in the same "
        "rounds. GB/s = bytes a step must move (read θ, g and the state, write θ and the "
        "state) / time; % triad = that / the triad's GB/s (12 bytes per element). State = "
        "full-size optimizer state, bytes per parameter (other: per-tensor state). Peak = "
        "memory one step allocates on top of what exists (CPU: torch profiler; CUDA: "
        "max_memory_allocated). hamopt rows run with `nonfinite='ignore'` unless marked.",
    ]
    lines += summary(table)
    for (n, k), info in table.items():
        base = info[BASELINE]["seconds"]
        triad_gbs = info[TRIAD]["bytes"] * info[TRIAD]["numel"] / info[TRIAD]["seconds"] / 1e9
        lines += [
            "",
            f"## {n:,} parameters in {k} tensors",
            "",
            "| optimizer | ms | ratio | GB/s | % triad | state B/param (other) | peak MB |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for name, row in info.items():
            gbs = row["bytes"] * row["numel"] / row["seconds"] / 1e9
            lines.append(
                f"| {name} | {1e3 * row['seconds']:.3f} | {row['seconds'] / base:.2f} "
                f"| {gbs:.1f} | {100 * gbs / triad_gbs:.0f} "
                f"| {row['state']:.0f} ({row['other']}) | {_mb(row['peak'])} |"
            )
    return "\n".join(lines) + "\n"


#: The rows the acceptance criteria name: generated Adam and RAD against torch's fused Adam,
#: RAD against pytorch-rad's.
FUSED_ADAM, FUSED_RAD, REFERENCE_RAD = (
    "hamopt Adam(fused=True)",
    "hamopt RAD(fused=True)",
    "rad.optim.RAD",
)
FOREACH_ADAM, TORCH_FOREACH_ADAM = "hamopt Adam(foreach=True)", "torch.optim.Adam(foreach=True)"
#: The summary's ratios, numerator / denominator: the issues' acceptance figures.
RATIOS = (
    *((f"hamopt {name} (defaults)", BASELINE) for name in ("Adam", "RAD")),
    *((f"hamopt {name}, nonfinite='ignore'", BASELINE) for name in ("Adam", "RAD")),
    (FUSED_ADAM, BASELINE),
    (FUSED_RAD, BASELINE),
    (FOREACH_ADAM, TORCH_FOREACH_ADAM),
    (f"{FOREACH_ADAM} (defaults)", TORCH_FOREACH_ADAM),
    (REFERENCE_RAD, FUSED_RAD),
)


def summary(table: dict) -> list[str]:
    """The acceptance figures of every configuration, in one table: the :data:`RATIOS` of
    step times, and peak memory a step adds (foreach Adam: ours and torch's)."""
    lines = [
        "",
        "## Summary",
        "",
        "| parameters | tensors | "
        + " | ".join(f"{a} / {b}" for a, b in RATIOS)
        + f" | peak MB: {FOREACH_ADAM}, {TORCH_FOREACH_ADAM} "
        f"| {FUSED_RAD}: peak MB, state B/param (other) |",
        "|---:|---:|" + "---:|" * len(RATIOS) + "---|---|",
    ]
    for (n, k), info in table.items():
        cells = [
            f"{info[a]['seconds'] / info[b]['seconds']:.2f}" if a in info and b in info else "-"
            for a, b in RATIOS
        ]
        ours, theirs, rad = (
            info.get(FOREACH_ADAM),
            info.get(TORCH_FOREACH_ADAM),
            info.get(FUSED_RAD),
        )
        cells.append(f"{_mb(ours['peak'])}, {_mb(theirs['peak'])}" if ours and theirs else "-")
        cells.append(f"{_mb(rad['peak'])}, {rad['state']:.0f} ({rad['other']})" if rad else "-")
        lines.append(f"| {n:,} | {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Low-precision state (`state_dtype`): step time / {BASELINE}, state bytes per parameter",
        "",
        "| parameters | tensors | optimizer | ratio | state B/param |",
        "|---:|---:|---|---:|---:|",
    ]
    for (n, k), info in table.items():
        base = info[BASELINE]["seconds"]
        for name in (m for m in info if "state_dtype=" in m or m == TORCHAO):
            row = info[name]
            lines.append(
                f"| {n:,} | {k} | {name} | {row['seconds'] / base:.2f} | {row['state']:.3f} |"
            )
    return lines


def plot(table: dict, path: Path) -> Path:
    """Ratio to the baseline per optimizer, one bar per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    configs = list(table)
    names = [name for name in next(iter(table.values())) if name != TRIAD]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(names) + 1.8))
    width = 0.8 / len(configs)
    y = np.arange(len(names))
    for i, (n, k) in enumerate(configs):
        info = table[(n, k)]
        ratios = [info[name]["seconds"] / info[BASELINE]["seconds"] for name in names]
        ax.barh(y + i * width, ratios, height=width, label=f"{n:,} params, {k} tensors")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y + width * (len(configs) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set(xlabel=f"step time / {BASELINE} (log scale)", title="Optimizer step time (median)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _count(text: str) -> int:
    """``"10M"`` → 10_000_000, ``"1_000"`` → 1000, ``"10.24M"`` → 10_240_000; ValueError for
    what is not a whole count (``"1.5"``, ``"inf"``)."""
    text = text.strip().replace("_", "").upper()
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    value = float(text[:-1] if scale > 1 else text) * scale
    if not math.isfinite(value) or abs(value - round(value)) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"not a whole count: {text}")
    return round(value)


def _counts(text: str) -> list[int]:
    return [_count(s) for s in text.split(",") if s.strip()]


def argument_problem(
    sizes: str, tensors: str, steps: int, warmup: int, device: str, only: str | None
) -> str | None:
    """What is wrong with the arguments (the command line's, or ``hamopt bench``'s), or None:
    counts that do not parse, a size that the tensor counts do not divide (10 parameters in 3
    tensors would time 9 under a heading of 10), steps, the device, the pattern."""
    try:
        size_list, count_list = _counts(sizes), _counts(tensors)
    except ValueError:
        return f"--sizes and --tensors take counts like 1M,10M; got {sizes!r} and {tensors!r}"
    if not size_list or not count_list or min(count_list) < 1 or min(size_list) < max(count_list):
        return "need tensor counts >= 1 and sizes >= the largest tensor count"
    for size in size_list:
        for count in count_list:
            if size % count:
                return (
                    f"--sizes {size:,} is not a multiple of --tensors {count}: the tensors "
                    "would hold fewer parameters than the table says"
                )
    if steps < 1 or warmup < 0:
        return "need --steps >= 1 and --warmup >= 0"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "--device cuda: no CUDA device here"
    if only is not None:
        try:
            re.compile(only)
        except re.error as error:
            return f"--only: not a regular expression: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1M", help="total parameter counts (10M, 50_000_000)")
    parser.add_argument("--tensors", default="10", help="tensor counts, comma-separated")
    parser.add_argument("--steps", type=int, default=30, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compiles)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cpu or cuda")
    parser.add_argument(
        "--only", metavar="REGEX", help="optimizers whose name matches (the baseline always runs)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table to write")
    args = parser.parse_args(argv)
    problem = argument_problem(
        args.sizes, args.tensors, args.steps, args.warmup, args.device, args.only
    )
    if problem is not None:
        parser.error(problem)
    sizes, counts = _counts(args.sizes), _counts(args.tensors)
    table = run(sizes, counts, args.steps, args.warmup, args.device, args.only)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/step_time.py", *given])
    text = markdown(table, args.steps, args.warmup, args.device, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    figure = plot(table, args.out.with_suffix(".png"))
    print(text)
    print(f"wrote {args.out}\nwrote {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
