"""The ``hamopt`` command line: derive, verify, zoo, plot, compare, bench, identify.

``hamopt COMMAND --help`` shows each command's options and examples. Energies given as text
go through :func:`hamopt.parse.parse_energy` (a whitelist parser: nothing typed is ever
evaluated). Errors in the input (a bad energy, an unknown scheme, a missing file) print one
line on stderr and exit with status 2; a failed check exits with status 1.
"""

from __future__ import annotations

import argparse
import ast
import functools
import math
import subprocess
import sys
import warnings
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
BENCH_SCRIPT = ROOT / "benchmarks" / "step_time.py"
#: Where commands write when not told otherwise: a folder under the current directory.
OUT = Path("hamopt-out")


class UsageError(ValueError):
    """A problem with the command's input: reported on stderr, exit status 2."""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


# --------------------------------------------------------------------------------------------
# derive


DERIVE_EXAMPLES = """\
examples:
  hamopt derive --kinetic 'c*sqrt(p**2 + m**2*c**2)' --params m,c \\
      --scheme leapfrog --closure adam --name MyRAD --spec-out myrad.toml
  hamopt derive --kinetic 'p**2/(2*m)' --params m=2.0 --scheme euler --latex
  hamopt derive --kinetic 'log(cosh(p))' --closure second_moment,bias_correction \\
      --momentum sum --init grad --parameterisation physical --lr 0.1
  hamopt derive --spec examples/myrad.toml --out myrad.py

The energy is T(p) for one coordinate, in p and the declared parameters; allowed are numbers,
+ - * / **, parentheses, pi and the functions sqrt cbrt exp log abs Abs cosh sinh tanh cos
sin atan asinh sign, clip(x, low, high) and Max Min max min. Parameters are positive, with
default 1.0 unless given as name=value, and each must appear in the energy. --closure takes
a preset (none, adam) or a comma list of closure names; a wrong name lists the valid ones. The
module goes to hamopt-out/NAME.py (NAME in lower case) unless --out says otherwise; --spec-out
writes the spec file of the derivation, which 'hamopt derive --spec' derives again byte for
byte.
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
            raise UsageError(f"--params: an empty name in {text!r} (names are comma-separated)")
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name.isidentifier():
            raise UsageError(f"--params: {name!r} is not a parameter name")
        if name in (prm.name for prm in params):
            raise UsageError(f"--params: {name} is declared twice")
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
    """A :class:`~hamopt.kinetic.KineticEnergy` from text, through the safe parser; every
    declared parameter must appear in it."""
    from hamopt.kinetic import KineticEnergy
    from hamopt.parameters import unused_parameters
    from hamopt.parse import parse_energy
    from hamopt.symbols import p

    try:
        expr = parse_energy(text, [prm.name for prm in params])
    except ValueError as exc:  # ParseError
        hint = " (declare parameters with --params)" if "unknown name" in str(exc) else ""
        raise UsageError(f"--kinetic: {exc}{hint}") from None
    for name in unused_parameters([expr], [prm.name for prm in params]):
        raise UsageError(f"--params: parameter {name} does not appear in the energy")
    # Tie the parser's symbols to the declared parameters' (same names, same assumptions).
    by_name = {prm.name: prm.symbol for prm in params}
    by_name["p"] = p
    expr = expr.xreplace({s: by_name[s.name] for s in expr.free_symbols if s.name in by_name})
    try:
        return KineticEnergy(expr, params, name=name.lower())
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--kinetic: {exc}") from None


#: derive's options other than --spec, --out, --spec-out and --latex, by attribute.
DERIVE_OPTIONS = (
    "kinetic",
    "params",
    "scheme",
    "closure",
    "momentum",
    "init",
    "parameterisation",
    "lr",
    "name",
)


def spec_from_args(args: argparse.Namespace):
    """The :class:`~hamopt.specfile.Spec` that ``hamopt derive``'s options describe."""
    from hamopt.schemes import SCHEMES
    from hamopt.specfile import Spec, check_class_name, closure_choice

    if args.kinetic is None:
        raise UsageError("give the kinetic energy with --kinetic TEXT (or a --spec file)")
    from hamopt.codegen.inline import name_clash

    name = "Derived" if args.name is None else args.name
    try:
        check_class_name(name)
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    why = name_clash(name)
    if why is not None:
        raise UsageError(f"--name: {why}; choose another name")
    try:
        closure = closure_choice("none" if args.closure is None else args.closure)
    except ValueError as exc:
        raise UsageError(f"--closure: {exc}") from None
    if args.lr is not None and not 0 < args.lr < math.inf:
        raise UsageError(f"--lr must be positive and finite, got {args.lr!r}")
    return Spec(
        name=name,
        kinetic=energy_from_text(args.kinetic, parse_params(args.params), name),
        scheme=SCHEMES[args.scheme or "euler"],
        closure=closure,
        lr=args.lr,
        energy_text=args.kinetic,
        momentum=args.momentum or "ema",
        init=args.init or "zeros",
        parameterisation=args.parameterisation or "ml",
    )


