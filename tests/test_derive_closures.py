"""Derive-your-own at zoo quality: closures by name, learning-rate semantics, no dead parts."""

import inspect

import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.closures.registry import CLOSURES, PRESETS, resolve
from hamopt.derive import derive
from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    massless,
    relativistic,
    relativistic_norm,
)
from hamopt.rule.liveness import dead_parts
from hamopt.symbols import p
from hamopt.zoo import ZOO

LOG_COSH = KineticEnergy(sp.log(sp.cosh(p)), (), name="logcosh")
#: arguments the zoo accepts for its reference's signature only, with the reason
INERT = {"RAD": ("momentum_decay",)}  # rad.optim.RAD reads it only with nesterov=True


def _delta(cls, state_grads, lr, **kw):
    """Δθ of one step from θ = 0 with gradients ``state_grads`` (a fixed sequence)."""
    theta = torch.nn.Parameter(torch.zeros(len(state_grads[0]), dtype=torch.float64))
    opt = cls([theta], lr=lr, **kw)
    before = None
    for grad in state_grads:
        before = theta.detach().clone()
        theta.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
    return (theta.detach() - before).numpy()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_has_no_dead_buffer_or_argument(name):
    assert dead_parts(ZOO[name][1](), inert=INERT.get(name, ())) == []


@pytest.mark.parametrize("closure", ["none", "adam", ("second_moment", "bias_correction")])
@pytest.mark.parametrize("scheme", ["euler", "leapfrog", "nag"])
def test_derived_optimizers_have_no_dead_parts(scheme, closure):
    derived = derive(relativistic(), scheme, closure, name="Mine")
    assert dead_parts(derived.spec) == []
    assert {"lr", "m", "c"} <= set(inspect.signature(derived.cls).parameters)


def test_dead_parts_finds_an_unread_buffer_and_an_unused_argument():
    from dataclasses import replace

    from hamopt.rule.hyperparameter import real

    spec = derive(classical(), "euler", "adam", name="Mine").spec
    rule = spec.variants[0][1]
    y = next(b.symbol for b in rule.buffers if b.name == "exp_avg_sq")
    # the step no longer reads the second moment: its buffer is dead, and beta2 only feeds it
    blind = [
        a if a.target == y else replace(a, expr=a.expr.xreplace({y: 1})) for a in rule.assignments
    ]
    rule = replace(rule, assignments=tuple(blind))
    idle = real("idle", 1.0, sp.Interval(0, sp.oo), "does nothing")
    spec = replace(spec, variants=(("True", rule),), hyperparameters=(*spec.hyperparameters, idle))
    problems = dead_parts(spec)
    assert "buffer exp_avg_sq of the rule is written but never read" in problems
    assert "argument idle is taken but changes nothing" in problems


def test_every_registry_closure_is_reachable_by_name():
    assert set(PRESETS) == {"none", "adam"}
    for name in CLOSURES:
        names = [name]
        while CLOSURES[names[0]].needs:  # prepend a prerequisite, and its own
            names.insert(0, CLOSURES[names[0]].needs[0])
        assert name in [e.name for e in resolve(names)]


@pytest.mark.parametrize(
    ("closures", "message"),
    [
        (["second_moment", "diagonal_mass"], "both set the mass; choose one"),
        (["bias_correction", "bias_correction"], "named twice"),
        (["amsgrad"], "needs one of"),
        (["coupled_weight_decay", "decoupled_weight_decay"], "both add weight decay"),
        (["lion"], "unknown closure 'lion'"),
        (["adam", "amsgrad"], r"'adam' is a preset, the closures \['diagonal_mass', "),
    ],
)
def test_closure_lists_are_checked(closures, message):
    with pytest.raises(ValueError, match=message):
        derive(relativistic(), "euler", closures)


@pytest.mark.parametrize("preset", ["none", "adam"])
def test_a_list_of_one_preset_is_that_preset(preset):
    """``closure=["adam"]`` is ``closure="adam"``, as ``names = ["adam"]`` in a spec file."""
    assert resolve([preset]) == resolve(preset)
    listed, named = (
        derive(relativistic(), "leapfrog", [preset]),
        derive(relativistic(), "leapfrog", preset),
    )
    assert listed.spec.variants[0][1].assignments == named.spec.variants[0][1].assignments


@pytest.mark.parametrize(
    ("energy", "closures", "message"),
    [
        (classical(), ["second_moment"], "second_moment has nothing to act on"),
        (massless(), "adam", "diagonal_mass has nothing to act on"),
        (relativistic_norm(), "adam", "a norm-coupled energy couples them"),
    ],
)
def test_a_closure_with_nothing_to_act_on_is_an_error(energy, closures, message):
    with pytest.raises(ValueError, match=message):
        derive(energy, "euler", closures)


def test_a_refusal_writes_the_step_as_math():
    """The step a refusal shows reads as the rule does, ‖v‖ and a switch in words, not
    SymPy's ``Norm2(v)`` and ``Piecewise((…, Eq(…)), …)``."""
    energy = KineticEnergy(sp.log(sp.cosh(p)), name="radial", coupling="norm")
    with pytest.raises(ValueError, match="a norm-coupled energy couples them") as info:
        derive(energy, "leapfrog", "adam")
    message = str(info.value)
    assert "(-exp_avg*lr/2 if ‖exp_avg‖ = 0 else -exp_avg*lr*tanh(‖exp_avg‖)/(2*‖exp_avg‖))" in (
        message
    )
    assert "Norm2" not in message and "Piecewise" not in message and "Eq(" not in message


