"""Write the README's gallery: a derived rule, a trajectory plot, and the verify tables.

    python examples/gallery.py          # rewrites examples/gallery/* and the README's gallery

Everything comes from the toolkit's public functions, the ones the command line calls:

* the update rule of ``MyRAD``, derived from the energy given as text
  ``c*sqrt(p**2 + m**2*c**2)`` by the leapfrog with RAD's second-moment closure (``hamopt derive … --latex``);
* trajectories and loss curves of RAD, RGD, Adam, DLPF and NAG on the Rosenbrock function
  (``hamopt plot``);
* ``hamopt verify RAD`` (all checks pass) and ``hamopt verify NAG`` (the symplecticity checks
  fail, as they must).

The README's gallery block lies between the markers :data:`BEGIN` and :data:`END`; the test
suite checks that its rule is what the derivation gives today.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hamopt.checks import table
from hamopt.cli import energy_from_text, parse_params
from hamopt.derive import derive
from hamopt.plot import plot_trajectories
from hamopt.verify import checks_for

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "gallery"
README = ROOT / "README.md"
BEGIN = "<!-- gallery: begin (written by examples/gallery.py) -->"
END = "<!-- gallery: end -->"

ENERGY = "c*sqrt(p**2 + m**2*c**2)"
PARAMS = "m,c"
CLOSURE = "second_moment,bias_correction"  # RAD's recipe: v² → y in the inverse mass
OPTIMIZERS = ["RAD", "RGD", "Adam", "DLPF", "NAG"]
STEPS = 1000


def rule_latex() -> str:
    """The gallery's rule: ``hamopt derive --kinetic ENERGY --params m,c --scheme leapfrog
    --closure second_moment,bias_correction --name MyRAD --latex``."""
    energy = energy_from_text(ENERGY, parse_params(PARAMS), "MyRAD")
    return derive(energy, "leapfrog", CLOSURE.split(","), name="MyRAD").latex()


def block() -> str:
    """The README gallery, writing its figure and tables to :data:`OUT`."""
    OUT.mkdir(parents=True, exist_ok=True)
    png = plot_trajectories(OPTIMIZERS, "rosenbrock", steps=STEPS, out=OUT)
    rad, nag = table(checks_for("RAD")), table(checks_for("NAG"))
    (OUT / "verify_RAD.md").write_text(rad + "\n")
    (OUT / "verify_NAG.md").write_text(nag + "\n")
    rel = Path(png).resolve().relative_to(ROOT).as_posix()
    return "\n".join(
        [
            BEGIN,
            "**A derived rule.** `hamopt derive --kinetic "
            f"'{ENERGY}' --params {PARAMS} --scheme leapfrog --closure {CLOSURE} --name MyRAD "
            "--latex` (α = lr, v and y the moment buffers, b₁ and b₂ the bias corrections; "
            "the second moment y replaces v² in the energy's inverse mass c/√(v² + m²c²)):",
            "",
            "```math",
            rule_latex(),
            "```",
            "",
            f"**Trajectories.** `hamopt plot {' '.join(OPTIMIZERS)} --problem rosenbrock "
            f"--steps {STEPS}` (RAD at its default δ = 1 follows Adam's path: the reduction "
            "RAD → Adam that `hamopt verify RAD` checks below):",
            "",
            f"![trajectories on the Rosenbrock function]({rel})",
            "",
            "**Verification.** `hamopt verify RAD` (exit status 0):",
            "",
            rad,
            "",
            "`hamopt verify NAG` (exit status 1: NAG's gradient drift is not a flow of the "
            "system, and its map is not conformal symplectic):",
            "",
            nag,
            END,
        ]
    )


def rewrite_readme_block(begin: str, end: str, make: Callable[[], str]) -> None:
    """Replace the README's text from ``begin`` to ``end`` by ``make()`` (which writes both
    markers); the README must have them."""
    text = README.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{README} has no {begin} … {end} markers")
    README.write_text(pattern.sub(lambda _: make(), text))


def main() -> int:
    rewrite_readme_block(BEGIN, END, block)
    print(f"wrote {OUT} and the gallery of {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
