"""Cold start of a generated optimizer: derive + generate RAD, then its first fused step.

Every figure comes from a fresh Python process, so nothing is imported or compiled before it:

1. **derive + generate**: the imports (torch, SymPy, hamopt) timed apart from the work, then
   RAD derived from the relativistic kinetic energy T(p) = c√(p² + m²c²) and generated as a
   module, two ways: ``hamopt.derive`` (one rule: the Euler scheme, Adam's closure) and the
   zoo's RAD (six rules, orders 1 and 2 × three ζ modes, renamed to pytorch-rad's arguments).
   Median of ``--repeats`` processes.
2. **first fused step**: ``RAD(fused=True)`` on float32 parameters in 10 and in 200 tensors;
   build or compile time = first step - median of the next steps, for both backends of the fused
   path. The generated C++ kernel: the first process gets an empty ``HAMOPT_CACHE_DIR`` (cold, as
   on a fresh machine) and builds the library, a second process loads what the first left.
   torch.compile (``HAMOPT_FUSED=compile``): the first process gets an empty inductor cache
   directory (``TORCHINDUCTOR_CACHE_DIR``), a second process the directory the first left behind
   (inductor's FX graph and AOT autograd caches are on by default in torch 2.13), which skips
   code generation and the C++ compiler.

    python benchmarks/cold_start.py                 # about 4 minutes on 2 cores
    python benchmarks/cold_start.py --tensors 10 --repeats 1

Writes ``benchmarks/results/cold_start.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tables  # the benchmarks' folder is the script's, on sys.path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "cold_start.md"


def child_derive(zoo: bool) -> dict[str, float]:
    """Seconds: imports, then derive + generate (``zoo``: the zoo's RAD, else hamopt.derive)."""
    t0 = time.perf_counter()
    import sympy  # noqa: F401
    import torch  # noqa: F401

    t1 = time.perf_counter()
    import hamopt
    from hamopt.codegen import generate_module
    from hamopt.zoo import ZOO

    t2 = time.perf_counter()
    if zoo:
        source = generate_module(ZOO["RAD"][1]())
        what = "derive + generate (zoo RAD: six rules)"
    else:
        energy = hamopt.kinetic.relativistic()
        source = hamopt.derive(energy, scheme="euler", closure="adam").source
        what = "derive + generate (hamopt.derive: one rule)"
    assert "def _fused_" in source
    t3 = time.perf_counter()
    return {"import torch + sympy": t1 - t0, "import hamopt": t2 - t1, what: t3 - t2}


def child_compile(tensors: int, size: int, later: int = 5) -> dict[str, float]:
    """Seconds of RAD(fused=True)'s first step and the median of the ``later`` steps after it,
    on the backend the environment selects (``HAMOPT_FUSED=compile``: torch.compile)."""
    from step_time import make_params  # the same parameters and fixed gradients

    import hamopt.optim

    params = make_params(size, tensors, "cpu")
    opt = hamopt.optim.RAD(params, lr=1e-3, fused=True, nonfinite="ignore")
    t0 = time.perf_counter()
    opt.step()
    first = time.perf_counter() - t0
    times = []
    for _ in range(later):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    cls = type(opt)  # the shared runtime keeps what ran on the class
    assert not cls.COMPILED.failed, "the fused step fell back instead of compiling"
    if os.environ.get("HAMOPT_FUSED") == "compile":
        assert cls.COMPILED.functions, "the step did not run on torch.compile"
    else:
        assert cls.KERNEL.path and not cls.COMPILED.functions, "no kernel ran"
    return {"first step": first, "later step": statistics.median(times)}


def _child(args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(tensor_counts: list[int], size: int, repeats: int):
    derive = {}
    for which in ("one", "zoo"):  # each in processes of its own: SymPy caches across them
        runs = [_child(["derive", "--rule", which]) for _ in range(repeats)]
        derive |= {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    compiles = []
    for backend in ("C++ kernel", "torch.compile"):
        for count in tensor_counts:
            with tempfile.TemporaryDirectory(prefix="fused-cache-") as cache:
                env = {**os.environ, "HAMOPT_CACHE_DIR": cache}
                if backend == "torch.compile":
                    env |= {"HAMOPT_FUSED": "compile", "TORCHINDUCTOR_CACHE_DIR": cache}
                args = ["compile", "--tensors", str(count), "--size", str(size)]
                cold = _child(args, env)
                cached = _child(args, env)
            compiles.append((backend, count, cold, cached))
            print(f"{backend}, {count} tensors: cold {cold}, cached {cached}", flush=True)
    return derive, compiles


def report(derive, compiles, size: int, repeats: int) -> str:
    import torch

    lines = [
        "# Cold start: derive + generate RAD, then its first fused step",
        "",
        f"Fresh Python process per figure; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {torch.__version__}. "
        f"Produced by `python benchmarks/cold_start.py`.",
        "",
        f"## Derive + generate (median of {repeats} fresh processes per row)",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in derive.items()]
    lines += [
        "",
        "Target: derive + generate < 2 s (the imports are reported apart).",
        "",
        f"## First fused step: RAD(fused=True), {size:,} float32 parameters",
        "",
        "Build or compile time = first step - median of the next 5 steps. *Cold*: an empty "
        "cache directory (the kernel's `HAMOPT_CACHE_DIR`, inductor's "
        "`TORCHINDUCTOR_CACHE_DIR`); *cached*: a second process with the directory the first "
        "left. The C++ kernel is the default backend on CPU; torch.compile is selected with "
        "`HAMOPT_FUSED=compile` (and is the backend on CUDA).",
        "",
        "| backend | tensors | cold: build (s) | cached: load (s) | later step (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for backend, count, cold, cached in compiles:
        lines.append(
            f"| {backend} | {count} | {cold['first step'] - cold['later step']:.2f} "
            f"| {cached['first step'] - cached['later step']:.2f} "
            f"| {1e3 * cached['later step']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tensors", default="10,200", help="tensor counts, comma-separated")
    parser.add_argument("--size", type=int, default=1_000_000, help="parameters in all")
    parser.add_argument("--repeats", type=int, default=3, help="processes for derive time")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", choices=["derive", "compile"], help=argparse.SUPPRESS)
    parser.add_argument("--rule", choices=["one", "zoo"], default="one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "derive":
        print(json.dumps(child_derive(args.rule == "zoo")))
        return 0
    counts = [int(c) for c in args.tensors.split(",") if c.strip()]
    if args.child == "compile":
        print(json.dumps(child_compile(counts[0], args.size)))
        return 0
    if not counts or min(counts) < 1 or args.size < max(counts) or args.repeats < 1:
        parser.error("need tensor counts >= 1, --size >= the largest count, --repeats >= 1")
    derive, compiles = measure(counts, args.size, args.repeats)
    text = report(derive, compiles, args.size, args.repeats)
    tables.write(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
