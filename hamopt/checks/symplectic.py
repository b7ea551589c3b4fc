r"""Conformal symplecticity of a one-step map.

A map :math:`\Phi` with Jacobian :math:`J = \partial\Phi/\partial(q, p)` is conformal
symplectic with factor :math:`c` when

.. math::  J^\top \Omega J = c\,\Omega, \qquad \Omega = \begin{pmatrix} 0 & I \\ -I & 0\end{pmatrix}.

For a splitting scheme the expected factor is :math:`e^{-r h f_D}` with :math:`f_D` the total
fraction of dissipation (1 for a consistent scheme).

* :func:`symbolic_symplecticity` proves it **per sub-flow** and multiplies the factors: if every
  row's Jacobian satisfies :math:`J_i^\top\Omega J_i = c_i\Omega` at a generic state, the
  chain rule gives :math:`J^\top\Omega J = (\prod_i c_i)\,\Omega` for the composition. A
  ``simplify`` of the whole composed map is erratic and can only confirm, never refute; a
  row that is not an exact flow (the NAG variant's gradient drift G) is refuted by evaluating
  its residual at a random point.
* :func:`numeric_symplecticity` measures :math:`\lVert J^\top\Omega J - e^{-rhf_D}\Omega\rVert_{\max}`
  with ``J`` from ``torch.autograd`` in float64 (correct maps: ~1e-16 times the size of J).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import sympy as sp
import torch
from sympy.core.function import AppliedUndef

from hamopt.checks.report import CheckResult
from hamopt.kinetic.energy import KineticEnergy
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import h as H
from hamopt.symbols import r as R
from hamopt.system.hamiltonian import ConformalHamiltonian, TorchSystem
from hamopt.system.subflows import FLOWS

__all__ = ["numeric_symplecticity", "omega", "symbolic_symplecticity", "symplectic_residual"]

NUMERIC_TOLERANCE = 1e-10
#: A residual that did not simplify to zero but is below this at three random points holds.
RANDOM_POINT_ZERO = 1e-12


def omega(n: int, like: torch.Tensor | None = None) -> torch.Tensor | sp.Matrix:
    r"""The symplectic form :math:`\Omega` of ``n`` particles (SymPy, or torch like ``like``)."""
    if like is None:
        zero, eye = sp.zeros(n), sp.eye(n)
        return sp.Matrix(sp.BlockMatrix([[zero, eye], [-eye, zero]]))
    eye = torch.eye(n, dtype=like.dtype, device=like.device)
    zero = torch.zeros_like(eye)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def symbolic_symplecticity(
    kinetic: KineticEnergy, scheme: Scheme, n: int = 1, potential: sp.Expr | None = None
) -> CheckResult:
    r"""Prove (or refute) :math:`J^\top\Omega J = e^{-rh}\Omega` per sub-flow for ``n`` particles.

    Each merged row ``(flow, f)`` of the scheme is applied at the generic state
    :math:`(q_1…q_n, p_1…p_n)` of a :class:`ConformalHamiltonian` (generic potential unless
    given); its residual :math:`J_i^\top\Omega J_i - c_i\Omega` with :math:`c_i = e^{-rfh}` for D
    and 1 otherwise is simplified entry by entry (small expressions). Zero for every row
    proves the claim with factor :math:`\prod_i c_i = e^{-rhf_D}`. A residual SymPy cannot
    reduce (``DiracDelta`` terms of ``|p|``-type energies) is evaluated at three random points;
    if it vanishes there the row holds (reported with its value, not as proved).

    Returns a :class:`CheckResult` whose ``details`` hold each row's factor and verdict; a row
    that does not simplify to zero is evaluated at a random point, and the check fails with that
    residual as its value.
    """
    system = ConformalHamiltonian(kinetic, potential, n=n)
    state = sp.Matrix.vstack(system.q, system.p)
    om = omega(n)
    rows, dissipated, worst = [], sp.Integer(0), 0.0
    for flow, frac in scheme.merged().rows:
        t = frac * H
        q1, p1 = FLOWS[flow](system, system.q, system.p, t, H)
        jac = sp.Matrix.vstack(q1, p1).jacobian(state)
        expected = sp.exp(-R * t) if flow == "D" else sp.Integer(1)
        residual = (jac.T * om * jac - expected * om).applyfunc(_zero_or_simplified)
        if residual.is_zero_matrix:
            rows.append(
                {"flow": flow, "fraction": str(frac), "factor": str(expected), "proved": True}
            )
            dissipated += frac if flow == "D" else 0
            continue
        value = max(_evaluate_at_random_point(residual, seed) for seed in (1, 2, 3))
        worst = max(worst, value)
        holds = value <= RANDOM_POINT_ZERO
        rows.append(
            {
                "flow": flow,
                "fraction": str(frac),
                "residual": value,
                "proved": False,
                "holds": holds,
            }
        )
        if holds:  # zero at random points but not simplified to zero (e.g. DiracDelta terms)
            dissipated += frac if flow == "D" else 0
    factor = sp.exp(-R * H * sp.simplify(dissipated))
    expected_total = sp.exp(-R * H * scheme.dissipation_fraction)
    holds = all(row["proved"] or row["holds"] for row in rows)
    proved = holds and factor == expected_total
    return CheckResult(
        "conformal symplecticity (symbolic, per sub-flow)",
        f"{kinetic.name} × {scheme.name}, n = {n}",
        None if proved and worst == 0 else worst,
        f"J^T Ω J = {sp.sstr(expected_total)} Ω exactly",
        proved,
        {"rows": rows, "factor": factor},
    )


def symplectic_residual(
    step: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    q: torch.Tensor,
    p: torch.Tensor,
    factor: float,
) -> float:
    r""":math:`\lVert J^\top\Omega J - c\,\Omega\rVert_{\max}` of ``step`` at ``(q, p)``, with
    ``J`` by ``torch.autograd``."""
    n = q.numel()

    def flat(x: torch.Tensor) -> torch.Tensor:
        q1, p1 = step(x[:n], x[n:])
        return torch.cat([q1, p1])

    x = torch.cat([q, p]).detach()
    jac = torch.autograd.functional.jacobian(flat, x, create_graph=False)
    om = omega(n, like=jac)
    return float((jac.T @ om @ jac - factor * om).abs().max())


def numeric_symplecticity(
    kinetic: KineticEnergy,
    scheme: Scheme,
    potential: Callable[[torch.Tensor], torch.Tensor],
    *,
    n: int = 20,
    h: float = 0.1,
    friction: float = 0.5,
    values: Mapping[str, float] | None = None,
    seed: int = 0,
    tolerance: float = NUMERIC_TOLERANCE,
) -> CheckResult:
    r"""Measure :math:`\lVert J^\top\Omega J - e^{-rhf_D}\Omega\rVert_{\max}` for one step of
    ``scheme`` on ``n`` particles with potential ``potential``, in float64, at a random state.

    Passes when the residual is at most ``tolerance`` (1e-10).
    """
    system = TorchSystem(kinetic, potential, friction, values)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    p = torch.randn(n, generator=gen, dtype=torch.float64)
    factor = float(sp.exp(-friction * h * scheme.dissipation_fraction))

    def step(q: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return scheme.step(system, q, p, h)

    residual = symplectic_residual(step, q, p, factor)
    return CheckResult(
        "conformal symplecticity (numeric)",
        f"{kinetic.name} × {scheme.name}, n = {n}",
        residual,
        f"<= {tolerance:g}",
        residual <= tolerance,
        {"h": h, "r": friction, "factor": factor},
    )


def _zero_or_simplified(entry: sp.Expr) -> sp.Expr:
    if entry == 0:
        return entry
    entry = sp.cancel(sp.expand(entry))
    return entry if entry == 0 else sp.simplify(entry)


def _evaluate_at_random_point(matrix: sp.Matrix, seed: int = 1) -> float:
    """Largest absolute entry with every symbol, function and derivative set to a random value."""
    rng = random.Random(seed)
    derivs = set().union(*(e.atoms(sp.Derivative) for e in matrix))
    matrix = matrix.xreplace({d: sp.Float(rng.uniform(0.5, 2.0)) for d in sorted(derivs, key=str)})
    funcs = set().union(*(e.atoms(AppliedUndef) for e in matrix))
    matrix = matrix.xreplace({f: sp.Float(rng.uniform(0.5, 2.0)) for f in sorted(funcs, key=str)})
    syms = set().union(*(e.free_symbols for e in matrix))
    matrix = matrix.xreplace({x: sp.Float(rng.uniform(0.5, 2.0)) for x in sorted(syms, key=str)})
    return max(abs(float(sp.N(e))) for e in matrix)
