"""Benchmark: derive every kinetic energy × scheme and run the symbolic checks.

For each energy of the library (validation included) and each scheme of ``SCHEMES``: build the
symbolic one-step map and prove (or refute) conformal symplecticity per sub-flow (``n = 1``;
``n = 2`` as well for the norm-coupled energy). Prints per-part and total wall time and writes
``benchmarks/results/derive_time.md``. Target: under 10 s in total on 2 cores.

Run: ``make bench-derive`` or ``python benchmarks/derive_time.py [--out FILE]``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import sympy as sp
import torch

import hamopt.kinetic
from hamopt.checks.symplectic import symbolic_symplecticity
from hamopt.schemes import SCHEMES
from hamopt.stepmap import StepMap
from hamopt.system import ConformalHamiltonian

#: Every energy of the library (``hamopt.kinetic``'s constructors), at its defaults.
ENERGIES = [
    getattr(hamopt.kinetic, name) for name in hamopt.kinetic.__all__ if name != "KineticEnergy"
]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "derive_time.md"


def measure() -> list[tuple[str, float, float, float]]:
    """``(energy, build s, step maps s, symbolic checks s)`` per energy."""
    rows = []
    for make in ENERGIES:
        t0 = time.perf_counter()
        energy = make()
        t1 = time.perf_counter()
        for scheme in SCHEMES.values():
            StepMap(ConformalHamiltonian(energy), scheme)
        t2 = time.perf_counter()
        for scheme in SCHEMES.values():
            for n in (1, 2) if energy.coupling == "norm" else (1,):
                symbolic_symplecticity(energy, scheme, n=n)
        t3 = time.perf_counter()
        rows.append((energy.name, t1 - t0, t2 - t1, t3 - t2))
    return rows


def report(rows: list[tuple[str, float, float, float]]) -> str:
    total = sum(sum(r[1:]) for r in rows)
    lines = [
        "# Derivation time: every energy × scheme, with the symbolic symplecticity checks",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
        f"{torch.get_num_threads()} torch threads; Python {platform.python_version()}, "
        f"SymPy {sp.__version__}, torch {torch.__version__}.",
        f"Schemes: {', '.join(SCHEMES)}.",
        "",
        "| energy | build + validate (s) | step maps (s) | symbolic checks (s) | total (s) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {a:.3f} | {b:.3f} | {c:.3f} | {a + b + c:.3f} |" for n, a, b, c in rows]
    lines += ["", f"**Total: {total:.2f} s** (target < 10 s)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    text = report(measure())
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(
        f"wrote {args.out} (wall time after imports: {time.perf_counter() - start:.2f} s; "
        "importing torch and SymPy adds about 3 s to the process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
