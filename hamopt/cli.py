"""The ``hamopt`` command line: derive, verify, zoo, plot, bench.

``hamopt COMMAND --help`` shows each command's options and examples. Energies given as text
go through :func:`hamopt.parse.parse_energy` (a whitelist parser: nothing typed is ever
evaluated). Errors in the input (a bad energy, an unknown scheme, a missing file) print one
line on stderr and exit with status 2; a failed check exits with status 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
BENCH_SCRIPT = ROOT / "benchmarks" / "step_time.py"


class UsageError(ValueError):
    """A problem with the command's input: reported on stderr, exit status 2."""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


# --------------------------------------------------------------------------------------------
# derive


DERIVE_EXAMPLES = """\
examples:
  hamopt derive --kinetic 'c*sqrt(p**2 + m**2*c**2)' --params m,c \\
      --scheme leapfrog --closure adam --name MyRAD --out myrad.py
  hamopt derive --kinetic 'p**2/(2*m)' --params m=2.0 --scheme euler --latex
  hamopt derive --spec examples/myrad.toml

The energy is T(p) for one coordinate, in p and the declared parameters; allowed are numbers,
+ - * / **, parentheses, pi and the functions sqrt exp log abs cosh sinh tanh cos sin atan
asinh sign cbrt Max Min. Parameters are positive, with default 1.0 unless given as name=value.
"""


def parse_params(text: str | None) -> list:
    """``"m,c"`` or ``"m=1.0,c=2.0"`` → positive :class:`~hamopt.parameters.Parameter` objects
    (default 1.0)."""
    from hamopt.parameters import positive

    params = []
    if not text:
        return params
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name.isidentifier():
            raise UsageError(f"--params: {name!r} is not a parameter name")
        if sep:
            try:
                default = float(value)
            except ValueError:
                raise UsageError(
                    f"--params: the default of {name} must be a number, got {value.strip()!r}"
                ) from None
        else:
            default = 1.0
        try:
            params.append(positive(name, default))
        except ValueError as exc:
            raise UsageError(f"--params: {exc}") from None
    return params


def energy_from_text(text: str, params: list, name: str):
    """A :class:`~hamopt.kinetic.KineticEnergy` from text, through the safe parser."""
    from hamopt.kinetic import KineticEnergy
    from hamopt.parse import parse_energy
    from hamopt.symbols import p

    try:
        expr = parse_energy(text, [prm.name for prm in params])
    except ValueError as exc:  # ParseError
        hint = " (declare parameters with --params)" if "unknown name" in str(exc) else ""
        raise UsageError(f"--kinetic: {exc}{hint}") from None
    # Tie the parser's symbols to the declared parameters' (same names, same assumptions).
    by_name = {prm.name: prm.symbol for prm in params}
    by_name["p"] = p
    expr = expr.xreplace({s: by_name[s.name] for s in expr.free_symbols if s.name in by_name})
    return KineticEnergy(expr, params, name=name.lower())


def cmd_derive(args: argparse.Namespace) -> int:
    from hamopt.derive import derive

    if args.spec is not None:
        if args.kinetic is not None:
            raise UsageError("give either --spec or --kinetic, not both")
        try:
            from hamopt.specfile import derive_spec, load_spec
        except ImportError:
            raise UsageError("spec files need hamopt.specfile, which is missing") from None
        if not args.spec.is_file():
            raise UsageError(f"no such spec file: {args.spec}")
        spec = load_spec(args.spec)
        derived = derive_spec(spec)
        name = spec.name
    else:
        if args.kinetic is None:
            raise UsageError("give the kinetic energy with --kinetic TEXT (or a --spec file)")
        if not args.name.isidentifier():
            raise UsageError(f"--name must be a Python identifier, got {args.name!r}")
        energy = energy_from_text(args.kinetic, parse_params(args.params), args.name)
        derived = derive(energy, scheme=args.scheme, closure=args.closure, name=args.name)
        name = args.name
    print(derived.latex() if args.latex else derived.markdown())
    out = args.out if args.out is not None else Path(f"{name.lower()}.py")
    if out.parent != Path() and not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    path = derived.export(out)
    print(f"\nwrote {path}")
    return 0


# --------------------------------------------------------------------------------------------
# verify


