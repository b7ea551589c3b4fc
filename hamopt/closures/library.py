r"""The closures: from a one-particle rule to a stochastic-gradient optimizer.

Each function returns a closure ``Draft -> Draft``; compose them in order.

=============================== ==============================================================
closure                         effect
=============================== ==============================================================
:func:`second_moment`           buffer :math:`y \leftarrow \beta_2 y + (1-\beta_2) g^2`; in
                                :math:`\Delta\theta`, :math:`v^2 \to y`, :math:`|v| \to \sqrt y`
:func:`diagonal_mass`           mass :math:`\sqrt y + \epsilon`: every momentum argument
                                :math:`x` of the step becomes :math:`x/(\sqrt y + \epsilon)`
:func:`frozen_mass`             every :math:`|x|` in :math:`\Delta\theta` (a velocity's
                                magnitude) becomes :math:`\sqrt y`: the mass is frozen at the
                                second-moment estimate for the step
:func:`amsgrad`                 :math:`\hat y \leftarrow \max(\hat y, y)` used in place of ``y``
:func:`infinity_norm`           :math:`|v| + \epsilon \to u`, :math:`u \leftarrow \max(\beta_2 u, |g| + \epsilon)`
:func:`bias_correction`         estimator form :math:`v/(1-\beta_1^t)`, :math:`y/(1-\beta_2^t)`
                                (``first=False``: the second moment only)
:func:`step_size_bias_correction` step-size form :math:`\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)`
:func:`coupled_weight_decay`    :math:`g \leftarrow g + \lambda\theta`
:func:`decoupled_weight_decay`  :math:`\theta \leftarrow \theta(1 - \alpha\lambda)` first
:func:`no_momentum`             :math:`\beta_1 = 0`: the buffer is the gradient, and is dropped
:func:`schedule`                a hyperparameter replaced by a step-dependent scalar
:func:`momentum_schedule`       Dozat's NAdam: the two momentum factors of Nesterov's step
                                become :math:`\mu_t`, :math:`\mu_{t+1}` with their products
:func:`rectification`           RAdam: step size :math:`\times r_t` once :math:`\rho_t > 5`,
                                unit mass (momentum SGD) before
=============================== ==============================================================
"""

from __future__ import annotations

import sympy as sp

from hamopt.closures.draft import Closure, Draft, shown
from hamopt.rule.reductions import Norm2
from hamopt.rule.update_rule import Assign, Buffer, grad, param, step

__all__ = [
    "amsgrad",
    "bias_correction",
    "coupled_weight_decay",
    "decoupled_weight_decay",
    "diagonal_mass",
    "frozen_mass",
    "infinity_norm",
    "momentum_schedule",
    "no_momentum",
    "rectification",
    "schedule",
    "second_moment",
    "step_size_bias_correction",
]

#: The bias corrections 1 - β1^t and 1 - β2^t are positive for β in [0, 1), which argument
#: checking enforces: so SymPy writes |v/b₁| as |v|/b₁ and √(y/b₂) as √y/√b₂, and the in-place
#: paths divide by √y + ε√b₂ (rule I8 of hamopt.codegen.inplace).
BC1 = sp.Symbol("bias_correction1", positive=True)
BC2 = sp.Symbol("bias_correction2", positive=True)


def _second_buffer(d: Draft, beta2: sp.Symbol, name: str) -> tuple[Draft, sp.Symbol]:
    y = sp.Symbol(name, real=True)
    d = d.add_buffer(
        Buffer(name, y, "zeros", "y", "second moment"),
        beta2 * y + (1 - beta2) * grad**2,
        "second moment y = β2 y + (1-β2) g²",
    )
    return d, y


def _moving(d: Draft) -> set[sp.Symbol]:
    """The quantities that change every step: the gradient and the momentum (if any)."""
    return {grad} | ({d.momentum.symbol} if d.momentum is not None else set())


def _sums_holding(expr: sp.Expr, term: sp.Expr, moving: set[sp.Symbol]) -> list[sp.Add]:
    """The sums ``term + c`` in ``expr`` whose rest ``c`` reads none of ``moving``: the
    ``|v| + ε`` or ``√y + ε`` of a step, with its ε (the closures' ``eps`` or the energy's)."""
    return [a for a in expr.atoms(sp.Add) if term in a.args and not (a - term).has(*moving)]


def _momentum_update(d: Draft) -> Assign:
    """The momentum's update (the assignment of its buffer)."""
    (update,) = [a for a in d.updates if a.target == d.momentum.symbol]
    return update


