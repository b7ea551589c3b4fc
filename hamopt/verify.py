r"""What ``hamopt verify`` runs: the checks that apply to a zoo member, a spec file, or an
exported module.

* A **zoo member** (``checks_for("RAD")``): the energy and the schemes are read from the
  provenance of its derivation (every variant's ``kinetic`` and ``scheme``); for each
  (energy, scheme) pair it runs conformal symplecticity (symbolic per sub-flow, and numeric on
  20 particles) and the order of accuracy; for each energy the energy law, and the speed limit
  when the energy has a finite speed bound (relativistic, Adam's). Members with a reference
  in ``torch.optim`` are run beside it, Lion beside ``lion_pytorch.Lion`` where that is
  installed; RAD is checked to reduce to Adam (δ = 1, ζ = 0 against
  ``torch.optim.Adam(eps=0)``). A member built on the NAG scheme (NAG, SGD's ``nesterov``,
  NAdam) fails the symplecticity checks, as it must: that scheme is not conformal symplectic.
* A **kinetic energy × scheme** (:func:`energy_checks`): the same per-pair checks, for spec
  files.
* An **exported module** (:func:`exported_checks`): a derived module carries its spec as the
  string constant ``HAMOPT_SPEC`` (:func:`hamopt.specfile.dump_spec`), read with :mod:`ast`
  without running the file (:func:`embedded_spec`); it gets the spec file's checks, a check
  that the module is what its spec derives (regenerated line for line, the spec's own
  statement and blank lines aside), and then the smoke checks of :func:`module_checks`: it imports, defines exactly one
  ``torch.optim.Optimizer`` subclass, and trains a small quadratic down by 10×. A module
  without ``HAMOPT_SPEC`` (written by hand) gets the smoke checks only.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp
import torch

from hamopt.checks import (
    CheckResult,
    energy_law,
    numeric_symplecticity,
    order_of_accuracy,
    speed_bound,
    speed_limit,
    symbolic_symplecticity,
)
from hamopt.checks.problems import random_quadratic
from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    massless,
    relativistic,
    relativistic_norm,
)
from hamopt.schemes import SCHEMES
from hamopt.schemes.scheme import Scheme

if TYPE_CHECKING:
    from hamopt.specfile import Spec

__all__ = [
    "ENERGIES",
    "SPEC_CONSTANT",
    "checks_for",
    "embedded_spec",
    "energy_checks",
    "exported_checks",
    "module_checks",
    "pairs_of",
    "reference_match",
    "regeneration_check",
]

#: Energies of the zoo by the name their provenance carries (``"relativistic: T(p) = …"``).
ENERGIES: dict[str, Callable[[], KineticEnergy]] = {
    "classical": classical,
    "relativistic": relativistic,
    "relativistic_norm": relativistic_norm,
    "adam": adam_energy,
    "massless": massless,
}

#: Parameter values for the order check where the default is a kink in disguise: Adam's energy
#: with ε = 1e-8 is |p| to within 1e-8, so the fitted order at h ~ 1e-2 measures the kink.
ORDER_VALUES: dict[str, dict[str, float]] = {"adam": {"epsilon": 1.0}}

#: Zoo members with a reference class of the same name: its module, and the options to run. A
#: module that is not installed (lion-pytorch is a test-only dependency) is passed over.
REFERENCES: dict[str, tuple[str, dict[str, object]]] = {
    "SGD": ("torch.optim", {"lr": 1e-2, "momentum": 0.9}),
    "Adam": ("torch.optim", {"lr": 1e-3}),
    "AdamW": ("torch.optim", {"lr": 1e-3}),
    "Adamax": ("torch.optim", {"lr": 2e-3}),
    "NAdam": ("torch.optim", {"lr": 2e-3}),
    "RAdam": ("torch.optim", {"lr": 1e-3}),
    "Lion": ("lion_pytorch", {"lr": 1e-3, "weight_decay": 0.1}),
}


def pairs_of(name: str) -> list[tuple[str, str]]:
    """The distinct (energy name, scheme name) pairs of a zoo member's variants, in order."""
    from hamopt.zoo import ZOO

    if name not in ZOO:
        raise ValueError(f"unknown zoo member {name!r}; choose from {sorted(ZOO)}")
    spec = ZOO[name][1]()
    pairs: list[tuple[str, str]] = []
    for _, rule in spec.variants:
        energy = rule.provenance.kinetic.split(":", 1)[0].strip()
        scheme = rule.provenance.scheme.split(" ", 1)[0].strip()
        if energy not in ENERGIES:
            raise ValueError(f"{name}: no checks known for the energy {energy!r}")
        if scheme not in SCHEMES:
            raise ValueError(f"{name}: unknown scheme {scheme!r} in its provenance")
        if (energy, scheme) not in pairs:
            pairs.append((energy, scheme))
    return pairs