VERIFY_EXAMPLES = """\
examples:
  hamopt verify RAD               # a zoo member: the checks its derivation claims
  hamopt verify NAG               # fails (exit 1): the NAG scheme is not conformal symplectic
  hamopt verify examples/myrad.toml
  hamopt verify myrad.py          # an exported module: imports, one Optimizer, trains

A zoo member gets, for each (energy, scheme) pair in its variants' provenance: conformal
symplecticity (symbolic per sub-flow, numeric on 20 particles) and the order of accuracy;
for its energy the energy law, and the speed limit where the energy bounds the speed; the
match with torch.optim for Adam, AdamW, Adamax, NAdam, RAdam and SGD; and RAD's reduction
to Adam (δ = 1, ζ = 0 against Adam with ε = 0). Members with a NAG-scheme variant (NAG,
SGD's nesterov, NAdam) fail the symplecticity checks: that scheme is not symplectic.
A spec file gets the same per-pair checks for its energy × scheme.
Exit status: 0 all pass, 1 a check fails, 2 bad input.
"""


def cmd_verify(args: argparse.Namespace) -> int:
    from hamopt.checks import table
    from hamopt.verify import checks_for, energy_checks, module_checks
    from hamopt.zoo import ZOO

    target = args.target
    path = Path(target)
    if target in ZOO:
        results = checks_for(target, progress=True)
    elif path.suffix == ".toml":
        if not path.is_file():
            raise UsageError(f"no such spec file: {path}")
        try:
            from hamopt.specfile import load_spec
        except ImportError:
            raise UsageError("spec files need hamopt.specfile, which is missing") from None
        spec = load_spec(path)
        results = energy_checks(spec.kinetic, [spec.scheme], progress=True)
    elif path.suffix == ".py":
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        results = module_checks(path)
    else:
        raise UsageError(
            f"{target!r} is neither a zoo member ({', '.join(ZOO)}) nor a .toml or .py file"
        )
    print(table(results))
    failed = [r for r in results if not r.passed]
    for res in failed:
        for key in ("error", "errors"):
            if res.details.get(key):
                print(f"{res.name}: {res.details[key]}")
    print(f"\n{len(results)} checks: {len(results) - len(failed)} pass, {len(failed)} fail")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# zoo


ZOO_EXAMPLES = """\
examples:
  hamopt zoo
  hamopt zoo --variants        # one row per variant (condition → rule)

Rows come from the provenance of every variant of each derivation in hamopt/zoo/.
"""


def zoo_rows(variants: bool = False) -> list[tuple[str, ...]]:
    """(name, energy, scheme, closures, reference) per zoo member (or per variant)."""
    from hamopt.zoo import ZOO

    rows = []
    for name, (_, build) in ZOO.items():
        spec = build()
        if variants:
            for cond, rule in spec.variants:
                prov = rule.provenance
                rows.append(
                    (
                        f"{name} `{cond}`",
                        prov.kinetic,
                        prov.scheme.split(" (", 1)[0] + _order_of(prov.scheme),
                        "; ".join(c for c in prov.closures if not c.startswith("momentum:")),
                        prov.reference.split("(", 1)[0] or spec.reference.split("(", 1)[0],
                    )
                )
            continue
        energies, schemes, closures = [], [], []
        for _, rule in spec.variants:
            prov = rule.provenance
            _add(energies, prov.kinetic)
            _add(schemes, prov.scheme.split(" (", 1)[0])
            for c in prov.closures:
                if not c.startswith(("momentum:", "change of variables")):
                    _add(closures, c.split(":", 1)[0])
        reference = spec.reference.split("(", 1)[0] or spec.variants[0][1].provenance.reference
        rows.append((name, "; ".join(energies), ", ".join(schemes), "; ".join(closures), reference))
    return rows


def _add(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)


def _order_of(scheme: str) -> str:
    tail = scheme.rsplit(", order ", 1)
    return f", order {tail[1]}" if len(tail) == 2 else ""


def cmd_zoo(args: argparse.Namespace) -> int:
    rows = zoo_rows(args.variants)
    head = ("optimizer", "kinetic energy", "scheme", "closures", "reference")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return 0


# --------------------------------------------------------------------------------------------
# plot


PLOT_EXAMPLES = """\
examples:
  hamopt plot RAD torch.Adam --problem rosenbrock
  hamopt plot SGD NAG DLPF torch.SGD --problem beale --steps 1000 --out figures/
  hamopt plot RAD RGD Adam --problem quadratic

NAME is a zoo member (hamopt.optim.NAME) or torch.NAME (torch.optim.NAME). Step sizes are
per problem and optimizer family (hamopt/problems2d.py); momentum optimizers run with 0.9.
Writes OUT/trajectories_PROBLEM.png.
"""


def cmd_plot(args: argparse.Namespace) -> int:
    from hamopt.plot import plot_trajectories

    path = plot_trajectories(args.names, args.problem, args.steps, args.out)
    print(path)
    return 0


