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
  with ``J`` from ``torch.autograd`` in float64, relative to :math:`\max(1, \lVert J\rVert_{\max}^2)`
  (correct maps: ~1e-16).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import sympy as sp
import torch

from hamopt.checks.identity import vanishes_at_random_points
from hamopt.checks.integrate import check_step
from hamopt.checks.report import CheckResult
from hamopt.kinetic.energy import KineticEnergy
from hamopt.schemes.library import scheme_named
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import h as H
from hamopt.symbols import r as R
from hamopt.system.hamiltonian import ConformalHamiltonian, TorchSystem
from hamopt.system.subflows import FLOWS

__all__ = ["numeric_symplecticity", "omega", "symbolic_symplecticity", "symplectic_residual"]

NUMERIC_TOLERANCE = 1e-10
#: a pass needs a step whose coupling of q and p, |∂q'/∂p|·|∂p'/∂q| (relative), is above this
#: many tolerances, so that a defect of 1/RESOLUTION_MARGIN of it would be seen
RESOLUTION_MARGIN = 1e3


def omega(n: int, like: torch.Tensor | None = None) -> torch.Tensor | sp.Matrix:
    r"""The symplectic form :math:`\Omega` of ``n`` particles (SymPy, or torch like ``like``)."""
    if like is None:
        zero, eye = sp.zeros(n), sp.eye(n)
        return sp.Matrix(sp.BlockMatrix([[zero, eye], [-eye, zero]]))
    eye = torch.eye(n, dtype=like.dtype, device=like.device)
    zero = torch.zeros_like(eye)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def symbolic_symplecticity(
    kinetic: KineticEnergy, scheme: Scheme | str, n: int = 1, potential: sp.Expr | None = None
) -> CheckResult:
    r"""Prove (or refute) :math:`J^\top\Omega J = e^{-rh}\Omega` per sub-flow for ``n`` particles.

    Each merged row ``(flow, f)`` of the scheme is applied at the generic state
    :math:`(q_1…q_n, p_1…p_n)` of a :class:`ConformalHamiltonian` (generic potential unless
    given); its residual :math:`J_i^\top\Omega J_i - c_i\Omega` with :math:`c_i = e^{-rfh}` for D
    and 1 otherwise is simplified entry by entry (small expressions). Zero for every row
    proves the claim with factor :math:`\prod_i c_i = e^{-rhf_D}`. A residual SymPy cannot
    reduce (``DiracDelta`` terms of ``|p|``-type energies) is evaluated with mpmath at 50 digits
    at 20 seeded random points, the energy's parameters at their defaults
    (:func:`~hamopt.checks.identity.vanishes_at_random_points`): zero there, the row holds
    (reported as such, not as proved); not zero at a point, the row is refuted (the NAG
    variant's gradient drift G) and the check fails with the residual there as its value.

    Returns a :class:`CheckResult` whose ``details`` hold each row's factor, verdict and
    method; the measured cell is ``"proved"`` only when every row simplified to zero.
    """
    scheme = scheme_named(scheme)
    system = ConformalHamiltonian(kinetic, potential, n=n)
    state = sp.Matrix.vstack(system.q, system.p)
    om = omega(n)
    fixed = {prm.symbol: prm.default for prm in kinetic.params if prm.default is not None}
    rows, dissipated, implicit, evaluations = [], sp.Integer(0), sp.Integer(1), []
    for flow, frac in scheme.merged().rows:
        t = frac * H
        q1, p1 = FLOWS[flow](system, system.q, system.p, t, H)
        jac = sp.Matrix.vstack(q1, p1).jacobian(state)
        expected = {"D": sp.exp(-R * t), "I": 1 / (1 + R * t)}.get(flow, sp.Integer(1))
        residual = (jac.T * om * jac - expected * om).applyfunc(_zero_or_simplified)
        row = {"flow": flow, "fraction": str(frac), "factor": str(expected), "proved": True}
        if not residual.is_zero_matrix:
            ev = _at_random_points(residual, fixed, system, kinetic)
            evaluations.append(ev)
            row.update(proved=False, holds=ev.holds, residual=ev.worst, method=ev.method)
        rows.append(row)
        if row["proved"] or row["holds"]:
            dissipated += frac if flow == "D" else 0
            implicit *= expected if flow == "I" else 1
    factor = sp.exp(-R * H * sp.simplify(dissipated)) * implicit
    expected_total = scheme.conformal_factor(R, H)
    refuted = [ev for ev in evaluations if ev.holds is False]
    shown = refuted[0] if refuted else max(evaluations, key=lambda ev: ev.worst, default=None)
    args = (
        "conformal symplecticity (symbolic, per sub-flow)",
        f"{kinetic.name} × {scheme.name}, n = {n}",
        None if shown is None else shown.worst,
        f"J^T Ω J = {sp.sstr(expected_total)} Ω exactly",
    )
    details = {"rows": rows, "factor": factor}
    measured = None if shown is None else shown.describe()
    if not scheme.exact_friction and not refuted:  # honest about the implicit friction
        flow_factor = sp.exp(-R * H * sp.nsimplify(sum(f for fl, f in scheme.rows if fl in "DI")))
        measured = (
            f"factor {sp.sstr(expected_total)}, not the flow's {sp.sstr(flow_factor)} (they agree "
            "to first order in h: implicit friction)"
        )
    if refuted:
        return CheckResult(*args, False, details, measured=measured)
    if any(ev.holds is None for ev in evaluations):
        reason = "a sub-flow's residual could not be evaluated at any random point"
        return CheckResult.undetermined(*args, reason, details, measured=measured)
    if sp.simplify(factor - expected_total) != 0:
        measured = f"factor {sp.sstr(factor)}"
        return CheckResult(*args, False, details, measured=measured)
    return CheckResult(*args, True, details, measured=measured)


