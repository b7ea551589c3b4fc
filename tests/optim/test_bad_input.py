"""The catalogue of bad inputs: each raises a clear error (type and message naming the problem)
and leaves the parameters and the optimizer state exactly as they were.

"Unchanged" is checked by deep-copying the parameters and ``optimizer.state_dict()`` before the
failing call and comparing every tensor with ``torch.equal`` (and every other value with ``==``)
after it. Cases already covered in ``test_runtime.py`` (out-of-range Adam/RAD/RGD/SGD arguments,
a sparse gradient in a single group) are not repeated; the constructor cases here run over every
zoo optimizer. Runtime: about 3 s, and 10 s for the two-process FSDP2 case.
"""

import copy
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hamopt.optim as zoo
from hamopt.zoo import ZOO

NAMES = sorted(ZOO)
NEEDS_LR = {"RGD", "DLPF", "NAG", "Apollo"}


def _kwargs(name, **extra):
    return {**({"lr": 0.01} if name in NEEDS_LR else {}), **extra}


def _same(a, b):
    """``a`` and ``b`` hold the same values: tensors bit for bit, containers recursively."""
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


class Unchanged:
    """Context: the body must raise ``error`` matching ``message``; afterwards the parameters and
    the optimizer's state (all groups, all buffers, all step counters) are as before."""

    def __init__(self, params, opt, error, message):
        self.params, self.opt, self.error, self.message = list(params), opt, error, message

    def __enter__(self):
        self.before = [p.detach().clone() for p in self.params]
        self.state = copy.deepcopy(self.opt.state_dict()) if self.opt is not None else None
        self.raises = pytest.raises(self.error, match=self.message)
        return self.raises.__enter__()

    def __exit__(self, *exc):
        out = self.raises.__exit__(*exc)
        assert all(torch.equal(p, b) for p, b in zip(self.params, self.before, strict=True))
        if self.opt is not None:
            assert _same(self.opt.state_dict(), self.state)
        return out


def _two_groups(name, foreach=False, steps=2, **kw):
    """An optimizer over two groups (weight decay on) after ``steps`` finite steps."""
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(torch.randn(3, 4))
    opt = getattr(zoo, name)(
        [{"params": [a]}, {"params": [b]}],
        foreach=foreach,
        **_kwargs(name, weight_decay=0.1, **kw),
    )
    for t in range(steps):
        _set_grads([a, b], t)
        opt.step()
    return a, b, opt


def _set_grads(params, seed):
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)


# -- hyperparameters ---------------------------------------------------------------------------
def _outside(iv):
    """Values just outside an interval, NaN, and ±inf where the interval is open at infinity."""
    start, end = float(iv.start), float(iv.end)
    out = [math.nan]
    if math.isfinite(start):
        out.append(start if iv.left_open else start - 1.0)
    if math.isfinite(end):
        out.append(end if iv.right_open else end + 1.0)
    else:
        out.append(math.inf)
    return out


def _range_cases():
    cases = []
    for name in NAMES:
        for hp in ZOO[name][1]().hyperparameters:
            if hp.kind != "real":
                continue
            for i, iv in enumerate(hp.intervals):
                for bad in _outside(iv):
                    cases.append(pytest.param(name, hp, i, bad, id=f"{name}-{hp.name}{i}-{bad}"))
    return cases


def _with(hp, i, bad):
    if not hp.is_pair:
        return {hp.name: bad}
    value = list(hp.default)
    value[i] = bad
    return {hp.name: tuple(value)}


@pytest.mark.parametrize(("name", "hp", "i", "bad"), _range_cases())
def test_out_of_range_hyperparameter_every_zoo_optimizer(name, hp, i, bad):
    """Every real hyperparameter of every zoo optimizer, out of its range (below, above, NaN,
    inf): ValueError naming the optimizer, the argument, its range and the value, both in the
    constructor and as a param group override (the optimizer keeps its one group)."""
    label = f"{hp.name}[{i}]" if hp.is_pair else hp.name
    message = re.escape(f"{name}: {label} must be in {hp.range_text(i)}, got {bad!r}")
    w = torch.nn.Parameter(torch.randn(3))
    with Unchanged([w], None, ValueError, message):
        getattr(zoo, name)([w], **_kwargs(name, **_with(hp, i, bad)))
    opt = getattr(zoo, name)([w], **_kwargs(name))
    extra = torch.nn.Parameter(torch.randn(2))
    with Unchanged([w, extra], opt, ValueError, message + r" \(param group 1\)"):
        opt.add_param_group({"params": [extra], **_with(hp, i, bad)})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name", NAMES)
