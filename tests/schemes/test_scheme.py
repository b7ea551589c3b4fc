"""Schemes as data: tables, consistency, merging, rotation, composition."""

import pytest
import sympy as sp
import torch

from hamopt.checks.problems import random_quadratic
from hamopt.kinetic import classical, relativistic
from hamopt.schemes import SCHEMES, Scheme, compose, euler, leapfrog, leapfrog_fsal, nag, yoshida
from hamopt.stepmap import StepMap
from hamopt.symbols import h, r
from hamopt.system import ConformalHamiltonian, TorchSystem
from hamopt.system.subflows import FLOWS

half = sp.Rational(1, 2)


def test_declared_orders():
    assert {name: s.order for name, s in SCHEMES.items()} == {
        "euler": 1,
        "euler_fkd": 1,
        "leapfrog": 2,
        "leapfrog_fsal": 2,
        "yoshida": 4,
        "nag": 1,
        "hamiltonian_descent": 1,
    }


def test_leapfrog_table_and_its_fsal_rotation():
    assert leapfrog.rows == (("D", half), ("F", half), ("K", 1), ("F", half), ("D", half))
    assert leapfrog_fsal.rows == (("K", 1), ("F", half), ("D", 1), ("F", half))
    assert leapfrog_fsal.gradients_per_step == 1


def test_yoshida_coefficients():
    w1 = 1 / (2 - sp.cbrt(2))
    w0 = -sp.cbrt(2) * w1
    kicks = [f for flow, f in yoshida.rows if flow == "K"]
    assert [sp.simplify(a - b) for a, b in zip(kicks, [w1, w0, w1], strict=True)] == [0, 0, 0]
    assert sp.simplify(2 * w1 + w0 - 1) == 0


def test_only_nag_is_not_conformal_symplectic():
    assert [n for n, s in SCHEMES.items() if not s.conformal_symplectic] == ["nag"]
    exact = [s for s in SCHEMES.values() if s.exact_friction]
    assert all(s.dissipation_fraction == 1 for s in exact)
    assert [n for n, s in SCHEMES.items() if not s.exact_friction] == ["hamiltonian_descent"]


def test_implicit_friction_factor():
    """Hamiltonian descent's K·I·F contracts Ω by 1/(1 + rh): e^{-rh} to first order only."""
    hd = SCHEMES["hamiltonian_descent"]
    assert hd.rows == (("K", 1), ("I", 1), ("F", 1))
    assert hd.conformal_factor(r, h) == 1 / (1 + r * h)
    gap = sp.series(hd.conformal_factor(r, h) - sp.exp(-r * h), h, 0, 3).removeO()
    assert sp.simplify(gap - r**2 * h**2 / 2) == 0
    system = ConformalHamiltonian(classical())
    q, p = system.q[0], system.p[0]
    assert FLOWS["I"](system, q, p, h, h) == (q, p / (1 + r * h))
    with pytest.raises(ValueError, match="fractions of D and I \\(the friction\\) add up to 2"):
        Scheme("both", [("D", 1), ("I", 1), ("K", 1), ("F", 1)], order=1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("D", 1), ("K", 1)], "fractions of F add up to 0, not 1"),
        ([("D", 1), ("K", half), ("F", 1)], "fractions of K add up to 1/2, not 1"),
        ([("D", 1), ("K", 1), ("X", 1), ("F", 1)], "unknown sub-flow 'X'"),
        ([("D", 1), ("K", 1), ("F", 0), ("F", 1)], "fraction of F must be a non-zero"),
        ([], "has no rows"),
    ],
)
def test_bad_tables_are_rejected(rows, message):
    with pytest.raises(ValueError, match=message):
        Scheme("bad", rows, order=1)


@pytest.mark.parametrize(
    ("fraction", "error", "message"),
    [
        (
            sp.Symbol("a", real=True),
            ValueError,
            r"row 'D' must be a number, got a \(free symbols \['a'\]\)",
        ),
        ("a + 1", ValueError, r"row 'D' must be a number, got 'a \+ 1'"),
        ("1/", ValueError, r"row 'D' is not a number: '1/'"),
        (None, TypeError, r"row 'D' must be a real number, .* got NoneType: None"),
        (True, TypeError, r"row 'D' must be a real number, .* got bool: True"),
        (1j, TypeError, r"row 'D' must be a real number, .* got complex"),
    ],
)
def test_a_fraction_that_is_not_a_real_number_is_refused_by_the_constructor(
    fraction, error, message
):
    """A symbol made a scheme that derive failed on deep in SymPy, and whose exported module
    verify could not load ("unknown name 'a'"); None and True crashed with an AttributeError."""
    with pytest.raises(error, match=message):
        Scheme("bad", [("D", fraction), ("K", 1), ("F", 1)], order=1)