def energy_checks(
    kinetic: KineticEnergy,
    schemes: Iterable[Scheme],
    *,
    order_values: dict[str, float] | None = None,
    progress: bool = False,
) -> list[CheckResult]:
    """Symplecticity (symbolic and numeric) and order for every scheme; the energy law; the
    speed limit for every scheme when the energy has a finite speed bound (an undetermined row
    that names the error where SymPy cannot find the bound)."""
    schemes = list(schemes)
    kinetic = _with_sample_defaults(kinetic)
    bounded = _bounded(kinetic)
    jobs: list[Callable[[], CheckResult]] = []
    for scheme in schemes:
        jobs += [
            lambda s=scheme: symbolic_symplecticity(kinetic, s),
            lambda s=scheme: numeric_symplecticity(kinetic, s, random_quadratic(20)),
            lambda s=scheme: _order(kinetic, s, order_values),
        ]
        if isinstance(bounded, Exception):
            jobs.append(lambda s=scheme: _no_bound(kinetic, s, bounded))
        elif bounded:
            jobs.append(lambda s=scheme: speed_limit(kinetic, s, gradient=1e6))
    jobs.append(lambda: energy_law(kinetic))
    return _run(jobs, progress, kinetic.name)


def _sample_values(kinetic: KineticEnergy) -> dict[str, float]:
    """The value the checks give each parameter without a default: its first sample."""
    return {prm.name: prm.samples()[0] for prm in kinetic.params if prm.default is None}


def _with_sample_defaults(kinetic: KineticEnergy) -> KineticEnergy:
    """``kinetic``, where a parameter without a default (required, as torch's lr is) takes the
    first of its samples (its interval's middle, or 1 where the interval is the real line),
    with a warning that says so: the checks need numbers."""
    taken = _sample_values(kinetic)
    if not taken:
        return kinetic
    params = [
        dataclasses.replace(prm, default=taken.get(prm.name, prm.default)) for prm in kinetic.params
    ]
    warnings.warn(
        f"{kinetic.name}: {', '.join(taken)} has no default; the checks take "
        + ", ".join(f"{name} = {value:g}" for name, value in taken.items()),
        stacklevel=3,
    )
    return KineticEnergy(
        kinetic.expr,
        params,
        name=kinetic.name,
        coupling=kinetic.coupling,
        scope=kinetic.scope,
        velocity=kinetic._given_velocity,
        validate=False,
    )


def checks_for(name: str, *, progress: bool = False) -> list[CheckResult]:
    """Every check that applies to the zoo member ``name`` (see the module docstring)."""
    by_energy: dict[str, list[str]] = {}
    for energy, scheme in pairs_of(name):
        by_energy.setdefault(energy, []).append(scheme)
    results: list[CheckResult] = []
    for energy, schemes in by_energy.items():
        results += energy_checks(
            ENERGIES[energy](),
            [SCHEMES[s] for s in schemes],
            order_values=ORDER_VALUES.get(energy),
            progress=progress,
        )
    import hamopt.optim as optim

    if name == "RAD":
        results.append(
            reference_match(
                optim.RAD,
                torch.optim.Adam,
                {"lr": 1e-3, "delta": 1.0, "zeta": 0.0},
                {"lr": 1e-3, "eps": 0.0},
                check="reduction RAD(δ=1, ζ=0) = Adam(ε=0)",
                tolerance=1e-12,
            )
        )
    module, kw = REFERENCES.get(name, ("", {}))
    if module and importlib.util.find_spec(module.split(".")[0]) is not None:
        results.append(
            reference_match(
                getattr(optim, name),
                getattr(importlib.import_module(module), name),
                kw,
                kw,
                check=f"{name} = {module}.{name}",
                tolerance=1e-10,
            )
        )
    return results


