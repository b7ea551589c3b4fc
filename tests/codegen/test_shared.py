"""Repeated tensor sub-expressions computed once (hamopt.codegen.shared): on the single-tensor
and foreach paths of a derived rule that repeats one, with the same numbers; the zoo's rules,
which repeat none worth a pass, as they were."""

import inspect
import types

import numpy as np
import pytest
import sympy as sp
import torch

from hamopt.codegen.module import generate_module
from hamopt.codegen.shared import computed_once, passes
from hamopt.derive import derive
from hamopt.kinetic import library, relativistic
from hamopt.rule.evaluate import run
from hamopt.rule.hyperparameter import real
from hamopt.rule.reductions import Norm2
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Assign, Buffer, UpdateRule, grad, param
from hamopt.zoo import ZOO

Y = sp.Symbol("y", real=True)
C = sp.Symbol("c", positive=True)


def _position_update(rule: UpdateRule) -> sp.Expr:
    return next(a.expr for a in rule.assignments if a.target == param)


@pytest.fixture(scope="module")
def relativistic_diagonal():
    """RAD's energy by leapfrog with a diagonal mass: its position update reads the momentum in
    units of the mass, u = v/(√y + ε), four times (the rule names it), and u² twice."""
    return derive(relativistic(), "leapfrog", "diagonal_mass", name="RelativisticDiagonal")


def test_passes_counts_calls_on_tensors_not_numbers():
    is_tensor = lambda e: Y in e.free_symbols or grad in e.free_symbols  # noqa: E731
    assert passes(Y, is_tensor) == 0
    assert passes(3 * C * Y, is_tensor) == 0  # the numbers join a call
    assert passes(sp.sqrt(Y), is_tensor) == 1
    assert passes(sp.sqrt(Y) + C, is_tensor) == 2
    assert passes(Y * grad, is_tensor) == 1
    assert passes(Y / (sp.sqrt(Y) + C), is_tensor) == 4  # sqrt, add, a power (÷), the product
    assert passes(C**2 + 1, is_tensor) == 0


def test_a_repeated_sub_expression_is_computed_once_on_both_paths(relativistic_diagonal):
    source = relativistic_diagonal.source
    single = source[source.index("def _single_tensor_") : source.index("def _foreach_")]
    foreach = source[source.index("def _foreach_") : source.index("def _fused_")]
    assert single.count(".sqrt()") == 1 and foreach.count("_foreach_sqrt(exp_avg_sqs)") == 1
    assert "u = before(exp_avg).div(before(exp_avg_sq.sqrt()).add_(eps))" in single
    assert "common = u.square()  # read more than once" in single
    assert "us = torch._foreach_div(exp_avgs, denoms)" in foreach
    assert "torch._foreach_addcdiv_(terms, us, denoms_2" in foreach
    shared = computed_once(relativistic_diagonal.spec.variants[0][1])
    expected = ["exp_avg", "exp_avg_sq", "u", "common", "param"]
    assert [a.target.name for a in shared.assignments] == expected


@pytest.mark.parametrize("foreach", [False, True])
def test_the_shared_form_equals_the_numpy_evaluator(relativistic_diagonal, foreach, descend):
    rule = relativistic_diagonal.spec.variants[0][1]
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(9, generator=gen, dtype=torch.float64)
    hyper = {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "m": 1.0, "c": 1.0}
    reference = run(rule, np.zeros(9), lambda th: (th - target.numpy()) ** 3, hyper, 15)
    options = dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, m=1.0, c=1.0, foreach=foreach)
    got = descend(
        lambda ps: relativistic_diagonal.cls(ps, nonfinite="ignore", **options), target, 15
    )
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-15)


def test_the_zoo_repeats_nothing_worth_a_pass_but_the_leapfrog_rgds_norm():
    """RAD's second-order rules read δ²·y twice: a number times a buffer, which a call takes
    as its ``alpha=`` at no cost, so it is left where it is. RGD's leapfrog step reads its
    momentum's norm in each of its two terms: a pass over the buffer each, so the norm is bound
    once (and its square, then read by both terms)."""
    for name, (_, make) in ZOO.items():
        for _, rule in make().variants:
            shared = computed_once(rule)
            if (name, rule.name) != ("RGD", "order2"):
                assert shared is rule, (name, rule.name)
                continue
            *_, norm, square, update = shared.assignments
            assert norm.target.name == "momentum_buffer_norm"
            assert norm.expr == Norm2(rule.buffers[0].symbol)
            assert square.expr == norm.target**2 and not update.expr.has(Norm2)