def test_wrong_types_every_zoo_optimizer(name):
    """A string or a bool where a real number goes: TypeError naming the argument; a tensor lr
    (torch.optim takes one) of more than one element: ValueError."""
    w = torch.nn.Parameter(torch.randn(3))
    cls = getattr(zoo, name)
    for bad in ("0.1", True):
        message = re.escape(f"{name}: lr must be a real number, got {bad!r}")
        with Unchanged([w], None, TypeError, message):
            cls([w], **{**_kwargs(name), "lr": bad})
    message = re.escape(f"{name}: Tensor lr must be 1-element and floating point, got shape (2,)")
    with Unchanged([w], None, ValueError, message):
        cls([w], **{**_kwargs(name), "lr": torch.tensor([0.1, 0.2])})


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "message"),
    [
        (
            "RAD",
            dict(betas=(0.9, 1.5)),
            ValueError,
            r"RAD: betas\[1\] must be in \[0, 1\), got 1.5",
        ),
        (
            "Apollo",
            dict(lr=0.1, beta=-0.5),
            ValueError,
            r"Apollo: beta must be in \[0, 1\), got -0.5",
        ),
        (
            "RGD",
            dict(lr=0.1, delta=-1e-3),
            ValueError,
            r"RGD: delta must be in \[0, inf\), got -0.001",
        ),
        (
            "RAD",
            dict(zeta=None, max_iter=-10),
            ValueError,
            r"RAD: max_iter must be in \(0, inf\), got -10",
        ),
        (
            "RAD",
            dict(zeta=None, max_iter="100"),
            TypeError,
            r"RAD: max_iter must be a real number, got '100'",
        ),
        ("RAD", dict(zeta="1e-16"), TypeError, r"RAD: zeta must be a real number, got '1e-16'"),
        ("Adam", dict(lr=math.inf), ValueError, r"Adam: lr must be in \[0, inf\), got inf"),
        (
            "Adam",
            dict(betas=(0.9,)),
            TypeError,
            r"Adam: betas must be a pair of numbers, got tuple \(0.9,\)",
        ),
        (
            "Adam",
            dict(betas=(0.9, "0.999")),
            TypeError,
            r"Adam: betas\[1\] must be a real number, got '0.999'",
        ),
        (
            "NAdam",
            dict(nonfinite="warn"),
            ValueError,
            r"NAdam: nonfinite must be 'raise', 'skip' or 'ignore', got 'warn'",
        ),
        (
            "SGD",
            dict(foreach="yes"),
            TypeError,
            r"SGD: foreach must be None, True or False, got 'yes'",
        ),
        (
            "Apollo",
            dict(lr=0.1, rebound="soft"),
            ValueError,
            r"rebound must be one of 'constant', 'belief', got 'soft'",
        ),
        pytest.param(
            "NAdam",
            dict(capturable=True),
            ValueError,
            r"NAdam: capturable=True needs CUDA, which this machine does not have",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA: accepted"),
        ),
    ],
)
def test_invalid_arguments(name, kwargs, error, message):
    w = torch.nn.Parameter(torch.randn(3))
    with Unchanged([w], None, error, message):
        getattr(zoo, name)([w], **kwargs)


# -- parameters and groups ---------------------------------------------------------------------
def test_empty_parameter_list():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        zoo.Adam([])


def test_a_tensor_instead_of_an_iterable():
    w = torch.nn.Parameter(torch.randn(3))
    with Unchanged(
        [w], None, TypeError, "params argument given to the optimizer should be an iterable"
    ):
        zoo.Adam(w)