def _ema(d: Draft) -> bool:
    r"""Whether the momentum is the EMA :math:`v \leftarrow \beta_1 v + (1-\beta_1) g`."""
    m = d.momentum.symbol
    return sp.expand(_momentum_update(d).expr - (d.beta * m + (1 - d.beta) * grad)) == 0


def second_moment(
    beta2: sp.Symbol,
    name: str = "exp_avg_sq",
    mass_form: tuple[sp.Expr, sp.Symbol] | None = None,
) -> Closure:
    r"""Replace :math:`v^2` by the second moment ``y`` (and :math:`|v|` by :math:`\sqrt y`).

    ``mass_form = (expr, Y)`` gives the step with each velocity written through the energy's
    inverse mass, :math:`\nabla T(u) = u\,w(u^2)` with :math:`u^2 \to k^2 Y`
    (:mod:`hamopt.parameterisation`); then ``Y`` becomes ``y``, for any energy. Raises
    :class:`ValueError` when the step has nothing the second moment could estimate.
    """

    def closure(d: Draft) -> Draft:
        d, y = _second_buffer(d, beta2, name)
        m = d.momentum.symbol
        if mass_form is not None:
            displacement = mass_form[0].xreplace({mass_form[1]: y})
        else:
            displacement = d.displacement.replace(sp.Abs(m), sp.sqrt(y)).subs(m**2, y)
        displacement = _signed_decays(displacement, {d.beta, beta2})
        if displacement.has(sp.Abs):
            raise ValueError(
                f"second_moment left an |·| it cannot estimate in {shown(displacement)}"
            )
        if not displacement.has(y):
            raise ValueError(
                f"second_moment has nothing to act on in Δθ = {shown(d.displacement)}: no v² or |v| to "
                "estimate (the energy's inverse mass ∇T(p)/p is constant, or the energy is "
                "norm-coupled); diagonal_mass gives an adaptive step for every energy"
            )
        return d.with_(displacement=displacement).note("second moment: v² → y = EMA of g²")

    return closure


def _signed_decays(expr: sp.Expr, decays: set[sp.Symbol]) -> sp.Expr:
    r"""``expr`` with each :math:`|e|` whose ``e`` depends on the decay rates ``decays`` alone
    (:math:`\beta \in [0, 1]`) and has one sign over them written without the bars:
    :math:`|\beta_1 - 1| = 1 - \beta_1` (Nesterov's look-ahead momentum
    :math:`(\beta_1 - 1) v` splits off this factor); interval arithmetic over :math:`[0, 1]`
    decides the sign."""

    def unsigned(a: sp.Abs) -> sp.Expr:
        arg = a.args[0]
        if not arg.free_symbols or not arg.free_symbols <= decays:
            return a
        bounds = arg.xreplace({b: sp.AccumBounds(0, 1) for b in arg.free_symbols})
        low, high = (
            (bounds.min, bounds.max) if isinstance(bounds, sp.AccumBounds) else (bounds,) * 2
        )
        if high.is_nonpositive:
            return -arg
        return arg if low.is_nonnegative else a

    return expr.replace(lambda e: isinstance(e, sp.Abs), unsigned)


def frozen_mass(
    beta2: sp.Symbol,
    name: str = "exp_avg_sq",
    frozen_form: tuple[sp.Expr, sp.Symbol] | None = None,
) -> Closure:
    r"""Freeze the mass at the second-moment estimate: every :math:`|x|` becomes :math:`\sqrt y`.

    For Adam's energy, :math:`\nabla T(x) = x/(|x| + \epsilon)` turns into
    :math:`x/(\sqrt y + \epsilon)` for every velocity evaluation of the step (the momentum and,
    in Nesterov's variant, the gradient impulse): a classical energy with diagonal mass
    :math:`\sqrt y + \epsilon`.

    ``frozen_form = (expr, Y)`` gives the step with the energy's inverse mass read at ``Y``
    for every velocity's argument, :math:`\nabla T(x) = x\,w(Y)`
    (:meth:`hamopt.parameterisation.Parameterised.frozen_form`); then ``Y`` becomes ``y``, for
    any energy however it is written, its own constants kept (the 2 of
    :math:`\log(1 + 2|p|)`). Without it, each :math:`|x|` of the step freezes as it stands: a
    target that keeps :math:`|\beta_1 v|` whole (``Abs(..., evaluate=False)``), as the zoo's
    NAdam does.
    """

    def closure(d: Draft) -> Draft:
        moving = _moving(d)
        if frozen_form is not None:
            form, magnitude = frozen_form
            acts = form.has(magnitude)
        else:
            acts = any(a.has(*moving) for a in d.displacement.atoms(sp.Abs))
        if not acts:
            raise ValueError(
                f"frozen_mass has nothing to act on in Δθ = {shown(d.displacement)}: no magnitude |v| "
                "of a velocity's argument to freeze to √y (the energy's inverse mass ∇T(p)/p is "
                "constant, as the classical energy's, or the energy is norm-coupled; Adam's energy "
                "has one, |x|/(|x| + ε)); for a mass on another energy use diagonal_mass"
            )
        d, y = _second_buffer(d, beta2, name)
        if frozen_form is not None:
            displacement = form.xreplace({magnitude: y})
        else:
            displacement = d.displacement.replace(
                lambda e: isinstance(e, sp.Abs) and e.has(*moving), lambda e: sp.sqrt(y)
            )
        return d.with_(displacement=sp.factor_terms(displacement)).note(
            "frozen mass: every |x| → √y (mass √y + ε for the whole step)"
        )

    return closure


