"""The torch printers on energies beyond the zoo's: hyperbolic and inverse trigonometric
velocities, and velocities with the sign and absolute value of the momentum (|p|^k)."""

import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.derive import derive
from hamopt.kinetic import KineticEnergy
from hamopt.parameters import positive
from hamopt.rule.evaluate import run
from hamopt.symbols import p

K = positive("k", 1.5)
ENERGIES = {
    # velocity tanh(k p): the README's "Adding a kinetic energy" example
    "log_cosh": (sp.log(sp.cosh(K.symbol * p)) / K.symbol, (K,), "torch.tanh"),
    # velocity atan(p)
    "arctan": (p * sp.atan(p) - sp.log(1 + p**2) / 2, (), "torch.atan"),
    # velocity with asinh, which has no torch._foreach_* form: per tensor on the foreach path
    "x_asinh": (p**2 * sp.asinh(p**2), (), "torch.asinh"),
    # velocity p|p| (SymPy's derivative p²·sign(p)/3 + 2p|p|/3, its terms combined): finite at
    # p = 0, and the leapfrog's two half-kicks are one product added, as torch would write it
    "abs_cubed": (sp.Abs(p) ** 3 / 3, (), ".abs(), value=-0.5*lr*(beta1**2 + 1))"),
}


@pytest.mark.parametrize("closure", ["none", "adam"])
@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_generated_paths_equal_numpy_reference(name, closure):
    expr, params, printed = ENERGIES[name]
    derived = derive(KineticEnergy(expr, params, name=name), "leapfrog", closure, name="Mine")
    assert printed in derived.source
    assert "math.tanh(exp_avg" not in derived.source  # no math function of a tensor
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(6, generator=gen, dtype=torch.float64)
    hyper = {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "k": 1.5}
    reference = run(
        derived.spec.variants[0][1], np.zeros(6), lambda th: th - target.numpy(), hyper, 15
    )
    for foreach in (False, True):
        theta = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
        optimizer = derived.cls([theta], lr=0.05, foreach=foreach)
        for _ in range(15):
            optimizer.zero_grad()
            (0.5 * ((theta - target) ** 2).sum()).backward()
            optimizer.step()
        np.testing.assert_allclose(theta.detach().numpy(), reference, rtol=1e-10, atol=1e-14)


def test_piecewise_condition_on_a_scalar_stays_python():
    from hamopt.codegen.printer import TensorPrinter

    x, lr = sp.Symbol("x"), sp.Symbol("lr")
    printer = TensorPrinter({}, lambda e: x in e.free_symbols)
    assert printer.doprint(sp.Piecewise((x, lr > 1), (2 * x, True))) == (
        "((x) if (lr > 1) else (2*x))"
    )
    assert printer.doprint(sp.Piecewise((0, sp.Eq(x, 0)), (x**3, True))) == (
        "torch.where((x == 0), 0, torch.pow(x, 3))"
    )