def test_non_leaf_tensor():
    w = torch.nn.Parameter(torch.randn(3))
    with Unchanged([w], None, ValueError, "can't optimize a non-leaf Tensor"):
        zoo.RAD([w * 2])


def test_same_parameter_in_two_groups():
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))
    message = (
        r"Adam: parameter 1 of param group 1 is already in param group 0; "
        r"a parameter can be in one group only"
    )
    with Unchanged([a, b], None, ValueError, message):
        zoo.Adam([{"params": [a]}, {"params": [b, a]}])


def test_same_parameter_twice_in_one_group():
    """torch.optim only warns (and would then update the parameter twice per step)."""
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))
    message = r"RAD: parameter 2 of param group 0 repeats its parameter 0; list each parameter once"
    with Unchanged([a, b], None, ValueError, message):
        zoo.RAD([a, b, a])


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("name", ["Adam", "RAD", "SGD"])
def test_integer_or_bool_parameter_is_refused(name, dtype):
    """An integer or bool tensor has no gradient step: refused when the group is made, with
    nothing built, where the step would otherwise fail half way (or, fused, skip it)."""
    a = torch.nn.Parameter(torch.randn(3))
    bad = torch.zeros(3, dtype=dtype)
    message = rf"{name}: parameter 1 of param group 0 is {dtype}; an optimizer updates floating-point or complex parameters only"
    with Unchanged([a], None, TypeError, message):
        getattr(zoo, name)([a, bad], lr=0.1)


def test_add_param_group_with_a_parameter_already_there():
    a, b, opt = _two_groups("NAdam")
    with Unchanged(
        [a, b], opt, ValueError, r"NAdam: parameter 0 of param group 2 is already in param group 1"
    ):
        opt.add_param_group({"params": b, "lr": 0.1})
    assert len(opt.param_groups) == 2


def test_add_param_group_with_an_invalid_hyperparameter():
    a, b, opt = _two_groups("RAD")
    c = torch.nn.Parameter(torch.randn(2))
    message = r"RAD: betas\[0\] must be in \[0, 1\), got -0.5 \(param group 2\)"
    with Unchanged([a, b, c], opt, ValueError, message):
        opt.add_param_group({"params": [c], "betas": (-0.5, 0.999)})
    assert len(opt.param_groups) == 2


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_gradient_is_left_alone(name):
    """No state, no update, no weight decay, while the other parameter of its group steps."""
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(4))
    before = b.detach().clone()
    opt = getattr(zoo, name)([a, b], **_kwargs(name, weight_decay=0.5))
    for t in range(3):
        _set_grads([a], t)
        opt.step()
    assert b not in opt.state and torch.equal(b, before) and b.grad is None
    assert a in opt.state and not torch.equal(a, before)


# -- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_gradient_raises_before_anything_changes(name, bad, foreach):
    """Group 0's gradient is fine, group 1's holds one non-finite entry: ValueError naming the
    optimizer, the group and the parameter; no group stepped (parameters, buffers, counters)."""
    a, b, opt = _two_groups(name, foreach=foreach)
    _set_grads([a, b], 7)
    b.grad[2, 1] = bad
    message = (
        rf"{name}: non-finite gradient \(NaN or Inf\) for parameter 0 of param group 1, "
        r"shape \(3, 4\); nothing was updated"
    )
    with Unchanged([a, b], opt, ValueError, message):
        opt.step()