def amsgrad(name: str = "max_exp_avg_sq", of: str = "exp_avg_sq") -> Closure:
    r""":math:`\hat y \leftarrow \max(\hat y, y)` and :math:`\hat y` replaces ``y`` in the step."""

    def closure(d: Draft) -> Draft:
        y = sp.Symbol(of, real=True)
        ymax = sp.Symbol(name, real=True)
        d = d.add_buffer(
            Buffer(name, ymax, "zeros", r"\hat y", "running max of y"),
            sp.Max(ymax, y),
            "AMSGrad: ŷ = max(ŷ, y)",
        )
        return d.substituted({y: ymax}).note("AMSGrad: y → max over steps")

    return closure


def infinity_norm(beta2: sp.Symbol, name: str = "exp_inf") -> Closure:
    r"""AdaMax: :math:`|v| + \epsilon \to u` with :math:`u \leftarrow \max(\beta_2 u, |g| + \epsilon)`.

    The :math:`\epsilon` is the one the step holds: ``eps``, or the energy's own (Adam's
    energy :math:`|p| - \epsilon\log(1 + |p|/\epsilon)` gives :math:`v/(|v| + \epsilon)`).
    A step without :math:`|v| + \epsilon` is a ``ValueError``."""

    def closure(d: Draft) -> Draft:
        u = sp.Symbol(name, real=True)
        m = d.momentum.symbol
        step = _one_fraction(d.displacement, m)
        sums = _sums_holding(step, sp.Abs(m), _moving(d))
        if len(sums) != 1:
            raise ValueError(
                f"infinity_norm has nothing to act on: Δθ = {shown(d.displacement)} holds no one "
                "|v| + ε (it normalises the momentum by its own size: Adam's energy does)"
            )
        own = sums[0] - sp.Abs(m)  # ε: eps, or the energy's parameter
        d = d.add_buffer(
            Buffer(name, u, "zeros", "u", "infinity norm"),
            sp.Max(beta2 * u, sp.Abs(grad) + own),
            "u = max(β2 u, |g| + ε)",
        )
        displacement = step.xreplace({sums[0]: u})
        if displacement.has(sp.Abs(m)):
            raise ValueError(f"infinity_norm found |v| outside |v| + ε in {shown(d.displacement)}")
        return d.with_(displacement=displacement).note(
            "infinity norm: |v| + ε → u = max(β2 u, |g| + ε)"
        )

    return closure


def _one_fraction(expr: sp.Expr, m: sp.Symbol) -> sp.Expr:
    r"""``expr`` with each sign of the momentum as :math:`x/|x|`, over one denominator.

    A sign hides a magnitude: SymPy differentiates Adam's energy
    :math:`|p| - \log(1 + |p|)` to :math:`\operatorname{sign}(p) - \operatorname{sign}(p)/(1 + |p|)`,
    where replacing :math:`|v| + 1` alone gives :math:`\operatorname{sign}(v)(1 - 1/u)`, not
    AdaMax's :math:`v/u`. Over one denominator the same step reads :math:`v/(|v| + 1)`.
    """
    if not expr.has(sp.sign):
        return expr
    ratios = expr.replace(
        lambda e: isinstance(e, sp.sign) and e.args[0].has(m),
        lambda e: e.args[0] / sp.Abs(e.args[0]),
    )
    return sp.together(ratios)


