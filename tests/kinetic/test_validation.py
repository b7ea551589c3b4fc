"""Bad kinetic energies are rejected with a ValueError that names the problem."""

import pytest
import sympy as sp
import torch

from hamopt.derive import derive
from hamopt.kinetic import KineticEnergy
from hamopt.parameters import in_range, positive
from hamopt.symbols import p, q

k = sp.Symbol("k", positive=True)


@pytest.mark.parametrize(
    ("expr", "params", "message"),
    [
        (p**2 / 2 + q, [], r"depends on q: a kinetic energy is a function of the momentum p only"),
        (p**2 * k, [], r"depends on undeclared symbol\(s\) k"),
        (p**2 + sp.Function("f")(p), [], r"uses undefined function\(s\) f"),
        (sp.Integer(3), [], r"does not depend on p"),
        (p**3 + p**2, [], r"is not even in p"),
        (p**2 / 2 + p, [], r"is not even in p"),
        (sp.log(1 + p**2), [], r"is not convex in p"),
        (p**4 - p**2, [], r"is not convex in p"),
        (1 - sp.cos(p), [], r"is not convex in p"),
        # concave kinks between the uniform grids' points: the slope falls from 2 to 1 at p = 1,
        # from 2/3 to 1/3... at p = 3, and at p = 0.001 (Min(|p|, 1000 p²))
        (sp.Min(sp.Abs(p), p**2), [], r"is not convex in p: .* near p = 1\b"),
        (sp.Min(sp.Abs(p), p**2 / 3), [], r"is not convex in p: .* near p = 2.99"),
        (sp.Min(sp.Abs(p), 1000 * p**2), [], r"is not convex in p: .* near p = 0.001"),
        (sp.Max(-1, sp.Min(p, 1)) * p, [], r"is not convex in p: .* near p = 1\b"),
        (p**2 + 1 / p**2, [], r"is not finite for finite p: inf at p = 0"),
        (-sp.sqrt(1 - p**2), [], r"not finite for finite p"),
        (sp.Abs(p) ** sp.Rational(1, 2), [], r"velocity .* is not finite for finite p"),
        (sp.exp(sp.exp(sp.exp(p**2))), [], r"cannot be evaluated at p = .*grows too fast"),
        (sp.zoo * p, [], r"holds an infinite or undefined constant"),
        (sp.sqrt(p**2 + sp.Symbol("h") ** 2), ["h"], r"\['h'\] are reserved: .* step"),
        (p * sp.erf(p), [], r"uses erf, which hamopt does not write as code; an energy may use"),
        (sp.LambertW(p**2), [], r"uses LambertW, which hamopt does not write as code"),
        (p**2 + p**2 * sp.Heaviside(p), [], r"uses Heaviside, which hamopt does not write"),
    ],
    ids=[
        "q-dependent",
        "undeclared-symbol",
        "undefined-function",
        "constant",
        "odd-part-cubic",
        "odd-part-linear",
        "nonconvex-log",
        "nonconvex-double-well",
        "nonconvex-cos",
        "concave-kink-at-1",
        "concave-kink-at-3",
        "concave-kink-at-0.001",
        "clip-times-p",
        "infinite-energy-at-0",
        "infinite-velocity-at-1",
        "infinite-velocity-at-0",
        "overflows-in-exact-arithmetic",
        "complex-infinity",
        "the-step-as-a-parameter",
        "erf",
        "lambert-w",
        "heaviside",
    ],
)
def test_bad_energy_is_rejected(expr, params, message):
    with pytest.raises(ValueError, match=message):
        KineticEnergy(expr, params, name="bad")


def test_message_names_the_energy():
    with pytest.raises(ValueError, match="kinetic energy mine"):
        KineticEnergy(p**3, name="mine")


def test_string_energy_is_a_type_error():
    with pytest.raises(TypeError, match="got a string"):
        KineticEnergy("p**2/2")


def test_wrong_closed_form_velocity_is_rejected():
    with pytest.raises(ValueError, match="is not the derivative of T"):
        KineticEnergy(p**2 / 2, velocity=2 * p)