def test_a_nonfinite_gradient_of_a_nonfinite_parameter_says_so():
    """A step too large for its energy writes Inf into the parameter (the check reads the
    gradients, not the step): the next gradient is not finite, and the message says that the
    parameter is not either, not only that the gradient was bad."""
    a, b, opt = _two_groups("Adam")
    with torch.no_grad():
        b[1, 1] = math.inf
    _set_grads([a, b], 7)
    b.grad[1, 1] = math.inf
    with pytest.raises(ValueError, match=r"param group 1.*; the parameter itself is not finite"):
        opt.step()
    with torch.no_grad():
        b[1, 1] = 0.0
    with pytest.raises(
        ValueError, match=r"nothing was updated \(nonfinite='skip' skips such steps\)$"
    ):
        opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_skip_skips_the_whole_step(name):
    """``nonfinite="skip"``: the bad step changes nothing and returns the loss; the run then goes
    on exactly as if that step had never been asked for."""
    a, b, opt = _two_groups(name, nonfinite="skip")
    a2, b2, ref = _two_groups(name, nonfinite="skip")
    _set_grads([a, b], 7)
    a.grad[0] = math.nan
    before = ([a.detach().clone(), b.detach().clone()], copy.deepcopy(opt.state_dict()))
    assert opt.step(lambda: 1.5) == 1.5
    assert _same(([a.detach(), b.detach()], opt.state_dict()), before)
    for t in (8, 9):
        _set_grads([a, b], t)
        _set_grads([a2, b2], t)
        opt.step()
        ref.step()
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_nonfinite_ignore_applies_the_step_like_torch():
    a, b, opt = _two_groups("Adam", nonfinite="ignore")
    _set_grads([a, b], 7)
    b.grad[0, 0] = math.inf
    opt.step()
    assert torch.isnan(b[0, 0]) and torch.isfinite(a).all()


def test_nonfinite_loss_from_a_closure_raises():
    a, b, opt = _two_groups("RGD", foreach=True)

    def closure():
        opt.zero_grad()
        loss = (a / 0.0).sum() + b.sum()
        loss.backward()
        return loss

    with Unchanged(
        [a, b], opt, ValueError, r"RGD: non-finite gradient .* param group 0, shape \(5,\)"
    ):
        opt.step(closure)


def test_sparse_gradient_in_a_later_group_changes_nothing():
    """The dense group 0 is not stepped either: every gradient is checked first."""
    emb = torch.nn.Embedding(6, 3, sparse=True)
    a = torch.nn.Parameter(torch.randn(3))
    opt = zoo.Adam([{"params": [a]}, {"params": emb.parameters()}])
    a.grad = torch.randn(3)
    opt.step()
    emb(torch.tensor([1, 4])).sum().backward()
    a.grad = torch.randn(3)
    message = r"Adam does not support sparse gradients \(parameter 0 of param group 1\)"
    with Unchanged([a, emb.weight], opt, ValueError, message):
        opt.step()


# -- complex parameters --------------------------------------------------------------------------
COMPLEX_REFERENCES = {
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "Adamax": torch.optim.Adamax,
    "NAdam": torch.optim.NAdam,
    "RAdam": torch.optim.RAdam,
    "SGD": torch.optim.SGD,
}


def _complex_run(cls, param, foreach, steps=6, **kw):
    opt = cls([param], foreach=foreach, **kw)
    for t in range(steps):
        gen = torch.Generator().manual_seed(t)
        shape = param.shape if param.is_complex() else param.shape[:-1]
        g = torch.randn(shape, generator=gen, dtype=torch.complex128)
        param.grad = g if param.is_complex() else torch.view_as_real(g).clone()
        opt.step()
    return param


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("name", NAMES)
def test_complex_parameter_is_its_real_view(name, foreach):
    """A complex parameter steps exactly (bit for bit) as its real view in R^2n would, norms
    included (RGD's ‖p‖, Apollo's sums and 4-norm are over R^2n)."""
    kw = _kwargs(name, weight_decay=0.1)
    z0 = torch.randn(4, 3, dtype=torch.complex128)
    z = _complex_run(getattr(zoo, name), torch.nn.Parameter(z0.clone()), foreach, **kw)
    x = _complex_run(
        getattr(zoo, name), torch.nn.Parameter(torch.view_as_real(z0).clone()), foreach, **kw
    )
    assert z.is_complex() and torch.equal(torch.view_as_real(z), x)