def _biased_momentum(d: Draft) -> bool:
    r"""Whether the momentum leans towards its start, so that bias corrections divide it by
    :math:`1-\beta_1^t`: an EMA from 0 (:math:`E v_t = (1-\beta_1^t) E g`) or a sum. An EMA
    started at the first gradient (``init="grad"``) is unbiased, and ``no_momentum`` leaves
    no momentum (:math:`\beta_1 = 0`, so :math:`1-\beta_1^t = 1`)."""
    if d.momentum is None:
        return False
    return d.momentum.init != "grad" or not _ema(d)


def second_moments(d: Draft) -> list[sp.Symbol]:
    r"""The second moment the step reads, first: AMSGrad's :math:`\hat y` where there is one,
    then :math:`y`; empty where there is no second moment (the infinity norm's ``u`` is none)."""
    maxed = [b.symbol for b in d.buffers if b.doc == "running max of y"]
    return maxed + [b.symbol for b in d.buffers if b.doc == "second moment"]


def bias_correction(first: bool = True) -> Closure:
    r"""Estimator form: :math:`v \to v/(1-\beta_1^t)`, :math:`y \to y/(1-\beta_2^t)`.

    ``first=False`` corrects the second moment only (NAdam, whose momentum schedule carries
    its own correction of the first moment); so does a rule whose momentum is unbiased
    (``no_momentum``, or an EMA from the first gradient: :func:`_biased_momentum`). Nothing
    to correct is a ``ValueError``.
    """

    def closure(d: Draft) -> Draft:
        subs = {}
        first_too = first and _biased_momentum(d)
        if first_too:
            m = d.momentum.symbol
            d = d.add_scalar(BC1, 1 - d.beta**step, "bias correction of the first moment")
            subs[m] = m / BC1
        second = second_moments(d)
        if second:
            beta2 = _beta2(d)
            d = d.add_scalar(BC2, 1 - beta2**step, "bias correction of the second moment")
            subs[second[0]] = second[0] / BC2
        if not subs:
            raise ValueError(
                "bias_correction has nothing to act on: no second moment, and no momentum "
                "(no_momentum) or one that is unbiased (an EMA from the first gradient, "
                "init='grad')"
            )
        return d.substituted(subs).note(
            "bias correction, estimator form: v/(1-β1^t), y/(1-β2^t)"
            if first_too
            else "bias correction of the second moment, estimator form: y/(1-β2^t)"
        )

    return closure


def step_size_bias_correction(lr: sp.Symbol) -> Closure:
    r"""Step-size form: :math:`\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)` replaces
    :math:`\alpha`; the moments stay uncorrected (Adam §2's efficient order, official RAD);
    without :math:`1-\beta_1^t` where the momentum is unbiased (:func:`_biased_momentum`)."""

    def closure(d: Draft) -> Draft:
        size = sp.Symbol("step_size", real=True)
        second = second_moments(d)
        # not after no_momentum, nor for an EMA from the first gradient
        biased = _biased_momentum(d)
        if not (second or biased):
            raise ValueError(
                "step_size_bias_correction has nothing to act on: no second moment (an "
                "infinity norm u = max(β2 u, |g| + ε) has no bias), and no momentum "
                "(no_momentum) or one that is unbiased (an EMA from the first gradient)"
            )
        corrected, form = lr, "α"
        if second:  # √(1-β2^t) corrects √y; the infinity norm's u needs none (Adamax)
            corrected, form = lr * sp.sqrt(BC2), "α√(1-β2^t)"
        if biased:
            d = d.add_scalar(BC1, 1 - d.beta**step, "bias correction of the first moment")
            corrected, form = corrected / BC1, form + "/(1-β1^t)"
        if second:
            d = d.add_scalar(BC2, 1 - _beta2(d) ** step, "bias correction of the second moment")
        d = d.add_scalar(size, corrected, f"step size {form}")
        return d.with_(displacement=d.displacement.xreplace({lr: size})).note(
            f"bias correction, step-size form: α_t = {form}"
        )

    return closure


def coupled_weight_decay(wd: sp.Symbol) -> Closure:
    r"""L2 penalty in the gradient: :math:`g \leftarrow g + \lambda\theta`."""

    def closure(d: Draft) -> Draft:
        pre = (*d.pre, Assign(grad, grad + wd * param, "coupled weight decay g ← g + λθ"))
        return d.with_(pre=pre).note("coupled weight decay g ← g + λθ")

    return closure