def _at_random_points(residual: sp.Matrix, fixed: dict, system, kinetic: KineticEnergy):
    """:func:`~hamopt.checks.identity.vanishes_at_random_points` of ``residual``, then again
    at the scale of each parameter's default other than 1 (the momenta and h times it), where
    it held: a random point has |p| of order 1, and an energy that bends only where
    |p| < δ (Huber's at δ = 0.01) showed NAG's residual nowhere."""
    ev = vanishes_at_random_points(residual, fixed=fixed)
    scales = sorted({abs(float(v)) for v in fixed.values()} - {0.0, 1.0})
    for seed, scale in enumerate(scales, start=1):
        if ev.holds is not True:
            break
        at = {pi: scale * pi for pi in system.p} | {H: scale * H}
        scaled = vanishes_at_random_points(residual.xreplace(at), fixed=fixed, seed=seed)
        if scaled.holds is False:
            ev = scaled
    return ev


def symplectic_residual(
    step: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    q: torch.Tensor,
    p: torch.Tensor,
    factor: float,
) -> float:
    r""":math:`\lVert J^\top\Omega J - c\,\Omega\rVert_{\max}` of ``step`` at ``(q, p)``, with
    ``J`` by ``torch.autograd``."""
    return _jacobian_measures(step, q, p, factor)[0]


def _jacobian_measures(
    step: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    q: torch.Tensor,
    p: torch.Tensor,
    factor: float,
) -> tuple[float, float, float]:
    """The residual of :func:`symplectic_residual`, the largest entry of ``J``, and the
    product of the largest entries of its two coupling blocks, ∂q'/∂p and ∂p'/∂q."""
    n = q.numel()

    def flat(x: torch.Tensor) -> torch.Tensor:
        q1, p1 = step(x[:n], x[n:])
        return torch.cat([q1, p1])

    x = torch.cat([q, p]).detach()
    jac = torch.autograd.functional.jacobian(flat, x, create_graph=False)
    om = omega(n, like=jac)
    residual = float((jac.T @ om @ jac - factor * om).abs().max())
    coupling = float(jac[:n, n:].abs().max()) * float(jac[n:, :n].abs().max())
    return residual, float(jac.abs().max()), coupling