@pytest.mark.parametrize("name", sorted(COMPLEX_REFERENCES))
def test_complex_parameter_matches_torch(name, relative_difference):
    kw = dict(lr=0.01, weight_decay=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    z0 = torch.randn(5, dtype=torch.complex128)
    ours = _complex_run(getattr(zoo, name), torch.nn.Parameter(z0.clone()), False, **kw)
    theirs = _complex_run(COMPLEX_REFERENCES[name], torch.nn.Parameter(z0.clone()), False, **kw)
    expected, got = (torch.view_as_real(p.detach()) for p in (theirs, ours))
    assert relative_difference([expected], [got]) <= 1e-12


# -- load_state_dict -----------------------------------------------------------------------------
def _saved(name="Adam", **kw):
    """A trained two-group optimizer, its parameters and a deep copy of its state_dict."""
    a, b, opt = _two_groups(name, **kw)
    return a, b, opt, copy.deepcopy(opt.state_dict())


def _drop(d, key):
    del d[key]


def _corrupt_step(value):
    def corrupt(sd):
        sd["state"][1]["step"] = value

    return corrupt


LOAD_CASES = {
    "not a dict": (
        lambda sd: [sd],
        TypeError,
        r"Adam.load_state_dict expects a dict with a 'state' dict and a 'param_groups' list, got list",
    ),
    "no param_groups": (
        lambda sd: {"state": sd["state"]},
        TypeError,
        r"expects a dict with a 'state' dict and a 'param_groups' list, got dict",
    ),
    "one group too many": (
        lambda sd: {
            **sd,
            "param_groups": [*sd["param_groups"], {**sd["param_groups"][1], "params": [9]}],
        },
        ValueError,
        r"Adam: the loaded state has 3 param groups, this optimizer 2",
    ),
    "one parameter too many": (
        lambda sd: sd["param_groups"][1]["params"].append(9),
        ValueError,
        r"Adam: param group 1 of the loaded state has 2 parameters, this optimizer's 1",
    ),
    "buffer of the wrong shape": (
        lambda sd: sd["state"][1].update(exp_avg=torch.zeros(4, 3)),
        ValueError,
        r"Adam: exp_avg of parameter 0 of param group 1 in the loaded state has shape \(4, 3\), the parameter \(3, 4\)",
    ),
    "missing buffer": (
        lambda sd: _drop(sd["state"][1], "exp_avg_sq"),
        ValueError,
        r"Adam: the loaded state of parameter 0 of param group 1 holds \['exp_avg', 'step'\], but its rule adam keeps \['exp_avg', 'exp_avg_sq', 'step'\]",
    ),
    "another rule's buffer": (
        lambda sd: sd["state"][0].update(momentum_buffer=torch.zeros(5)),
        ValueError,
        r"Adam: the loaded state of parameter 0 of param group 0 holds \['exp_avg', 'exp_avg_sq', 'momentum_buffer', 'step'\], but its rule adam keeps",
    ),
    "another variant's options": (
        lambda sd: sd["param_groups"][0].update(amsgrad=True),
        ValueError,
        r"its rule adam_amsgrad keeps \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step'\]",
    ),
    "NaN step": (
        _corrupt_step(torch.tensor(math.nan)),
        ValueError,
        r"Adam: step of parameter 0 of param group 1 in the loaded state must be a whole number >= 0, got nan",
    ),
    "negative step": (
        _corrupt_step(torch.tensor(-2.0)),
        ValueError,
        r"step of parameter 0 of param group 1 in the loaded state must be a whole number >= 0, got -2.0",
    ),
    "fractional step": (
        _corrupt_step(torch.tensor(2.5)),
        ValueError,
        r"must be a whole number >= 0, got 2.5",
    ),
    "step not a tensor": (
        _corrupt_step("2"),
        TypeError,
        r"Adam: step of parameter 0 of param group 1 in the loaded state is a str, not a tensor",
    ),
    "buffer not a tensor": (
        lambda sd: sd["state"][0].update(exp_avg=[0.0] * 5),
        TypeError,
        r"Adam: exp_avg of parameter 0 of param group 0 in the loaded state is a list, not a tensor",
    ),
    "buffer on the meta device": (  # it was torch's NotImplementedError, "Cannot copy out of meta tensor"
        lambda sd: sd["state"][0].update(exp_avg=torch.empty(5, device="meta")),
        ValueError,
        r"Adam: exp_avg of parameter 0 of param group 0 in the loaded state is on the meta device \(a tensor without data\), its parameter on cpu",
    ),
    "complex buffer for a real parameter": (
        lambda sd: sd["state"][0].update(exp_avg=torch.zeros(5, dtype=torch.complex128)),
        ValueError,
        r"exp_avg of parameter 0 of param group 0 in the loaded state is torch.complex128, which does not fit a torch.float64 parameter",
    ),
    "state of an unknown parameter": (
        lambda sd: sd["state"].update({7: copy.deepcopy(sd["state"][0])}),
        ValueError,
        r"Adam: the loaded state has state for parameter id 7, which no loaded param group lists",
    ),
    "per-parameter state not a dict": (
        lambda sd: sd["state"].update({0: torch.zeros(5)}),
        TypeError,
        r"Adam: the loaded state of parameter 0 of param group 0 is a Tensor, not a dict",
    ),
    "invalid hyperparameter": (
        lambda sd: sd["param_groups"][1].update(lr=-0.1),
        ValueError,
        r"Adam: lr must be in \[0, inf\), got -0.1 \(param group 1 of the loaded state\)",
    ),
    "missing hyperparameter": (
        lambda sd: _drop(sd["param_groups"][0], "betas"),
        ValueError,
        r"Adam: param group 0 of the loaded state lacks betas",
    ),
}


@pytest.mark.parametrize("case", sorted(LOAD_CASES))
def test_load_state_dict_refuses_a_state_that_does_not_fit(case):
    corrupt, error, message = LOAD_CASES[case]
    a, b, opt, saved = _saved()
    result = corrupt(saved)
    saved = saved if result is None else result
    with Unchanged([a, b], opt, error, message):
        opt.load_state_dict(saved)


def test_load_state_dict_refuses_another_optimizers_state():
    a, b, opt, _ = _saved("Adam")
    sgd = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    _set_grads([a, b], 0)
    sgd.step()
    sgd_state = copy.deepcopy(sgd.state_dict())
    with Unchanged(
        [a, b], opt, ValueError, r"Adam: param group 0 of the loaded state lacks betas, eps"
    ):
        opt.load_state_dict(sgd_state)


def test_load_state_dict_refuses_a_corrupted_scalar_state():
    a, b, opt, saved = _saved("NAdam")
    saved["state"][0]["mu_product"] = torch.tensor(math.nan)
    message = r"NAdam: mu_product of parameter 0 of param group 0 in the loaded state must be a finite 0-d float tensor"
    with Unchanged([a, b], opt, ValueError, message):
        opt.load_state_dict(saved)


def test_torch_state_dict_loads_and_continues_like_torch():
    """A torch.optim.Adam checkpoint is a valid state for the drop-in replacement."""
    torch.manual_seed(0)
    w0 = torch.randn(6)
    w_torch, w_ours = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    theirs = torch.optim.Adam([w_torch], lr=0.01, weight_decay=0.1)
    for t in range(4):
        _set_grads([w_torch], t)
        theirs.step()
    w_ours.data.copy_(w_torch.data)
    ours = zoo.Adam([w_ours], lr=0.5)
    ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
    for t in range(4, 8):
        _set_grads([w_torch], t)
        _set_grads([w_ours], t)
        theirs.step()
        ours.step()
    assert ours.param_groups[0]["lr"] == 0.01
    assert torch.allclose(w_ours, w_torch, rtol=1e-12, atol=0)


# -- sharded gradients ---------------------------------------------------------------------------
@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="needs torch.distributed with gloo",
)
def test_nonfinite_in_one_ranks_shard_is_every_ranks_verdict(tmp_path):
    """FSDP2, 2 ranks: a NaN in rank 1's local shard makes both ranks raise (the default) or
    both skip, parameters unchanged; a rank that disagreed would hang the next collective or
    let the replicas drift apart. About 10 s (two processes)."""
    worker = Path(__file__).with_name("sharded_nonfinite_worker.py")
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(worker), str(tmp_path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        r = json.loads((tmp_path / f"rank{rank}.json").read_text())
        outcome, message, unchanged = r["raise"]
        assert outcome == "raised" and unchanged
        where = "parameter 0 of param group 0" if rank == 1 else "sharded on another rank"
        assert message.startswith("RGD: non-finite gradient (NaN or Inf) for") and where in message
        assert r["skip"][0] == "returned" and r["skip"][2]


@pytest.mark.parametrize("path", [dict(), dict(foreach=False)])
@pytest.mark.parametrize("policy", ["Skip", None])
def test_a_nonfinite_policy_set_after_the_constructor_is_checked_at_the_step(path, policy):
    """``param_groups[0]["nonfinite"] = "Skip"`` (a typo) skipped a NaN step on the kernel's
    path and applied it on torch's: the step now refuses it, naming it, with nothing updated."""
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    opt = zoo.Adam([w], lr=0.1, **path)
    w.grad = torch.ones(3, dtype=torch.float32)
    opt.step()
    opt.param_groups[0]["nonfinite"] = policy
    w.grad = torch.tensor([1.0, math.nan, 1.0], dtype=torch.float32)
    message = rf"nonfinite must be 'raise', 'skip' or 'ignore', got {policy!r} \(param group 0\)"
    with Unchanged([w], opt, ValueError, message):
        opt.step()


def test_a_hyperparameter_set_to_text_after_the_constructor_is_a_type_error_on_the_kernels_path():
    """The kernel's path read ``lr = "0.1"`` through float() and stepped; torch's arithmetic
    on the other paths (and torch.optim) refuses it. Now the kernel's path does too."""
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    opt = zoo.Adam([w], lr=0.1)
    w.grad = torch.ones(3, dtype=torch.float32)
    opt.step()
    opt.param_groups[0]["lr"] = "0.1"
    with pytest.raises(TypeError, match=r"Adam: lr must be a number, got str '0.1'"):
        opt.step()


@pytest.mark.parametrize("kind", ["numpy", "UserList"])
def test_betas_as_any_pair_torch_reads_are_taken(kind):
    """torch reads betas[0] and betas[1]: a NumPy array or a config library's list type is a
    pair (they were refused as "must be a pair of numbers, got [0.9, 0.999]")."""
    import collections

    import numpy as np

    betas = np.array([0.8, 0.99]) if kind == "numpy" else collections.UserList([0.8, 0.99])
    runs = []
    for given in (betas, (0.8, 0.99)):
        w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
        opt = zoo.Adam([w], lr=0.1, betas=given)
        for _ in range(3):
            w.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float32)
            opt.step()
        runs.append(w.detach())
    assert torch.equal(runs[0], runs[1])
    with pytest.raises(TypeError, match=r"betas must be a pair of numbers, got str 'ab'"):
        zoo.Adam([torch.nn.Parameter(torch.ones(1))], betas="ab")