def test_declared_parameter_makes_it_valid():
    e = KineticEnergy(p**2 * k, ["k"])
    assert e.symbols["k"] in e.expr.free_symbols


@pytest.mark.parametrize(
    "expr",
    [
        sp.cosh(p),
        p**2 + sp.Abs(p) ** sp.Rational(3, 2),
        sp.Abs(p) ** 3,
        sp.log(sp.cosh(p)),
        p**4 + p**2,
        sp.sqrt(1 + p**2) + sp.Abs(p),
    ],
    ids=["cosh", "quad-plus-power", "abs-cubed", "logcosh", "quartic", "soft-plus-abs"],
)
def test_good_user_energies_are_accepted(expr):
    e = KineticEnergy(expr)
    assert e.velocity_expr is not None


@pytest.mark.parametrize(
    ("expr", "velocity"),
    [(sp.sign(p) * p, sp.sign(p)), (p**2 + sp.sign(p) * p, 2 * p + sp.sign(p))],
    ids=["sign-times-p", "quad-plus-sign-times-p"],
)
def test_sign_in_an_energy_leaves_no_point_mass_in_its_velocity(expr, velocity):
    """d/dp sign(p)·p = sign(p) + 2p·δ(p) in SymPy: the δ term vanishes (T is continuous) and
    is dropped, so the velocity is sign(p) (|p|'s), which every printer writes."""
    e = KineticEnergy(expr, name="signed")
    assert not e.velocity_expr.has(sp.DiracDelta)
    assert sp.simplify(e.velocity_expr - velocity) == 0


def test_the_velocity_of_p_times_its_real_cube_root_is_finite_at_zero():
    """T = p·cbrt(p) = |p|^{4/3} (cbrt the real root, sign(p)·|p|^{1/3}): SymPy's derivative
    holds p·sign(p)²/(3|p|^{2/3}), 0/0 at p = 0. With p written sign(p)|p| and sign² = 1 the
    powers of |p| combine: the velocity is 4/3·sign(p)·|p|^{1/3}, 0 at p = 0."""
    e = KineticEnergy(p * sp.sign(p) * sp.cbrt(sp.Abs(p)), name="four_thirds")
    expected = sp.Rational(4, 3) * sp.sign(p) * sp.Abs(p) ** sp.Rational(1, 3)
    for x in (-8, -1e-6, 0, 1e-6, 8):
        assert float(e.velocity_expr.subs(p, x)) == pytest.approx(float(expected.subs(p, x)))


@pytest.mark.parametrize(
    ("energy", "name"),
    [
        (sp.Sum(p**2, (sp.Symbol("k"), 1, 3)), "Sum"),
        (sp.Product(p**2, (sp.Symbol("k"), 1, 2)), "Product"),
        (sp.Integral(sp.tanh(sp.Symbol("k")), (sp.Symbol("k"), 0, p)), "Integral"),
        (sp.Derivative(p**3 * sp.sign(p), p), "Derivative"),
    ],
)
def test_an_energy_no_printer_writes_is_refused_by_name(energy, name):
    """A ``Sum`` energy passed validation (it is no ``Function``, whose names are checked) and
    failed at the first step ("name 'builtins' is not defined", "name 'Sum' is not defined");
    a ``Product`` failed inside derive with SymPy's PrintMethodNotImplementedError, a
    ``Derivative`` with "Can't calculate derivative wrt -p". Each is a ValueError naming it."""
    message = f"holds {name}, which hamopt does not write as code"
    with pytest.raises(ValueError, match=message):
        KineticEnergy(energy, [])
    with pytest.raises(ValueError, match=message):
        derive(energy, "euler", "adam")


def test_sympys_complex_cube_root_is_named_where_it_fails():
    """``p*sp.cbrt(p)`` is SymPy's principal root, complex for p < 0: refused as "p**(4/3) is
    not finite for finite p: nan at p = -5e-06", which gave no hint why. The message names the
    principal root and the real one to write instead; a root of |p| is not blamed."""
    with pytest.raises(ValueError, match=r"complex principal root.*sp\.real_root\(p, 3\)"):
        KineticEnergy(p * sp.cbrt(p), [])
    e = KineticEnergy(p * sp.real_root(p, 3), [])
    assert float(e.velocity_expr.subs(p, -8)) == pytest.approx(-8 / 3)
    with pytest.raises(ValueError) as info:
        KineticEnergy(sp.log(sp.Abs(p) ** sp.Rational(1, 2) - 1), [])
    assert "principal root" not in str(info.value)