@pytest.mark.parametrize("text", ["log(cosh(p))", "p*atan(p) - log(1 + p**2)/2"])
def test_a_norm_read_by_every_switch_and_term_is_computed_once_on_every_path(text):
    """A norm-coupled energy's leapfrog step reads ‖v‖ six times (the switch at ‖v‖ = 0 and
    the step, in each of two terms): the single-tensor, foreach and compiled paths compute it
    once, under a name of its own, and the kernel once (its reduction pass). The switch, one
    condition per tensor, chooses between numbers that multiply v, not between two full-size
    tensors that ``torch.where`` would both compute."""
    from hamopt.kinetic import KineticEnergy
    from hamopt.parse import parse_energy

    energy = KineticEnergy(parse_energy(text), name="radial", coupling="norm")
    source = derive(energy, "leapfrog", "none", name="Radial").source
    single = source[source.index("def _single_tensor_plain") : source.index("def _foreach_plain")]
    foreach = source[source.index("def _foreach_plain") : source.index("def _fused_plain")]
    fused = source[source.index("def _fused_plain") : source.index("KERNEL_SOURCE")]
    assert single.count("torch.linalg.vector_norm(") == 1
    assert fused.count("torch.linalg.vector_norm(") == 1 and "exp_avg_norm = whole(" in fused
    assert "exp_avg_norm = whole(torch.linalg.vector_norm(" in single
    assert foreach.count("torch._foreach_norm(") == 1
    assert (
        "exp_avg_norms = [whole(x) for x in torch._foreach_norm(exp_avgs, 2, dtype=torch.float64)]"
        in foreach
    )
    # the switch at ‖v‖ = 0 chooses between numbers: the step reads the tensor v once
    for code in (single, foreach):
        (update,) = [line for line in code.splitlines() if "param.add_(" in line]
        assert update.count("exp_avg)") == 1 and "torch.where" in update, update


def test_a_square_of_a_list_expression_is_computed_once():
    """The foreach path squares a list by its name as x·x, and anything else by one pow: an
    expression printed twice would be computed twice (RGD's first-order foreach step computed
    its norm twice so)."""
    from hamopt.optim import rgd

    source = inspect.getsource(rgd._foreach_order1)
    assert source.count("torch._foreach_norm(") == 1
    assert (
        "torch._foreach_pow([whole(x) for x in torch._foreach_norm(momentum_buffers, 2, dtype=torch.float64)], 2)"
        in source
    )


def test_a_divisor_by_itself_is_not_bound_its_base_is():
    """``m/(√y + 1) + g/(√y + 1)``: SymPy's ``cse`` finds 1/(√y + 1); its base √y + 1 is
    bound (dividing by it is one call; a reciprocal first would be one more). Read once,
    nothing is bound."""
    m = sp.Symbol("m", real=True)
    rule = UpdateRule(
        "twice",
        (),
        (Buffer("m", m), Buffer("y", Y)),
        (
            Assign(param, param - m / (sp.sqrt(Y) + 1) - grad / (sp.sqrt(Y) + 1)),
            Assign(m, m / (sp.sqrt(Y) + 1)),
        ),
    )
    shared = computed_once(rule)
    (common, update, moment) = shared.assignments
    assert common.expr == sp.sqrt(Y) + 1 and common.target.name == "common"
    assert update.expr == param - m / common.target - grad / common.target
    assert moment == rule.assignments[1]  # read once