@pytest.mark.parametrize("row", [("D", 1, 2), ("D",), "D1", 3])
def test_a_row_that_is_not_a_pair_is_refused_by_name(row):
    with pytest.raises(ValueError, match=r"row 0 must be a pair \(sub-flow, fraction of h\)"):
        Scheme("bad", [row, ("K", 1), ("F", 1)], order=1)


def test_fractions_as_text_and_numpy_numbers_are_taken():
    import numpy as np

    s = Scheme("ok", [("D", "1/2"), ("D", np.float64(0.5)), ("K", 1), ("F", 1)], np.int64(1))
    assert s.rows == (("D", half), ("D", half), ("K", 1), ("F", 1)) and type(s.order) is int


@pytest.mark.parametrize("order", [0, True, 1.0, "1"])
def test_bad_order_is_rejected(order):
    with pytest.raises(ValueError, match="order must be a positive integer"):
        Scheme("bad", euler.rows, order=order)


def test_user_table_merges_adjacent_rows():
    s = Scheme("mine", [("D", half), ("D", half), ("K", 1), ("F", 1)], order=1).merged()
    assert s.rows == (("D", 1), ("K", 1), ("F", 1))


def test_compose_scales_and_merges():
    s = compose("double", [(leapfrog, half), (leapfrog, half)], order=2)
    # D¼ F¼ K½ F¼ D½ F¼ K½ F¼ D¼
    assert [flow for flow, _ in s.rows] == list("DFKFDFKFD")
    assert s.rows[4] == ("D", half)


def test_fsal_is_the_leapfrog_seen_from_the_half_step():
    """fsal^N = X ∘ leapfrog^(N-1) ∘ Y with Y = D½F½ and X = K F½ D½ (first same as last)."""
    system = TorchSystem(relativistic(), random_quadratic(5), friction=0.3)
    q0, p0 = torch.randn(5), torch.randn(5)
    q, p = q0, p0
    for _ in range(7):
        q, p = leapfrog_fsal.step(system, q, p, 0.1)

    def rows(rs, q, p):
        for flow, frac in rs:
            q, p = FLOWS[flow](system, q, p, float(frac) * 0.1, 0.1)
        return q, p

    a, b = rows(leapfrog.rows[2:], q0, p0)
    for _ in range(6):
        a, b = leapfrog.step(system, a, b, 0.1)
    a, b = rows(leapfrog.rows[:2], a, b)
    torch.testing.assert_close((q, p), (a, b), rtol=1e-13, atol=1e-13)


def test_fsal_classical_is_momentum_with_lr_times_one_plus_beta_over_two():
    """Classical leapfrog FSAL: with the post-kick momentum P' = p - h∇U(q),
    q' = q + h (1 + e^{-rh}) / (2m) · P' and p' = e^{-rh} P' (the DLPF identity)."""
    m = sp.Symbol("m", positive=True)
    sm = StepMap(ConformalHamiltonian(classical()), leapfrog_fsal)
    q, p = sm.system.q[0], sm.system.p[0]
    kicked = p - h * sm.system.grad_U(sm.system.q)[0]
    assert sp.simplify(sm.p_out[0] - sp.exp(-r * h) * kicked) == 0
    expected = q + h * (1 + sp.exp(-r * h)) / (2 * m) * kicked
    assert sp.simplify(sm.q_out[0] - expected) == 0


def test_nag_position_update_uses_the_gradient_at_theta_k():
    """Classical NAG: q' = q + h/m (e^{-rh} p' - h ∇U(q)) with p' = e^{-rh}·0 + … (Nesterov)."""
    m = sp.Symbol("m", positive=True)
    sm = StepMap(ConformalHamiltonian(classical()), nag)
    q, p = sm.system.q[0], sm.system.p[0]
    grad = sm.system.grad_U(sm.system.q)[0]
    p_new = sp.exp(-r * h) * (p - h * grad)
    assert sp.simplify(sm.p_out[0] - p_new) == 0
    assert sp.simplify(sm.q_out[0] - (q - h**2 * grad / m + h * p_new / m)) == 0