def test_overflow_is_not_mistaken_for_infinity():
    """cosh(1000) overflows float64 but is finite: the energy is accepted."""
    KineticEnergy(sp.cosh(p))


def test_an_energy_valid_only_for_some_parameter_values_is_refused_with_how_to_declare_them():
    """p²/2 + (100 - k)p⁴/4 is convex for k ≤ 100 only: a positive k ranges up to ∞, so it is
    refused (the samples reach k = 1000), with the interval to declare; declared, it is taken."""
    k = sp.Symbol("k", positive=True)
    expr = p**2 / 2 + (100 - k) * p**4 / 4
    with pytest.raises(ValueError, match=r"k may take any value in \(0, inf\): .*\(min and max"):
        KineticEnergy(expr, [positive("k", 1.0)], name="kdep")
    declared = in_range("k", 1.0, sp.Interval.open(0, 100))
    assert KineticEnergy(expr, [declared], name="kdep").params == (declared,)


def test_a_heaviside_step_of_a_max_of_three_evaluates_in_numpy():
    """The velocity of Max(p²/2, |p|^1.5, p⁴/4, |p|) holds Heaviside steps of a Max of three,
    which SymPy writes with ITE (if-then-else) conditions; NumPy's select gives those numbers,
    and the select around them raised TypeError ("invalid entry 0 in condlist"), so derive
    failed with NumPy's message. Every NumPy function of an energy's expressions (the
    validation's, ``numpy_functions``, the energy checks') is made by ``lambdify_numpy``,
    which writes them as And, Or and Not."""
    import numpy as np

    from hamopt.kinetic.energy import lambdify_numpy
    from hamopt.kinetic.validation import _np_function

    a = sp.Abs(p) ** sp.Rational(3, 2)
    step = sp.Heaviside(a - sp.Max(p**2 / 2, p**4 / 4, sp.Abs(p)))
    x = np.array([-3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0])
    expected = [float(step.subs(p, v).rewrite(sp.Piecewise)) for v in x]
    np.testing.assert_array_equal(lambdify_numpy(p, step)(x), expected)
    np.testing.assert_array_equal(_np_function(p, [], step)(x, []), expected)
    tau, _ = KineticEnergy(step + p**2, validate=False).numpy_functions()
    np.testing.assert_array_equal(tau(x), np.array(expected) + x**2)


def test_a_max_of_three_has_a_velocity_inside_its_subdifferential():
    """max(p², 2|p| − 1, |p|^{3/2}): the three meet at |p| = 1, where T'(1−) = 3/2 and
    T'(1+) = 2. SymPy's own derivative weighs the three branches by Heaviside steps that
    each read H(0) = 1/2 there (and any of 0, 1/2, 1 beside it in rounding); written as a
    chain of two-way choices, the velocity is a weighted mean of the branches' slopes."""
    import numpy as np

    from hamopt.kinetic.energy import lambdify_numpy
    from hamopt.kinetic.validation import in_pairs

    energy = KineticEnergy(sp.Max(p**2, 2 * sp.Abs(p) - 1, sp.Abs(p) ** sp.Rational(3, 2)))
    velocity = lambdify_numpy([p], energy.velocity([p])[0])
    near = 1 + np.array([-1e-15, 0.0, 1e-15, 2e-16, -1.1e-16])
    for x in near:
        assert 1.5 - 1e-12 <= velocity(x) <= 2 + 1e-12 and velocity(-x) == -velocity(x), x
    away = np.array([0.5, 0.9, 1.5, 3.0])
    np.testing.assert_allclose(velocity(away), [1.5 * 0.5**0.5, 1.5 * 0.9**0.5, 3.0, 6.0])
    assert velocity(0.0) == 0
    # the rewriting is the same function
    x = sp.Symbol("x", real=True)
    for t in (sp.Max(x, x**2, 1 - x, 2 * x - 3), sp.Min(x, -(x**2), 1 - x)):
        pairs = sp.lambdify(x, in_pairs(t))
        assert all(abs(pairs(z) - float(t.subs(x, z))) < 1e-12 for z in np.linspace(-3, 3, 61))