def decoupled_weight_decay(wd: sp.Expr, lr: sp.Symbol, rate: str = "λ") -> Closure:
    r"""Decoupled decay first: :math:`\theta \leftarrow \theta(1 - \alpha\lambda)`, where
    :math:`\lambda` is ``wd``, a symbol or an expression written ``rate`` in the comments
    (Lion's ``λ/α₀``)."""
    text = f"decoupled weight decay θ ← θ(1 - α{rate})"

    def closure(d: Draft) -> Draft:
        pre = (Assign(param, param * (1 - lr * wd), text), *d.pre)
        return d.with_(pre=pre).note(text)

    return closure


def no_momentum() -> Closure:
    r""":math:`\beta_1 = 0`: the momentum buffer equals the gradient and is dropped."""

    def closure(d: Draft) -> Draft:
        m = d.momentum.symbol
        # simplify only to decide zero: simplified, sign(g)|g|^(a-1) is g|g^(a-2)|, 0·∞ at g = 0
        displacement = d.displacement.xreplace({d.beta: 0, m: grad})
        if sp.simplify(displacement) == 0 or _vanishes(displacement):
            raise ValueError(
                f"no_momentum leaves no step: Δθ = {shown(d.displacement)} reads the momentum only "
                "through β1 v (the momentum before the kick), which is 0 when β1 = 0"
            )
        return d.with_(
            buffers=tuple(b for b in d.buffers if b.symbol != m),
            updates=tuple(a for a in d.updates if a.target != m),
            displacement=displacement,
            momentum=None,
        ).note("no momentum (β1 = 0): v = g")

    return closure


def _vanishes(expr: sp.Expr) -> bool:
    r"""``expr`` is 0 at every sample point: the gradient (and any buffer) at ±0.7, ±1.3, every
    other symbol at 1.7316… and 2.4142… (above 1, inside every parameter's interval that the
    library's energies have). What ``simplify`` leaves undecided where a symbol's range is
    not its SymPy assumption: :math:`0^{a-1}` for the power energy's :math:`a > 1`."""
    symbols = sorted(expr.free_symbols, key=str)
    others = [x for x in symbols if x != grad]
    for sign in (1, -1):
        for scale, other in ((0.7, 1.7316), (1.3, 2.4142)):
            values = {x: other for x in others} | {grad: sign * scale}
            value = expr.xreplace({x: sp.Float(c) for x, c in values.items()}).evalf()
            if value != 0:
                return False
    return True


LOOKAHEAD = sp.Symbol("update", real=True)


def lookahead(beta2: sp.Symbol) -> Closure:
    r"""Lion's look-ahead (Chen et al., 2023): the drift reads the interpolation
    :math:`c = \beta_1 v + (1 - \beta_1) g` of the momentum *before* its update and the fresh
    gradient, and the momentum then decays with its own :math:`\beta_2`:
    :math:`v \leftarrow \beta_2 v + (1 - \beta_2) g`. The step :math:`\Delta\theta(v)` is read
    at :math:`c`: with the massless energy this is Lion, :math:`\Delta\theta =
    -\alpha\,\mathrm{sign}(c)`; with any other energy :math:`T`, Lion-K with :math:`K = T`.

    Needs an EMA momentum with zero init and a step that reads the momentum once, through
    the buffer only (a one-drift scheme such as ``euler``); otherwise ``ValueError``."""

    def closure(d: Draft) -> Draft:
        if d.momentum is None:
            raise ValueError("lookahead needs a momentum buffer (it cannot follow no_momentum)")
        m, b1 = d.momentum.symbol, d.beta
        if not _ema(d) or d.momentum.init != "zeros":
            raise ValueError(
                "lookahead needs the EMA momentum v = β1 v + (1-β1) g with zero init (Lion's); "
                f"this rule's momentum is {_momentum_update(d).expr}"
            )
        if b1 in d.displacement.free_symbols:
            raise ValueError(
                "lookahead reads the step at one interpolated momentum; this scheme's step "
                f"depends on β1 beyond the buffer ({shown(d.displacement)}): use a one-drift scheme (euler)"
            )
        c = LOOKAHEAD
        read = Assign(c, b1 * m + (1 - b1) * grad, "look-ahead c = β1 v + (1-β1) g, before v moves")
        updates = tuple(
            Assign(
                m, beta2 * m + (1 - beta2) * grad, "momentum v = β2 v + (1-β2) g, after the step"
            )
            if a.target == m
            else a
            for a in d.updates
        )
        latex = {**d.latex_names, c: "c"}
        return d.with_(
            pre=(*d.pre, read),
            updates=updates,
            displacement=d.displacement.xreplace({m: c}),
            latex_names=latex,
        ).note("look-ahead (Lion): Δθ at c = β1 v + (1-β1) g; then v = β2 v + (1-β2) g")

    return closure