@pytest.mark.parametrize("closure", ["none", "adam"])
@pytest.mark.parametrize("scheme", ["euler", "leapfrog", "nag"])
@pytest.mark.parametrize("energy", [LOG_COSH, relativistic(), adam_energy(0.1)], ids=str)
def test_lr_is_the_step_scale(energy, scheme, closure):
    """Doubling lr doubles Δθ at a fixed optimizer state (the ML parameterisation)."""
    cls = derive(energy, scheme, closure, name="Mine").cls
    grads = [[0.3, -2.0, 0.0, 1e-3], [0.5, -1.0, 0.0, 4.0], [-0.2, 3.0, 0.0, 2.0]]
    one, two = _delta(cls, grads, 1e-3), _delta(cls, grads, 2e-3)
    np.testing.assert_allclose(two, 2 * one, rtol=1e-12, atol=0)


@pytest.mark.parametrize("closure", ["none", "adam"])
def test_the_physical_default_lr_takes_the_step_of_the_ml_default(closure):
    """Left to its default, the physical h is √(lr/s) of the ml default lr: the same steps
    (lr = h² s), where a default h = 1e-3 took steps a hundred times smaller."""
    grads = [[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]]
    steps = []
    for how in ("ml", "physical"):
        cls = derive(classical(), "euler", closure, name="Mine", parameterisation=how).cls
        lr = inspect.signature(cls).parameters["lr"].default
        steps.append(_delta(cls, grads, lr))
    np.testing.assert_allclose(steps[1], steps[0], rtol=1e-9)


def test_physical_parameterisation_scales_as_the_physical_step():
    """lr = h: the classical step is -h² v/(1-β1), quadratic in lr."""
    cls = derive(classical(), "euler", "none", name="Mine", parameterisation="physical").cls
    grads = [[1.0, -2.0]]
    one, two = _delta(cls, grads, 0.1), _delta(cls, grads, 0.2)
    np.testing.assert_allclose(two, 4 * one, rtol=1e-12)
    # v = (1-β1) g after one step: Δθ = -h² g exactly
    np.testing.assert_allclose(one, [-0.01, 0.02], rtol=1e-12)


def test_ml_map_is_printed_with_the_derivation():
    derived = derive(LOG_COSH, "leapfrog", "none", name="Mine")
    text = derived.spec.variants[0][1].provenance.derivation
    assert "lr = h²·1/(1 - beta1)" in text and "momentum unit λ = h·1/(1 - beta1)" in text
    assert "proved: equal to the step of the rescaled system" in text


def test_an_energy_with_a_floating_point_exponent_derives_with_leapfrog():
    """|p|**1.5 typed with a Python float: the ml parameterisation's two forms of the step round
    its 15 digits differently (1e-16), which the check allows; to 30 digits they would differ."""

    derived = derive(KineticEnergy(sp.Abs(p) ** 1.5), "leapfrog", "none", name="Mine")
    text = derived.spec.variants[0][1].provenance.derivation
    assert "rescaled system at 12 random points to 12 digits (the energy has floating-point" in text
    exact = derive(KineticEnergy(sp.Abs(p) ** sp.Rational(3, 2)), "leapfrog", "none", name="Mine")
    assert "to 12 digits" not in exact.spec.variants[0][1].provenance.derivation


def test_classical_energy_with_the_adam_preset_is_adam():
    torch.manual_seed(0)
    cls = derive(classical(), "euler", "adam", name="Mine").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), eps=1e-8)
    b = _delta(torch.optim.Adam, grads, 1e-2, betas=(0.9, 0.999), eps=1e-8)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adams_energy_with_the_second_moment_recipe_is_adam():
    """Adam's energy, v² → y in its inverse mass, estimator bias correction: torch's Adam with
    the energy's ε."""
    torch.manual_seed(1)
    cls = derive(adam_energy(1e-8), "euler", ["second_moment", "bias_correction"], name="A").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), epsilon=1e-8)
    b = _delta(torch.optim.Adam, grads, 1e-2, betas=(0.9, 0.999), eps=1e-8)
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("correction", ["bias_correction", "step_size_bias_correction"])
def test_adams_energy_with_the_infinity_norm_is_adamax(correction):
    """|v| + ε → u = max(β2 u, |g| + ε), with the energy's own ε: torch's Adamax, with either
    correction (u has no bias: the step-size form is α/(1-β1^t) alone, Adamax's own; it took
    α√(1-β2^t)/(1-β1^t), steps of 0.03, 0.08, 0.13 on a constant gradient where Adamax takes
    1, 2, 3). An energy whose step holds no |v| + ε leaves the closure nothing to act on."""
    torch.manual_seed(2)
    closures = ["infinity_norm", correction]
    cls = derive(adam_energy(1e-8), "euler", closures, name="A").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), epsilon=1e-3)
    b = _delta(torch.optim.Adamax, grads, 1e-2, betas=(0.9, 0.999), eps=1e-3)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="infinity_norm has nothing to act on: Δθ = "):
        derive(classical(), "euler", closures)


