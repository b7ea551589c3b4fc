"""Conformal symplecticity: symbolic per sub-flow, numeric by autograd; NAG fails both."""

import math

import pytest
import sympy as sp
import torch

from hamopt.checks.problems import random_quadratic, rosenbrock
from hamopt.checks.symplectic import (
    numeric_symplecticity,
    symbolic_symplecticity,
    symplectic_residual,
)
from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    log_cosh,
    massless,
    power,
    relativistic,
    relativistic_norm,
)
from hamopt.parameters import positive
from hamopt.schemes import SCHEMES, leapfrog, nag
from hamopt.symbols import p
from hamopt.system import TorchSystem

M = sp.Symbol("m", positive=True)

CONFORMAL = [name for name, s in SCHEMES.items() if s.conformal_symplectic]
ENERGIES = [classical, relativistic, relativistic_norm, adam_energy, power, massless]


@pytest.mark.parametrize("scheme", CONFORMAL)
@pytest.mark.parametrize("make", ENERGIES, ids=lambda f: f.__name__)
def test_symbolic_one_particle(make, scheme):
    res = symbolic_symplecticity(make(), SCHEMES[scheme], n=1)
    assert res.passed, res
    h, r = sp.Symbol("h", positive=True), sp.Symbol("r", nonnegative=True)
    expected = sp.exp(-h * r) if SCHEMES[scheme].exact_friction else 1 / (1 + h * r)
    assert sp.simplify(sp.sympify(res.details["factor"]) - expected) == 0
    if not SCHEMES[scheme].exact_friction:  # honest: not the flow's factor
        assert "not the flow's exp(-h*r)" in res.measured_text


def test_the_checks_take_a_schemes_name():
    """``derive`` takes ``"leapfrog"``; so do the checks (an AttributeError from inside the
    check before), with the library's ValueError for an unknown name and a TypeError for
    anything else."""
    from hamopt.checks import order_of_accuracy, speed_limit
    from hamopt.checks.energy import conservative_energy_drift

    energy = relativistic()
    by_name = numeric_symplecticity(energy, "nag", random_quadratic(20))
    assert by_name.value == numeric_symplecticity(energy, nag, random_quadratic(20)).value
    assert symbolic_symplecticity(energy, "leapfrog").passed
    assert order_of_accuracy(energy, "leapfrog").value == order_of_accuracy(energy, leapfrog).value
    assert speed_limit(energy, "euler").passed
    assert conservative_energy_drift(energy, scheme="leapfrog", steps=200).passed
    with pytest.raises(ValueError, match="unknown scheme 'leapfrg'; choose from"):
        order_of_accuracy(energy, "leapfrg")
    with pytest.raises(TypeError, match="scheme must be a Scheme or its name, got int"):
        symbolic_symplecticity(energy, 2)


@pytest.mark.parametrize("scheme", CONFORMAL)
def test_symbolic_two_particles_norm_coupled(scheme):
    res = symbolic_symplecticity(relativistic_norm(), SCHEMES[scheme], n=2)
    assert res.passed and res.value is None, res
    assert all(row["proved"] for row in res.details["rows"])


@pytest.mark.parametrize("make", [classical, relativistic, relativistic_norm, log_cosh])
def test_symbolic_nag_is_refuted(make):
    """(log cosh at n = 2: SymPy's simplify of its G row raised NotImplementedError inside
    collect; the entry unsimplified is evaluated at a random point instead.)"""
    res = symbolic_symplecticity(make(), nag, n=1 if make in (classical, relativistic) else 2)
    assert res.verdict == "fail" and not res.passed
    assert res.value > 1e-3
    assert "at a random point (50 digits)" in res.measured_text
    assert [row["flow"] for row in res.details["rows"] if not row["proved"]] == ["G"]


@pytest.mark.parametrize("scheme", CONFORMAL)
@pytest.mark.parametrize("make", [classical, relativistic, relativistic_norm])
@pytest.mark.parametrize(
    ("potential", "h"),
    [(random_quadratic(20), 0.1), (rosenbrock(), 0.02)],
    ids=["quadratic", "rosenbrock"],
)
def test_numeric_twenty_particles(make, scheme, potential, h):
    res = numeric_symplecticity(make(), SCHEMES[scheme], potential, n=20, h=h)
    assert res.value <= 1e-10, res
    assert res.passed


