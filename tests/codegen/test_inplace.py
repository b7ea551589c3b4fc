"""The in-place rewriting of the tensor equations (hamopt.codegen.inplace): torch.optim's form
for the zoo, the same values as the NumPy evaluator for any expression, no more new tensors
than torch, the user's gradients untouched, autograd through the one-tensor path."""

import inspect
import re
import types

import numpy as np
import pytest
import sympy as sp
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import hamopt.optim
import hamopt.optim.adam
from hamopt.codegen.inplace import Call, Leaf, _like_terms_combined, chain, plan_rule
from hamopt.codegen.module import generate_module
from hamopt.derive import derive
from hamopt.kinetic import KineticEnergy, relativistic
from hamopt.parameters import positive
from hamopt.rule.evaluate import run
from hamopt.rule.hyperparameter import real
from hamopt.rule.reductions import Norm2
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Assign, Buffer, UpdateRule, grad, param, step
from hamopt.symbols import p


def test_foreach_adam_is_torchs():
    """The moments in place; one new list, the denominator's, as torch.optim.Adam's foreach."""
    body = inspect.getsource(hamopt.optim.adam._foreach_adam)
    assert "torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)" in body
    assert "torch._foreach_mul_(exp_avg_sqs, beta2)" in body
    assert "torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)" in body
    assert "torch._foreach_addcdiv_(params, exp_avgs, denoms, " in body
    new = [c for c in re.findall(r"torch\._foreach_(\w+)\(", body) if not c.endswith("_")]
    assert new == ["neg", "add", "sqrt"]  # maximize; g + λθ, a new list as torch's; denominator
    assert "foreach_copy" not in body
    # I8: sqrt(b2)·m/(sqrt(y) + eps·sqrt(b2)), two passes over the denominator where torch's
    # sqrt(y)/sqrt(b2) + eps takes three (sqrt, div_, add_)
    denominator = [c for c in re.findall(r"torch\._foreach_(\w+)\(denoms", body)]
    assert denominator == ["add_"], body


def test_single_tensor_adam_is_torchs():
    body = inspect.getsource(hamopt.optim.adam._single_tensor_adam)
    assert "exp_avg.lerp_(grad, 1 - beta1)" in body
    assert "exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)" in body
    denom = "before(exp_avg_sq.sqrt()).add_(math.sqrt(bias_correction2)*eps)"  # a copy if autograd
    # exp_avg a copy under autograd too (the next step's lerp_ writes it): torch's exp_avg.clone()
    value = "-math.sqrt(bias_correction2)*lr/bias_correction1"
    assert f"param.addcdiv_(before(exp_avg), {denom}, value={value})" in body
    assert ".copy_(" not in body