def schedule(symbol: sp.Symbol, name: str, expr: sp.Expr, doc: str) -> Closure:
    """Replace hyperparameter ``symbol`` in the step by the scalar ``name = expr`` (may use
    ``step``)."""

    def closure(d: Draft) -> Draft:
        target = sp.Symbol(name, real=True)
        d = d.add_scalar(target, expr, doc)
        return d.with_(displacement=d.displacement.xreplace({symbol: target})).note(doc)

    return closure


MU = sp.Symbol("mu", real=True)
MU_NEXT = sp.Symbol("mu_next", real=True)
ALPHA_G = sp.Symbol("alpha_g", real=True)
ALPHA_M = sp.Symbol("alpha_m", real=True)


def momentum_schedule(lr: sp.Symbol, psi: sp.Symbol, name: str = "mu_product") -> Closure:
    r"""Dozat's momentum schedule (NAdam) on a Nesterov step :math:`-\alpha((1-\beta_1)g +
    \beta_1 v)/M`.

    :math:`\mu_t = \beta_1(1 - \tfrac12\,0.96^{t\psi})` and the running product
    :math:`\Pi_t = \prod_{i\le t}\mu_i` (a scalar state ``name``, starting at 1) replace the
    momentum factors of the two velocity evaluations: the impulse's :math:`\alpha(1-\beta_1)`
    becomes :math:`\alpha(1-\mu_t)/(1-\Pi_t)`, the momentum's :math:`\alpha\beta_1` becomes
    :math:`\alpha\mu_{t+1}/(1-\Pi_t\mu_{t+1})` (each with its own bias correction). The buffer
    keeps :math:`v \leftarrow \beta_1 v + (1-\beta_1) g`. An EMA started at the first gradient
    (``init="grad"``) is unbiased, so it takes the factors without the corrections,
    :math:`\alpha(1-\mu_t)` and :math:`\alpha\mu_{t+1}` (whose sum tends to α as Adam's
    does): with them, a constant gradient's first steps were 1.56, 1.19, 1.07 times the later
    ones.
    """

    def closure(d: Draft) -> Draft:
        if d.momentum is None:
            raise ValueError("momentum_schedule needs a momentum (not no_momentum)")
        m, beta = d.momentum.symbol, d.beta
        if any(a.expr.has(BC1) for a in d.scalars):  # a step size α/(1-β1^t)
            raise ValueError(
                "momentum_schedule corrects the first moment itself: it takes the "
                "estimator form of bias_correction, not step_size_bias_correction"
            )
        if d.displacement.has(BC1):  # the schedule's own correction replaces v/(1-β1^t)
            d = d.with_(
                scalars=tuple(a for a in d.scalars if a.target != BC1),
                displacement=d.displacement.xreplace({BC1: 1}),
            ).note("the schedule's own correction of v replaces v/(1-β1^t)")
        coeff_g, coeff_m = sp.diff(d.displacement, grad), sp.diff(d.displacement, m)
        # the form's shape first, without simplifying: simplify may not return on a displacement
        # of another form (a relativistic leapfrog step, where g enters only through v)
        if coeff_g == 0 or coeff_m == 0 or coeff_g.has(grad, m) or coeff_m.has(grad, m):
            raise ValueError(
                f"momentum_schedule needs -lr((1-β1) g + β1 v)/M with one mass M, got {shown(d.displacement)}"
            )
        unit_g = sp.simplify(coeff_g / (lr * (1 - beta)))
        unit_m = sp.simplify(coeff_m / (lr * beta))
        linear = sp.simplify(d.displacement - coeff_g * grad - coeff_m * m) == 0
        if not linear or sp.simplify(unit_g - unit_m) != 0 or unit_g.has(grad, m, lr, beta):
            raise ValueError(
                f"momentum_schedule needs -lr((1-β1) g + β1 v)/M with one mass M, got {shown(d.displacement)}"
            )
        decay = sp.Float(0.96)
        d = d.with_(
            latex_names={
                **d.latex_names,
                MU: r"\mu_t",
                MU_NEXT: r"\mu_{t+1}",
                ALPHA_G: r"\alpha_g",
                ALPHA_M: r"\alpha_m",
                psi: r"\psi",
            },
        )
        d = d.add_scalar(MU, beta * (1 - decay ** (step * psi) / 2), "μ_t = β1(1 - ½·0.96^(tψ))")
        d = d.add_scalar(
            MU_NEXT,
            beta * (1 - decay ** ((step + 1) * psi) / 2),
            "μ_{t+1} = β1(1 - ½·0.96^((t+1)ψ))",
        )
        if not _biased_momentum(d):  # init="grad": Dozat's corrections would divide again
            d = d.add_scalar(ALPHA_G, lr * (1 - MU), "impulse step α(1-μ_t)")
            d = d.add_scalar(ALPHA_M, lr * MU_NEXT, "momentum step αμ_{t+1}")
            return d.with_(displacement=unit_g * (ALPHA_G * grad + ALPHA_M * m)).note(
                "Dozat's momentum schedule on an unbiased EMA (init at g): "
                "μ_t = β1(1 - ½·0.96^(tψ)); α(1-β1) → α(1-μ_t), αβ1 → αμ_{t+1}"
            )
        product = sp.Symbol(name, real=True)
        state = Buffer(
            name,
            product,
            latex=r"\Pi",
            doc="product of the momentum schedule",
            shape="scalar",
            initial=1.0,
        )
        d = d.with_(buffers=(*d.buffers, state))
        d = d.add_scalar(product, product * MU, "Π_t = Π_{t-1} μ_t (scalar state)")
        d = d.add_scalar(ALPHA_G, lr * (1 - MU) / (1 - product), "impulse step α(1-μ_t)/(1-Π_t)")
        d = d.add_scalar(
            ALPHA_M,
            lr * MU_NEXT / (1 - product * MU_NEXT),
            "momentum step αμ_{t+1}/(1-Π_t μ_{t+1})",
        )
        displacement = unit_g * (ALPHA_G * grad + ALPHA_M * m)
        return d.with_(displacement=displacement).note(
            "Dozat's momentum schedule: μ_t = β1(1 - ½·0.96^(tψ)), Π_t = Π μ_i; "
            "α(1-β1) → α(1-μ_t)/(1-Π_t), αβ1 → αμ_{t+1}/(1-Π_t μ_{t+1})"
        )

    return closure


