r"""The speed limit of bounded-velocity kinetic energies.

An exact drift :math:`q \leftarrow q + h\nabla T(p)` moves each coordinate (per-particle
energy) or the whole group (norm-coupled energy) by at most :math:`h \sup\lvert\nabla T\rvert`.
For the relativistic energies :math:`\sup = c`: the step is shorter than :math:`h c` whatever
the gradient. The classical energy has no such bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy as sp
import torch

from hamopt.checks.integrate import check_step
from hamopt.checks.problems import linear
from hamopt.checks.report import CheckResult
from hamopt.kinetic.energy import KineticEnergy
from hamopt.schemes.library import scheme_named
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import p as P
from hamopt.symbols import s
from hamopt.system.hamiltonian import TorchSystem

__all__ = ["speed_bound", "speed_limit"]

#: Slack for the rounding of ``q_{k+1} - q_k`` in float64 (a few ulps of ``q``).
ROUNDING = 1e-12


def speed_bound(kinetic: KineticEnergy) -> sp.Expr:
    r""":math:`\sup_p \lvert\nabla T(p)\rvert` as :math:`p \to \infty` (``oo`` when unbounded).

    Per particle: :math:`\lim_{p\to\infty} \lvert\tau'(p)\rvert`; norm-coupled:
    :math:`\lim_{s\to\infty} 2F'(s)\sqrt{s}`. (For convex even energies the speed grows with
    :math:`\lvert p\rvert`, so the limit is the supremum.)

    >>> from hamopt.kinetic import classical, relativistic
    >>> speed_bound(relativistic()), speed_bound(classical())
    (c, oo)
    """
    if kinetic.coupling == "particle":
        return _at_infinity(sp.Abs(kinetic.velocity_expr), P)
    return _at_infinity(kinetic.velocity_expr * sp.sqrt(s), s)


def _at_infinity(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    r""":math:`\lim_{x\to\infty}` of ``expr``, through Max, Min and Abs, which are continuous:
    the limit of each argument, then the function (SymPy's own limit of
    :math:`\min(\delta, x)`, Huber's speed, fails inside its series code)."""
    if isinstance(expr, (sp.Max, sp.Min, sp.Abs)):
        return expr.func(*(_at_infinity(arg, x) for arg in expr.args))
    return sp.limit(expr, x, sp.oo)


def speed_limit(
    kinetic: KineticEnergy,
    scheme: Scheme | str,
    *,
    gradient: float = 1e6,
    h: float = 0.1,
    n: int = 20,
    steps: int = 5,
    friction: float = 0.1,
    values: Mapping[str, float] | None = None,
    seed: int = 0,
) -> CheckResult:
    r"""Largest displacement per step under a gradient of size ``gradient``, over the bound
    :math:`h\sup\lvert\nabla T\rvert`.

    The potential is linear, :math:`U = w\cdot q` with :math:`\lVert w\rVert_\infty =`
    ``gradient``: every kick is huge. The figure is
    :math:`\max_k \max_i \lvert q_{k+1,i} - q_{k,i}\rvert / (h \cdot \text{bound})` per particle,
    or :math:`\max_k \lVert q_{k+1} - q_k\rVert / (h \cdot \text{bound})` for a norm-coupled
    group, where the drift time :math:`\sum\lvert f_F\rvert` counts the scheme's drift rows
    (1 for Euler and the leapfrog; Yoshida's negative sub-step makes it
    :math:`2w_1 + \lvert w_0\rvert \approx 4.4`). It passes when at most 1 and fails above;
    ``details['strict']`` says whether it stayed strictly below (floats round
    :math:`1 - 10^{-24}` to 1 for huge gradients, and the massless energy reaches its bound).
    For an energy with no bound (classical) the check does not apply: the verdict is
    ``"undetermined"``, ``value`` the largest step over ``h``.
    """
    scheme = scheme_named(scheme)
    check_step(h, steps)
    if not (isinstance(gradient, (int, float)) and 0 < gradient < math.inf):
        raise ValueError(f"gradient must be a finite number > 0, got {gradient!r}")
    bound = sp.sympify(speed_bound(kinetic).xreplace(kinetic.values(values)))
    travel = float(sum(abs(frac) for flow, frac in scheme.rows if flow in "FG"))
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(n, generator=gen, dtype=torch.float64)
    weights = gradient * weights / weights.abs().max()
    system = TorchSystem(kinetic, linear(weights), friction, values)
    q = torch.zeros(n, dtype=torch.float64)
    p = torch.zeros(n, dtype=torch.float64)
    largest = 0.0
    for _ in range(steps):
        q1, p = scheme.step(system, q, p, h)
        dq = q1 - q
        move = float(dq.abs().max() if kinetic.coupling == "particle" else dq.norm())
        largest = max(largest, move)
        q = q1
    if not (bound.is_number and bound.is_finite and bound.is_extended_real):
        return CheckResult.undetermined(
            "speed limit",
            f"{kinetic.name} × {scheme.name}, |∇U| = {gradient:g}",
            largest / h,
            f"no bound: sup |∇T| = {sp.sstr(bound)}",
            f"not applicable: sup |∇T| = {sp.sstr(bound)}, the energy bounds no speed",
            {"largest_step": largest, "bound": sp.sstr(bound)},
        )
    ratio = largest / (travel * h * float(bound))
    return CheckResult(
        "speed limit",
        f"{kinetic.name} × {scheme.name}, |∇U| = {gradient:g}",
        ratio,
        f"step / ({travel:.3g}·h·{float(bound):g}) <= 1 (+{ROUNDING:g} rounding)",
        ratio <= 1.0 + ROUNDING,
        {
            "strict": ratio < 1.0,
            "largest_step": largest,
            "bound": float(bound),
            "h": h,
            "drift_time": travel,
        },
    )