def test_the_infinity_norm_refuses_what_needs_a_second_moment_or_a_bias():
    """Rectification needs a √y to switch, which the infinity norm has none of (a bare
    StopIteration); without a momentum, the step-size form has nothing left to correct."""
    closures = ["infinity_norm", "step_size_bias_correction"]
    with pytest.raises(ValueError, match="rectification needs a second moment y"):
        derive(adam_energy(), "euler", [*closures, "rectification"])
    with pytest.raises(ValueError, match="step_size_bias_correction has nothing to act on"):
        derive(adam_energy(), "euler", ["infinity_norm", "no_momentum", closures[1]])


@pytest.mark.parametrize(
    ("text", "params", "values"),
    [("abs(p) - e*log(1 + abs(p)/e)", ("e",), {"e": 1e-3}), ("abs(p) - log(1 + abs(p))", (), {})],
)
def test_adams_energy_typed_as_text_with_the_infinity_norm_is_adamax(text, params, values):
    """Typed as text, Adam's energy has SymPy's velocity sign(p) − sign(p)/(1 + |p|/ε) (no
    hand-written p/(|p| + ε)): the closure reads it over one denominator, v/(|v| + ε), and
    gives Adamax. Replacing the |v| + ε it found in that form alone gave the step
    −sign(v)(1 − ε/u), and with ε a parameter it found none."""
    from hamopt.parse import parse_energy

    torch.manual_seed(2)
    closures = ["infinity_norm", "bias_correction"]
    cls = derive(parse_energy(text, params), "euler", closures, name="A", params=params).cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), **values)
    b = _delta(torch.optim.Adamax, grads, 1e-2, betas=(0.9, 0.999), eps=values.get("e", 1.0))
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize(
    ("text", "closures"),
    [
        ("abs(p)", ["lookahead", "bias_correction"]),
        ("p**2/2 + abs(p)", ["lookahead", "bias_correction"]),
    ],
)
def test_a_bias_correction_nothing_reads_is_refused(text, closures):
    """After the look-ahead the step reads sign(c) alone: 1 − β1^t divides nothing. The
    liveness analysis follows reads back from the parameter's update, so the scalar it
    computes is found dead (the generated line assigned it to nothing and did not compile).
    The refusal says why: the look-ahead is made from the uncorrected momentum."""
    from hamopt.parse import parse_energy

    message = "bias_correction1 of the rule is computed but never read"
    with pytest.raises(ValueError, match=message) as info:
        derive(parse_energy(text), "euler", closures)
    assert "made from the momentum v before any correction" in str(info.value)


def test_adams_energy_with_the_rectification_is_radam():
    """Adam's energy, v² → y, the step-size correction and the rectification with the energy's
    own ε: torch's RAdam (whose ε sits outside the root, as the energy's does)."""
    torch.manual_seed(3)
    closures = ["second_moment", "step_size_bias_correction", "rectification"]
    cls = derive(adam_energy(1e-8), "euler", closures, name="A").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), epsilon=1e-3)
    b = _delta(torch.optim.RAdam, grads, 1e-2, betas=(0.9, 0.999), eps=1e-3)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_relativistic_energy_with_the_second_moment_recipe_has_rads_form():
    """-lr c v/√(y + m²c²) = RAD's -lr v/√(δ²y + ζ) with δ = 1/c, ζ = m² (order 1)."""
    from hamopt.optim import RAD

    torch.manual_seed(2)
    cls = derive(relativistic(), "euler", ["second_moment", "step_size_bias_correction"]).cls
    grads = torch.randn(20, 4, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, m=0.5, c=2.0)
    b = _delta(RAD, grads, 1e-2, delta=0.5, zeta=0.25)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gaussian_energy_derives():
    """exp(p²/2): the energy's own exp is not a friction factor e^{-rh}."""
    derived = derive(KineticEnergy(sp.exp(p**2 / 2), (), name="gauss"), "leapfrog", "none")
    assert "r" not in {
        s.name for s in derived.spec.variants[0][1].assignments[-1].expr.free_symbols
    }
    grads = [[0.5, -0.5]]
    delta = _delta(derived.cls, grads, 0.1)
    v = 0.1 * 0.5  # the EMA after one step
    expected = -0.1 * (v * np.exp(v**2 / 2) + 0.9 * v * np.exp((0.9 * v) ** 2 / 2)) / 2
    np.testing.assert_allclose(delta, [expected, -expected], rtol=1e-12)


def test_momentum_forms_and_defaults():
    ema = derive(LOG_COSH, "euler", "none", name="Mine")
    total = derive(LOG_COSH, "euler", "none", name="Mine", momentum="sum", init="grad")
    assert inspect.signature(ema.cls).parameters["lr"].default == pytest.approx(1e-2)
    assert inspect.signature(total.cls).parameters["lr"].default == pytest.approx(1e-3)
    assert "first-gradient init" in total.markdown() or "grad" in total.source
    with pytest.raises(ValueError, match="momentum form must be 'ema' or 'sum'"):
        derive(LOG_COSH, momentum="nesterov")
    with pytest.raises(ValueError, match="parameterisation must be one of"):
        derive(LOG_COSH, parameterisation="natural")