def check_module_source(source: str) -> None:
    """Refuse to write a generated module that does not compile (its class name is checked as
    the module is generated: :func:`hamopt.codegen.inline.name_clash`)."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise UsageError(
            f"the generated module does not compile ({exc.msg}, line {exc.lineno}); not written"
        ) from None


def cmd_derive(args: argparse.Namespace) -> int:
    from hamopt.specfile import derive_spec, dump_spec, load_spec

    if args.out is not None and args.out.suffix != ".py":
        raise UsageError(f"--out: a Python module's name ends in .py, got {str(args.out)!r}")
    if args.spec_out is not None and args.spec_out.suffix != ".toml":
        raise UsageError(
            f"--spec-out: a spec file's name ends in .toml, got {str(args.spec_out)!r}"
        )
    if args.spec is not None:
        given = [f"--{k}" for k in DERIVE_OPTIONS if getattr(args, k) is not None]
        if given:
            raise UsageError(
                f"give either --spec or {given[0]}, not both (the spec file holds every option)"
            )
        if not args.spec.is_file():
            raise UsageError(f"no such spec file: {args.spec}")
        spec = load_spec(args.spec)
    else:
        spec = spec_from_args(args)
    out = args.out if args.out is not None else OUT / f"{spec.name.lower()}.py"
    targets = {"--out": out, **({} if args.spec_out is None else {"--spec-out": args.spec_out})}
    for flag, path in targets.items():  # every target checked before the derivation runs
        _check_target(flag, path)
    derived = derive_spec(spec)
    check_module_source(derived.source)
    print(derived.latex() if args.latex else derived.markdown())
    files = {"--out": (out, derived.standalone_source)}
    if args.spec_out is not None:
        files["--spec-out"] = (args.spec_out, dump_spec(getattr(derived, "recipe", None) or spec))
    for flag, (path, _) in files.items():  # every folder made before anything is written
        _writable(flag, path)
    print()
    for path, text in files.values():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def _check_target(flag: str, path: Path, folder: bool = False) -> None:
    """UsageError for a folder given as a file (or a file as a folder) or a path inside the
    installed package; nothing is made."""
    package = Path(__file__).resolve().parent
    if path.is_dir() and not folder:
        raise UsageError(f"{flag}: {path} is a folder; give a file name")
    if path.exists() and folder and not path.is_dir():
        raise UsageError(f"{flag}: {path} is a file; give a folder")
    if path.resolve().is_relative_to(package):
        raise UsageError(
            f"{flag}: {path} is inside the hamopt package ({package}); write elsewhere"
        )


def _writable(flag: str, path: Path, folder: bool = False) -> None:
    """Make ``path``'s folder (``folder``: ``path`` itself, a folder the command writes into);
    UsageError, before anything runs, for a folder given as a file (or a file as a folder), a
    path inside the installed package, or a folder that cannot be made."""
    _check_target(flag, path, folder)
    made = path if folder else path.parent
    try:
        made.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot make the folder {made} ({exc.strerror})") from None


# --------------------------------------------------------------------------------------------
# verify


VERIFY_EXAMPLES = """\
examples:
  hamopt verify RAD               # a zoo member: the checks its derivation claims
  hamopt verify NAG               # fails (exit 1): the NAG scheme is not conformal symplectic
  hamopt verify examples/myrad.toml
  hamopt verify myrad.py          # an exported module: its spec's checks, then the smoke checks