RHO_INF = sp.Symbol("rho_inf", real=True)
RHO_T = sp.Symbol("rho_t", real=True)
ADAPTIVE = sp.Symbol("adaptive", real=True)
EPS_T = sp.Symbol("eps_t", real=True)
RECTIFIED = sp.Symbol("rectified_step_size", real=True)


def rectification(lr: sp.Symbol, threshold: int = 5, strict: bool = True) -> Closure:
    r"""RAdam's variance rectification, after :func:`step_size_bias_correction`; its
    :math:`\epsilon` is the one the step holds (``eps``, or the energy's own).

    :math:`\rho_\infty = 2/(1-\beta_2) - 1`,
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`. While the variance of the
    adaptive step is tractable (:math:`\rho_t > 5`; ``threshold``, ``strict=False`` for
    :math:`\ge`) the step size :math:`\alpha_t` is multiplied by
    :math:`r_t = \sqrt{(\rho_t-4)(\rho_t-2)\rho_\infty/((\rho_\infty-4)(\rho_\infty-2)\rho_t)}`;
    before, the mass :math:`\sqrt y + \epsilon` is switched off (unit mass) and the step is
    momentum SGD, :math:`-\alpha v/(1-\beta_1^t)`. The branch lives in scalar ``Piecewise``
    expressions, so one tensor equation serves both phases,
    :math:`\Delta\theta = -\alpha'_t v/(a_t\sqrt y + \epsilon_t)` with
    :math:`(a_t, \epsilon_t) = (1, \epsilon)` once rectified and :math:`(0, 1)` before (exact in
    floating point: :math:`0\cdot\sqrt y + 1 = 1`).
    """

    def closure(d: Draft) -> Draft:
        second = second_moments(d)
        if not second:
            raise ValueError(
                "rectification needs a second moment y whose √y + ε it switches (second_moment, "
                "diagonal_mass or frozen_mass); the infinity norm has none"
            )
        y = second[0]  # AMSGrad's ŷ where the step reads it
        size = sp.Symbol("step_size", real=True)
        masses = _sums_holding(d.displacement, sp.sqrt(y), _moving(d) | {y})  # √y + ε
        if len(masses) != 1 or not d.displacement.has(size):
            raise ValueError(
                f"rectification needs the step-size form α_t v/(√y + ε), got {shown(d.displacement)}"
            )
        mass, own = masses[0], masses[0] - sp.sqrt(y)
        beta2 = _beta2(d)
        tractable = RHO_T > threshold if strict else RHO_T >= threshold
        r_t = sp.sqrt((RHO_T - 4) * (RHO_T - 2) * RHO_INF / ((RHO_INF - 4) * (RHO_INF - 2) * RHO_T))
        d = d.with_(
            latex_names={
                **d.latex_names,
                RHO_INF: r"\rho_\infty",
                RHO_T: r"\rho_t",
                ADAPTIVE: "a_t",
                EPS_T: r"\epsilon_t",
                RECTIFIED: r"\alpha'_t",
            }
        )
        d = d.add_scalar(RHO_INF, 2 / (1 - beta2) - 1, "ρ_∞ = 2/(1-β2) - 1")
        d = d.add_scalar(
            RHO_T, RHO_INF - 2 * step * beta2**step / BC2, "ρ_t = ρ_∞ - 2tβ2^t/(1-β2^t)"
        )
        when = f"ρ_t {'>' if strict else '≥'} {threshold}"
        d = d.add_scalar(
            ADAPTIVE,
            sp.Piecewise((1, tractable), (0, True)),
            f"a_t = 1 if {when} (adaptive mass √y + ε) else 0 (unit mass)",
        )
        d = d.add_scalar(
            EPS_T, sp.Piecewise((own, tractable), (1, True)), f"ε_t = ε if {when} else 1"
        )
        plain = lr / BC1 if any(a.target == BC1 for a in d.scalars) else lr  # as α_t has it
        d = d.add_scalar(
            RECTIFIED,
            sp.Piecewise((size * r_t, tractable), (plain, True)),
            "α_t r_t (rectified) or α/(1-β1^t) (momentum SGD)",
        )
        displacement = d.displacement.xreplace(
            {mass: ADAPTIVE * sp.sqrt(y) + EPS_T, size: RECTIFIED}
        )
        return d.with_(displacement=displacement).note(
            f"rectification: α_t → α_t r_t while {when}, "
            "else unit mass and step α/(1-β1^t) (momentum SGD)"
        )

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