def test_massless_energy_with_the_lookahead_is_lion():
    """T = |p| × euler × [lookahead, decoupled_weight_decay] is lion_pytorch.Lion, bit for bit
    on the single-tensor and foreach paths, with and without weight decay."""
    lion = pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")
    cls = derive(massless(), "euler", ["lookahead", "decoupled_weight_decay"], name="Lion").cls
    torch.manual_seed(2)
    grads = torch.randn(40, 6, dtype=torch.float64).tolist()
    for wd in (0.0, 0.3):
        b = _delta(lion.Lion, grads, 1e-2, betas=(0.9, 0.99), weight_decay=wd)
        for foreach in (False, True):
            kw = dict(betas=(0.9, 0.99), weight_decay=wd, foreach=foreach)
            np.testing.assert_array_equal(_delta(cls, grads, 1e-2, **kw), b)


def test_lion_defaults_are_lions():
    import inspect

    lion = pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")
    cls = derive(massless(), "euler", ["lookahead", "decoupled_weight_decay"], name="Lion").cls
    ours, theirs = inspect.signature(cls).parameters, inspect.signature(lion.Lion).parameters
    for name in ("lr", "betas", "weight_decay"):
        assert ours[name].default == theirs[name].default, name


def test_lookahead_reads_the_momentum_before_its_update():
    """Lion-K for another energy: Δθ = −lr ∇K(β1 m_old + (1 − β1) g), m ← β2 m + (1 − β2) g."""
    cls = derive(relativistic(), "euler", ["lookahead"], name="LionK").cls
    g = np.array([[0.5, -2.0], [1.5, 0.25], [-1.0, 3.0]])
    got = _delta(cls, g.tolist(), 0.1, betas=(0.8, 0.95))
    m = 0.05 * g[0]  # after step 1, from m = 0: (1 − β2) g1
    m = 0.95 * m + 0.05 * g[1]  # after step 2
    c = 0.8 * m + 0.2 * g[2]  # step 3 reads c before m moves
    np.testing.assert_allclose(got, -0.1 * c / np.sqrt(c * c + 1), rtol=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(closure=["lookahead", "no_momentum"]), "both change the momentum; choose one"),
        (dict(closure=["lookahead"], momentum="sum"), "lookahead needs the EMA momentum"),
        (dict(closure=["lookahead"], init="grad"), "lookahead needs the EMA momentum"),
        (dict(closure=["lookahead"], scheme="leapfrog"), "use a one-drift scheme"),
    ],
)
def test_lookahead_is_refused_where_it_has_no_meaning(kwargs, message):
    kwargs = {"scheme": "euler", **kwargs}
    with pytest.raises(ValueError, match=message):
        derive(relativistic(), **kwargs)


def test_classical_energy_with_nag_and_the_momentum_schedule_is_nadam():
    """Named closures only: Dozat's schedule takes over the first moment's bias correction
    (its own correction of v), the second moment keeps y/(1-β2^t): torch's NAdam."""
    torch.manual_seed(2)
    closures = ["diagonal_mass", "bias_correction", "momentum_schedule"]
    cls = derive(classical(), "nag", closures, name="MyNAdam").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    kw = dict(betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3)
    a = _delta(cls, grads, 1e-2, **kw)
    b = _delta(torch.optim.NAdam, grads, 1e-2, **kw)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adams_energy_with_nag_and_a_frozen_mass_is_nadam():
    """Adam's energy evaluates ∇T at (1-β1)g and at β1 v: the frozen mass freezes |β1 v| as
    much as |v| to √y (SymPy writes |β1 v| as β1|v|, which froze to β1√y), so with the momentum
    schedule it is torch's NAdam with the energy's ε."""
    torch.manual_seed(4)
    closures = ["frozen_mass", "bias_correction", "momentum_schedule"]
    cls = derive(adam_energy(), "nag", closures, name="A").cls
    grads = torch.randn(30, 5, dtype=torch.float64).tolist()
    a = _delta(cls, grads, 1e-2, betas=(0.9, 0.999), epsilon=1e-3, momentum_decay=4e-3)
    b = _delta(torch.optim.NAdam, grads, 1e-2, betas=(0.9, 0.999), eps=1e-3, momentum_decay=4e-3)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adams_energy_with_nag_and_the_second_moment_estimates_each_magnitude():
    """Nesterov's step evaluates ∇T(u) = u/(|u| + ε) at β1 v and (1-β1) g, which SymPy writes
    β1|v| and |β1 - 1||g|; for β1 in [0, 1] the second factor is 1 - β1, and the second moment
    estimates |v| (and so |g|) as √y: Δθ = -α(β1 v̂/(β1 √ŷ + ε) + (1-β1) g/((1-β1) √ŷ + ε))."""
    torch.manual_seed(5)
    closures = ["second_moment", "bias_correction"]
    derived = derive(adam_energy(), "nag", closures, name="A")
    assert not derived.spec.variants[0][1].assignments[-1].expr.has(sp.Abs)
    grads = torch.randn(12, 5, dtype=torch.float64)
    lr, (b1, b2), eps = 1e-2, (0.8, 0.99), 1e-3
    v, y = torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    for t, g in enumerate(grads, start=1):
        v, y = b1 * v + (1 - b1) * g, b2 * y + (1 - b2) * g**2
        root = (y / (1 - b2**t)).sqrt()
        expected = -lr * (
            b1 * v / (1 - b1**t) / (b1 * root + eps) + (1 - b1) * g / ((1 - b1) * root + eps)
        )
    got = _delta(derived.cls, grads.tolist(), lr, betas=(b1, b2), epsilon=eps)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)