def reference_match(
    ours: type,
    reference: type,
    ours_kw: dict,
    reference_kw: dict,
    *,
    check: str,
    tolerance: float,
    steps: int = 200,
) -> CheckResult:
    """Train the same float64 MLP with both optimizers; the largest relative parameter gap."""
    runs = []
    for cls, kw in ((ours, ours_kw), (reference, reference_kw)):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        net = net.double()
        x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
        opt = cls(net.parameters(), **kw)
        for _ in range(steps):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
        runs.append([prm.detach() for prm in net.parameters()])
    gap = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(*runs, strict=True))
    return CheckResult(
        check,
        f"float64 MLP, {steps} steps",
        gap,
        f"<= {tolerance:g}",
        gap <= tolerance,
    )


#: The module-level string constant that carries a derived module's spec.
SPEC_CONSTANT = "HAMOPT_SPEC"


def load_module(path: str | Path):
    """Import the Python file ``path`` as a fresh module (:func:`hamopt.resolve.load_module`)."""
    from hamopt.resolve import load_module as load

    return load(path)


def embedded_spec(path: str | Path) -> str | None:
    """The text of the top-level ``HAMOPT_SPEC = "..."`` of the Python file ``path``, or
    ``None`` when it has none; the file is parsed with :mod:`ast`, never run.

    Raises ``ValueError`` when the file is not Python, or ``HAMOPT_SPEC`` is not one string.
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not a Python file ({err})") from None
    node = _spec_node(tree)
    if node is None:
        return None
    value = node.value
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        raise ValueError(f"{path}: {SPEC_CONSTANT} must be one string constant")
    return value.value


def exported_checks(
    path: str | Path, *, progress: bool = False
) -> tuple[list[CheckResult], str | None]:
    """The checks of an exported module, and a note when physics checks cannot run.

    With ``HAMOPT_SPEC``: the spec file's checks (:func:`energy_checks` of its energy and
    scheme), the regeneration check, then :func:`module_checks`. Without: the module checks
    and a note saying that physics checks need a derived module.
    """
    from hamopt.specfile import spec_from_text

    path = Path(path)
    text = embedded_spec(path)
    if text is None:
        note = (
            f"{path.name} has no {SPEC_CONSTANT}: physics checks need the spec a module derived "
            "by hamopt carries (hamopt.derive(...).export, or hamopt derive), which it lacks "
            "where its energy has no text form (a SymPy expression the parser does not read "
            "back, such as a Piecewise); smoke checks only"
        )
        return module_checks(path), note
    spec = spec_from_text(text, source=path, where=f"{path}: {SPEC_CONSTANT}")
    results = energy_checks(spec.kinetic, [spec.scheme], progress=progress)
    results.append(regeneration_check(path, spec))
    return results + module_checks(path, arguments=_sample_values(spec.kinetic)), None


def regeneration_check(path: str | Path, spec: Spec) -> CheckResult:
    """The module at ``path`` is what its spec derives: the source :func:`derive_spec` writes
    from ``spec`` (with the runtime inlined where the module has it so, as ``export`` writes
    it), line by line, blank lines and the ``HAMOPT_SPEC`` statement aside."""
    from hamopt.specfile import derive_spec

    path = Path(path)
    name = "module is its derivation (regenerated from its spec)"
    subject = f"{path.name}: {spec.name}"
    try:
        derived = derive_spec(spec)
    except (ValueError, TypeError) as err:
        return CheckResult.undetermined(
            name, subject, None, "0 lines differ", f"this hamopt does not derive the spec: {err}"
        )
    text = path.read_text(encoding="utf-8")
    ours = _without_spec(text)
    inlined = "\nfrom hamopt.runtime import " not in text  # exported: the runtime inlined
    theirs = _without_spec(
        getattr(derived, "standalone_source", derived.source) if inlined else derived.source
    )
    diff = [
        line
        for line in difflib.unified_diff(theirs, ours, "derived", path.name, n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    details = {"diff": diff[:20]} if diff else {}
    return CheckResult(
        name,
        subject,
        float(len(diff)),
        "0 lines differ",
        not diff,
        details,
    )


def _spec_node(tree: ast.Module) -> ast.Assign | ast.AnnAssign | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
            isinstance(t, ast.Name) and t.id == SPEC_CONSTANT for t in targets
        ):
            return node
    return None


def _without_spec(source: str) -> list[str]:
    """The module's non-blank lines without the ``HAMOPT_SPEC`` statement: exactly its span,
    so that anything else written on its lines (a statement after the closing quotes) stays and
    is compared."""
    lines = source.splitlines()
    node = _spec_node(ast.parse(source))
    if node is not None:
        first, last = node.lineno - 1, node.end_lineno - 1
        rest = lines[first][: node.col_offset] + lines[last][node.end_col_offset :]
        lines[first : last + 1] = [rest]
    return [line for line in lines if line.strip()]


def module_checks(
    path: str | Path, *, steps: int = 200, arguments: dict[str, float] | None = None
) -> list[CheckResult]:
    """An exported optimizer module imports, defines one ``Optimizer`` subclass, and brings a
    10-dimensional quadratic's loss down by at least 10× (the best of a few step sizes, the
    class given ``arguments`` besides: values of its required energy parameters)."""
    path = Path(path)
    subject = path.name
    try:
        module = load_module(path)
    except Exception as exc:  # anything the file raises on import is the finding
        return [
            CheckResult("imports", subject, 1.0, "errors == 0", False, {"error": repr(exc)}),
        ]
    results = [CheckResult("imports", subject, 0.0, "errors == 0", True)]
    from hamopt.resolve import optimizer_classes

    classes = optimizer_classes(module)
    names = [c.__name__ for c in classes]
    results.append(
        CheckResult(
            "one torch.optim.Optimizer subclass",
            f"{subject}: {', '.join(names) or 'none'}",
            float(len(classes)),
            "== 1",
            len(classes) == 1,
        )
    )
    if len(classes) != 1:
        return results
    cls = classes[0]
    best, best_lr, errors = math.inf, None, []
    for lr in (0.1, 0.03, 0.3, 0.01, 1.0):
        try:
            ratio = _quadratic_decrease(cls, lr, steps, arguments or {})
        except Exception as exc:
            errors.append(f"lr={lr}: {exc!r}")
            continue
        if ratio < best:
            best, best_lr = ratio, lr
        if best <= 0.1:
            break
    results.append(
        CheckResult(
            "trains a quadratic (final/initial loss)",
            f"{cls.__name__}, 10-d quadratic, {steps} steps, "
            + (f"lr = {best_lr}" if best_lr is not None else "no lr of 0.01 to 1 steps"),
            best,
            "<= 0.1",
            best <= 0.1,
            {"errors": errors},
        )
    )
    return results


def _quadratic_decrease(cls: type, lr: float, steps: int, arguments: dict[str, float]) -> float:
    gen = torch.Generator().manual_seed(0)
    scale = torch.linspace(0.5, 5.0, 10)
    x = torch.nn.Parameter(torch.randn(10, generator=gen) + 1.0)
    opt = cls([x], lr=lr, **arguments)

    def loss_fn() -> torch.Tensor:
        return 0.5 * (scale * x**2).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    first = float(loss_fn().detach())
    for _ in range(steps):
        # gradients in place for optimizers that ignore the closure, and the closure for those
        # that take several gradients a step (it recomputes the same gradients)
        closure()
        opt.step(closure)
    last = float(loss_fn().detach())
    return last / first if math.isfinite(last) else math.inf


def _bounded(kinetic: KineticEnergy) -> bool | Exception:
    """Whether sup |∇T| is finite; the exception where SymPy could not take its limit."""
    try:
        bound = speed_bound(kinetic)
    except Exception as error:  # SymPy's limit raises NotImplementedError, ValueError, …
        return error
    return bool(bound.is_finite) and bound != sp.nan


def _no_bound(kinetic: KineticEnergy, scheme: Scheme, error: Exception) -> CheckResult:
    """The speed-limit row of an energy whose bound SymPy could not find: undetermined."""
    return CheckResult.undetermined(
        "speed limit",
        f"{kinetic.name} × {scheme.name}",
        None,
        "step / (h·sup |∇T|) <= 1",
        f"sup |∇T| not found: SymPy's limit raised {type(error).__name__}: {error}",
        measured="-",
    )


def _order(kinetic: KineticEnergy, scheme: Scheme, values: dict[str, float] | None):
    result = order_of_accuracy(kinetic, scheme, values=values)
    if values:
        suffix = ", ".join(f"{k} = {v:g}" for k, v in values.items())
        result = dataclasses.replace(result, subject=f"{result.subject} ({suffix})")
    return result


def _run(jobs: list[Callable[[], CheckResult]], progress: bool, desc: str) -> list[CheckResult]:
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc=f"checks ({desc})", unit="check", leave=False)
    return [job() for job in jobs]