def numeric_symplecticity(
    kinetic: KineticEnergy,
    scheme: Scheme | str,
    potential: Callable[[torch.Tensor], torch.Tensor],
    *,
    n: int = 20,
    h: float = 0.1,
    friction: float = 0.5,
    values: Mapping[str, float] | None = None,
    seed: int = 0,
    tolerance: float = NUMERIC_TOLERANCE,
) -> CheckResult:
    r"""Measure :math:`J^\top\Omega J - e^{-rhf_D}\Omega` for one step of ``scheme`` on ``n``
    particles with potential ``potential``, in float64, at a random state.

    The figure is relative to the size of the Jacobian,

    .. math::

        \frac{\lVert J^\top\Omega J - e^{-rhf_D}\Omega\rVert_{\max}}
             {\max(1, \lVert J\rVert_{\max}^2)},

    because the rounding of :math:`J^\top\Omega J` grows with :math:`\lVert J\rVert^2`: a
    fast-growing energy such as :math:`e^{p^2/2}` has entries of :math:`J` near
    :math:`10^{49}` at the default state and an absolute residual near :math:`10^{35}` that is
    rounding, not a broken map. Passes when the figure is at most ``tolerance`` (1e-10);
    undetermined when :math:`J` overflows float64 at the test state (no figure to judge), when
    the factor :math:`e^{-rhf_D}` is itself at most ``tolerance`` (strong friction: the
    residual of any contraction is then that small, NAG's too), or when the step is too small
    to tell. A map that only kicks or only drifts is symplectic, so a defect comes from the
    step's coupling of the two, and is of the order of the product of its coupling blocks,
    :math:`\lVert\partial q'/\partial p\rVert_{\max}\lVert\partial p'/\partial q\rVert_{\max}`
    (NAG's is 1 to 5 times it: classical, relativistic, norm-coupled, a mass of 10^9, h from
    10^-5 to 0.1). Where that resolution, relative as the figure, is at most
    ``RESOLUTION_MARGIN`` (1000) times ``tolerance``, a defect of a thousandth of it would pass
    unseen, and the verdict is undetermined rather than a pass that says nothing: NAG passed at
    :math:`h = 10^{-6}`, with a mass of :math:`10^9`, and under :math:`10^{10}U`. The default
    problem decides from about :math:`h = 10^{-3}`. ``details`` hold the absolute
    ``residual``, ``jacobian_max`` and ``resolution``.
    """
    scheme = scheme_named(scheme)
    check_step(h, 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1 (particles), got {n!r}")
    system = TorchSystem(kinetic, potential, friction, values)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    p = torch.randn(n, generator=gen, dtype=torch.float64)
    factor = float(scheme.conformal_factor(friction, h))

    def step(q: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return scheme.step(system, q, p, h)

    residual, size, coupling = _jacobian_measures(step, q, p, factor)
    relative = residual / max(1.0, size**2)
    resolution = coupling / max(1.0, size**2)
    args = (
        "conformal symplecticity (numeric)",
        f"{kinetic.name} × {scheme.name}, n = {n}",
        relative,
        f"<= {tolerance:g} (residual / max(1, |J|²))",
    )
    details = {
        "h": h,
        "r": friction,
        "factor": factor,
        "residual": residual,
        "jacobian_max": size,
        "resolution": resolution,
    }
    if not math.isfinite(relative):
        reason = f"J is not finite in float64 at the test state (max |J| = {size:.3g})"
        return CheckResult.undetermined(*args, reason, details)
    if factor <= tolerance:  # e^{-rh f_D} Ω itself passes as 0: any contraction would pass
        reason = (
            f"the conformal factor e^(-r·h·f_D) = {factor:.3g} is within the tolerance "
            f"{tolerance:g}, so the figure cannot tell the step from any contraction "
            "(a smaller r·h decides)"
        )
        return CheckResult.undetermined(*args, reason, details)
    if relative <= tolerance and resolution <= RESOLUTION_MARGIN * tolerance:
        reason = (
            "the step couples q and p too weakly to tell: a defect of the order of "
            f"|∂q'/∂p|·|∂p'/∂q| = {resolution:.3g} (relative) would be within "
            f"{RESOLUTION_MARGIN:g} × the tolerance {tolerance:g} (a larger h, or a potential "
            "with more curvature, decides)"
        )
        return CheckResult.undetermined(*args, reason, details)
    return CheckResult(*args, relative <= tolerance, details)


def _zero_or_simplified(entry: sp.Expr) -> sp.Expr:
    """0 where SymPy reduces ``entry`` to it, else ``entry`` simplified as far as SymPy can
    (``simplify`` of log cosh's NAG entries raises NotImplementedError inside ``collect``: the
    entry is then left as ``cancel`` gave it, for the evaluation at random points)."""
    if entry == 0:
        return entry
    entry = sp.cancel(sp.expand(entry))
    if entry == 0:
        return entry
    try:
        return sp.simplify(entry)
    except NotImplementedError:
        return entry