def test_the_bias_corrections_leave_magnitudes_and_signs_of_the_momentum_alone():
    """b1 = 1 - β1^t and b2 = 1 - β2^t are positive: |v/b1| is |v|/b1, sign(v/b1) is sign(v)
    and √(y/b2) is √y/√b2, so that the code takes √y of the buffer itself, and the step reads
    |u| and sign(u) of the one momentum in units of the mass."""
    from hamopt.closures.draft import MASS_UNITS
    from hamopt.closures.library import BC1, BC2

    energy = KineticEnergy(p**2 / 2 + sp.Abs(p) ** 3 / 3)
    closures = ["diagonal_mass", "bias_correction"]
    *_, u, final = derive(energy, "euler", closures, name="A").spec.variants[0][1].assignments
    assert u.target == MASS_UNITS and not u.expr.has(sp.Abs, sp.sign)
    assert {a.args[0] for a in final.expr.atoms(sp.Abs, sp.sign)} == {MASS_UNITS}
    assert not any(
        BC2 in a.free_symbols for a in u.expr.atoms(sp.Pow) if a.exp == sp.S.Half and a.base != BC2
    )
    assert BC1.is_positive and BC2.is_positive


def test_signed_decays_drop_the_bars_where_the_interval_fixes_the_sign():
    from hamopt.closures.library import _signed_decays

    b1, b2, x = sp.symbols("beta1 beta2 x", real=True)
    decays = {b1, b2}
    assert _signed_decays(sp.Abs(b1 - 1), decays) == 1 - b1
    assert _signed_decays(sp.Abs(b1 + b2), decays) == b1 + b2
    assert _signed_decays(sp.Abs(b1 - b2), decays) == sp.Abs(b1 - b2)  # either sign
    assert _signed_decays(sp.Abs(b1 - x), decays) == sp.Abs(b1 - x)  # x is not a decay


@pytest.mark.parametrize(
    ("energy", "scheme", "closures", "message"),
    [  # a relativistic leapfrog step reads g through v only: refused before any simplify
        (relativistic(), "leapfrog", ["diagonal_mass", "momentum_schedule"], "needs -lr"),
        (classical(), "nag", ["diagonal_mass", "no_momentum", "momentum_schedule"], "needs a"),
        (
            classical(),
            "nag",
            ["diagonal_mass", "step_size_bias_correction", "momentum_schedule"],
            "corrects the first moment itself: it takes the estimator form",  # not "needs -lr"
        ),
    ],
)
def test_momentum_schedule_refuses_other_steps(energy, scheme, closures, message):
    with pytest.raises(ValueError, match=f"momentum_schedule {message}"):
        derive(energy, scheme, closures)


def _sign_steps(closures: list[str]) -> np.ndarray:
    """Δθ of three steps with the same gradient, from θ = 0, lr = 0.1 (classical, euler)."""
    cls = derive(classical(), "euler", closures, name="Mine").cls
    theta = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt, g, out = cls([theta], lr=0.1), torch.tensor([0.5, -2.0, 1e-3], dtype=torch.float64), []
    for _ in range(3):
        before = theta.detach().clone()
        theta.grad = g.clone()
        opt.step()
        out.append((theta.detach() - before).numpy())
    return np.array(out)


def test_without_momentum_the_bias_corrections_are_the_second_moments():
    """no_momentum (β1 = 0): 1 - β1^t = 1, so only y is corrected; with a constant gradient
    the corrected y is g² and every step is -lr g/(|g| + ε) in either form, whatever β1."""
    g = np.array([0.5, -2.0, 1e-3])
    estimator = _sign_steps(["diagonal_mass", "no_momentum", "bias_correction"])
    np.testing.assert_allclose(estimator, np.tile(-0.1 * g / (np.abs(g) + 1e-8), (3, 1)))
    # step-size form: -lr √b g/(√(b g²) + ε) = -lr g/(|g| + ε/√b), b = 1 - β2^t
    b = 1 - 0.999 ** np.arange(1, 4)
    size = _sign_steps(["diagonal_mass", "no_momentum", "step_size_bias_correction"])
    np.testing.assert_allclose(size, -0.1 * g / (np.abs(g) + 1e-8 / np.sqrt(b)[:, None]))
    # rectification before ρ_t > 5: momentum SGD, -lr g (no 1/(1-β1^t): there is no momentum)
    closures = ["diagonal_mass", "no_momentum", "step_size_bias_correction", "rectification"]
    np.testing.assert_allclose(_sign_steps(closures), np.tile(-0.1 * g, (3, 1)))
    with pytest.raises(ValueError, match="bias_correction has nothing to act on"):
        derive(classical(), "euler", ["no_momentum", "bias_correction"])