class _NewTensors(TorchDispatchMode):
    """Bytes of the tensors that out-of-place calls make (not views, not 0-d)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.data_ptr() for t in _tensors((args, kwargs))}
        if not func._schema.is_mutable:
            self.bytes += sum(
                t.nbytes for t in _tensors(out) if t.dim() and t.data_ptr() not in inputs
            )
        return out


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [t for x in tree for t in _tensors(x)]
    if isinstance(tree, dict):
        return [t for x in tree.values() for t in _tensors(x)]
    return []


def _new_bytes(make, foreach):
    params = [torch.nn.Parameter(torch.randn(n)) for n in (300, 200, 100)]
    for q in params:
        q.grad = torch.randn_like(q)
    optimizer = make(params, foreach)
    optimizer.step()  # the state exists
    with _NewTensors() as mode:
        optimizer.step()
    return mode.bytes


CASES = {
    "Adam": (
        lambda ps, f: hamopt.optim.Adam(ps, foreach=f, nonfinite="ignore"),
        lambda ps, f: torch.optim.Adam(ps, foreach=f),
    ),
    "SGD(momentum)": (
        lambda ps, f: hamopt.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=f, nonfinite="ignore"),
        lambda ps, f: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=f),
    ),
    "RAdam": (
        lambda ps, f: hamopt.optim.RAdam(ps, foreach=f, nonfinite="ignore"),
        lambda ps, f: torch.optim.RAdam(ps, foreach=f),
    ),
}


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single-tensor"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_no_more_new_tensors_than_torch(name, foreach):
    ours, theirs = CASES[name]
    assert _new_bytes(ours, foreach) <= _new_bytes(theirs, foreach)


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single-tensor"])
@pytest.mark.parametrize("name", hamopt.optim.__all__)
def test_the_gradients_stay_as_they_are(name, foreach):
    cls = getattr(hamopt.optim, name)
    kwargs = {"lr": 1e-2, "maximize": True, "foreach": foreach}
    kwargs |= {"weight_decay": 0.1} if "weight_decay" in inspect.signature(cls).parameters else {}
    params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    grads = [torch.randn_like(q) for q in params]
    optimizer = cls(params, **kwargs)
    for _ in range(3):
        for q, g in zip(params, grads, strict=True):
            q.grad = g
        optimizer.step()
        for q, g in zip(params, grads, strict=True):
            assert q.grad is g
    copies = [torch.randn_like(q) for q in params]
    for q, g in zip(params, copies, strict=True):
        q.grad = g.clone()
    optimizer.step()
    for q, g in zip(params, copies, strict=True):
        torch.testing.assert_close(q.grad, g, rtol=0, atol=0)


# -- an arbitrary rule ---------------------------------------------------------------------------
LR, BETA, EPS = (sp.Symbol(n, real=True) for n in ("lr", "beta", "eps"))
M, Y, B, U, W = (sp.Symbol(n, real=True) for n in ("m", "y", "b", "u", "w"))
A, Q = sp.Symbol("prior", real=True), sp.Symbol("q", real=True)


def _odd_rule() -> UpdateRule:
    """One of each form: a lerp, an alias of a buffer that changes later, ``mul_`` with
    ``addcmul_`` and ``add_``, an intermediate overwritten where it is read last (after a call
    whose result autograd keeps), a buffer not read by its own equation, a maximum, a reduction,
    a first-gradient buffer, a buffer and the parameter read twice by their updates (the
    latter through a Piecewise: per tensor on the foreach path)."""
    assignments = (
        Assign(M, BETA * M + (1 - BETA) * grad),
        Assign(A, M),
        Assign(Y, BETA * Y + (1 - BETA) * grad**2 + EPS * sp.Abs(M)),
        Assign(Q, sp.exp(-Y) + sp.Abs(grad) / (1 + Y)),
        Assign(M, M * sp.tanh(Q) + A / 2),
        Assign(U, sp.Max(grad, M, -EPS) - Norm2(M) / (1 + step)),
        Assign(B, BETA * B + grad),
        Assign(W, W * grad / (1 + W**2) + grad),
        Assign(
            param,
            param
            - LR * (M * U / (sp.sqrt(Y) + EPS) + B * sp.Piecewise((1, grad > 0), (0.5, True)))
            + LR * Y * param / (1 + Y)
            - LR * W / 10,
        ),
    )
    return UpdateRule(
        "odd",
        (
            real("lr", 0.05, sp.Interval(0, sp.oo), symbol=LR),
            real("beta", 0.9, sp.Interval(0, 1), symbol=BETA),
            real("eps", 1e-3, sp.Interval(0, sp.oo), symbol=EPS),
        ),
        (*(Buffer(s.name, s) for s in (M, Y, U, W)), Buffer("b", B, init="grad")),
        assignments,
    )


def _odd_class():
    rule = _odd_rule()
    source = generate_module(OptimizerSpec("Odd", rule.hyperparameters, (("True", rule),)))
    module = types.ModuleType("odd")
    exec(compile(source, "odd", "exec"), module.__dict__)
    return rule, source, module.Odd


def test_every_form_of_the_arbitrary_rule_is_planned():
    rule = _odd_rule()
    plans = plan_rule(rule, frozenset({step}))
    modes = [plans[k].mode for k in sorted(plans)]
    # m, prior (a copy of m), y, q, m again, u, b, then w and param, each read twice
    assert modes == [
        "update",
        "bind",
        "update",
        "bind",
        "update",
        "update",
        "update",
        "copy",
        "copy",
    ]
    assert plans[1].node.op == "clone"  # prior ← m, and m changes later
    assert chain(plans[5].node)[1][0].op == "copy"  # u.copy_(grad) first
    mul, add = chain(plans[4].node)[1]  # m.mul_(q.tanh_()).add_(prior, alpha=0.5)
    assert mul.tensors == (Call("tanh", Leaf(Q, owned=True)),)  # q is read for the last time
    assert add.tensors == (Leaf(A, owned=True),) and add.scalar == sp.Rational(1, 2)
    source = _odd_class()[1]
    assert "q.tanh_()" in source and "torch._foreach_tanh_(qs)" in source
    assert "foreach_copy(ws, results)" in source and "w.copy_(" in source


@pytest.mark.parametrize("maximize", [False, True])
def test_the_arbitrary_rule_equals_the_numpy_evaluator(maximize, descend):
    rule, _, cls = _odd_class()
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(7, generator=gen, dtype=torch.float64)
    sign = -1 if maximize else 1
    hyper = {"lr": 0.05, "beta": 0.9, "eps": 1e-3}
    reference = run(rule, np.zeros(7), lambda th: (th - target.numpy()) ** 3, hyper, 12)
    for foreach in (False, True):
        options = dict(foreach=foreach, maximize=maximize, nonfinite="ignore")
        got = descend(lambda ps, o=options: cls(ps, **o), target, 12, sign)
        np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-14)


def _scaled_rule(c: sp.Symbol) -> UpdateRule:
    """Adam's moments, and a divisor ``c·sqrt(y) + eps`` with a hyperparameter ``c``."""
    assignments = (
        Assign(M, BETA * M + (1 - BETA) * grad),
        Assign(Y, BETA * Y + (1 - BETA) * grad**2),
        Assign(param, param - LR * M / (c * sp.sqrt(Y) + EPS)),
    )
    return UpdateRule(
        "scaled",
        (
            real("lr", 0.05, sp.Interval(0, sp.oo), symbol=LR),
            real("beta", 0.9, sp.Interval(0, 1), symbol=BETA),
            real("eps", 1e-3, sp.Interval(0, sp.oo), symbol=EPS),
            real("c", 3.0, sp.Interval.open(0, sp.oo), symbol=c),
        ),
        (Buffer("m", M), Buffer("y", Y)),
        assignments,
    )


