"""The conformal Hamiltonian system: vector field, sub-flows, argument checks."""

import pytest
import sympy as sp
import torch

from hamopt.checks.problems import random_quadratic
from hamopt.kinetic import classical, relativistic
from hamopt.symbols import h, p, q, r
from hamopt.system import ConformalHamiltonian, GradU, TorchSystem, dissipate, drift, kick


def test_vector_field():
    qdot, pdot = ConformalHamiltonian(classical()).vector_field()
    m = sp.Symbol("m", positive=True)
    assert qdot[0] == p / m
    assert pdot[0] == -GradU(q) - r * p


def test_subflows_are_exact_flows():
    """Each sub-flow solves its own vector field: d/dt of the flow equals the field at the flow."""
    t = sp.Symbol("t", nonnegative=True)
    system = ConformalHamiltonian(relativistic())
    Q, P = system.q, system.p
    _, pd = dissipate(system, Q, P, t, h)
    assert sp.simplify(sp.diff(pd[0], t) + r * pd[0]) == 0
    _, pk = kick(system, Q, P, t, h)
    assert sp.diff(pk[0], t) == -GradU(q)
    qf, _ = drift(system, Q, P, t, h)
    assert sp.simplify(sp.diff(qf[0], t) - system.velocity(P)[0]) == 0


def test_argument_checks():
    with pytest.raises(TypeError, match="kinetic must be a KineticEnergy"):
        ConformalHamiltonian("classical")
    for bad in (-1, float("nan"), sp.oo):
        with pytest.raises(ValueError, match="friction r must be a finite number >= 0"):
            ConformalHamiltonian(classical(), friction=bad)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ConformalHamiltonian(classical(), n=0)
    with pytest.raises(ValueError, match=r"potential depends on \['p'\]"):
        ConformalHamiltonian(classical(), q**2 + p, n=None)
    with pytest.raises(ValueError, match="needs explicit particles"):
        ConformalHamiltonian(classical()).H  # noqa: B018
    for bad in (-0.1, float("nan"), float("inf")):  # nan: the checks hung, or passed on NaN
        with pytest.raises(ValueError, match="friction r must be a finite real number >= 0"):
            TorchSystem(classical(), random_quadratic(2), friction=bad)
    with pytest.raises(TypeError, match="potential must be a callable"):
        TorchSystem(classical(), 3.0, friction=0.1)


def test_torch_system_gradient_and_energy():
    U = random_quadratic(4)
    system = TorchSystem(classical(m=2.0), U, 0.1)
    x = torch.randn(4)
    torch.testing.assert_close(system.grad_U(x), U.matrix @ x)
    y = torch.randn(4)
    torch.testing.assert_close(system.energy(x, y), (y @ y) / 4 + U(x))