@pytest.mark.parametrize(
    "closure", ["adam", ["diagonal_mass", "step_size_bias_correction", "coupled_weight_decay"]]
)
def test_an_ema_from_the_first_gradient_is_not_bias_corrected(closure):
    """init="grad": v_1 = g_1, so the EMA is unbiased and only y is corrected; with a constant
    gradient every step is then -lr g/(|g| + ε') (ε' = ε, or ε/√(1-β2^t) in the step-size
    form), where dividing v by 1-β1^t made the first step 10 times too long."""
    g = [0.5, -2.0, 1e-3]
    derived = derive(classical(), "euler", closure, init="grad")
    assert "1-β1^t" not in derived.markdown()  # no correction of v in the rule or its notes
    for t in range(1, 4):
        step = _delta(derived.cls, [g] * t, 0.1)
        eps = 1e-8 if closure == "adam" else 1e-8 / np.sqrt(1 - 0.999**t)
        np.testing.assert_allclose(step, -0.1 * np.array(g) / (np.abs(g) + eps), rtol=1e-12)
    with pytest.raises(ValueError, match="bias_correction has nothing to act on"):
        derive(classical(), "euler", ["bias_correction"], init="grad")


def test_without_momentum_the_optimizer_takes_beta2_alone():
    """no_momentum leaves β1 unread: the constructor takes ``beta2``, not a ``betas`` pair whose
    first number would change nothing, and the pair check names such a half-read pair."""
    from dataclasses import replace

    from hamopt.rule.hyperparameter import pair

    derived = derive(classical(), "euler", ["diagonal_mass", "no_momentum", "bias_correction"])
    parameters = inspect.signature(derived.cls).parameters
    assert "betas" not in parameters and parameters["beta2"].default == 0.999
    g = [[0.5, -2.0], [0.25, 1.0]]
    steps = [_delta(derived.cls, g, 0.1, beta2=b) for b in (0.5, 0.999)]
    assert not np.allclose(*steps)  # β2 changes the step
    with pytest.raises(TypeError):
        derived.cls([torch.nn.Parameter(torch.zeros(2))], betas=(0.9, 0.999))
    b2 = derived.spec.hyperparameters[1].symbols[0]  # the rule's own beta2
    half = pair(
        "betas", (0.9, 0.999), (sp.Symbol("beta1"), b2), (sp.Interval.Ropen(0, 1),) * 2, "β1, β2"
    )
    spec = replace(derived.spec, hyperparameters=(*derived.spec.hyperparameters[:1], half))
    assert "argument betas: its beta1 changes nothing" in dead_parts(spec)


@pytest.mark.parametrize("momentum", ["ema", "sum"])
def test_without_momentum_the_default_lr_is_that_of_beta1_zero(momentum):
    """no_momentum makes θ ← θ − α g whatever the momentum's form: the default lr is
    10⁻³·s at β1 = 0 (s = 1), the same for both forms; it was 10⁻³·s at β1 = 0.9 (1e-2 for
    the EMA form, 1e-3 for the sum), for the same rule."""
    derived = derive(classical(), "euler", ["no_momentum"], momentum=momentum)
    assert inspect.signature(derived.cls).parameters["lr"].default == 1e-3


def test_no_momentum_where_the_step_reads_only_beta1_v_is_an_error():
    """euler_fkd's drift reads β1 v, the momentum before the kick: with β1 = 0 no step is left."""
    with pytest.raises(ValueError, match="no_momentum leaves no step"):
        derive(classical(), "euler_fkd", ["diagonal_mass", "no_momentum"])


@pytest.mark.parametrize(
    ("energy", "scheme", "closures"),
    [
        ("huber", "euler_fkd", ["no_momentum"]),
        ("huber", "euler_fkd", ["second_moment", "no_momentum", "bias_correction"]),
        ("power", "hamiltonian_descent", ["no_momentum"]),
    ],
)
def test_a_step_that_no_momentum_makes_zero_is_refused_for_every_energy(energy, scheme, closures):
    """Huber's min(0, δ) is 0 only for δ > 0, and the power energy's 0^(a-1) only for a > 1:
    with the parameters' signs kept (δ positive) and the step sampled where SymPy cannot
    tell (a > 1), the step that reads only β1 v is refused as it is for the classical energy,
    where it was derived and trained nothing."""
    from hamopt.kinetic import library

    with pytest.raises(ValueError, match="no_momentum leaves no step"):
        derive(getattr(library, energy)(), scheme, closures)


