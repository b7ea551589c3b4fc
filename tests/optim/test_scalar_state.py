"""Scalar optimizer state (NAdam's product of momentum factors) and RAdam's branch in code.

``mu_product`` is a 0-d tensor of torch's scalar dtype (float64 under a float64 default dtype,
else float32), updated with tensor arithmetic: under a float32 default its rounding is torch's
to the bit (a product taken in Python floats and rounded afterwards differs in about one step
out of four, which moves NAdam by ~4e-10 after 200 steps).
"""

import types

import numpy as np
import pytest
import sympy as sp
import torch

import hamopt.optim as zoo
from hamopt.codegen import generate_module
from hamopt.rule.evaluate import run
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Assign, param
from hamopt.zoo.nadam import nadam
from hamopt.zoo.radam import radam


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def default_dtype(request):
    old = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(old)


def _quartic(cls, w, steps, opt=None, **kw):
    opt = opt or cls([w], **kw)
    for _ in range(steps):
        opt.zero_grad()
        (w**4).sum().backward()
        opt.step()
    return opt


def test_mu_product_is_a_0d_tensor_of_torch_dtype(default_dtype):
    ours, theirs = (
        _quartic(cls, torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64)), 3)
        for cls in (zoo.NAdam, torch.optim.NAdam)
    )
    a = next(iter(ours.state.values()))["mu_product"]
    b = next(iter(theirs.state.values()))["mu_product"]
    assert a.shape == () and a.dtype == b.dtype == default_dtype
    assert a.item() == b.item()


def test_nadam_matches_torch_under_float32_default(train, relative_difference):
    torch.set_default_dtype(torch.float32)  # the autouse fixture restores it
    kw = dict(lr=2e-3, weight_decay=0.1)
    assert relative_difference(train(torch.optim.NAdam, **kw), train(zoo.NAdam, **kw)) <= 1e-12


def test_scalar_state_round_trip_keeps_its_dtype(default_dtype):
    """load_state_dict casts state to the parameter's dtype; the scalar state goes back."""

    def make():
        torch.manual_seed(0)
        return torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))

    w1 = make()
    _quartic(zoo.NAdam, w1, 10)
    w2 = make()
    saved = _quartic(zoo.NAdam, w2, 5).state_dict()
    w3 = make()
    w3.data.copy_(w2.data)
    opt = zoo.NAdam([w3])
    opt.load_state_dict(saved)
    assert opt.state[w3]["mu_product"].dtype == default_dtype
    _quartic(zoo.NAdam, w3, 5, opt=opt)
    assert torch.equal(w1, w3)


def test_numpy_evaluator_carries_the_scalar_state():
    torch.manual_seed(1)
    target = torch.randn(7)
    w = torch.nn.Parameter(torch.zeros(7))
    opt = zoo.NAdam([w], lr=0.05, weight_decay=0.01)
    for _ in range(50):
        opt.zero_grad()
        ((w - target) ** 4).sum().backward()
        opt.step()
    hyper = dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, momentum_decay=4e-3)
    ref = run(
        nadam().variants[0][1], np.zeros(7), lambda th: 4 * (th - target.numpy()) ** 3, hyper, 50
    )
    np.testing.assert_allclose(w.detach().numpy(), ref, rtol=1e-10, atol=1e-12)


def test_radam_branch_is_scalar_so_foreach_stays_vectorised():
    source = generate_module(radam())
    foreach = source.split("def _foreach_radam(")[1].split("\ndef ")[0]
    assert "scalar.where((rho_t > 5), lambda: " in source and "for param" not in foreach


def test_tensor_valued_piecewise_runs_per_tensor_in_foreach(train, relative_difference):
    """The same rectification written as a tensor-valued Piecewise: the foreach path falls back
    to a loop over tensors, and both paths still reproduce torch.optim.RAdam."""
    _, rule = radam().variants[0]
    sym = {s.name: s for a in rule.assignments for s in a.expr.free_symbols | {a.target}}
    m, y, eps, lr = sym["exp_avg"], sym["exp_avg_sq"], sym["eps"], sym["lr"]
    rho, rho_inf = sym["rho_t"], sym["rho_inf"]
    size, bc1 = sym["step_size"], sym["bias_correction1"]
    r = sp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    step = sp.Piecewise((-size * r * m / (sp.sqrt(y) + eps), rho > 5), (-lr * m / bc1, True))
    scalars = [
        a
        for a in rule.assignments[:-1]
        if a.target.name not in ("adaptive", "eps_t", "rectified_step_size")
    ]
    branchy = rule.replace(name="branchy", assignments=(*scalars, Assign(param, param + step)))
    spec = OptimizerSpec(
        "Branchy", radam().hyperparameters, (("True", branchy),), unsupported=radam().unsupported
    )
    source = generate_module(spec)
    assert "for bias_correction1, exp_avg, exp_avg_sq, param," in source  # no unused grad
    module = types.ModuleType("branchy")
    exec(compile(source, "branchy", "exec"), module.__dict__)
    kw = dict(lr=1e-2, weight_decay=0.1)
    expected = train(torch.optim.RAdam, **kw)
    for foreach in (False, True):
        got = train(module.Branchy, foreach=foreach, **kw)
        assert relative_difference(expected, got) <= 1e-10