def test_a_bound_sub_expression_without_a_list_form_runs_per_tensor(descend):
    """log cosh m read twice: bound, and printed per tensor on the foreach path (``torch.where``
    has no list form), where the loop makes the intermediate's list from the lists the equation
    reads; the paths agree with the NumPy evaluator."""
    m, lr = sp.Symbol("m", real=True), sp.Symbol("lr", positive=True)
    rule = UpdateRule(
        "logcosh",
        (real("lr", 0.05, sp.Interval(0, sp.oo), symbol=lr),),
        (Buffer("m", m),),
        (
            Assign(m, sp.Rational(9, 10) * m + grad / 10),
            Assign(param, param - lr * (sp.log(sp.cosh(m)) + sp.log(sp.cosh(m)) ** 2) * sp.sign(m)),
        ),
    )
    assert [a.target.name for a in computed_once(rule).assignments] == ["m", "common", "param"]
    source = generate_module(OptimizerSpec("LogCoshTwice", rule.hyperparameters, (("True", rule),)))
    assert "    for m in ms:" in source  # the loop zips what the equation reads: not grads
    module = types.ModuleType("logcosh")
    exec(compile(source, "logcosh", "exec"), module.__dict__)
    target = torch.linspace(-3, 3, 7, dtype=torch.float64)
    reference = run(rule, np.zeros(7), lambda th: (th - target.numpy()) ** 3, {"lr": 0.05}, 12)
    for foreach in (False, True):
        got = descend(
            lambda ps, f=foreach: module.LogCoshTwice(ps, foreach=f, nonfinite="ignore"), target, 12
        )
        np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("energy", "closure"),
    [
        ("log_cosh", ["diagonal_mass"]),
        ("power", ["second_moment", "bias_correction"]),
        ("relativistic", ["diagonal_mass", "bias_correction"]),
        ("huber", ["adam"]),
    ],
)
def test_derived_rules_with_a_mass_equal_the_evaluator_on_both_paths(energy, closure):
    """Energies and closures of the library by leapfrog, whose position updates repeat the
    mass's denominator: both in-place paths, with their intermediates, equal the NumPy
    evaluator of the rule as derived."""
    derived = derive(getattr(library, energy)(), "leapfrog", closure, name="Massive")
    rule = derived.spec.variants[0][1]
    A = np.diag(np.linspace(0.5, 2.0, 7))
    b = 0.1 * np.random.default_rng(0).standard_normal(7)
    theta0 = torch.zeros(7, dtype=torch.float64)
    hyper = {"lr": 0.01} | {
        s.name: value
        for hp in rule.hyperparameters
        if hp.name != "lr" and not isinstance(hp.default, (bool, str))
        for s, value in zip(hp.symbols, np.atleast_1d(hp.default), strict=True)
    }
    reference = run(rule, theta0.numpy(), lambda th: A @ (th - b), hyper, 15)
    for foreach in (False, True):
        theta = torch.nn.Parameter(theta0.clone())
        optimizer = derived.cls([theta], lr=0.01, foreach=foreach, nonfinite="ignore")
        for _ in range(15):
            optimizer.zero_grad()
            residual = theta - torch.from_numpy(b)
            (0.5 * residual @ (torch.from_numpy(A) @ residual)).backward()
            optimizer.step()
        np.testing.assert_allclose(theta.detach().numpy(), reference, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize(
    ("name", "size"),
    [("radial", 1e20), ("RGD", 1e20), ("Apollo", 1e10)],
    ids=["log-cosh-norm", "RGD", "Apollo"],
)
@pytest.mark.parametrize("path", ["single", "foreach", "fused"])
def test_a_norm_of_float32_tensors_accumulates_in_float64(name, size, path):
    """‖v‖² of a float32 tensor overflows from ‖v‖ ≈ 1.8e19 on (‖d‖₄⁴ from ≈ 1.8e9 on): a norm
    computed in float32 would be inf, and tanh‖v‖/‖v‖, v/√(δ²‖v‖² + 1), d/‖d‖₄ would make a step
    of 0 (NaN where δ = 0 multiplies it). Every path accumulates in float64, as the kernel does:
    the float32 run is the float64 run rounded."""
    import hamopt.optim as zoo
    from hamopt.kinetic import KineticEnergy
    from hamopt.parse import parse_energy

    if name == "radial":
        energy = KineticEnergy(parse_energy("log(cosh(p))"), name="radial", coupling="norm")
        cls = derive(energy, "leapfrog", "none", name="Radial").cls
    else:
        cls = getattr(zoo, name)
    paths = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    options = {**paths[path], **({"delta": 1.0} if name == "RGD" else {})}
    gen = torch.Generator().manual_seed(3)
    start = torch.randn(3, 40, generator=gen, dtype=torch.float64)
    grads = [size * torch.randn(3, 40, generator=gen, dtype=torch.float64) for _ in range(3)]
    thetas = []
    for dtype in (torch.float64, torch.float32):
        theta = torch.nn.Parameter(start.to(dtype, copy=True))
        optimizer = cls([theta], lr=0.1, **options)
        for g in grads:
            theta.grad = g.to(dtype)
            optimizer.step()
        thetas.append(theta.detach())
    wide, narrow = thetas
    assert torch.isfinite(narrow).all() and not torch.equal(narrow, start.float())
    torch.testing.assert_close(narrow.double(), wide, rtol=2e-6, atol=1e-6 * wide.abs().max())