A zoo member gets, for each (energy, scheme) pair in its variants' provenance: conformal
symplecticity (symbolic per sub-flow, numeric on 20 particles) and the order of accuracy;
for its energy the energy law, and the speed limit where the energy bounds the speed; the
match with torch.optim for Adam, AdamW, Adamax, NAdam, RAdam and SGD, and with
lion_pytorch's Lion for Lion (where that package is installed); and RAD's reduction to
Adam (δ = 1, ζ = 0 against Adam with ε = 0). Members with a NAG-scheme variant (NAG,
SGD's nesterov, NAdam) fail the symplecticity checks: that scheme is not symplectic.
A spec file gets the same per-pair checks for its energy × scheme. A module exported by
hamopt carries its spec (HAMOPT_SPEC, read without running the file): it gets the spec's
checks, a check that it is what its spec derives, and then imports, has one Optimizer and
trains; a hand-written module gets the last three only.
Exit status: 0 when no check fails (an undetermined check, shown with its reason, does
not fail), 1 when a check fails, 2 bad input.
"""


def cmd_verify(args: argparse.Namespace) -> int:
    from hamopt.checks import exit_status, summary, table
    from hamopt.specfile import load_spec
    from hamopt.verify import checks_for, energy_checks, exported_checks
    from hamopt.zoo import ZOO

    target = args.target
    path = Path(target)
    note = None
    if target in ZOO:
        results = checks_for(target, progress=True)
    elif path.suffix == ".toml":
        if not path.is_file():
            raise UsageError(f"no such spec file: {path}")
        spec = load_spec(path)
        results = energy_checks(spec.kinetic, [spec.scheme], progress=True)
    elif path.suffix == ".py":
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        results, note = exported_checks(path, progress=True)
    else:
        raise UsageError(
            f"{target!r} is neither a zoo member ({', '.join(ZOO)}) nor a .toml or .py file"
        )
    print(table(results))
    for res in results:
        for key in ("error", "errors", "diff"):
            if res.verdict == "fail" and res.details.get(key):
                print(f"{res.name}: {res.details[key]}")
    if note is not None:
        print(f"\n{note}")
    print(f"\n{summary(results)}")
    return exit_status(results)  # 1 only when a check fails; undetermined does not fail


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
  hamopt plot RAD examples/myrad.toml myrad.py --problem quadratic

NAME is a zoo member (hamopt.optim.NAME), torch.NAME (torch.optim.NAME), a spec file
(FILE.toml, derived first) or an exported module (FILE.py, its one Optimizer class). Step
sizes are per problem and optimizer family (hamopt/problems2d.py); momentum optimizers run
with 0.9; an optimizer of no known family (a derived one) keeps its own defaults and runs at
the step size of a grid (1e-4 … 1) that ends lowest. Writes
OUT/trajectories_PROBLEM.png (OUT: hamopt-out under the current directory by default).
"""


def cmd_plot(args: argparse.Namespace) -> int:
    from hamopt.plot import plot_trajectories

    _writable("--out", args.out, folder=True)
    path = plot_trajectories(args.names, args.problem, args.steps, args.out)
    print(path)
    return 0


# --------------------------------------------------------------------------------------------
# compare


COMPARE_EXAMPLES = """\
examples:
  hamopt compare RAD torch.Adam --task digits-mlp
  hamopt compare RAD myrad.toml myrad.py --task digits-logreg --seeds 5 --epochs 10
  hamopt compare Adam torch.SGD --task rosenbrock --lr-grid 1e-3,1e-2,1e-1 --steps 1000
  hamopt compare RAD torch.Adam --task cartpole-dqn --seeds 3 --steps 10000

NAME is a zoo member, torch.NAME (torch.optim.NAME), a spec file FILE.toml or an exported
module FILE.py. Every optimizer is trained with every seed (0 … N-1) at every lr of the grid,
its other hyperparameters at their defaults; its best lr has the best mean final metric
(test accuracy for digits-*, final loss for rosenbrock, greedy return for cartpole-dqn).
Writes compare.md (mean ± 95 % Student-t interval), curves.png and compare.json into OUT.
"""


def cmd_compare(args: argparse.Namespace) -> int:
    from hamopt.compare import TASKS, compare, parse_lr_grid, table, write

    task = TASKS[args.task]
    other = "steps" if task.unit == "epochs" else "epochs"
    if getattr(args, other) is not None:
        raise UsageError(f"--task {task.name} counts {task.unit}: use --{task.unit}")
    try:
        lrs = parse_lr_grid(args.lr_grid)
    except ValueError as exc:
        raise UsageError(f"--lr-grid: {exc}") from None
    _writable("--out", args.out, folder=True)
    try:
        result = compare(
            args.names,
            task,
            seeds=args.seeds,
            lrs=lrs,
            budget=getattr(args, task.unit),
            threads=args.threads,
        )
    except ImportError as exc:  # a task's package (scikit-learn, gymnasium) is missing
        raise UsageError(str(exc)) from None
    paths = write(result, args.out)
    print(table(result))
    print("\n" + "\n".join(f"wrote {path}" for path in paths.values()))
    return 0


# --------------------------------------------------------------------------------------------
# bench


# --------------------------------------------------------------------------------------------
# identify

IDENTIFY_EXAMPLES = """\
examples:
  hamopt identify --velocity 'tanh(p)'                 # -> log(cosh(p)), the log_cosh energy
  hamopt identify --velocity 'p/(abs(p) + epsilon)' --params epsilon
  hamopt identify --velocity 'clip(p, -1, 1)'          # -> the Huber energy
  hamopt identify --velocity 'p/sqrt(p**2 + 1)' --norm  # w(‖p‖): a norm-coupled energy
  hamopt identify --velocity 'p1/sqrt(p1**2+p2**2+1)' --velocity 'p2/sqrt(p1**2+p2**2+1)'
  hamopt identify --optimizer torch.optim.Adam
  hamopt identify --optimizer torch.optim.SGD --option momentum=0.9

With --velocity: T(p) = ∫ v, certified (odd, finite, monotone, integrable, T' = v), the
library family it matches, and the 'hamopt derive' command for it. Exit 1 when the map is not
the velocity of a kinetic energy (the reason is printed). With --optimizer: one step of the
class from a fresh state on gradients 1e-12 … 1e4 reads its velocity map; the library family
it matches (fitted parameters, worst relative error) or 'none'; exit 1 when the map read is
not odd or decreases (no kinetic energy's velocity).
"""


def cmd_identify(args: argparse.Namespace) -> int:
    from hamopt.inverse import identify, identify_optimizer
    from hamopt.parameters import unused_parameters
    from hamopt.parse import ParseError, parse_velocity

    if (args.velocity is None) == (args.optimizer is None):
        raise UsageError("give either --velocity TEXT (repeat it for a vector map) or --optimizer")
    if args.optimizer is not None:
        if args.params or args.norm:
            raise UsageError("--params and --norm go with --velocity, not --optimizer")
        cls = _import_class(args.optimizer)
        options = _options(args.option or [])
        probe = identify_optimizer(cls, **options)
        print(probe.summary())
        return 1 if probe.refusal else 0
    if args.option:
        raise UsageError("--option goes with --optimizer")
    params = parse_params(args.params)
    texts = args.velocity
    names = [prm.name for prm in params]
    coordinates = [f"p{i}" for i in range(1, len(texts) + 1)] if len(texts) > 1 else []
    try:
        exprs = [parse_velocity(text, names, coordinates) for text in texts]
    except ParseError as exc:
        raise UsageError(f"--velocity: {exc}") from None
    for name in unused_parameters(exprs, names):  # a usage error here, as derive's --params
        raise UsageError(f"--params: parameter {name} does not appear in the velocity")
    velocity = exprs[0] if len(exprs) == 1 else exprs
    try:
        found = identify(velocity, params, coupling="norm" if args.norm else "particle")
    except ValueError as exc:
        print(f"not the velocity of a kinetic energy: {exc}")
        return 1
    print(found.summary())
    energy = found.energy
    if energy.coupling == "norm":  # the command line derives per-particle energies only
        print(
            f"derive    hamopt.derive(KineticEnergy({energy.expr}, coupling='norm'), …) in Python "
            "(the command line takes per-particle energies)"
        )
        return 0
    given = {prm.name: prm.default for prm in params}  # the values of --params (1 unless given)
    params_text = ",".join(
        prm.name if given.get(prm.name) is None else f"{prm.name}={given[prm.name]:g}"
        for prm in energy.params
    )
    command = f"hamopt derive --kinetic '{energy.expr}'"
    print(f"derive    {command}" + (f" --params {params_text}" if params_text else ""))
    return 0


def _import_class(path: str) -> type:
    """The class ``--optimizer`` names: a dotted path (``torch.optim.Adam``, a class of an
    installed package), or what ``compare`` and ``plot`` take (a zoo name, ``torch.NAME``, a
    spec file or an exported module)."""
    import importlib

    from hamopt.resolve import resolve_optimizer

    module, _, name = path.rpartition(".")
    if module and not path.endswith((".py", ".toml")):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            if path.count(".") > 1 or not path.startswith("torch."):
                raise UsageError(f"--optimizer: cannot import {path}: {exc}") from None
    try:
        return resolve_optimizer(path)[1]
    except ValueError as exc:
        raise UsageError(f"--optimizer: {exc}") from None


def _options(items: list[str]) -> dict[str, object]:
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--option: expected NAME=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise UsageError(f"--option {key}: {text!r} is not a Python literal") from None
    return out


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
and a plot beside it, into hamopt-out/bench/ under the current directory unless --out names a
folder or a FILE.md (the recorded results in benchmarks/results/ are left alone).
"""


def cmd_bench(args: argparse.Namespace) -> int:
    if not BENCH_SCRIPT.is_file():
        raise UsageError(f"the benchmark script is not here: {BENCH_SCRIPT} (a source checkout)")
    script = _benchmark_script()
    problem = script.argument_problem(
        args.sizes, args.tensors, args.steps, args.warmup, args.device, args.only
    )
    if problem is not None:  # said as hamopt bench's, before the script starts
        raise UsageError(problem)
    if args.out.suffix not in ("", ".md"):
        raise UsageError(f"--out: give a folder or a Markdown file (.md), got {str(args.out)!r}")
    argv = [sys.executable, str(BENCH_SCRIPT), "--sizes", args.sizes, "--tensors", args.tensors]
    argv += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    if args.only is not None:
        argv += ["--only", args.only]
    table = args.out if args.out.suffix == ".md" else args.out / "step_time.md"
    _writable("--out", table)
    argv += ["--out", str(table.resolve())]  # never the script's default, benchmarks/results
    return subprocess.call(argv)


def _benchmark_script():
    """``benchmarks/step_time.py`` as a module (its folder on ``sys.path`` while it loads, for
    its sibling ``tables``), for its argument checks."""
    from hamopt.resolve import load_module

    sys.path.insert(0, str(BENCH_SCRIPT.parent))
    try:
        return load_module(BENCH_SCRIPT, "hamopt_bench_step_time")
    finally:
        sys.path.remove(str(BENCH_SCRIPT.parent))


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from hamopt.problems2d import PROBLEMS
    from hamopt.schemes import SCHEMES
    from hamopt.specfile import (
        MOMENTUM_FORMS,
        MOMENTUM_INITS,
        PARAMETERISATIONS,
        closure_catalogue,
    )

    presets, closures = closure_catalogue()

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
        "update rule and write it as a standalone module (the runtime inlined: torch and the standard library only).",
        epilog=DERIVE_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("--kinetic", metavar="TEXT", help="kinetic energy T(p), e.g. 'p**2/(2*m)'")
    p.add_argument(
        "--params", metavar="LIST", help="energy parameters: 'm,c' or 'm=1.0,c=2.0' (positive)"
    )
    p.add_argument("--scheme", choices=sorted(SCHEMES), help="(default euler)")
    p.add_argument(
        "--closure",
        metavar="PRESET|A,B,...",
        help=f"a preset ({', '.join(presets)}; default none) or a comma list of closures: "
        + (", ".join(closures) or "(none known)"),
    )
    p.add_argument("--momentum", choices=MOMENTUM_FORMS, help="momentum form (default ema)")
    p.add_argument("--init", choices=MOMENTUM_INITS, help="momentum start (default zeros)")
    p.add_argument(
        "--parameterisation",
        choices=PARAMETERISATIONS,
        help="ml: lr is the step scale (default); physical: lr is the step h",
    )
    p.add_argument("--lr", type=float, help="default lr of the class (default: the derivation's)")
    p.add_argument("--name", help="class name (default Derived)")
    p.add_argument("--spec", type=Path, metavar="FILE.toml", help="derive from a spec file")
    p.add_argument(
        "--out", type=Path, metavar="FILE.py", help="module to write (default hamopt-out/NAME.py)"
    )
    p.add_argument(
        "--spec-out", type=Path, metavar="FILE.toml", help="also write the spec of the derivation"
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
    p.add_argument(
        "names", nargs="+", metavar="NAME", help="zoo member, torch.NAME, FILE.toml or FILE.py"
    )
    p.add_argument("--problem", default="rosenbrock", choices=sorted(PROBLEMS))
    p.add_argument("--steps", type=int, default=500, help="steps per optimizer (default 500)")
    p.add_argument(
        "--out", type=Path, default=OUT, help="output folder (default hamopt-out under .)"
    )
    p.set_defaults(func=cmd_plot)

    from hamopt.compare.tasks import TASKS

    p = sub.add_parser(
        "compare",
        help="train optimizers side by side on a task over seeds and an lr grid",
        description="Train every optimizer with every seed at every lr of the grid; write a "
        "Markdown table (best lr, mean ± 95 % interval), learning curves and the raw numbers.",
        epilog=COMPARE_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="zoo, torch.NAME, FILE.toml, FILE.py")
    p.add_argument("--task", default="digits-mlp", choices=list(TASKS), help="(default digits-mlp)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0 … N-1 (default 3)")
    p.add_argument(
        "--lr-grid", default="1e-3,3e-3,1e-2", metavar="LIST", help="(default 1e-3,3e-3,1e-2)"
    )
    p.add_argument(
        "--epochs", type=int, metavar="N", help="epochs per run of digits-* (default 20)"
    )
    p.add_argument(
        "--steps", type=int, metavar="N", help="steps per run: rosenbrock 500, cartpole-dqn 10000"
    )
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads (default 1)")
    p.add_argument(
        "--out",
        type=Path,
        default=OUT / "compare",
        metavar="DIR",
        help="output folder (default hamopt-out/compare under .)",
    )
    p.set_defaults(func=cmd_compare)

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
    p.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="cpu or cuda (default cpu)"
    )
    p.add_argument("--only", metavar="REGEX", help="optimizers whose names match (and baseline)")
    p.add_argument(
        "--out",
        type=Path,
        default=OUT / "bench",
        metavar="DIR|FILE.md",
        help="output folder (step_time.md and .png) or table to write (default hamopt-out/bench)",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "identify",
        help="the kinetic energy behind a velocity map or a torch optimizer class",
        description="Inverse design: recover T(p) from a velocity map v(p) and certify it, or "
        "probe an optimizer class and name the library energy it matches.",
        epilog=IDENTIFY_EXAMPLES,
        formatter_class=_formatter,
    )
    p.add_argument(
        "--velocity", action="append", metavar="TEXT", help="v(p); repeat for p1, p2, … of a map"
    )
    p.add_argument("--params", metavar="LIST", help="parameters of v: 'beta' or 'beta=2.0'")
    p.add_argument("--norm", action="store_true", help="v is the speed w(‖p‖) along p")
    p.add_argument(
        "--optimizer",
        metavar="NAME",
        help="MODULE.CLASS (torch.optim.Adam), a zoo name, torch.NAME, FILE.py or FILE.toml",
    )
    p.add_argument(
        "--option", action="append", metavar="NAME=VALUE", help="constructor option; repeatable"
    )
    p.set_defaults(func=cmd_identify)
    return parser


def join_negative_values(
    argv: list[str], parser: argparse.ArgumentParser | None = None
) -> list[str]:
    """``["--kinetic", "-p**2"]`` → ``["--kinetic=-p**2"]``: argparse takes a word that starts
    with "-" for an option, so an energy such as ``-p**2``, a velocity ``-p`` or a grid
    ``-1e-3,1e-3`` would be refused as a missing value. Every option of the command line
    (``parser``'s, its subcommands' included) that takes one value gets the next word so,
    unless that word is itself one of its options."""
    parsers, options, valued = [parser or build_parser()], set(), set()
    while parsers:
        for action in parsers.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            options.update(action.option_strings)
            if action.option_strings and action.nargs is None:
                valued.update(action.option_strings)
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if (
            word in valued
            and nxt is not None
            and nxt.startswith("-")
            and nxt.split("=", 1)[0] not in options
        ):
            out.append(f"{word}={nxt}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def _show_warning(command: str, message, category, *_, **__) -> None:
    """A warning as the command's line, ``hamopt derive: warning: …`` (not the file and line
    of the library that raised it)."""
    print(f"hamopt {command}: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(
        join_negative_values(sys.argv[1:] if argv is None else list(argv), parser)
    )
    try:
        with warnings.catch_warnings():  # the library's warnings, in the command's words
            warnings.showwarning = functools.partial(_show_warning, args.command)
            return args.func(args)
    except (UsageError, ValueError, TypeError, OSError, Warning) as exc:
        # ParseError is a ValueError; KineticEnergy validation raises ValueError/TypeError; a
        # warning is raised where the interpreter runs with -W error.
        print(f"hamopt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
