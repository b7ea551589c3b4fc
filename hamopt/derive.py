r"""Derive your own optimizer: energy + scheme + closures → a torch optimizer class.

.. code-block:: python

    import hamopt
    opt = hamopt.derive(hamopt.kinetic.relativistic(), scheme="leapfrog", closure="adam")
    net_opt = opt.cls(model.parameters(), lr=1e-3)   # a torch.optim.Optimizer
    opt.export("myrad.py")                            # standalone module: torch and math only

The pipeline is the zoo's (:mod:`hamopt.zoo.derivation`): the change of variables of
:mod:`hamopt.variables`, then the closures of :mod:`hamopt.closures`, by name
(:mod:`hamopt.closures.registry`), then code generation. What a derivation adds is the
parameterisation (:mod:`hamopt.parameterisation`): by default (``"ml"``) ``lr`` is the step
scale, :math:`\Delta\theta = \alpha\sum_i t_i\nabla T(u_i)` with dimensionless momentum
arguments :math:`u_i`, and the energy's parameters are shapes; ``"physical"`` keeps ``lr`` as
the step :math:`h`. ``betas[0]`` is :math:`\beta_1 = e^{-rh}` in both (:math:`1/(1 + rh)` for
a scheme with implicit friction, such as Hamiltonian descent).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from hamopt.closures import compose, library
from hamopt.closures.draft import Draft, shown, start
from hamopt.closures.registry import PRESETS, Symbols, resolve
from hamopt.codegen.inline import standalone
from hamopt.codegen.load import module_from_source
from hamopt.codegen.module import generate_module, with_spec_constant
from hamopt.codegen.names import clash
from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameterisation import LR, PARAMETERISATIONS, Y, parameterise
from hamopt.recipe import Recipe
from hamopt.rule.hyperparameter import Hyperparameter, energy_parameter, pair, real
from hamopt.rule.liveness import dead_parts
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Provenance, grad
from hamopt.schemes import scheme_named
from hamopt.schemes.scheme import Scheme
from hamopt.specfile import check_class_name
from hamopt.stepmap import StepMap
from hamopt.system.hamiltonian import ConformalHamiltonian
from hamopt.variables import Momentum, beta1, beta_text, g, v

__all__ = ["CLOSURES", "DerivedOptimizer", "check_parameter_name", "derive"]

#: The presets :func:`derive` knows by name (any list of closure names works too).
CLOSURES = tuple(PRESETS)

_B1 = sp.Symbol("beta1", real=True)
_B2 = sp.Symbol("beta2", real=True)
_EPS = sp.Symbol("eps", real=True)
_WD = sp.Symbol("weight_decay", real=True)
_PSI = sp.Symbol("momentum_decay", real=True)
_BUFFER = sp.Symbol("exp_avg", real=True)
_UNIT = sp.Interval.Ropen(0, 1)
_OPEN_UNIT = sp.Interval.open(0, 1)
_SYMBOLS = Symbols(lr=LR, beta2=_B2, eps=_EPS, weight_decay=_WD, momentum_decay=_PSI)
_MASSES = {"diagonal_mass", "second_moment", "frozen_mass", "infinity_norm"}

#: Names the derived optimizer gives its own arguments and the closures' quantities.
OWN_NAMES = frozenset(
    {"lr", "betas", "beta1", "beta2", "eps", "weight_decay", "momentum_decay"}
    | {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "bias_correction1"}
    | {"bias_correction2", "step_size", "exp_avgs", "exp_avg_sqs", "bias_correction1_list"}
    | {"bias_correction2_list", "mu", "mu_next", "mu_product", "rho_inf", "rho_t"}
)

#: Symbols of the derivation itself (the change of variables, the closures, the printed rule),
#: with what each one is: an energy parameter of the same name would be taken for it.
DERIVATION_NAMES = {
    "v": "the momentum in machine-learning variables",
    "g": "the gradient",
    "u": "the momentum in units of the mass",
    "w": "the gradient in units of the mass",
    "y": "the second moment",
    "theta": "the parameter θ",
    "b1": "the bias correction b₁ = 1 - β1^t",
    "b2": "the bias correction b₂ = 1 - β2^t",
    "alpha": "the learning rate α while matching the rescaled system",
    "omega": "1 - β1 while simplifying",
    "kappa": "(1 - β1)/β1 while matching the implicit friction",
    "M": "the mass √y + ε",
    "N": "a norm while simplifying",
    "S": "the squared momentum while writing the inverse mass",
    "Y": "the second moment while writing the inverse mass",
}


def check_parameter_name(name: str) -> None:
    """Raise ``ValueError`` if an energy parameter may not be called ``name``.

    The parameter becomes an argument of the derived optimizer, so it may not take the name of
    another argument (``lr``, ``betas``, ``weight_decay``), of a closure's quantity
    (``exp_avg``…) or of anything the generated code binds (``step``, ``grad``, ``torch``…;
    :mod:`hamopt.codegen.names`).

    >>> check_parameter_name("step")
    Traceback (most recent call last):
    ...
    ValueError: energy parameter 'step' is reserved: the generated code uses step for the step counter t
    """
    why = clash(name, OWN_NAMES)
    if why is None and name in DERIVATION_NAMES:
        why = f"the derivation uses {name} for {DERIVATION_NAMES[name]}"
    if why is not None:
        raise ValueError(f"energy parameter {name!r} is reserved: {why}")


@dataclass(frozen=True)
class DerivedOptimizer:
    """A derived optimizer: its spec, generated source, class and the recipe it came from."""

    spec: OptimizerSpec
    source: str
    recipe: Recipe | None = None

    @property
    def cls(self) -> type:
        """The ``torch.optim.Optimizer`` subclass, built from :attr:`source`."""
        module = module_from_source(self.spec.name, self.source)
        return getattr(module, self.spec.name)

    @property
    def standalone_source(self) -> str:
        """:attr:`source` with the runtime inlined: a module that needs only torch."""
        return standalone(self.source)

    def export(self, path: str | Path) -> Path:
        """Write the standalone module (:attr:`standalone_source`) to ``path`` and return it.

        Raises :class:`ValueError` for a folder, or a path whose folder does not exist."""
        path = Path(path)
        if path.is_dir():
            example = path / f"{self.spec.name.lower()}.py"
            raise ValueError(f"export: {path} is a folder; give the module's file, e.g. {example}")
        if not path.parent.is_dir():
            raise ValueError(f"export: the folder of {path} does not exist ({path.parent})")
        path.write_text(self.standalone_source)
        return path

    def markdown(self) -> str:
        return "\n\n".join(rule.markdown() for _, rule in self.spec.variants)

    def latex(self) -> str:
        return "\n\n".join(rule.latex() for _, rule in self.spec.variants)


def derive(
    kinetic: KineticEnergy | sp.Expr,
    scheme: Scheme | str = "euler",
    closure: str | Sequence[str] = "none",
    *,
    name: str = "Derived",
    momentum: str = "ema",
    init: str = "zeros",
    parameterisation: str = "ml",
    lr: float | None = None,
    betas: tuple[float, float] | None = None,
    params: tuple = (),
    description: str = "",
) -> DerivedOptimizer:
    r"""Derive an optimizer from ``kinetic`` × ``scheme`` with ``closure``.

    Parameters
    ----------
    kinetic
        A :class:`KineticEnergy`, or a SymPy expression in ``p`` (then ``params`` declares its
        parameters, as for :class:`KineticEnergy`). Each parameter is a constructor argument
        of the optimizer; one without a default is required, as torch's ``lr`` is.
    scheme
        A :class:`Scheme`, or its name (``"euler"``, ``"leapfrog"``, ``"nag"``…).
    closure
        A preset — ``"none"`` (the particle's own momentum, coupled weight decay) or
        ``"adam"`` (diagonal mass :math:`\sqrt{\hat y}+\epsilon`, estimator bias correction,
        coupled weight decay) — or a list of closure names from
        :data:`hamopt.closures.registry.CLOSURES`, composed in stage order.
    name
        The class name: an identifier, not a Python keyword or builtin, not starting with ``_``.
    momentum, init
        The momentum buffer: ``"ema"`` (:math:`v = \beta_1 v + (1-\beta_1) g`) or ``"sum"``
        (:math:`b = \beta_1 b + g`); ``"zeros"`` or ``"grad"`` (first-gradient) init.
    parameterisation
        ``"ml"`` (``lr`` is the step scale; default) or ``"physical"`` (``lr`` is :math:`h`).
        A scheme with several kicks (``"yoshida"``) is physical whatever is asked, and its
        recipe and spec file say so.
    lr, betas
        Constructor defaults. ``lr=None`` picks the default of the parameterisation: 1e-3 for
        an adaptive mass, else :math:`10^{-3}\cdot s` (1e-2 for the EMA form at β1 = 0.9: the
        step of ``torch.optim.SGD(lr=1e-3, momentum=0.9)``; 1e-3 with ``no_momentum``, whose
        β1 is 0); with ``lookahead``, Lion's 1e-4.
        In the physical parameterisation, the :math:`h` of the same step,
        :math:`\sqrt{\mathrm{lr}/s}` (``lr`` there is :math:`h^2 s`): 0.0316 without an
        adaptive mass, 0.01 with one, at β1 = 0.9. ``betas=None``: (0.9, 0.999), or
        Lion's (0.9, 0.99) with ``lookahead`` (β2 is then the momentum's decay).
    """
    if not isinstance(kinetic, KineticEnergy):
        kinetic = KineticEnergy(kinetic, params, name=name.lower())
    elif params:
        raise TypeError(
            f"params declares the parameters of an energy given as a SymPy expression; the "
            f"KineticEnergy {kinetic.name!r} has its own ({', '.join(kinetic.symbols) or 'none'}): "
            "give them when making it"
        )
    for prm in kinetic.params:
        check_parameter_name(prm.name)
    if kinetic.scope == "global":
        raise ValueError(
            f"{kinetic.name}: scope='global' (one norm over all parameters) is not generated: "
            "the step would take each tensor's own norm; derive it with scope='tensor'"
        )
    scheme = scheme_named(scheme)
    check_class_name(name)
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(
            f"parameterisation must be one of {list(PARAMETERISATIONS)}, got {parameterisation!r}"
        )
    entries = resolve(closure)
    names = {e.name for e in entries}
    default_betas = (0.9, 0.99) if "lookahead" in names else (0.9, 0.999)
    given_betas = betas is not None
    if betas is None:
        betas = default_betas
    form = Momentum(momentum, init)  # validates both
    lr, betas = _check_defaults(lr, betas)
    several_kicks = sum(flow == "K" for flow, _ in scheme.rows) > 1
    if several_kicks:
        parameterisation = "physical"  # a multi-gradient step's only one (lr = h): recorded so
    recipe = Recipe(
        name,
        kinetic,
        scheme,
        (closure,) if isinstance(closure, str) else tuple(closure),
        momentum,
        init,
        parameterisation,
        lr,
        (float(betas[0]), float(betas[1])),
        description,
    )
    if several_kicks:
        from hamopt.multigradient import derive_multigradient

        derived = derive_multigradient(recipe)
        velocity = (("the energy's velocity", kinetic.velocity_expr),)  # what each kick reads
        _check_numbers_fit(velocity, f"{kinetic.name} × {scheme.name}")
        text = _spec_file(recipe)
        if text is None:
            return derived
        return dataclasses.replace(derived, source=with_spec_constant(derived.source, text))

    step = parameterise(kinetic, scheme, form, parameterisation)
    energy = {prm.symbol: _rule_symbol(prm) for prm in kinetic.params}

    def to_rule(expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(energy).xreplace({v: _BUFFER, g: grad, beta1: _B1})

    adaptive = bool(names & _MASSES)
    if lr is None:
        b1 = 0 if "no_momentum" in names else betas[0]  # no_momentum: β1 = 0, whatever the form
        s = float(form.scale(1 - sp.Float(b1)))  # the momentum unit's scale
        if "lookahead" in names:
            scaled = 1e-4  # Lion's: every coordinate moves by about lr·|∇K(c)| per step
        else:
            scaled = 1e-3 if adaptive else 1e-3 * s
        if parameterisation == "physical":  # the h of the same step: lr_ml = h² s
            scaled = math.sqrt(scaled / s)
        lr = float(f"{scaled:.12g}")  # 0.01, not 0.010000000000000002, in the signature
    draft = start(step.step, step.displacement.xreplace(energy), [], beta=_B1)
    closures = []
    for entry in entries:
        mass = step.mass_form() if entry.name == "second_moment" else None
        frozen = step.frozen_form() if entry.name == "frozen_mass" else None
        if mass is not None:
            closures.append(library.second_moment(_B2, mass_form=(to_rule(mass), Y)))
        elif frozen is not None:
            closures.append(library.frozen_mass(_B2, frozen_form=(to_rule(frozen), Y)))
        else:
            closures.append(entry.make(_SYMBOLS))
    try:
        draft = compose(draft, closures)
    except ValueError as err:
        raise ValueError(f"{kinetic.name} × {scheme.name}: {err}") from None
    provenance = Provenance(
        kinetic=f"{kinetic.name}: T(p) = {sp.sstr(kinetic.expr)}"
        + ("" if kinetic.coupling == "particle" else f" (norm-coupled over each {kinetic.scope})"),
        scheme=f"{scheme.name} ({scheme.description or scheme.name}), order {scheme.order}",
        closures=(
            f"momentum: {form.describe()}",
            f"{parameterisation} parameterisation: {step.describe()}",
        ),
        reference="hamopt.derive",
        derivation=_derivation(kinetic, scheme, form, step),
    )
    label = closure if isinstance(closure, str) else "custom"
    label = label if label != "none" else "plain"
    hps = _hyperparameters(kinetic, energy, draft, lr, betas, parameterisation, scheme)
    if given_betas:
        _warn_of_unread_betas(betas, default_betas, {hp.name for hp in hps})
    rule = draft.with_(hyperparameters=tuple(hps)).rule(label, provenance)
    spec = OptimizerSpec(
        name,
        tuple(hps),
        (("True", rule),),
        summary=f"{name}: derived from the {kinetic.name} energy by {scheme.name}"
        + ("" if closure == "none" else f" with the {_closure_text(closure)} closure")
        + ".",
        reference="",
    )
    dead = dead_parts(spec)
    if dead:
        why = (
            " (after lookahead the step reads the look-ahead update = β1·v + (1 - β1)·g, made from "
            "the momentum v before any correction, so bias_correction's 1/(1 - β1^t) reaches "
            "nothing; Lion corrects no bias)"
            if {"lookahead", "bias_correction"} <= names and "bias_correction1" in dead[0]
            else ""
        )
        raise ValueError(
            f"{kinetic.name} × {scheme.name} × {_closure_text(closure)}: {dead[0]}: a closure "
            f"has nothing to act on in the step Δθ = {shown(draft.displacement)}{why}"
        )
    updates = [(f"the update of {a.target}", a.expr) for a in rule.assignments]
    _check_numbers_fit(updates, f"{kinetic.name} × {scheme.name}")
    if {"diagonal_mass", "bias_correction"} <= names and init == "zeros":
        _warn_of_a_jump_at_one(kinetic)
    if "step_size_bias_correction" in names and momentum == "ema" and init == "zeros":
        _warn_of_a_step_size_form_far_from_the_estimator(kinetic, draft, betas)
    source = generate_module(spec, command="hamopt.derive(...)", spec_file=_spec_file(recipe))
    return DerivedOptimizer(spec, source, recipe)


#: The largest finite float32: a number of the step beyond it is inf in a float32 parameter's
#: arithmetic (and torch refuses to convert it to float).
FLOAT32_MAX = 3.4028234663852886e38


def _check_numbers_fit(exprs: Iterable[tuple[str, sp.Expr]], what: str) -> None:
    """Refuse a step whose expressions (``(where, expr)`` pairs: the rule's updates, or the
    velocity a multi-gradient step reads at each kick) hold a number beyond float32's range
    (an energy typed as ``p**2/1e-300``): the generated code computes in the parameter's
    dtype, float32 for most models, where such a number is inf (a step of -inf on the
    kernel's path) or a RuntimeError deep in torch ("value cannot be converted to type float
    without overflow")."""
    for where, expr in exprs:
        for number in expr.atoms(sp.Number):
            if abs(float(number)) > FLOAT32_MAX:
                raise ValueError(
                    f"{what}: the derived step holds the number {float(number):.3g} (in "
                    f"{where}), beyond float32's range (about {FLOAT32_MAX:.2g}); write the "
                    "energy with numbers of moderate size (a constant factor of T only rescales "
                    "lr)"
                )


def _warn_of_a_step_size_form_far_from_the_estimator(
    kinetic: KineticEnergy, draft, betas: tuple[float, float]
) -> None:
    r"""Warn where the step-size form of the bias correction is far from the estimator form.

    The step-size form takes :math:`(\sqrt{b_2}/b_1)\,F(v, y)` for the estimator's
    :math:`F(v/b_1, y/b_2)` (:math:`b_i = 1 - \beta_i^t`): the same up to where ε sits only
    where :math:`F(\lambda v, \mu y) = (\lambda/\sqrt\mu) F(v, y)`, as for Adam's energy or
    any energy under a diagonal mass read at :math:`v/\sqrt y`. A saturating energy (Huber,
    a power) is not: at the first step on a constant gradient the two differ by far more.
    Compared there, :math:`g = 1`, every ε at 0, the energy's parameters at their defaults."""
    from hamopt.closures.library import second_moments

    second = second_moments(draft)
    if not second or draft.momentum is None:
        return
    b1, b2 = 1 - betas[0], 1 - betas[1]
    v, y = draft.momentum.symbol, second[0]
    fixed = {}
    for sym in draft.displacement.free_symbols - {v, y}:
        name = sym.name
        prm = next((q for q in kinetic.params if q.name == name), None)
        if prm is not None:
            fixed[sym] = prm.samples()[0]
        else:
            fixed[sym] = 0.0 if name.startswith("eps") else 1.0

    def step(vv: float, yy: float) -> float:
        values = {**fixed, v: vv, y: yy}
        return complex(draft.displacement.xreplace(values).evalf()).real

    try:
        estimator = step(1.0, 1.0)
        size_form = math.sqrt(b2) / b1 * step(b1, b2)
    except (TypeError, ValueError, ZeroDivisionError):
        return
    if not (math.isfinite(estimator) and math.isfinite(size_form)) or estimator == 0:
        return
    ratio = size_form / estimator
    if abs(ratio - 1) > 0.05:
        warnings.warn(
            f"{kinetic.name}: step_size_bias_correction moves 1/(1-β1^t) and √(1-β2^t) out of a "
            f"step that is not homogeneous in (v, √y): its first step on a constant gradient is "
            f"{ratio:.3g} times the estimator form's (bias_correction), and the two meet only as "
            f"1-β2^t nears 1 (thousands of steps at β2 = {betas[1]}); bias_correction takes the "
            "estimator form",
            UserWarning,
            stacklevel=3,
        )


def _warn_of_a_jump_at_one(kinetic: KineticEnergy, step: float = 1e-7) -> None:
    r"""Warn where the velocity jumps at :math:`|p| = 1`, which Adam's first step reads.

    With a diagonal mass and the bias correction, the first step reads the velocity at
    :math:`u = \hat v/(\sqrt{\hat y} + \epsilon) = g/(|g| + \epsilon)`: within rounding of
    :math:`\pm 1` for every coordinate whose :math:`|g|` is large against ε. Where
    :math:`T'` jumps there, rounding decides which side each coordinate takes, and the paths
    (which round the moments in their own orders, within 1e-6 of each other) may take
    different ones: their steps then differ by the jump. Read numerically at
    :math:`1 \pm` ``step``, the parameters at their defaults (a required one at its first
    sample value, as the validation reads it).
    """
    if kinetic.coupling != "particle":
        return
    _, velocity = kinetic.numpy_functions({prm.name: prm.samples()[0] for prm in kinetic.params})
    below, above = (float(x) for x in velocity(np.array([1 - step, 1 + step])))
    if math.isfinite(below) and math.isfinite(above):
        if abs(above - below) <= 1e-4 * max(1.0, abs(below), abs(above)):
            return
    warnings.warn(
        f"{kinetic.name}: the velocity jumps from {below:.4g} to {above:.4g} at p = 1, where "
        "Adam's first step reads it (|m̂|/(√ŷ + ε) = |g|/(|g| + ε), 1 within rounding): which "
        "side each coordinate takes is decided by rounding, and the paths (default, foreach, "
        "fused…) may take different sides there",
        UserWarning,
        stacklevel=3,
    )


def _spec_file(recipe: Recipe) -> str | None:
    """The recipe as spec-file text, or ``None`` where it has no text form (an energy the
    parser cannot read back)."""
    from hamopt.specfile import dump_spec

    try:
        return dump_spec(recipe)
    except (ValueError, TypeError):
        return None


def _closure_text(closure: str | Iterable[str]) -> str:
    return closure if isinstance(closure, str) else ", ".join(closure)


def _warn_of_unread_betas(
    betas: tuple[float, float], defaults: tuple[float, float], taken: set[str]
) -> None:
    """A warning for each β of the given ``betas`` that the derived rule does not read (no
    second moment: β2; ``no_momentum``: β1), which its class then does not take; not for one
    equal to its default (a spec written by ``--spec-out`` holds both, always)."""
    read = {"betas": (0, 1), "beta1": (0,), "beta2": (1,)}
    kept = next((read[n] for n in read if n in taken), ())
    for i in (0, 1):
        if i not in kept and betas[i] != defaults[i]:
            what = "momentum" if i == 0 else "second moment"
            warnings.warn(
                f"betas[{i}] = {betas[i]} changes nothing: the derived rule has no {what}, and "
                "its class does not take it",
                stacklevel=3,
            )


def _check_defaults(
    lr: float | None, betas: tuple[float, float]
) -> tuple[float | None, tuple[float, float]]:
    """``lr`` and ``betas`` checked, as Python floats: any real number is taken (NumPy's
    scalars too), and the generated source prints a float (``np.float64(0.01)`` printed as
    itself made a module that could not load: no ``np`` there)."""

    def real(x) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    if lr is not None and not (real(lr) and 0 < lr < float("inf")):
        raise ValueError(f"lr must be a positive finite number or None, got {lr!r}")
    if isinstance(betas, np.ndarray) and betas.ndim == 1:  # as the generated classes take it
        betas = betas.tolist()
    if (
        not isinstance(betas, (tuple, list))
        or len(betas) != 2
        or not all(real(b) and 0 <= b < 1 for b in betas)
    ):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    return (None if lr is None else float(lr)), (float(betas[0]), float(betas[1]))


def _rule_symbol(prm) -> sp.Symbol:
    """The rule's symbol of an energy parameter: named as it is, and positive (nonnegative)
    where its interval is, so that SymPy still decides what its sign decides (Huber's
    min(0, δ) is 0 for δ > 0, and a step that is identically zero is seen to be)."""
    if prm.interval.is_subset(sp.Interval.open(0, sp.oo)):
        return sp.Symbol(prm.name, positive=True)
    if prm.interval.is_subset(sp.Interval(0, sp.oo)):
        return sp.Symbol(prm.name, nonnegative=True)
    return sp.Symbol(prm.name, real=True)


def _hyperparameters(
    kinetic: KineticEnergy,
    energy: dict[sp.Symbol, sp.Symbol],
    draft: Draft,
    lr: float,
    betas: tuple[float, float],
    parameterisation: str,
    scheme: Scheme,
) -> list[Hyperparameter]:
    """The constructor arguments the rule reads, in torch's order.

    The momentum's β is :math:`e^{-rh}` where ``scheme`` has exact friction, in [0, 1);
    :math:`1/(1 + rh)` where its friction is implicit, in (0, 1): there β = 0 (infinite
    friction) stops the momentum before it moves anything, and every step is zero."""
    decay, unit = ("e^{-rh}", _UNIT) if scheme.exact_friction else ("1/(1 + rh)", _OPEN_UNIT)
    exprs = [a.expr for a in (*draft.pre, *draft.updates, *draft.scalars)] + [draft.displacement]
    used = set().union(*(e.free_symbols for e in exprs))
    what = (
        "step scale α: Δθ = α Σ t_i ∇T(u_i)"
        if parameterisation == "ml"
        else "step h of the conformal Hamiltonian flow"
    )
    hps = [real("lr", lr, sp.Interval(0, sp.oo), what, symbol=LR)]  # 0, as torch: a warm-up from 0
    if _B2 in used and _B1 not in used:  # no_momentum: β1 = 0, only the mass's β2 is left
        hps.append(real("beta2", betas[1], _UNIT, "β2 of the mass", symbol=_B2))
    elif _B2 in used:
        lookahead = any(note.startswith("look-ahead") for note in draft.closures)
        massed = len(draft.buffers) > 1  # a second moment beside the momentum: it shares β2
        text = (
            f"(β1 of the look-ahead c, β2 = {decay} of the momentum"
            + (" and of the mass's second moment y: one β2 for both" if massed else "")
            + ")"
            if lookahead
            else f"(β1 = {decay}, β2 of the mass)"
        )
        ranges = (_UNIT, unit) if lookahead else (unit, _UNIT)  # the momentum's β: friction
        hps.append(pair("betas", betas, (_B1, _B2), ranges, text))
    elif _B1 in used:
        hps.append(real("beta1", betas[0], unit, f"momentum β1 = {decay}", symbol=_B1))
    for prm in kinetic.params:
        hps.append(energy_parameter(prm, prm.name, symbol=energy[prm.symbol]))
    if _EPS in used:
        hps.append(real("eps", 1e-8, sp.Interval.open(0, sp.oo), "ε of the mass", symbol=_EPS))
    if _PSI in used:
        hps.append(real("momentum_decay", 4e-3, sp.Interval(0, sp.oo), "ψ of μ_t", symbol=_PSI))
    if _WD in used:
        hps.append(real("weight_decay", 0.0, sp.Interval(0, sp.oo), "weight decay λ", symbol=_WD))
    return hps


def _derivation(kinetic: KineticEnergy, scheme: Scheme, form: Momentum, step) -> str:
    physical = StepMap(ConformalHamiltonian(kinetic), scheme)
    return "\n\n".join(
        [
            physical.markdown(),
            f"Change of variables ({form.describe()}; {beta_text(scheme)}), "
            f"{step.how} parameterisation: " + "; ".join(step.mapping),
            f"$$\\Delta\\theta = {sp.latex(step.displacement)}$$",
            step.proof,
        ]
    ).strip()
