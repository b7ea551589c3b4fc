r"""The main job: derive RAD from the relativistic kinetic energy, verify it, export it, train.

``python -m hamopt.demo [--out DIR] [--steps N]`` (``make demo``):

1. **derive** the relativistic conformal-Euler and leapfrog steps (symbolic one-step maps) and
   RAD's change of variables :math:`\alpha = hc\delta`, :math:`\zeta = \delta^2(mc(1-\beta_1)/h)^2`;
2. **verify**: conformal symplecticity (symbolic per sub-flow, numeric on 20 particles, with
   the NAG variant as the failing contrast), order of accuracy, the energy law, the
   conservative energy drift, the speed limit under a gradient of 1e6, and the reduction
   RAD(δ = 1, ζ = 0) = Adam(ε = 0), symbolically and numerically;
3. **export** RAD as a standalone module (the runtime inlined: torch and the standard library only);
4. **train** a small MLP with the exported RAD, the zoo's RAD and ``torch.optim.Adam`` side by
   side, and plot the loss curves.

Every file written is listed at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import sympy as sp
import torch
from tqdm import tqdm

from hamopt.checks import numeric_symplecticity, speed_limit, symbolic_symplecticity, table
from hamopt.checks.energy import (
    conservative_energy_drift,
    energy_law,
    plot_conservative_drift,
)
from hamopt.checks.order import order_of_accuracy
from hamopt.checks.problems import random_quadratic, rosenbrock
from hamopt.checks.report import CheckResult
from hamopt.derive import derive
from hamopt.kinetic import relativistic
from hamopt.schemes import euler, leapfrog, leapfrog_fsal, nag
from hamopt.stepmap import StepMap
from hamopt.system import ConformalHamiltonian
from hamopt.variables import change_of_variables, match, v

__all__ = ["DEFAULT_OUT", "main"]

#: Where the demo writes unless ``--out`` says otherwise: under the current directory.
DEFAULT_OUT = Path("hamopt-out/demo")


def _section(title: str) -> None:
    print(f"\n## {title}\n")


def derive_steps(out: Path) -> list[Path]:
    """Print the relativistic Euler and leapfrog step maps; write them as Markdown."""
    energy = relativistic()
    _section("1. Derive: relativistic energy × conformal Euler and leapfrog")
    print(f"$${energy.latex()}$$\n")
    parts = []
    for scheme in (euler, leapfrog):
        text = StepMap(ConformalHamiltonian(energy), scheme).markdown()
        print(text + "\n")
        parts.append(text)
    lr, delta, zeta = sp.symbols("lr delta zeta", positive=True)
    step = change_of_variables(energy, euler)
    mapping = match(step.displacement, -lr * v / sp.sqrt(delta**2 * v**2 + zeta), [lr, zeta])
    text = "RAD's change of variables (derived and proved): " + ", ".join(
        f"{k} = {sp.sstr(val)}" for k, val in mapping.items()
    )
    print(text)
    parts.append(text)
    path = out / "derivation.md"
    path.write_text("\n\n".join(parts) + "\n")
    return [path]


def verify(out: Path) -> tuple[list[CheckResult], list[Path]]:
    """Run the checks that apply to the relativistic energy; the NAG contrast must fail."""
    _section("2. Verify")
    energy = relativistic()
    jobs = [
        (
            "symplectic, symbolic",
            lambda s: symbolic_symplecticity(energy, s),
            (euler, leapfrog, leapfrog_fsal, nag),
        ),
        (
            "symplectic, quadratic",
            lambda s: _on(
                "a random quadratic U", numeric_symplecticity(energy, s, random_quadratic(20))
            ),
            (euler, leapfrog, nag),
        ),
        (
            "symplectic, Rosenbrock",
            lambda s: _on("Rosenbrock's U", numeric_symplecticity(energy, s, rosenbrock(), h=0.02)),
            (leapfrog,),
        ),
        ("order", lambda s: order_of_accuracy(energy, s), (euler, leapfrog)),
        ("speed limit", lambda s: speed_limit(energy, s, gradient=1e6), (euler, leapfrog)),
    ]
    results: list[CheckResult] = []
    tasks = [(name, fn, s) for name, fn, schemes in jobs for s in schemes]
    for _name, fn, scheme in tqdm(tasks, desc="checks", unit="check"):
        results.append(fn(scheme))
    results.append(energy_law(energy))
    drift = conservative_energy_drift(energy, steps=10_000)
    results.append(drift)
    results.append(_reduction_to_adam())
    print(table(results))
    figure = plot_conservative_drift(drift, out / "energy_drift.png")
    return results, [figure]


def _on(potential: str, result: CheckResult) -> CheckResult:
    """``result`` with the potential it was measured on named in its subject."""
    return replace(result, subject=f"{result.subject}, {potential}")


def _reduction_to_adam(steps: int = 500) -> CheckResult:
    """Generated RAD(δ = 1, ζ = 0) against torch.optim.Adam(ε = 0): largest relative difference."""
    from hamopt.optim import RAD

    runs = []
    for cls, kw in ((RAD, dict(delta=1.0, zeta=0.0)), (torch.optim.Adam, dict(eps=0.0))):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        net = net.double()
        x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
        opt = cls(net.parameters(), lr=1e-3, **kw)
        for _ in range(steps):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
        runs.append([p.detach() for p in net.parameters()])
    diff = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(*runs, strict=True))
    return CheckResult(
        "reduction RAD(δ=1, ζ=0) = Adam(ε=0)",
        f"float64 MLP, {steps} steps",
        diff,
        "<= 1e-12",
        diff <= 1e-12,
    )


def export(out: Path) -> tuple[type, list[Path]]:
    """Derive RAD with the Adam closure in physical variables and export it."""
    _section("3. Export")
    # RAD's recipe (v² → y in the inverse mass), with lr the physical step h as in the paper
    rad_recipe = ["second_moment", "bias_correction", "coupled_weight_decay"]
    derived = derive(
        relativistic(), "euler", rad_recipe, name="DemoRAD", parameterisation="physical"
    )
    path = derived.export(out / "demo_rad.py")
    print(
        f"exported {path} ({len(derived.standalone_source.splitlines())} lines with the runtime "
        "inlined; imports torch and the standard library only)"
    )
    spec = importlib.util.spec_from_file_location("demo_rad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DemoRAD, [path]


def train(out: Path, exported: type, steps: int) -> list[Path]:
    """A two-class spiral, a small MLP, three optimizers, one plot."""
    _section("4. Train")
    from hamopt.optim import RAD

    gen = torch.Generator().manual_seed(0)
    t = torch.rand(512, generator=gen) * 3 * torch.pi
    label = (torch.rand(512, generator=gen) > 0.5).float()
    sign = 2 * label - 1
    x = torch.stack([t * torch.cos(t) * sign, t * torch.sin(t) * sign], 1) / 10
    x = x + 0.03 * torch.randn(x.shape, generator=gen)
    runs = {
        # physical variables: step ≈ c h v̂/√ŷ once h√ŷ ≫ mc(1-β1); speed limit h c = 0.01
        "RAD (exported; h = 0.1, c = 0.1, m = 1e-3)": (exported, dict(lr=0.1, c=0.1, m=1e-3)),
        "RAD (zoo, delta = 1, zeta = 1e-16)": (RAD, dict(lr=0.01)),
        "Adam (torch.optim)": (torch.optim.Adam, dict(lr=0.01)),
    }
    curves = {}
    for name, (cls, kw) in runs.items():
        torch.manual_seed(1)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, 32),
            torch.nn.Tanh(),
            torch.nn.Linear(32, 32),
            torch.nn.Tanh(),
            torch.nn.Linear(32, 1),
        )
        opt = cls(net.parameters(), **kw)
        losses = []
        for _ in tqdm(range(steps), desc=name.split(" (")[0], unit="step", leave=False):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x).squeeze(1), label)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves[name] = losses
        print(f"{name}: loss {losses[0]:.3f} → {losses[-1]:.3f}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, losses in curves.items():
        ax.plot(losses, label=name)
    ax.set(
        xlabel="step",
        ylabel="training loss (BCE)",
        yscale="log",
        title="Two spirals, MLP 2-32-32-1, full batch",
    )
    ax.legend()
    fig.tight_layout()
    path = out / "training.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hamopt.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default hamopt-out/demo)",
    )
    parser.add_argument("--steps", type=int, default=400, help="training steps per optimizer")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = derive_steps(args.out)
    results, figures = verify(args.out)
    exported, module = export(args.out)
    files += figures + module + train(args.out, exported, args.steps)
    (args.out / "checks.md").write_text(table(results) + "\n")
    files.append(args.out / "checks.md")
    _section("Where everything went")
    for path in files:
        print(f"  {path}")
    expected_failures = [r for r in results if "nag" in r.subject]
    unexpected = [r for r in results if not r.passed and r not in expected_failures]
    print(
        f"\n{len(results)} checks: {sum(r.passed for r in results)} pass; "
        f"NAG contrast fails as it must: {all(not r.passed for r in expected_failures)}; "
        f"done in {time.perf_counter() - start:.0f} s"
    )
    return 1 if unexpected or any(r.passed for r in expected_failures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