def test_a_closed_end_of_a_parameters_interval_is_sampled():
    """m ∈ [0, ∞) takes m = 0, where the velocity p/√(p² + m²) is 0/0 at p = 0 (with m only
    real, SymPy cannot fold it for every m): the end is sampled, the 0/0 found, and the step
    switches to 0 there. The generated step at m = 0 with a momentum 0 in one coordinate is
    finite; before, it wrote NaN into that coordinate."""
    import torch

    from hamopt.derive import derive
    from hamopt.parse import parse_energy

    m = in_range("m", 1.0, sp.Interval(0, sp.oo))
    assert 0.0 in m.samples() and 1e-3 in m.samples()
    assert 0.0 not in in_range("m", 1.0, sp.Interval.open(0, sp.oo)).samples()
    energy = KineticEnergy(parse_energy("sqrt(p**2 + m**2)", ["m"]), [m], name="massless_end")
    cls = derive(energy, "euler", "none", name="MasslessEnd").cls
    for path in ({"foreach": False}, {"foreach": True}, {"fused": True}):
        w = torch.nn.Parameter(torch.tensor([1.0, 0.0, -2.0]))
        optimizer = cls([w], lr=0.1, m=0.0, **path)
        w.grad = torch.tensor([0.5, 0.0, -1.0])
        optimizer.step()
        assert torch.equal(w.detach(), torch.tensor([0.9, 0.0, -1.9])), path


def test_a_power_with_a_parameter_takes_a_velocity_finite_at_zero():
    """|p|^(a+1)/(a+1): SymPy's derivative |p|^(a+1)·sign(p)/|p| is 0/0 at p = 0. Its folded
    form |p|^a·sign(p) was passed over because at the sample a = 1000 it overflows at
    p = 1000 (where the energy overflows too), and the derivative was kept; now a form finite
    wherever the energy is finite is taken where none is finite everywhere: the derived step
    turned a zero-momentum coordinate into NaN, while every check, which substitutes a number
    for a first (SymPy then cancels |p|), passed."""
    a = sp.Symbol("a")
    T = KineticEnergy(sp.Abs(p) ** (a + 1) / (a + 1), ["a"])
    assert T.velocity_expr == sp.Abs(p) ** T.symbols["a"] * sp.sign(p)
    # a form finite on the whole grid stays preferred: tanh(p), not sinh(p)/cosh(p) (inf/inf
    # at |p| > 710, where log cosh p overflows float64 too)
    assert KineticEnergy(sp.log(sp.cosh(p))).velocity_expr == sp.tanh(p)
    derived = derive(T, closure="adam", name="Pow")
    x = torch.ones(3, dtype=torch.float32, requires_grad=True)
    opt = derived.cls([x], lr=1e-3, a=2.0)
    x.grad = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float32)
    opt.step()
    assert torch.isfinite(x).all() and x[0] == 1.0


@pytest.mark.parametrize(
    ("expr", "near"),
    [
        (sp.Piecewise((p**2 / 2, sp.Abs(p) <= 1), (sp.Rational(1, 2), True)), "-5"),  # kink down
        (sp.Piecewise((p**2, sp.Abs(p) <= 1), (p**2 - 1, True)), "0.99"),  # T jumps down
        (sp.Piecewise((p**2, sp.Abs(p) <= 1), (p**2 + 1, True)), "1"),  # T jumps up
    ],
    ids=["kink-down", "jump-down", "jump-up"],
)
def test_a_piecewise_energy_convex_on_each_branch_but_not_where_they_meet_is_refused(expr, near):
    """SymPy's T'' of a Piecewise is taken branch by branch (here ≥ 0 on each), blind to the
    branches' meeting point: the grids' second differences see the kink or the jump there."""
    with pytest.raises(ValueError, match=rf"is not convex in p: .* near p = {near}"):
        KineticEnergy(expr)