# --------------------------------------------------------------------------------------------
# bench


BENCH_EXAMPLES = """\
examples:
  hamopt bench                                # 1M float32 parameters in 10 tensors
  hamopt bench --sizes 1M,10M,50M --tensors 10,200 --steps 20     # the acceptance run
  hamopt bench --only 'RAD' --sizes 10M       # the RADs against torch's fused Adam
  hamopt bench --sizes 10000 --steps 5 --out /tmp/step_time.md

Runs benchmarks/step_time.py: median ms/step of the generated Adam, AdamW, RAD (orders 1 and
2), RGD and SGD (momentum), fused and not, against torch.optim.Adam (for-loop, foreach, fused),
torch.optim.SGD and rad.optim.RAD (if installed), as ratios to torch.optim.Adam(fused=True) in
the same rounds, with a streaming triad for the machine's bandwidth; writes a Markdown table
and a plot next to it.
"""


def cmd_bench(args: argparse.Namespace) -> int:
    if not BENCH_SCRIPT.is_file():
        raise UsageError(f"the benchmark script is not here: {BENCH_SCRIPT} (a source checkout)")
    argv = [sys.executable, str(BENCH_SCRIPT), "--sizes", args.sizes, "--tensors", args.tensors]
    argv += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    if args.only is not None:
        argv += ["--only", args.only]
    if args.out is not None:
        argv += ["--out", str(args.out.resolve())]
    return subprocess.call(argv)


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from hamopt.derive import CLOSURES
    from hamopt.problems2d import PROBLEMS
    from hamopt.schemes import SCHEMES

    parser = argparse.ArgumentParser(
        prog="hamopt",
        description="Derive optimizers from conformal Hamiltonian systems, verify and compare "
        "them.",
        epilog="Run 'hamopt COMMAND --help' for a command's options and examples.",
        formatter_class=_formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "derive",
        help="derive an optimizer from a kinetic energy (text or spec file)",
        description="Derive an optimizer from a kinetic energy × scheme × closure, print its "
        "update rule and write it as a standalone module (torch and math only).",
        epilog=DERIVE_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("--kinetic", metavar="TEXT", help="kinetic energy T(p), e.g. 'p**2/(2*m)'")
    p.add_argument(
        "--params", metavar="LIST", help="energy parameters: 'm,c' or 'm=1.0,c=2.0' (positive)"
    )
    p.add_argument("--scheme", default="euler", choices=sorted(SCHEMES), help="(default euler)")
    p.add_argument("--closure", default="none", choices=CLOSURES, help="(default none)")
    p.add_argument("--name", default="Derived", help="class name (default Derived)")
    p.add_argument("--spec", type=Path, metavar="FILE.toml", help="derive from a spec file")
    p.add_argument(
        "--out", type=Path, metavar="FILE.py", help="module to write (default NAME.lower().py)"
    )
    p.add_argument("--latex", action="store_true", help="print the rule as LaTeX")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser(
        "verify",
        help="run the checks for a zoo member, a spec file or an exported module",
        description="Run the checks that apply and print them as a table; exit 1 if any fails.",
        epilog=VERIFY_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("target", metavar="NAME|FILE.toml|FILE.py")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "zoo",
        help="list the shipped optimizers with their provenance",
        description="The shipped optimizers: energy, scheme, closures, reference.",
        epilog=ZOO_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("--variants", action="store_true", help="one row per variant")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser(
        "plot",
        help="trajectories of optimizers on a 2-D test function",
        description="Trajectories over contour lines, and loss curves, to a PNG.",
        epilog=PLOT_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="zoo member or torch.NAME")
    p.add_argument("--problem", default="rosenbrock", choices=sorted(PROBLEMS))
    p.add_argument("--steps", type=int, default=500, help="steps per optimizer (default 500)")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default .)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "bench",
        help="step time of generated optimizers against torch.optim",
        description="Median step time per optimizer, as ratios to torch.optim.Adam(fused=True).",
        epilog=BENCH_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("--sizes", default="1M", help="total parameter counts: 1M,10M (default 1M)")
    p.add_argument("--tensors", default="10", help="tensor counts: 10,200 (default 10)")
    p.add_argument("--steps", type=int, default=30, help="timed rounds (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--only", metavar="REGEX", help="optimizers whose names match (and baseline)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE.md",
        help="table to write (default benchmarks/results/step_time.md; plot beside it)",
    )
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError, OSError) as exc:
        # ParseError is a ValueError; KineticEnergy validation raises ValueError/TypeError.
        print(f"hamopt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
