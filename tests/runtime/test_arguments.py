"""The argument table of a generated optimizer: intervals as written, torch's ``required``, the
reference's flags accepted at their default, a tensor lr."""

import math
import re

import pytest
import torch

import hamopt.optim as zoo
from hamopt.runtime.arguments import REQUIRED, check_arguments, choice, fixed, flag, pair, real

OPTIONS = {"maximize": False, "foreach": None, "nonfinite": "raise", "fused": None}
OPTIONS |= {"capturable": False, "differentiable": False}


@pytest.mark.parametrize(
    ("interval", "inside", "outside"),
    [
        ("[0, inf)", [0, 1e300], [-1e-300, math.inf, math.nan]),
        ("(0, inf)", [1e-300], [0, math.inf]),
        ("[0, 1)", [0, 0.999], [1, -0.1]),
        ("[1/2, 1]", [0.5, 1], [0.49, 1.01]),
    ],
)
def test_an_interval_reads_as_written(interval, inside, outside):
    argument = real("x", 0.5, interval)
    for value in inside:
        argument.check("Opt", value)
    for value in outside:
        with pytest.raises(ValueError, match=rf"Opt: x must be in {re.escape(interval)}"):
            argument.check("Opt", value)


def test_wrong_types_and_choices_name_the_argument():
    with pytest.raises(TypeError, match="Opt: betas must be a pair of numbers"):
        pair("betas", (0.9, 0.99), ("[0, 1)", "[0, 1)"), ("b1", "b2")).check("Opt", 0.9)
    with pytest.raises(TypeError, match=r"Opt: betas\[1\] must be a real number"):
        pair("betas", (0.9, 0.99), ("[0, 1)", "[0, 1)"), ("b1", "b2")).check("Opt", (0.9, "x"))
    with pytest.raises(TypeError, match="Opt: amsgrad must be True or False, got 1"):
        flag("amsgrad", False).check("Opt", 1)
    with pytest.raises(ValueError, match="Opt: order must be one of 1, 2, got 3"):
        choice("order", 1, (1, 2)).check("Opt", 3)
    with pytest.raises(ValueError, match="output_info=True is not supported by the derived Opt"):
        fixed("output_info", False).check("Opt", True)
    with pytest.raises(TypeError, match="Opt: missing required argument lr"):
        real("lr", REQUIRED, "[0, inf)").check("Opt", REQUIRED)


def test_options_fit_together():
    with pytest.raises(ValueError, match="differentiable=True runs on the single-tensor path"):
        check_arguments("Opt", (), {**OPTIONS, "differentiable": True, "foreach": True})
    with pytest.raises(TypeError, match="Opt: capturable must be True or False"):
        check_arguments("Opt", (), {**OPTIONS, "capturable": "no"})


def test_required_lr_may_come_with_each_group():
    """torch's ``required``: no lr in the constructor, one in every group."""
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    opt = zoo.RGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.2}], momentum=0.5)
    a.grad, b.grad = torch.ones(2), torch.ones(3)
    opt.step()
    assert torch.allclose(a, torch.full((2,), 0.9)) and torch.allclose(b, torch.full((3,), 0.8))
    with pytest.raises(TypeError, match=r"RGD: missing required argument lr \(param group 0\)"):
        zoo.RGD([a])


@pytest.mark.parametrize("path", [dict(foreach=False), dict(foreach=True), dict(fused=True)])
def test_a_tensor_lr_steps_as_its_number(path):
    if path.get("foreach"):
        name = "SGD"  # torch's Adam refuses a tensor lr with foreach=True (capturable=False)
    else:
        name = "Adam"
    runs = []
    for lr in (0.01, torch.tensor(0.01)):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 5))
        opt = getattr(zoo, name)([p], lr=lr, **path)
        for _ in range(3):
            p.grad = p.detach() ** 3
            opt.step()
        runs.append(p.detach().clone())
    assert torch.equal(*runs)
    with pytest.raises(ValueError, match="lr as a Tensor is not supported for capturable=False"):
        zoo.Adam([torch.nn.Parameter(torch.ones(2))], lr=torch.tensor(0.1), foreach=True)


@pytest.mark.parametrize("path", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_numpy_scalars_are_real_numbers(path):
    """lr and betas as NumPy scalars (a config read with NumPy) are taken, as torch takes them,
    and step as the same Python floats; a NumPy bool or array is still no real number."""
    import numpy as np

    def run(**options):
        w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 7))
        opt = zoo.Adam([w], **options, **path)
        for k in range(3):
            w.grad = torch.linspace(0.5, -0.5, 7) * (k + 1)
            opt.step()
        return w.detach()

    plain = run(lr=1e-3, betas=(0.9, 0.99))
    numpy = run(lr=np.float64(1e-3), betas=(np.float64(0.9), 0.99))
    assert torch.equal(plain, numpy)
    lr32, beta32 = np.float32(3e-3), np.float32(0.9)
    single = run(lr=float(lr32), betas=(float(beta32), 0.99))
    assert torch.equal(single, run(lr=lr32, betas=(beta32, 0.99)))  # not float32 arithmetic
    w = torch.nn.Parameter(torch.ones(2))
    for bad in (np.bool_(True), np.array([0.1])):
        with pytest.raises(TypeError, match="lr must be a real number"):
            zoo.Adam([w], lr=bad)