@pytest.mark.parametrize("path", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_no_momentum_keeps_a_velocity_that_is_finite_at_zero_finite(path):
    """sign(g)|g|^(a-1) (the power energy, a = 1.5) simplified to g|g^(a-2)|: 0·∞ = NaN at a
    zero gradient, on every path. The step is now the velocity as the energy gives it."""
    from hamopt.kinetic import power

    q = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = derive(power(), "euler", ["no_momentum"]).cls([q], lr=0.1, **path)
    q.grad = torch.tensor([-2.0, 0.5, 0.0], dtype=torch.float64)
    optimizer.step()
    expected = torch.tensor([0.1 * 2.0**0.5, -0.1 * 0.5**0.5, 0.0], dtype=torch.float64)
    torch.testing.assert_close(q.detach(), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "energy", [classical(), relativistic_norm()], ids=["classical", "relativistic_norm"]
)
def test_frozen_mass_without_a_magnitude_to_freeze_says_so(energy):
    """An energy whose inverse mass ∇T(p)/p is constant (or a norm-coupled one) gives
    frozen_mass nothing to freeze: its own ValueError, which names the alternative, not the
    liveness check's unread buffer."""
    with pytest.raises(ValueError, match=r"frozen_mass has nothing to act on .* diagonal_mass"):
        derive(energy, "leapfrog", ["frozen_mass"])


def test_frozen_mass_reads_the_inverse_mass_at_y_however_the_energy_is_written():
    """x/(|x| + 1/2) and sign(x)(1 - 1/(2|x| + 1)) are one velocity: frozen, both are
    x/(√y + 1/2) at every argument, β1 v included (the sign form froze to sign(β1 v)(…), which
    drops β1). The relativistic energy's inverse mass c/√(p² + m²c²) freezes too, at y."""
    half = sp.Rational(1, 2)
    forms = [
        KineticEnergy(sp.Abs(p) - half * sp.log(1 + 2 * sp.Abs(p)), name="a"),
        adam_energy(0.5),
    ]
    steps = []
    for energy in forms:
        q = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = derive(energy, "leapfrog", ["frozen_mass"]).cls([q], lr=0.1)
        for k in range(3):
            q.grad = torch.tensor([0.3, -2.0, 0.01], dtype=torch.float64) * (k + 1)
            opt.step()
        steps.append(q.detach().clone())
    torch.testing.assert_close(steps[0], steps[1], rtol=1e-14, atol=0)
    derive(relativistic(), "leapfrog", ["frozen_mass"])


@pytest.mark.parametrize("scheme", ["euler", "leapfrog", "nag"])
@pytest.mark.parametrize("eps", [sp.Rational(1, 2), sp.Float(1e-8), "e"])
def test_frozen_mass_keeps_the_energys_own_constant(eps, scheme):
    """Adam's energy typed with ε = 1/2 is |p| - log(1 + 2|p|)/2, velocity p/(|p| + 1/2): the
    2 of 2|p| is the energy's, not a scale of the velocity's argument, and stays (frozen,
    2√y). It froze to √y with the β1 of |β1 v| — ε became 1, a step of 0.091 where
    T'(g) = 0.167 at β = 0 — and a symbolic ε was refused as an argument that changes
    nothing. At β1 = β2 = 0, √y = |g| and every scheme's step is lr·T'(g)·(its weight of g)."""
    params = []
    if eps == "e":
        eps, params = sp.Symbol("e", positive=True), ["e"]
    energy = KineticEnergy(sp.Abs(p) - eps * sp.log(1 + sp.Abs(p) / eps), params, name="a")
    derived = derive(energy, scheme, ["frozen_mass"])
    value = 0.5 if not params else 0.25
    options = {"e": value} if params else {}
    value = float(eps) if not params else value
    steps = []
    for lr in (1.0, 2.0):
        q = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = derived.cls([q], lr=lr, betas=(0.0, 0.0), **options)
        q.grad = torch.tensor([0.1], dtype=torch.float64)
        opt.step()
        steps.append(-q.item() / lr)
    assert steps[0] == pytest.approx(steps[1], rel=1e-12)
    reference = derive(adam_energy(value), scheme, ["frozen_mass"])
    q = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = reference.cls([q], lr=1.0, betas=(0.0, 0.0))
    q.grad = torch.tensor([0.1], dtype=torch.float64)
    opt.step()
    assert steps[0] == pytest.approx(-q.item(), rel=1e-12)
    if scheme == "euler":
        assert steps[0] == pytest.approx(0.1 / (0.1 + value), rel=1e-12)


def test_a_refusal_shows_a_long_step_shortened():
    """Rectification under nag on a kinked energy finds no step-size form: the message names
    the step it got, its first 300 characters and its length (415), not the whole of it."""
    from hamopt.closures.draft import SHOWN
    from hamopt.parse import parse_energy

    energy = KineticEnergy(parse_energy("clip(p,-1,1)**2/2 + Max(Abs(p)-1,0)"), name="c")
    closures = ["second_moment", "step_size_bias_correction", "rectification"]
    with pytest.raises(ValueError, match=r"rectification needs the step-size form") as error:
        derive(energy, "nag", closures)
    message = str(error.value)
    assert message.endswith(" characters)") and "… (" in message
    assert len(message) < SHOWN + 120


@pytest.mark.parametrize("momentum", ["ema", "sum"])
def test_second_moment_reads_the_mass_at_the_buffers_steady_scale(momentum):
    """The sum buffer settles at g/(1-β₁), ten times the EMA's: the inverse mass is read at
    u² ≈ y/(1-β₁)², so the relativistic step under a constant unit gradient stays within its
    speed limit c = 1 (it was 7.07 for the sum, at u² ≈ y), and equals the diagonal mass's."""
    from hamopt.kinetic import relativistic

    steps = {}
    for closure in ("second_moment", "diagonal_mass"):
        cls = derive(
            relativistic(), "euler", closure=[closure, "bias_correction"], momentum=momentum
        ).cls
        w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = cls([w], lr=1.0)
        for _ in range(200):
            w.grad = torch.ones(1, dtype=torch.float64)
            before = w.item()
            opt.step()
        steps[closure] = abs(w.item() - before)
    assert steps["second_moment"] <= 1.0
    assert steps["second_moment"] == pytest.approx(steps["diagonal_mass"], rel=1e-7)


def test_momentum_schedule_on_an_ema_started_at_the_gradient_takes_no_correction():
    """An EMA from the first gradient is unbiased: the schedule's factors α(1-μ_t) and αμ_{t+1}
    carry no (1-Π) corrections, so a constant unit gradient steps lr·(1 - μ_t + μ_{t+1}) ≈ lr
    from the first step (the corrections made it 1.56, 1.19, 1.07, ...), and the rule keeps no
    product state."""
    from hamopt.kinetic import adam_energy

    closure = ["frozen_mass", "bias_correction", "momentum_schedule"]
    derived = derive(adam_energy(), "nag", closure=closure, init="grad", name="Unbiased")
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = derived.cls([w], lr=1.0)
    steps = []
    for _ in range(4):
        before = w.item()
        w.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        steps.append(abs(w.item() - before))
    assert steps == pytest.approx([1.0] * 4, rel=1e-3)
    assert "mu_product" not in opt.state[w]


def test_two_quantities_that_print_alike_are_drawn_apart():
    """Lion-K on the relativistic energy: the look-ahead c and the energy's speed of light c
    printed alike, so the step read cαc/√(c²m² + c²). The look-ahead is drawn c̃; the
    energy's c keeps its name, and the massless energy's Lion still reads sign(c)."""
    closures = ["lookahead", "decoupled_weight_decay"]
    text = derive(relativistic(), "euler", closures).markdown()
    step = text.splitlines()[-1]
    assert r"\tilde{c}" in step and r"c^{2} m^{2}" in step
    assert (
        r"\operatorname{sign}{\left(c \right)}" in derive(massless(), "euler", closures).markdown()
    )


def test_a_step_size_correction_far_from_the_estimator_form_warns():
    """Moving 1/(1-β1^t) and √(1-β2^t) out of the step is Adam's efficient order only for a
    step homogeneous in (v, √y): Huber's clipped velocity under a diagonal mass takes
    √(1-β2)/(1-β1)·clip(3.16) = 0.316 of the estimator's first step on a constant gradient,
    silently. It warns with that figure; Adam's energy, which is homogeneous, does not."""
    import warnings

    from hamopt.kinetic import huber

    with pytest.warns(UserWarning, match=r"its first step on a constant gradient is 0\.316 times"):
        derive(huber(), "euler", ["diagonal_mass", "step_size_bias_correction"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        derive(adam_energy(), "euler", ["second_moment", "step_size_bias_correction"])
        derive(classical(), "euler", ["diagonal_mass", "step_size_bias_correction"])


@pytest.mark.parametrize("scheme", ["nag", "euler"])
def test_a_huge_gradient_under_a_diagonal_mass_is_read_in_units_of_the_mass(scheme):
    """The relativistic energy under nag with Adam's closures read v̂/M and g/M squared apart,
    as g² and y: beyond |g| = 1.8e19 both are inf in float32, and inf/inf made the step NaN on
    every path. Written through u = v̂/M and w = g/M, the step is finite (0 where y itself
    overflowed, as float32 Adam's is) and the same on every path; below the overflow it
    agrees with the float64 step."""
    cls = derive(relativistic(), scheme, "adam").cls
    start = [1.0, -2.0, 0.5]
    huge = [[3e19, -1e20, 1.0], [1e30, -2e25, 0.5], [1.0, 1.0, 1.0]]
    steps = [_run(cls, huge, start, torch.float32, path) for path in PATHS]
    for path, theta in zip(PATHS, steps, strict=True):
        assert torch.isfinite(theta).all(), path
        torch.testing.assert_close(theta, steps[0], rtol=1e-6, atol=1e-7)
    large = [[1e18, -3e17, 1.0], [2e18, -1e10, 0.5], [1.0, 1.0, 1.0]]
    wide = _run(cls, large, start, torch.float64, {})
    for path in PATHS:
        narrow = _run(cls, large, start, torch.float32, path)
        torch.testing.assert_close(narrow.double(), wide, rtol=1e-5, atol=1e-6)


PATHS = (dict(foreach=False), dict(foreach=True), dict(fused=True), {})


def _run(cls, grads, start, dtype, path):
    theta = torch.tensor(start, dtype=dtype, requires_grad=True)
    opt = cls([theta], lr=1e-2, **path)
    for g in grads:
        theta.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    return theta.detach()


def test_amsgrad_keeps_the_step_in_units_of_the_mass():
    """AMSGrad replaced y by ŷ in the step but not in the mass's units, so the step was no
    longer read through u = v̂/M: p¹²/12 printed v¹¹/M¹¹, which overflow float32 at g = 5e3
    (0 on the torch paths, NaN on the kernel's). With ŷ in the units too, the step is Adam's
    preset's (ŷ = y on a constant gradient), on every path, in either order of the closures."""
    from hamopt.parse import parse_energy

    energy = parse_energy("p**12/12")
    closures = (
        ["diagonal_mass", "bias_correction", "amsgrad"],
        ["diagonal_mass", "amsgrad", "bias_correction"],
    )
    reference = _run(derive(energy, "leapfrog", "adam").cls, [[5e3]] * 3, [0.0], torch.float64, {})
    for names in closures:
        cls = derive(energy, "leapfrog", names).cls
        for path in PATHS:
            theta = _run(cls, [[5e3]] * 3, [0.0], torch.float32, path)
            torch.testing.assert_close(theta.double(), reference, rtol=1e-5, atol=0)
