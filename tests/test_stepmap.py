"""The symbolic one-step map: formulas, rendering, and agreement with the numeric step."""

import pytest
import sympy as sp
import torch

from hamopt.kinetic import classical, relativistic, relativistic_norm
from hamopt.schemes import SCHEMES, euler, leapfrog
from hamopt.stepmap import StepMap
from hamopt.symbols import h, r
from hamopt.system import ConformalHamiltonian, GradU, TorchSystem


def test_relativistic_euler_matches_math():
    """p' = e^{-rh} p - h∇U(q), q' = q + h c p'/sqrt(p'^2 + m^2 c^2) (MATH.md §3)."""
    m, c = sp.symbols("m c", positive=True)
    sm = StepMap(ConformalHamiltonian(relativistic()), euler)
    q, p = sm.system.q[0], sm.system.p[0]
    p_new = sp.exp(-r * h) * p - h * GradU(q)
    assert sp.expand(sm.p_out[0] - p_new) == 0
    assert sp.simplify(sm.q_out[0] - (q + h * c * p_new / sp.sqrt(p_new**2 + m**2 * c**2))) == 0


def test_leapfrog_has_one_stage_per_row_and_named_intermediates():
    sm = StepMap(ConformalHamiltonian(classical()), leapfrog)
    assert [st.flow for st in sm.stages] == list("DFKFD")
    names = [str(st.targets[0]) for st in sm.stages]
    assert names == ["p^{(1)}", "q^{(1)}", "p^{(2)}", "q_{k+1}", "p_{k+1}"]


def test_latex_and_markdown():
    sm = StepMap(ConformalHamiltonian(relativistic_norm()), leapfrog)
    tex = sm.latex()
    assert tex.startswith("\\begin{aligned}") and tex.count("\\\\") == 4
    assert r"\lVert p^{(1)} \rVert" in tex
    md = sm.markdown()
    assert "**leapfrog** (order 2)" in md and "5. dissipation D" in md
    assert StepMap(ConformalHamiltonian(relativistic_norm()), leapfrog).latex() == tex


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("make", [classical, relativistic, relativistic_norm])
def test_symbolic_map_equals_numeric_step(name, make):
    """Two particles, U = q1² + q1 q2 + 2 q2² + q1⁴/4: lambdified map = TorchSystem step."""
    energy, scheme = make(), SCHEMES[name]
    q1, q2 = sp.symbols("q_1 q_2", real=True)
    U = q1**2 + q1 * q2 + 2 * q2**2 + q1**4 / 4
    system = ConformalHamiltonian(energy, U, friction=sp.Rational(3, 10), n=2)
    sm = StepMap(system, scheme)
    vals = {sym: v for sym, v in energy.values().items()}
    out = sm.state_out.xreplace({**vals, h: sp.Rational(1, 10)})
    fn = sp.lambdify(list(sm.state_in), out, "numpy", cse=True)  # Yoshida's tree: 3e5 ops
    x = [0.3, -0.8, 1.1, 0.4]
    symbolic = torch.tensor(fn(*x), dtype=torch.float64).flatten()

    def U_t(q):
        return q[0] ** 2 + q[0] * q[1] + 2 * q[1] ** 2 + q[0] ** 4 / 4

    num = TorchSystem(energy, U_t, 0.3)
    qn, pn = scheme.step(num, torch.tensor(x[:2]), torch.tensor(x[2:]), 0.1)
    torch.testing.assert_close(symbolic, torch.cat([qn, pn]), rtol=1e-12, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(TypeError, match="system must be a ConformalHamiltonian"):
        StepMap(object(), euler)
    with pytest.raises(TypeError, match="scheme must be a Scheme or its name, got int"):
        StepMap(ConformalHamiltonian(classical()), 1)
    with pytest.raises(ValueError, match="unknown scheme 'eular'"):
        StepMap(ConformalHamiltonian(classical()), "eular")
    assert StepMap(ConformalHamiltonian(classical()), "euler").scheme is euler
