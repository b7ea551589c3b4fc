"""hamopt.optim.Lion as a drop-in for lion_pytorch.Lion: its signature (positional order and
defaults), the refused ``use_triton=True``, and the decoupled decay λ/α₀ with α₀ the
constructor's lr — kept by param groups with their own lr, schedulers and a resumed run. The
numbers on the float64 MLP are in ``test_reference.py`` (every path: ``test_fused.py``)."""

import inspect

import pytest
import torch

from hamopt.optim import Lion


def _lion_pytorch():
    """lion-pytorch, a test-only reference: a test that compares with it is skipped where it
    is not installed (the others still run)."""
    return pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")


def test_signature_is_lion_pytorchs():
    lion_pytorch = _lion_pytorch()
    ours = list(inspect.signature(Lion).parameters.values())
    theirs = list(inspect.signature(lion_pytorch.Lion).parameters.values())
    assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs]
    assert [p.default for p in ours[: len(theirs)]] == [p.default for p in theirs]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours[len(theirs) :])


def test_positional_arguments_are_read_in_lion_pytorchs_order():
    w = torch.nn.Parameter(torch.ones(3))
    group = Lion([w], 1e-3, (0.8, 0.9), 0.1, False, True).param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (1e-3, (0.8, 0.9), 0.1)
    assert group["decoupled_weight_decay"] is True and group["init_lr"] == 1e-3


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            dict(use_triton=True),
            ValueError,
            r"use_triton=True is not supported .* only use_triton=False",
        ),
        (dict(lr=-1e-3), ValueError, r"Lion: lr must be in \[0, inf\), got -0.001"),
        (
            dict(lr=0.0, decoupled_weight_decay=True),
            ValueError,
            r"Lion: decoupled_weight_decay divides by α₀ = init_lr, the constructor's lr",
        ),
        (dict(betas=(0.9, 1.5)), ValueError, r"Lion: betas\[1\] must be in \[0, 1\], got 1.5"),
        (dict(init_lr=-1.0), ValueError, r"Lion: init_lr must be in \[0, inf\), got -1.0"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        Lion([torch.nn.Parameter(torch.ones(2))], **kwargs)


def _run(cls, steps=60, **kwargs):
    """A float64 MLP in two param groups (the second with its own lr), a step scheduler."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net = net.double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
    groups = [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 3e-3}]
    opt = cls(groups, **kwargs)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    for _ in range(steps):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
        scheduler.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("path", [dict(foreach=False), dict(foreach=True), dict(fused=True)])
def test_decoupled_decay_divides_by_the_constructors_lr(path):
    """lion-pytorch divides λ by its constructor's lr for every group, also one with its own
    lr, while a scheduler halves each group's lr: the same numbers on every path."""
    kwargs = dict(lr=1e-3, weight_decay=0.5, decoupled_weight_decay=True)
    expected = _run(_lion_pytorch().Lion, **kwargs)
    got = _run(Lion, **kwargs, **path)
    gap = max(
        float((a - b).abs().max() / a.abs().max()) for a, b in zip(expected, got, strict=True)
    )
    assert gap <= 1e-12


def test_init_lr_survives_a_resume_and_a_tensor_lr():
    w = torch.nn.Parameter(torch.ones(3))
    opt = Lion([w], lr=torch.tensor(2e-3), weight_decay=0.1, decoupled_weight_decay=True)
    assert opt.param_groups[0]["init_lr"] == pytest.approx(2e-3) and isinstance(
        opt.param_groups[0]["init_lr"], float
    )
    w.grad = torch.ones(3)
    opt.step()
    state = opt.state_dict()
    fresh = Lion([w], lr=5e-3, decoupled_weight_decay=True)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["init_lr"] == pytest.approx(2e-3)


@pytest.mark.parametrize("decoupled", [True, False])
def test_a_lion_pytorch_checkpoint_resumes_as_lion_pytorch_does(decoupled):
    """lion-pytorch keeps decoupled_weight_decay and its initial lr on the optimizer, not in
    its groups: its checkpoint lacks both. They come from this optimizer as it was built (a
    checkpoint was refused as lacking init_lr, and with init_lr added by hand the flag fell
    back to False, decaying without ÷α₀), and three more steps equal lion-pytorch's."""
    reference = _lion_pytorch().Lion
    torch.manual_seed(0)
    grads = [torch.randn(4, dtype=torch.float64) for _ in range(6)]
    kwargs = dict(lr=1e-3, weight_decay=1.0, decoupled_weight_decay=decoupled)
    p = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    q = torch.nn.Parameter(p.detach().clone())
    theirs = reference([p], **kwargs)
    for g in grads[:3]:
        p.grad = g.clone()
        theirs.step()
    ours = Lion([q], **kwargs)
    with torch.no_grad():
        q.copy_(p)
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["decoupled_weight_decay"] is decoupled
    assert ours.param_groups[0]["init_lr"] == 1e-3
    for g in grads[3:]:
        p.grad, q.grad = g.clone(), g.clone()
        theirs.step()
        ours.step()
    assert torch.equal(p, q)