def test_a_scaled_divisor_is_one_pass_shorter_and_equal(descend):
    """I8: ``m/(c·sqrt(y) + eps)`` with ``c`` known to be nonzero is written
    ``(1/c)·m/(sqrt(y) + eps/c)``: no ``mul_`` over the divisor, the same numbers."""
    c = sp.Symbol("c", positive=True)
    rule = _scaled_rule(c)
    (addcdiv,) = chain(plan_rule(rule, frozenset())[2].node)[1]
    assert addcdiv.tensors == (Leaf(M), Call("add", Call("sqrt", Leaf(Y)), (), EPS / c))
    assert addcdiv.scalar == -LR / c
    source = generate_module(OptimizerSpec("Scaled", rule.hyperparameters, (("True", rule),)))
    module = types.ModuleType("scaled")
    exec(compile(source, "scaled", "exec"), module.__dict__)
    assert "y.sqrt()).add_(eps/c), value=-lr/c)" in source
    assert "torch._foreach_mul_(denoms" not in source
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(7, generator=gen, dtype=torch.float64)
    hyper = {"lr": 0.05, "beta": 0.9, "eps": 1e-3, "c": 3.0}
    reference = run(rule, np.zeros(7), lambda th: (th - target.numpy()) ** 3, hyper, 12)
    for foreach in (False, True):
        options = dict(c=3.0, foreach=foreach, nonfinite="ignore")
        got = descend(lambda ps, o=options: module.Scaled(ps, **o), target, 12)
        np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-15)