def test_a_piecewise_energy_convex_where_its_branches_meet_is_taken():
    """Huber's energy as a Piecewise: branches that meet with equal value and slope."""
    huber = sp.Piecewise((p**2 / 2, sp.Abs(p) <= 1), (sp.Abs(p) - sp.Rational(1, 2), True))
    velocity = KineticEnergy(huber).velocity_expr
    assert [velocity.subs(p, x) for x in (sp.Rational(1, 2), 3, -3)] == [sp.Rational(1, 2), 1, -1]


def test_a_norm_coupled_energy_whose_limit_sympy_cannot_take_is_a_value_error():
    """The norm-coupled Huber energy: SymPy's limit of its velocity factor min(δ, √s)/√s at
    s = 0 recursed until Python's RecursionError (a 1,100-frame traceback from the command
    line); the limit is given up, and the energy refused with its 0/0 at p = 0 named."""
    from hamopt.kinetic import huber

    energy = huber()
    with pytest.raises(ValueError, match=r"is not finite for finite p: nan at p = 0"):
        KineticEnergy(energy.expr, energy.params, coupling="norm")


@pytest.mark.parametrize("text", ["abs(p)**(4/3)*3/4", "abs(p)*cbrt(abs(p))*3/4"])
def test_a_norm_coupled_power_between_1_and_2_is_taken_however_it_is_spelled(text):
    """(3/4)‖p‖^{4/3} (Hamiltonian descent's): the factor 2F'(s) = s^{-1/3} is infinite at rest,
    the velocity s^{-1/3} p of magnitude ‖p‖^{1/3} tends to 0. Spelled with ** it was refused
    ("s**(-1/3) is not finite ... at p = 0"), spelled with cbrt taken; both now take the factor
    with the value 0 at s = 0, and a step from rest is finite on every path."""
    from hamopt.parse import parse_energy
    from hamopt.symbols import s

    energy = KineticEnergy(parse_energy(text), coupling="norm")
    velocity = energy.velocity_expr
    assert velocity.subs(s, 0) == 0 and velocity.subs(s, 8) == sp.Rational(1, 2)  # 8^(-1/3)
    cls = derive(energy, "euler", closure="none", name="Power43").cls
    for path in (dict(foreach=False), dict(foreach=True), dict(fused=True)):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 0.5], dtype=torch.float32))
        opt = cls([w], **path)
        for g in ([0.0, 0.0, 0.0], [0.3, 0.1, 0.0]):
            w.grad = torch.tensor(g, dtype=torch.float32)
            opt.step()
        assert torch.isfinite(w).all() and w[0] < 1.0, (path, w)


def test_a_norm_coupled_factor_whose_velocity_does_not_vanish_at_rest_is_still_refused():
    """The massless norm ‖p‖ has the velocity p/‖p‖, of magnitude 1 at every p ≠ 0: no value
    at rest is its limit, so the energy is still refused."""
    with pytest.raises(ValueError, match=r"is not finite for finite p"):
        KineticEnergy(sp.Abs(p), coupling="norm")


def test_a_velocity_of_signs_and_even_powers_has_one_term_per_power():
    """SymPy writes |p|³ as p²|p|, and its derivative as p²·sign(p) + 2p|p|: the same function
    in two terms, which the generated code computed as two full-size products. The velocity
    writes sign(p)·p^2k as |p|·p^(2k-1), so that they combine: 3p|p|."""
    a, b = positive("a", 1.0), positive("b", 0.5)
    energy = KineticEnergy(a.symbol * p**2 / 2 + b.symbol * sp.Abs(p) ** 3, (a, b), name="cubic")
    assert energy.velocity_expr == a.symbol * p + 3 * b.symbol * p * sp.Abs(p)
    quintic = KineticEnergy(sp.Abs(p) ** 5 / 5, (), name="quintic")
    assert quintic.velocity_expr == p**3 * sp.Abs(p)
    _, velocity = energy.numpy_functions()
    grid = torch.linspace(-3, 3, 61, dtype=torch.float64).numpy()
    assert (abs(velocity(grid) - (grid + 1.5 * grid * abs(grid))) <= 1e-15).all()
