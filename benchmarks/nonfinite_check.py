"""Cost of the NaN/Inf gradient check at the start of ``step()`` (``nonfinite="raise"``).

The check reads every gradient once: on plain CPU float32 and float64 gradients by one
vectorised sweep of the optimizer's kernel library (``all_finite``; on the kernel's path, in the
kernel's own call, ``checked_step``), else max|g| per tensor (``torch._foreach_norm(grads, inf)``
on an accelerator, ``torch.aminmax`` per tensor on CPU), with one sync. Here it is timed against the step itself: each optimizer runs
on float32 parameters of ``--size`` elements in all (``--tensors`` equal tensors, fixed random
gradients) with ``nonfinite="raise"`` and with ``nonfinite="ignore"`` (no check), and the check
alone (``hamopt.runtime.nonfinite.finite``), the three taking timed turns; reported are the
ratios of the check alone, and of the checked step, to the unchecked step. Writes a Markdown
table (default ``benchmarks/results/nonfinite_check.md``).

    python benchmarks/nonfinite_check.py                 # 1M parameters, CPU: ~1 min
    python benchmarks/nonfinite_check.py --size 12800 --tensors 200 --threads 1
    python benchmarks/nonfinite_check.py --device cuda --fused
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import tables  # the sibling modules: this script's folder is on sys.path
import torch
from step_time import make_params  # the same parameters and fixed gradients

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "nonfinite_check.md"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(
    name: str, options: dict, size: int, tensors: int, device: str, steps: int, warmup: int
):
    """Per step, in ms: the step with the check, without it, and the check alone.

    The three take their timed turns round-robin, so load from elsewhere hits them alike;
    each is summarised by its minimum (the least disturbed run) over ``steps`` rounds."""
    import hamopt.optim
    from hamopt.runtime.nonfinite import finite

    cls = getattr(hamopt.optim, name)
    lr = {"lr": 1e-3}
    opts = {
        mode: cls(make_params(size, tensors, device), nonfinite=mode, **lr, **options)
        for mode in ("raise", "ignore")
    }
    checked = opts["raise"]
    work = [(g, checked._rule(g), list(g["params"])) for g in checked.param_groups]
    runs = {
        "raise": opts["raise"].step,
        "ignore": opts["ignore"].step,
        "check": lambda: finite(work, checked),
    }
    times = {mode: [] for mode in runs}
    for i in range(warmup + steps):
        for mode, run in runs.items():
            _sync(device)
            start = time.perf_counter()
            run()
            _sync(device)
            if i >= warmup:
                times[mode].append(1e3 * (time.perf_counter() - start))
    return {mode: (min(t), statistics.median(t)) for mode, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="parameters in all")
    parser.add_argument("--tensors", type=int, default=10, help="equal tensors they are split in")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--fused", action="store_true", help="also the fused path (compiles)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cases = [
        ("Adam", {}),
        ("RAD", {}),
        ("Adam", {"foreach": False}),
        ("Adam", {"foreach": True}),
        ("SGD", {"momentum": 0.9, "foreach": False}),
        ("SGD", {"momentum": 0.9, "foreach": True}),
        ("RAD", {"foreach": True}),
    ]
    if args.fused:
        cases.append(("Adam", {"fused": True}))
    rows = []
    for name, options in cases:
        t = measure(name, options, args.size, args.tensors, args.device, args.steps, args.warmup)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in options.items()) or 'defaults'})"
        rows.append((label, t, t["check"][0] / t["ignore"][0], t["raise"][0] / t["ignore"][0]))
        print(
            f"{label:36s} step {t['ignore'][0]:8.3f} ms, with the check {t['raise'][0]:8.3f} ms, "
            f"the check alone {t['check'][0]:7.3f} ms: {rows[-1][2]:.1%} of the step",
            flush=True,
        )
    given = sys.argv[1:] if argv is None else argv
    lines = [
        f"# NaN/Inf gradient check: {args.size:,} float32 parameters in {args.tensors} tensors "
        f"on {args.device}",
        "",
        f"`{shlex.join(['python', 'benchmarks/nonfinite_check.py', *given])}`",
        "",
        f"torch {torch.__version__}, {tables.machine()}, "
        f"{torch.get_num_threads()} threads; ms per step, minimum (median) of {args.steps} "
        "round-robin rounds.",
        "",
        "The check alone: ``finite``, the library's sweep as a check before the step takes it; "
        "on the kernel's path (the defaults) the kernel's own call checks instead. "
        "Checked / unchecked: the minima's ratio, what the check adds to a step.",
        "",
        "| optimizer | step, nonfinite='ignore' | step, nonfinite='raise' | the check alone "
        "| check / step | checked / unchecked |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {t['ignore'][0]:.3f} ({t['ignore'][1]:.3f}) "
            f"| {t['raise'][0]:.3f} ({t['raise'][1]:.3f}) "
            f"| {t['check'][0]:.3f} ({t['check'][1]:.3f}) | {ratio:.1%} | {checked:.2f} |"
            for label, t, ratio, checked in rows
        ),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