def test_lion_takes_lr_0_from_a_schedule_and_its_own_checkpoint_at_lr_0():
    """lion-pytorch and torch take lr = 0 (a warm-up from 0, the end of a cosine schedule);
    the zoo's Lion refused it at its first step, in state_dict(), and loading its own
    checkpoint."""
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    opt = zoo.Lion([w], lr=1e-4)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: step / 100)  # lr = 0 at once
    w.grad = torch.ones(3, dtype=torch.float32)
    opt.step()
    assert torch.equal(w.detach(), torch.ones(3))  # a step of size 0
    copy.deepcopy(opt)
    cosine = zoo.Lion([w], lr=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(cosine, 10)
    for _ in range(10):
        w.grad = torch.ones(3, dtype=torch.float32)
        cosine.step()
        schedule.step()
    assert cosine.param_groups[0]["lr"] == 0.0
    cosine.load_state_dict(cosine.state_dict())


def test_options_that_select_no_rule_are_named():
    """RAD's order = 3 set after a first step (before it, the group is checked in full:
    "order must be one of 1, 2"): the message named neither the class nor the options ("no
    rule matches this parameter group's options")."""
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    opt = zoo.RAD([w], lr=0.1)
    w.grad = torch.ones(3, dtype=torch.float32)
    opt.step()
    opt.param_groups[0]["order"] = 3
    message = r"RAD: no rule matches the options of param group 0 \(max_iter=None, order=3, zeta="
    with Unchanged([w], opt, ValueError, message):
        opt.step()
