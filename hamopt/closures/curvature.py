r"""The curvature mass: Apollo's diagonal quasi-Newton mass as a closure of the classical energy.

**What is derived** (:func:`hamopt.zoo.derivation.derive_to_target`). The classical energy
:math:`T(p) = \sum_i p_i^2/2m` under conformal Euler, in EMA variables, gives

.. math:: \Delta\theta = -\alpha\,v, \qquad \alpha = \frac{h^2}{(1-\beta)\,m},

i.e. a step along the velocity :math:`\dot\theta = p/m` of a particle of constant mass ``m``.

**What this closure adds** (an estimator, like Adam's second-moment closure — not a
consequence of the Hamiltonian system). The constant mass becomes a *diagonal mass that is a
state variable*, :math:`m \to m\,D_t`, with :math:`D_t` the rectified curvature estimate
:math:`|B_t|`; :math:`B_t` is updated along the last displacement by the weak secant equation:

1. the momentum is the bias-corrected EMA in incremental form,
   :math:`\hat m \leftarrow \hat m + a_t(g - \hat m)`, :math:`a_t = (1-\beta)/(1-\beta^t)`, which is
   the estimator form :math:`v/(1-\beta^t)` of the derived EMA (checked symbolically when the
   closure runs);
2. :math:`\Delta g = g - \hat m_{t-1}`, so that
   :math:`y_t = \hat m_t - \hat m_{t-1} = a_t\Delta g` is the change of the (averaged) force;
3. with :math:`d` the previous velocity (a buffer, zero at first),
   :math:`s = \lVert d\rVert_4 + \epsilon'`, :math:`\hat d = d/s`,

   .. math:: \delta = -a_t \textstyle\sum (\Delta g/s)\,\hat d - \sum B\,\hat d^2
                    = -\dfrac{d^\top y_t + d^\top B d}{s^2}, \qquad
             B \leftarrow B + \delta\,\hat d^2
               = B - \dfrac{d^\top y_t + d^\top B d}{s^4}\,\mathrm{Diag}(d^2);

4. the mass :math:`D = \max(|B|, \rho) + \epsilon/a_t` (rebound ``"belief"``,
   :math:`\rho = \lVert\Delta g\rVert_\infty`, :math:`\epsilon' = \epsilon`) or
   :math:`D = \max(|B|, \rho)` (rebound ``"constant"``, :math:`\rho = 0.01`,
   :math:`\epsilon' = \epsilon/\rho`);
5. the velocity is :math:`d \leftarrow \hat m / D` (stored: it is next step's secant direction)
   and the derived step becomes :math:`\Delta\theta = -\alpha\,d`.

**The weak secant equation.** Apollo's step is :math:`\theta_{t+1} - \theta_t = -\alpha_t d_t`; with
the step size divided out (the paper's step-size bias correction) the secant pair is
:math:`(-d, y_t)`. The update of step 3 is the least-change (Frobenius) diagonal correction
along :math:`\mathrm{Diag}(d^2)`, and it satisfies *exactly*, for every :math:`\epsilon'`,

.. math:: d^\top B_{t} d + d^\top y_t = (1-\varrho)\,(d^\top B_{t-1} d + d^\top y_t),
          \qquad \varrho = \lVert d\rVert_4^4 / (\lVert d\rVert_4 + \epsilon')^4 ,

so for :math:`\epsilon' \to 0` (:math:`\varrho \to 1`) it is the weak secant condition
:math:`(-d)^\top B_{t}(-d) = (-d)^\top y_t`, and for :math:`\epsilon' > 0` a relaxation of it
(the new curvature along :math:`d` is the convex combination of the old one and the secant
target). ``tests/optim/test_apollo.py`` checks both on the generated optimizer.

Apollo's decoupled weight decay is added *to the velocity* (so it enters the next secant pair):
:func:`velocity_weight_decay`.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from hamopt.closures.draft import Closure, Draft, shown
from hamopt.rule.reductions import MaxAbs, Mean, Norm4, SumOf
from hamopt.rule.update_rule import Assign, Buffer, grad, param, step

__all__ = ["curvature_mass", "velocity_weight_decay"]

#: :math:`a_t = (1-\beta)/(1-\beta^t)`, the weight of the bias-corrected EMA.
ALPHA = sp.Symbol("alpha", real=True)
#: :math:`\Delta g = g - \hat m_{t-1}`.
DELTA_GRAD = sp.Symbol("delta_grad", real=True)
#: :math:`\rho`, the floor of the rectified curvature.
REBOUND = sp.Symbol("rebound", real=True)
#: :math:`s = \lVert d\rVert_4 + \epsilon'`.
SCALE = sp.Symbol("scale", real=True)
#: :math:`\hat d = d/s`.
UNIT = sp.Symbol("unit_update", real=True)
#: :math:`\delta`, the secant correction's coefficient.
DELTA = sp.Symbol("delta", real=True)
#: The curvature estimate :math:`B` (buffer).
HESSIAN = sp.Symbol("approx_hessian", real=True)
#: The velocity / update direction :math:`d` (buffer).
UPDATE = sp.Symbol("update", real=True)
#: The mass :math:`D`, the rectified curvature.
DENOM = sp.Symbol("denom", real=True)
#: :math:`\lambda/\mathrm{mean}(D)` (``"stable"`` weight decay).
DECAY = sp.Symbol("decay", real=True)

LATEX = {
    ALPHA: r"a_t",
    DELTA_GRAD: r"\Delta g",
    REBOUND: r"\rho",
    SCALE: "s",
    UNIT: r"\hat d",
    HESSIAN: "B",
    UPDATE: "d",
    DENOM: "D",
    DECAY: r"\lambda_t",
}


def curvature_mass(
    eps: sp.Symbol, lr: sp.Symbol, rebound: str = "constant", floor: float = 0.01
) -> Closure:
    r"""Replace the constant mass by :math:`D_t = \mathrm{rect}(B_t)`, with :math:`B_t` updated by
    the weak secant equation along the previous velocity (module docstring, steps 1–5).

    ``lr`` is the derived step size (:math:`\Delta\theta = -\alpha\hat m` before the closure);
    ``rebound`` is ``"constant"`` (floor ``floor``, :math:`\epsilon' = \epsilon/\text{floor}`) or
    ``"belief"`` (floor :math:`\lVert\Delta g\rVert_\infty`, :math:`+\epsilon/a_t` in the mass).
    The draft's momentum must be the zero-initialised EMA.
    """
    if rebound not in ("constant", "belief"):
        raise ValueError(f"rebound must be 'constant' or 'belief', got {rebound!r}")

    def closure(d: Draft) -> Draft:
        m, beta = d.momentum.symbol, d.beta
        if d.momentum.init != "zeros":
            raise ValueError("curvature_mass needs the zero-initialised EMA momentum")
        index = next((i for i, a in enumerate(d.updates) if a.target == m), None)
        if index is None:
            raise ValueError("curvature_mass found no momentum recursion in the draft")
        alpha = (1 - beta) / (1 - beta**step)
        _check_incremental(d.updates[index].expr, m, beta, alpha)

        velocity = sp.simplify(-d.displacement.xreplace({m: m / DENOM}) / lr)
        if velocity.has(lr) or sp.simplify(velocity - m / DENOM) != 0:
            raise ValueError(f"curvature_mass needs a step -lr·v, got {shown(d.displacement)}")
        rectified = sp.Max(sp.Abs(HESSIAN), REBOUND)
        if rebound == "belief":
            floor_expr, eps_s, mass = MaxAbs(DELTA_GRAD), eps, rectified + eps / ALPHA
            floor_doc = "rebound ρ = ‖Δg‖_∞ (belief)"
            mass_doc = "mass D = max(|B|, ρ) + ε/a_t (rectified curvature)"
        else:
            floor_expr, eps_s, mass = sp.Float(floor), eps / REBOUND, rectified
            floor_doc = f"rebound ρ = {floor} (constant); ε' = ε/ρ"
            mass_doc = "mass D = max(|B|, ρ) (rectified curvature)"
        program = (
            Assign(ALPHA, alpha, "EMA weight a_t = (1-β)/(1-β^t)"),
            Assign(DELTA_GRAD, grad - m, "Δg = g - m̂ (force change y = a_t Δg)"),
            Assign(REBOUND, floor_expr, floor_doc),
            Assign(
                m,
                m + ALPHA * DELTA_GRAD,
                "momentum: bias-corrected EMA m̂ ← m̂ + a_t Δg (= v/(1-β^t)), zero init",
            ),
            Assign(SCALE, Norm4(UPDATE) + eps_s, "s = ‖d‖₄ + ε' (d: previous velocity)"),
            Assign(UNIT, UPDATE / SCALE, "d̂ = d/s"),
            Assign(
                DELTA,
                -ALPHA * SumOf(DELTA_GRAD / SCALE * UNIT) - SumOf(HESSIAN * UNIT**2),
                "δ = -(dᵀy + dᵀBd)/s²",
            ),
            Assign(HESSIAN, HESSIAN + DELTA * UNIT**2, "weak secant: B ← B + δ d̂²"),
            Assign(DENOM, mass, mass_doc),
            Assign(UPDATE, velocity, "velocity d = m̂/D"),
        )
        momentum = replace(d.momentum, latex=r"\hat m")
        buffers = (
            *(momentum if b.symbol == m else b for b in d.buffers),
            Buffer("approx_hessian", HESSIAN, "zeros", "B", "curvature estimate (diagonal mass)"),
            Buffer("update", UPDATE, "zeros", "d", "velocity (update direction)"),
        )
        updates = (*d.updates[:index], *program, *d.updates[index + 1 :])
        return d.with_(
            buffers=buffers,
            updates=updates,
            displacement=-lr * UPDATE,
            momentum=momentum,
            latex_names={**d.latex_names, **LATEX},
        ).note(
            f"curvature mass ({rebound} rebound): mass m → m·D, D = rect(B), B by the weak "
            "secant equation along the previous velocity d; momentum bias-corrected "
            "m̂ ← m̂ + a_t(g - m̂)"
        )

    return closure


def velocity_weight_decay(wd: sp.Symbol, stable: bool = False) -> Closure:
    r"""Apollo's decoupled decay, added to the velocity: :math:`d \leftarrow d + \lambda\theta`, or
    ``stable``: :math:`d \leftarrow d + \lambda/\mathrm{mean}(D)\,\theta`. Apply after
    :func:`curvature_mass`."""

    def closure(d: Draft) -> Draft:
        index = next((i for i, a in enumerate(d.updates) if a.target == UPDATE), None)
        if index is None:
            raise ValueError("velocity_weight_decay needs curvature_mass first")
        old = d.updates[index]
        if stable:
            pre = (Assign(DECAY, wd / Mean(DENOM), "stable decay λ_t = λ/mean(D)"),)
            new = Assign(UPDATE, old.expr + DECAY * param, "velocity d = m̂/D + λ_t θ")
            note = "stable weight decay d ← d + λ/mean(D)·θ"
        else:
            pre = ()
            new = Assign(UPDATE, old.expr + wd * param, "velocity d = m̂/D + λθ")
            note = "decoupled weight decay d ← d + λθ"
        updates = (*d.updates[:index], *pre, new, *d.updates[index + 1 :])
        return d.with_(updates=updates).note(note)

    return closure


def _check_incremental(ema: sp.Expr, m: sp.Symbol, beta: sp.Symbol, alpha: sp.Expr) -> None:
    r"""The estimator :math:`v_t/(1-\beta^t)` of the EMA ``ema`` equals
    :math:`\hat m + a_t(g - \hat m)` given :math:`v_{t-1} = (1-\beta^{t-1})\hat m`."""
    estimator = ema.xreplace({m: (1 - beta ** (step - 1)) * m}) / (1 - beta**step)
    incremental = m + alpha * (grad - m)
    if sp.simplify(sp.expand(estimator - incremental)) != 0:
        raise ValueError(f"the momentum {ema} is not an EMA whose estimator is m + a_t(g - m)")
