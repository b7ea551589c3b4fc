r"""One place that turns (energy, scheme, momentum convention, target form) into a draft.

:func:`derive` runs the change of variables, solves for the target's hyperparameters in terms
of the physical ones (or verifies a known map), and returns the draft plus the provenance
that records the map — e.g. RAD's :math:`\alpha = hc\delta`,
:math:`\zeta = \delta^2 (mc(1-\beta_1)/h)^2`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from hamopt.closures.draft import Draft, start
from hamopt.kinetic.energy import KineticEnergy
from hamopt.rule.hyperparameter import Hyperparameter
from hamopt.rule.update_rule import Provenance
from hamopt.schemes.scheme import Scheme
from hamopt.stepmap import StepMap
from hamopt.system.hamiltonian import ConformalHamiltonian
from hamopt.variables import Momentum, change_of_variables, match

__all__ = ["Derived", "derive_to_target"]


@dataclass(frozen=True)
class Derived:
    draft: Draft
    provenance: Provenance
    mapping: dict[sp.Symbol, sp.Expr]


def derive_to_target(
    kinetic: KineticEnergy,
    scheme: Scheme,
    momentum: Momentum,
    target: sp.Expr,
    unknowns: Sequence[sp.Symbol],
    hyperparameters: Sequence[Hyperparameter],
    *,
    known: Mapping[sp.Symbol, sp.Expr] | None = None,
    buffer: str = "exp_avg",
    beta: sp.Symbol | None = None,
    reference: str = "",
) -> Derived:
    """Derive ``kinetic`` × ``scheme`` in ML variables and match ``target`` (in ``v``, ``g``,
    ``beta1`` and the unknown hyperparameters)."""
    step = change_of_variables(kinetic, scheme, momentum)
    mapping = match(step.displacement, target, unknowns, known)
    text = ", ".join(f"{k} = {sp.sstr(val)}" for k, val in mapping.items())
    physical = StepMap(ConformalHamiltonian(kinetic), step.scheme)
    derivation = "\n\n".join(
        [
            physical.markdown(),
            f"Change of variables ({momentum.describe()}; β1 = e^(-rh)):",
            f"$$\\Delta\\theta = {sp.latex(step.displacement)}$$",
            f"Target form, matched and proved: $$\\Delta\\theta = {sp.latex(target)}$$",
            "with " + ", ".join(f"${sp.latex(k)} = {sp.latex(val)}$" for k, val in mapping.items()),
        ]
    )
    provenance = Provenance(
        kinetic=f"{kinetic.name}: T(p) = {sp.sstr(kinetic.expr)}"
        + ("" if kinetic.coupling == "particle" else f" (norm-coupled over each {kinetic.scope})"),
        scheme=f"{step.scheme.name} ({scheme.description or scheme.name}), order {scheme.order}",
        closures=(f"momentum: {momentum.describe()}", f"change of variables: β1 = e^(-rh), {text}"),
        reference=reference,
        derivation=derivation,
    )
    return Derived(
        start(step, target, hyperparameters, buffer=buffer, beta=beta), provenance, mapping
    )