def test_a_divisor_whose_factor_may_be_zero_is_left_as_it_is():
    """``c`` only real: ``c = 0`` would make ``eps/c`` infinite, so the planner multiplies."""
    rule = _scaled_rule(sp.Symbol("c", real=True))
    (addcdiv,) = chain(plan_rule(rule, frozenset())[2].node)[1]
    assert [call.op for call in chain(addcdiv.tensors[1])[1]] == ["sqrt", "mul", "add"]
    assert addcdiv.scalar == -LR


def test_terms_that_differ_only_in_their_numbers_are_planned_as_one():
    """I9: ``a·X + b·X`` → ``(a + b)·X``. Leapfrog's two half-kicks read the velocity at the
    same point: |p|³'s position update, β1²·m|m| and m|m| (times numbers), is one product added
    (one ``addcmul_``), not two; terms without tensors stay as they are."""
    x, y = sp.symbols("x y")
    a, b, c = sp.symbols("a b c", positive=True)
    expr = a * x * sp.Abs(x) + b * x * sp.Abs(x) + c * y + a * y + a + b
    got = _like_terms_combined(expr, lambda e: e.has(x, y))
    assert got == (a + b) * x * sp.Abs(x) + (a + c) * y + a + b
    assert _like_terms_combined(a * x + c * y, lambda e: e.has(x, y)) == a * x + c * y
    cubed = derive(KineticEnergy(sp.Abs(p) ** 3 / 3, (), name="cubed"), "leapfrog", "none")
    step = next(line for line in cubed.source.splitlines() if "param.addcmul_(" in line)
    assert step.count("(") - step.count(")") == 0 and step.count(".abs()") == 1, step


def _differentiable_step(theta, gradient, cls, kwargs, names, *state):
    """One step with autograd from a state the optimizer reached (torch's _diff_fn)."""
    theta = theta.clone()
    theta.grad = gradient
    optimizer = cls([theta], differentiable=True, **kwargs)
    optimizer.state[theta].update({k: v.clone() for k, v in zip(names, state, strict=True)})
    optimizer.step()
    values = optimizer.state[theta].values()
    return (theta, *(v for v in values if torch.is_tensor(v) and v.requires_grad))


@pytest.mark.parametrize(
    "make",
    [
        lambda: (_odd_class()[2], {"lr": 0.05}),
        lambda: (derive(relativistic(), "leapfrog", "adam", name="Rel").cls, {"lr": 0.05}),
        lambda: (
            derive(
                KineticEnergy(
                    sp.log(sp.cosh(positive("k", 1.5).symbol * p)), (positive("k", 1.5),)
                ),
                "euler",
                "adam",
                name="LogCosh",
            ).cls,
            {"lr": 0.05},
        ),
        lambda: (hamopt.optim.Lion, {"lr": 0.05, "weight_decay": 0.1}),
        lambda: (hamopt.optim.Adamax, {"lr": 0.05, "weight_decay": 0.1}),
        lambda: (hamopt.optim.Apollo, {"lr": 0.05}),
    ],
    ids=["odd", "relativistic-adam", "log-cosh-adam", "Lion", "Adamax", "Apollo"],
)
def test_autograd_through_the_single_tensor_path(make):
    """differentiable=True: gradcheck with respect to θ, g and the state, through one step from
    a state after two (the in-place calls keep every value that autograd saved)."""
    cls, kwargs = make()
    gen = torch.Generator().manual_seed(1)
    theta = torch.rand(6, generator=gen, dtype=torch.float64).add_(0.5).requires_grad_()
    primer = cls([torch.nn.Parameter(theta.detach().clone())], **kwargs)
    for _ in range(2):
        primer.param_groups[0]["params"][0].grad = torch.rand(6, generator=gen, dtype=theta.dtype)
        primer.step()
    state = next(iter(primer.state.values()))
    names = list(state)
    values = [
        v.detach().clone().requires_grad_(v.numel() == theta.numel() and v.is_floating_point())
        for v in state.values()
    ]
    gradient = torch.rand(6, generator=gen, dtype=torch.float64).add_(0.5).requires_grad_()
    assert torch.autograd.gradcheck(
        _differentiable_step, (theta, gradient, cls, kwargs, names, *values)
    )