def diagonal_mass(beta2: sp.Symbol, eps: sp.Symbol, name: str = "exp_avg_sq") -> Closure:
    r"""A diagonal mass :math:`M = \sqrt y + \epsilon`: momenta are measured in units of ``M``.

    With the second moment :math:`y \leftarrow \beta_2 y + (1-\beta_2) g^2`, every momentum
    argument of the step is divided by :math:`M`: a step
    :math:`\Delta\theta = \alpha\sum_i t_i\nabla T(a_i v + b_i g)` becomes
    :math:`\alpha\sum_i t_i\nabla T((a_i v + b_i g)/M)`. For the classical energy
    :math:`\nabla T(x) = x` this is Adam's :math:`-\alpha v/(\sqrt y+\epsilon)`; for every other
    energy the energy's shape acts on the dimensionless momentum :math:`v/M`. The step must
    depend on ``v`` and ``g`` only through the energy's velocity (the machine-learning
    parameterisation of :mod:`hamopt.parameterisation` guarantees it).
    """

    def closure(d: Draft) -> Draft:
        if d.momentum is None:
            raise ValueError("diagonal_mass needs a momentum buffer (it comes before no_momentum)")
        if d.displacement.has(Norm2):
            raise ValueError(
                "diagonal_mass gives each coordinate its own mass; a norm-coupled energy "
                f"couples them through one norm (Δθ = {shown(d.displacement)})"
            )
        d, y = _second_buffer(d, beta2, name)
        unit = sp.Symbol("M", positive=True)  # the mass, positive while the step simplifies
        m = d.momentum.symbol
        displacement = d.displacement.xreplace({m: m / unit, grad: grad / unit})
        if not displacement.has(unit):
            raise ValueError(
                f"diagonal_mass has nothing to act on in Δθ = {shown(d.displacement)}: the step does not "
                "change when the momentum is rescaled"
            )
        displacement = displacement.xreplace({unit: sp.sqrt(y) + eps})
        return d.with_(
            displacement=displacement,
            mass_units=m / (sp.sqrt(y) + eps),
            gradient_units=grad / (sp.sqrt(y) + eps),
        ).note("diagonal mass: momenta in units of M = √y + ε")

    return closure