@pytest.mark.parametrize("make", [classical, relativistic, relativistic_norm])
@pytest.mark.parametrize(
    ("potential", "h"),
    [(random_quadratic(20), 0.1), (rosenbrock(), 0.02)],
    ids=["quadratic", "rosenbrock"],
)
def test_numeric_nag_fails(make, potential, h):
    res = numeric_symplecticity(make(), nag, potential, n=20, h=h)
    assert res.verdict == "fail" and not res.passed
    assert res.details["residual"] > 1e-3  # measured: 0.009 – 2.6 depending on energy, potential
    assert res.value > 1e3 * 1e-10  # relative to |J|² (~130² on Rosenbrock): still far out


def test_log_det_is_minus_n_r_h():
    """Phase-space volume: log det J = -n r h for a nonlinear energy on a nonlinear U."""
    system = TorchSystem(relativistic(), rosenbrock(), friction=0.7)
    x = torch.rand(20) + 0.5

    def flat(z):
        return torch.cat(leapfrog.step(system, z[:10], z[10:], 0.05))

    jac = torch.autograd.functional.jacobian(flat, x)
    assert math.isclose(torch.linalg.slogdet(jac).logabsdet.item(), -10 * 0.7 * 0.05, abs_tol=1e-12)


def test_linear_problem_eigenvalues_pair_up():
    """Classical leapfrog on a quadratic: eigenvalues pair with λ_i λ_j = e^{-rh}."""
    U = random_quadratic(6)
    system = TorchSystem(classical(), U, friction=0.4)

    def flat(z):
        return torch.cat(leapfrog.step(system, z[:6], z[6:], 0.2))

    jac = torch.autograd.functional.jacobian(flat, torch.zeros(12))
    eig = torch.linalg.eigvals(jac)
    modulus = eig.abs() ** 2
    torch.testing.assert_close(modulus, torch.full_like(modulus, math.exp(-0.4 * 0.2)))


def test_numeric_residual_is_relative_to_the_jacobian():
    """exp(p²/2) has |J| ~ 1e49 at the default state: the absolute residual ~1e35 is rounding
    of J^T Ω J, and the figure, relative to max(1, |J|²), is within the tolerance. Relative to
    |J|² the step's coupling |∂q'/∂p|·|∂p'/∂q| (~1e48) is 1e-50, so a defect of its order
    would not show either: undetermined, not a pass. NAG on it still fails."""
    energy = KineticEnergy(sp.exp(p**2 / 2), name="exp")
    res = numeric_symplecticity(energy, leapfrog, random_quadratic(20))
    assert res.details["residual"] > 1.0 and res.details["jacobian_max"] > 1e20
    assert res.value <= 1e-10 and res.verdict == "undetermined", res
    assert "too weakly to tell" in res.reason
    assert res.value == res.details["residual"] / res.details["jacobian_max"] ** 2
    assert numeric_symplecticity(energy, nag, random_quadratic(20)).verdict == "fail"


def test_residual_detects_explicit_euler():
    """The residual is not blind: explicit Euler on a quadratic is far from symplectic."""
    system = TorchSystem(classical(), random_quadratic(4), friction=0.0)

    def explicit(q, p):
        return q + 0.1 * system.velocity(p), p - 0.1 * system.grad_U(q)

    assert symplectic_residual(explicit, torch.randn(4), torch.randn(4), 1.0) > 1e-3


@pytest.mark.parametrize(
    "expr",
    [
        sp.Max(sp.Abs(p) - sp.Rational(1, 2), 0) + p**2 / 4,
        (sp.Abs(p) - sp.Min(1, sp.Abs(p)) / 2) * sp.Min(1, sp.Abs(p)),  # identify's clip(p)
    ],
)
def test_an_energy_with_max_or_min_runs_the_numeric_checks(expr):
    """Its velocity holds the Heaviside step H (the derivative of Max and Min), which the torch
    printer writes as an elementwise step autograd can differentiate (derivative 0): the
    numeric symplecticity check, which differentiates the step map, runs and passes."""
    energy = KineticEnergy(expr, name="kinked")
    result = numeric_symplecticity(energy, leapfrog, random_quadratic(20))
    assert result.passed, result.value
    _, velocity = energy.torch_functions()
    x = torch.tensor([-2.0, -0.75, 0.0, 0.25, 2.0], dtype=torch.float32, requires_grad=True)
    v = velocity(x)
    assert v.dtype == torch.float32
    expected = [float(sp.diff(expr, p).subs(p, float(a)).evalf()) for a in x.tolist()]
    assert v.tolist() == pytest.approx(expected, abs=1e-6)


