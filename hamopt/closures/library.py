r"""The closures: from a one-particle rule to a stochastic-gradient optimizer.

Each function returns a closure ``Draft -> Draft``; compose them in order.

=============================== ==============================================================
closure                         effect
=============================== ==============================================================
:func:`second_moment`           buffer :math:`y \leftarrow \beta_2 y + (1-\beta_2) g^2`; in
                                :math:`\Delta\theta`, :math:`v^2 \to y`, :math:`|v| \to \sqrt y`
:func:`frozen_mass`             every :math:`|x|` in :math:`\Delta\theta` (a velocity's
                                magnitude) becomes :math:`\sqrt y`: the mass is frozen at the
                                second-moment estimate for the step
:func:`amsgrad`                 :math:`\hat y \leftarrow \max(\hat y, y)` used in place of ``y``
:func:`infinity_norm`           :math:`|v| + \epsilon \to u`, :math:`u \leftarrow \max(\beta_2 u, |g| + \epsilon)`
:func:`bias_correction`         estimator form :math:`v/(1-\beta_1^t)`, :math:`y/(1-\beta_2^t)`
:func:`step_size_bias_correction` step-size form :math:`\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)`
:func:`coupled_weight_decay`    :math:`g \leftarrow g + \lambda\theta`
:func:`decoupled_weight_decay`  :math:`\theta \leftarrow \theta(1 - \alpha\lambda)` first
:func:`no_momentum`             :math:`\beta_1 = 0`: the buffer is the gradient, and is dropped
:func:`schedule`                a hyperparameter replaced by a step-dependent scalar
=============================== ==============================================================
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures.draft import Closure, Draft
from hamopt.rule.update_rule import Assign, Buffer, grad, param, step

__all__ = [
    "amsgrad",
    "bias_correction",
    "coupled_weight_decay",
    "decoupled_weight_decay",
    "frozen_mass",
    "infinity_norm",
    "no_momentum",
    "schedule",
    "second_moment",
    "step_size_bias_correction",
]

BC1 = sp.Symbol("bias_correction1", real=True)
BC2 = sp.Symbol("bias_correction2", real=True)


def _second_buffer(d: Draft, beta2: sp.Symbol, name: str) -> tuple[Draft, sp.Symbol]:
    y = sp.Symbol(name, real=True)
    d = d.add_buffer(
        Buffer(name, y, "zeros", "y", "second moment"),
        beta2 * y + (1 - beta2) * grad**2,
        "second moment y = β2 y + (1-β2) g²",
    )
    return d, y


def second_moment(beta2: sp.Symbol, name: str = "exp_avg_sq") -> Closure:
    r"""Replace :math:`v^2` by the second moment ``y`` (and :math:`|v|` by :math:`\sqrt y`)."""

    def closure(d: Draft) -> Draft:
        d, y = _second_buffer(d, beta2, name)
        m = d.momentum.symbol
        delta = d.delta.replace(sp.Abs(m), sp.sqrt(y)).subs(m**2, y)
        if delta.has(sp.Abs):
            raise ValueError(f"second_moment left an |·| it cannot estimate in {delta}")
        return d.with_(delta=delta).note("second moment: v² → y = EMA of g²")

    return closure


def frozen_mass(beta2: sp.Symbol, name: str = "exp_avg_sq") -> Closure:
    r"""Freeze the mass at the second-moment estimate: every :math:`|x|` becomes :math:`\sqrt y`.

    For Adam's energy, :math:`\nabla T(x) = x/(|x| + \epsilon)` turns into
    :math:`x/(\sqrt y + \epsilon)` for every velocity evaluation of the step (the momentum and,
    in Nesterov's variant, the gradient impulse): a classical energy with diagonal mass
    :math:`\sqrt y + \epsilon`.
    """

    def closure(d: Draft) -> Draft:
        d, y = _second_buffer(d, beta2, name)
        delta = d.delta.replace(sp.Abs, lambda arg: sp.sqrt(y))
        return d.with_(delta=sp.factor_terms(delta)).note(
            "frozen mass: every |x| → √y (mass √y + ε for the whole step)"
        )

    return closure


def amsgrad(name: str = "max_exp_avg_sq", of: str = "exp_avg_sq") -> Closure:
    r""":math:`\hat y \leftarrow \max(\hat y, y)` and :math:`\hat y` replaces ``y`` in the step."""

    def closure(d: Draft) -> Draft:
        y = sp.Symbol(of, real=True)
        ymax = sp.Symbol(name, real=True)
        d = d.add_buffer(Buffer(name, ymax, "zeros", r"\hat y", "running max of y"),
                         sp.Max(ymax, y), "AMSGrad: ŷ = max(ŷ, y)")
        return d.with_(delta=d.delta.xreplace({y: ymax})).note("AMSGrad: y → max over steps")

    return closure


def infinity_norm(beta2: sp.Symbol, eps: sp.Symbol, name: str = "exp_inf") -> Closure:
    r"""AdaMax: :math:`|v| + \epsilon \to u` with :math:`u \leftarrow \max(\beta_2 u, |g| + \epsilon)`."""

    def closure(d: Draft) -> Draft:
        u = sp.Symbol(name, real=True)
        m = d.momentum.symbol
        d = d.add_buffer(Buffer(name, u, "zeros", "u", "infinity norm"),
                         sp.Max(beta2 * u, sp.Abs(grad) + eps), "u = max(β2 u, |g| + ε)")
        delta = d.delta.xreplace({sp.Abs(m) + eps: u})
        if delta.has(sp.Abs(m)):
            raise ValueError(f"infinity_norm found no |v| + eps in {d.delta}")
        return d.with_(delta=delta).note("infinity norm: |v| + ε → u = max(β2 u, |g| + ε)")

    return closure


def bias_correction() -> Closure:
    r"""Estimator form: :math:`v \to v/(1-\beta_1^t)`, :math:`y \to y/(1-\beta_2^t)`."""

    def closure(d: Draft) -> Draft:
        m = d.momentum.symbol
        d = d.add_scalar(BC1, 1 - d.beta**step, "bias correction of the first moment")
        subs = {m: m / BC1}
        second = [b for b in d.buffers if b.doc in ("second moment",)]
        maxed = [b for b in d.buffers if b.doc == "running max of y"]
        if second:
            beta2 = _beta2(d)
            d = d.add_scalar(BC2, 1 - beta2**step, "bias correction of the second moment")
            target = (maxed or second)[0].symbol
            subs[target] = target / BC2
        return d.with_(delta=d.delta.xreplace(subs)).note(
            "bias correction, estimator form: v/(1-β1^t), y/(1-β2^t)"
        )

    return closure


def step_size_bias_correction(lr: sp.Symbol) -> Closure:
    r"""Step-size form: :math:`\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)` replaces
    :math:`\alpha`; the moments stay uncorrected (Adam §2's efficient order, official RAD)."""

    def closure(d: Draft) -> Draft:
        size = sp.Symbol("step_size", real=True)
        d = d.add_scalar(BC1, 1 - d.beta**step, "bias correction of the first moment")
        d = d.add_scalar(BC2, 1 - _beta2(d) ** step, "bias correction of the second moment")
        d = d.add_scalar(size, lr * sp.sqrt(BC2) / BC1, "step size α√(1-β2^t)/(1-β1^t)")
        return d.with_(delta=d.delta.xreplace({lr: size})).note(
            "bias correction, step-size form: α_t = α√(1-β2^t)/(1-β1^t)"
        )

    return closure


def coupled_weight_decay(wd: sp.Symbol) -> Closure:
    r"""L2 penalty in the gradient: :math:`g \leftarrow g + \lambda\theta`."""

    def closure(d: Draft) -> Draft:
        pre = (*d.pre, Assign(grad, grad + wd * param, "coupled weight decay g ← g + λθ"))
        return d.with_(pre=pre).note("coupled weight decay g ← g + λθ")

    return closure


def decoupled_weight_decay(wd: sp.Symbol, lr: sp.Symbol) -> Closure:
    r"""Decoupled decay first: :math:`\theta \leftarrow \theta(1 - \alpha\lambda)`."""

    def closure(d: Draft) -> Draft:
        pre = (Assign(param, param * (1 - lr * wd), "decoupled weight decay θ ← θ(1 - αλ)"), *d.pre)
        return d.with_(pre=pre).note("decoupled weight decay θ ← θ(1 - αλ)")

    return closure


def no_momentum() -> Closure:
    r""":math:`\beta_1 = 0`: the momentum buffer equals the gradient and is dropped."""

    def closure(d: Draft) -> Draft:
        m = d.momentum.symbol
        delta = d.delta.xreplace({d.beta: 0, m: grad})
        return d.with_(
            buffers=tuple(b for b in d.buffers if b.symbol != m),
            updates=tuple(a for a in d.updates if a.target != m),
            delta=sp.simplify(delta),
            momentum=None,
        ).note("no momentum (β1 = 0): v = g")

    return closure


def schedule(symbol: sp.Symbol, name: str, expr: sp.Expr, doc: str) -> Closure:
    """Replace hyperparameter ``symbol`` in the step by the scalar ``name = expr`` (may use
    ``step``)."""

    def closure(d: Draft) -> Draft:
        target = sp.Symbol(name, real=True)
        d = d.add_scalar(target, expr, doc)
        return d.with_(delta=d.delta.xreplace({symbol: target})).note(doc)

    return closure


def _beta2(d: Draft) -> sp.Symbol:
    for a in d.updates:
        if a.target.name in ("exp_avg_sq", "exp_inf") or any(
            b.symbol == a.target and b.doc == "second moment" for b in d.buffers
        ):
            coeff = [s for s in a.expr.free_symbols if s.name.startswith("beta")]
            if coeff:
                return coeff[0]
    raise ValueError("no second-moment buffer: add second_moment or frozen_mass first")
