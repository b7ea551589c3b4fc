"""Lion-K: the paper's Lyapunov function (``papers/lionk/lionk.py``) and the smoke run of
``papers/lionk/reproduce.py`` (the scaffold: ``conftest.py``).

The Lyapunov checks can fail: without its cross term, or with εγ > 1, the same H increases
somewhere on the same grid. The smoke run: every claim holds at any run length — the derived
Lion is bit-equal to lion_pytorch, the excess contracts at every step, both runs reach the
constrained solution within the smoke run's 4,000 steps, dH/dt = −Δ ≤ 0 along the flow, and
the discrete report finds no increase of H for the smooth energies.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "papers" / "lionk"))

import lionk  # noqa: E402

PAPER = "lionk"
#: Lion's η = 0.01, betas (0.9, 0.99), λ = 1 read as the ODE (lionk.ode_parameters).
LION = dict(alpha=1.0, gamma=1.0, eps=0.1, lam=1.0)
GRID = dict(x_range=(-0.999, 0.999), m_range=(-4.0, 4.0), per_axis=11)


def test_dHdt_is_minus_delta_for_any_f_and_K():
    """SymPy: dH/dt + Δ ≡ 0 with f, K, K* undefined functions; not without the cross term."""
    assert lionk.identity() is True
    assert lionk.identity(cross=False) is False


def test_relativistic_dHdt_is_nonpositive_on_samples():
    flow = lionk.lyapunov("relativistic")
    rate = lionk.largest_rate(flow, LION, **GRID)
    assert rate.points == 11**4
    assert rate.relative <= 1e-12
    residual = lionk.largest_rate(flow, LION, **GRID, expr=flow.dHdt + flow.delta)
    assert residual.magnitude <= 1e-12


def test_wrong_lyapunov_functions_increase_somewhere():
    """The negative controls: H without (1 − εγ)/(1 + ελ)·(K*(λx) + K(m) − λmᵀx), and the right
    H with εγ = 2 > 1, both have dH/dt > 0 on the same grid."""
    bad = lionk.lyapunov("relativistic", cross=False)
    assert lionk.largest_rate(bad, LION, **GRID).largest > 1e-2
    flow = lionk.lyapunov("relativistic")
    assert lionk.largest_rate(flow, dict(LION, eps=2.0), **GRID).largest > 1e-2


@pytest.mark.parametrize("name", ["classical", "relativistic", "log_cosh", "power"])
def test_sympy_decides_the_smooth_energies(name):
    decision = lionk.decide(name)
    assert decision.decided, decision


def test_massless_is_left_to_the_sampling():
    decision = lionk.decide("massless")
    assert decision.identity and decision.convex is None and not decision.decided


def test_conjugate_of_log_cosh_is_the_real_root():
    """K*(y) = y atanh y + ½ log(1 − y²) (SymPy's solve also returns atanh z + iπ)."""
    kstar = lionk.conjugate("log_cosh").numpy()
    y = np.array([-0.9, -0.5, 0.0, 0.3, 0.75])
    np.testing.assert_allclose(kstar(y), y * np.arctanh(y) + 0.5 * np.log1p(-(y**2)), atol=1e-14)


def test_discrete_lionk_is_the_euler_step_of_the_ode():
    """With lionk.ode_parameters and m = −exp_avg, each step of the generated Lion-K is
    x ← x + η(K'(m̃) − λx), m ← m + η(−α∇f − γm), m̃ = m − ε(α∇f + γm)."""
    a = np.array([[2.0, 0.5], [0.5, 1.0]])

    def grad(x):
        return a @ (x - np.array([3.0, -2.0]))

    eta, betas, lam = 0.05, (0.8, 0.95), 0.5
    xs, ms = lionk.iterates(
        "relativistic", grad, np.array([0.3, -0.1]), np.full(20, eta), lam, betas
    )
    v = lionk.ode_parameters(eta, betas, lam)
    x, m = xs[0], ms[0]
    for k in range(20):
        g = grad(x)
        mt = m - v["eps"] * (v["alpha"] * g + v["gamma"] * m)
        x, m = (
            x + eta * (mt / np.sqrt(mt**2 + 1) - v["lam"] * x),
            m + eta * (-v["alpha"] * g - v["gamma"] * m),
        )
        np.testing.assert_allclose(xs[k + 1], x, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ms[k + 1], m, rtol=1e-13, atol=1e-15)


@pytest.mark.skipif(
    importlib.util.find_spec("lion_pytorch") is None,
    reason="lion-pytorch is a test-only reference",
)
def test_smoke_run(smoke):
    smoke.check(("constraint.png", "lyapunov.png"), 6)
    assert [cells[2] for cells in smoke.claims().values()] == ["yes"] * 6
    assert (
        "K*(y) = 0 there"
        in smoke.row(
            "Lion-K with weight decay λ solves min f(x) + K*(λx)/λ: iterates enter dom K*(λ·) and converge to the solution; K = ‖·‖₁"
        )[0]
    )
    decrease = smoke.row("Lion-K ODE: dH/dt = −Δ ≤ 0")[1]
    assert "K = √(p² + 1): SymPy" in decrease
    assert "K = \\|p\\| (Lion): sampling" in decrease
    assert "no increase above rounding" in smoke.row("(report) Discrete Lion-K")[1]