@pytest.mark.parametrize(
    ("scheme", "closure"),
    [("leapfrog", "none"), ("euler", "lookahead")],
    ids=["leapfrog", "euler-lookahead"],
)
def test_autograd_through_a_switch_at_rest_is_finite(scheme, closure):
    """The norm-coupled log cosh ‖p‖ steps by tanh‖v‖/‖v‖, 0/0 at ‖v‖ = 0, where the step
    switches to its limit. From rest (state and gradient 0, so ‖v‖ = 0 after the step), the
    step's derivative is that of the limit branch, dθ'/dg = -(α/2)(1 + β₁)(1 - β₁)·I by
    leapfrog without a closure, and gradcheck (finite differences, which step off ‖v‖ = 0)
    agrees: the branch not taken reads ‖v‖ moved off 0, or 0·NaN would make every gradient
    NaN."""
    energy = KineticEnergy(sp.log(sp.cosh(p)), name="radial", coupling="norm")
    cls = derive(energy, scheme, closure, name="Radial").cls
    primer = cls([torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))], lr=0.1)
    primer.param_groups[0]["params"][0].grad = torch.zeros(5, dtype=torch.float64)
    primer.step()
    state = next(iter(primer.state.values()))
    names = list(state)
    values = [v.detach().clone().requires_grad_(v.numel() == 5) for v in state.values()]
    theta = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    gradient = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    args = (theta, gradient, cls, {"lr": 0.1}, names, *values)
    jacobian = torch.autograd.functional.jacobian(
        lambda g: _differentiable_step(theta, g, cls, {"lr": 0.1}, names, *values)[0], gradient
    )
    assert torch.isfinite(jacobian).all()
    if scheme == "leapfrog":
        expected = -0.05 * (1 + 0.9) * (1 - 0.9) * torch.eye(5, dtype=torch.float64)
        torch.testing.assert_close(jacobian, expected, rtol=1e-12, atol=0)
    assert torch.autograd.gradcheck(_differentiable_step, args)


def test_an_intermediate_that_is_the_gradient_is_never_overwritten():
    """``q ← g`` binds the gradients' list to a second name, and q's last read, the divisor
    ``exp(q) + 1``, makes a new list from it: that call stays out of place on both names (the
    gradients are the user's), where one of the step's own lists would be overwritten."""
    assignments = (
        Assign(Q, grad),
        Assign(M, BETA * M + (1 - BETA) * Q),
        Assign(param, param - LR * M / (sp.exp(Q) + 1)),
    )
    rule = UpdateRule(
        "alias",
        (
            real("lr", 0.05, sp.Interval(0, sp.oo), symbol=LR),
            real("beta", 0.9, sp.Interval(0, 1), symbol=BETA),
        ),
        (Buffer("m", M),),
        assignments,
    )
    source = generate_module(OptimizerSpec("Alias", rule.hyperparameters, (("True", rule),)))
    assert "qs = grads" in source and "denoms = torch._foreach_exp(qs)" in source
    module = types.ModuleType("alias")
    exec(compile(source, "alias", "exec"), module.__dict__)
    params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    grads = [torch.randn_like(q) for q in params]
    for q, g in zip(params, grads, strict=True):
        q.grad = g.clone()
    module.Alias(params, foreach=True, nonfinite="ignore").step()
    for q, g in zip(params, grads, strict=True):
        torch.testing.assert_close(q.grad, g, rtol=0, atol=0)