def test_a_conformal_factor_within_the_tolerance_leaves_the_numeric_check_undetermined():
    """At r = 1000, h = 0.1 the factor e^{-rh} = 3.7e-44: NAG's residual (6 % of it) passed
    the absolute tolerance, as any contraction would. Now neither passes nor fails."""
    for scheme in (nag, leapfrog):
        res = numeric_symplecticity(classical(), scheme, random_quadratic(20), friction=1e3)
        assert res.verdict == "undetermined" and "conformal factor" in res.reason
    assert numeric_symplecticity(classical(), nag, random_quadratic(20)).verdict == "fail"


def test_the_symbolic_check_looks_where_a_small_parameter_bends_the_energy():
    """Huber at δ = 0.01 bends only where |p| < δ; random points have |p| of order 1, so NAG's
    residual was zero at all of them and the check passed a false claim. Points at the scale
    of δ (momenta and h times it) refute it; the leapfrog still passes."""
    from hamopt.kinetic import huber

    assert symbolic_symplecticity(huber(delta=0.01), nag).verdict == "fail"
    assert symbolic_symplecticity(huber(delta=0.01), leapfrog).passed


@pytest.mark.parametrize(
    ("energy", "potential", "h"),
    [
        (relativistic, random_quadratic(20), 1e-6),
        (relativistic, random_quadratic(20), 1e-8),
        (lambda: KineticEnergy(p**2 / (2 * M), [positive("m", 1e9)]), random_quadratic(20), 0.1),
        (classical, lambda q: 1e10 * random_quadratic(20)(q), 0.1),
    ],
    ids=["h=1e-6", "h=1e-8", "mass=1e9", "1e10*U"],
)
def test_a_step_too_weakly_coupled_to_tell_is_undetermined_not_a_pass(energy, potential, h):
    """NAG's defect is of the order of |∂q'/∂p|·|∂p'/∂q|: 6e-12 at h = 1e-6, 6e-11 with a
    mass of 1e9, both inside the tolerance 1e-10. Where the step couples q and p that weakly
    the check cannot tell NAG from a conformal symplectic step: NAG does not pass, and the
    leapfrog does not fail (under 1e10·U its own coupling is strong enough to pass)."""
    res = numeric_symplecticity(energy(), nag, potential, h=h)
    assert res.verdict == "undetermined", res.row()
    assert "too weakly to tell" in res.reason
    assert res.details["resolution"] <= 1e3 * 1e-10
    assert numeric_symplecticity(energy(), leapfrog, potential, h=h).verdict != "fail"


@pytest.mark.parametrize("h", [1e-2, 1e-3])
def test_a_small_step_that_still_resolves_a_defect_decides(h):
    """Down to h = 1e-3 the default problem resolves NAG's defect: it fails, the leapfrog
    passes."""
    assert numeric_symplecticity(relativistic(), nag, random_quadratic(20), h=h).verdict == "fail"
    assert numeric_symplecticity(relativistic(), leapfrog, random_quadratic(20), h=h).passed


def test_a_potential_that_does_not_depend_on_q_has_a_zero_gradient():
    """A constant potential: autograd refused it ("element 0 of tensors does not require
    grad"); its gradient is 0, the step only drifts, and the check cannot tell NAG from a
    symplectic scheme: undetermined, for both."""
    for scheme in (leapfrog, nag):
        res = numeric_symplecticity(
            relativistic(), scheme, lambda q: torch.tensor(1.0, dtype=torch.float64)
        )
        assert res.verdict == "undetermined" and res.details["resolution"] == 0, res.row()
