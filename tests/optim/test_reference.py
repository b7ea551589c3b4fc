"""Each zoo optimizer matches its reference implementation: float64, MLP, 200 steps,
several settings (one with weight decay), largest relative parameter difference <= 1e-10.
The references are named as ``"module:Name"``, imported by the test that needs one."""

import pytest
import torch

import hamopt.optim as zoo

TOLERANCE = 1e-10

CASES = {
    "SGD": (
        "torch.optim:SGD",
        [
            dict(lr=0.05),
            dict(lr=0.05, momentum=0.9),
            dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.01),
            dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05),
        ],
    ),
    "DLPF": (
        "rad.optim:DLPF",
        [
            dict(lr=0.05),
            dict(lr=0.05, momentum=0.9),
            dict(lr=0.02, momentum=0.5, weight_decay=0.1),
        ],
    ),
    "NAG": (
        "rad.optim:NAG",
        [
            dict(lr=0.05),
            dict(lr=0.05, momentum=0.9),
            dict(lr=0.02, momentum=0.5, weight_decay=0.1),
        ],
    ),
    "RGD": (
        "rad.optim:RGD",
        [
            dict(lr=0.05, momentum=0.9, delta=1.0),
            dict(lr=0.05, momentum=0.9, delta=2.0, order=2),
            dict(lr=0.02, delta=0.5, weight_decay=0.1),
            dict(lr=0.02, momentum=0.8, order=2, weight_decay=0.05),
        ],
    ),
    "RAD": (
        "rad.optim:RAD",
        [
            dict(lr=1e-2),
            dict(lr=1e-2, order=2, delta=2.0),
            dict(lr=1e-2, zeta=None, max_iter=150, weight_decay=0.1),
            dict(lr=1e-2, zeta=None, max_iter=None, order=2),
            dict(lr=5e-3, order=2, zeta=1e-3, betas=(0.8, 0.99), delta=0.5, weight_decay=0.01),
        ],
    ),
    "Adam": (
        "torch.optim:Adam",
        [
            dict(lr=1e-2),
            dict(lr=1e-2, amsgrad=True),
            dict(lr=1e-2, weight_decay=0.1),
            dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
            dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, amsgrad=True, weight_decay=0.05),
        ],
    ),
    "AdamW": (
        "torch.optim:AdamW",
        [
            dict(lr=1e-2),
            dict(lr=1e-2, amsgrad=True),
            dict(lr=1e-2, weight_decay=0.1),
        ],
    ),
    "Adamax": (
        "torch.optim:Adamax",
        [
            dict(lr=1e-2),
            dict(lr=1e-2, weight_decay=0.1),
            dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-3),
        ],
    ),
    # NAdam amplifies rounding on this MLP at larger lr without decay (torch's own single-tensor
    # and foreach paths then differ by ~1e-5): these settings are the non-chaotic ones
    "NAdam": (
        "torch.optim:NAdam",
        [
            dict(),
            dict(lr=1e-2, weight_decay=0.1),
            dict(lr=2e-3, weight_decay=0.1, decoupled_weight_decay=True),
            dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, momentum_decay=1e-2, weight_decay=0.05),
        ],
    ),
    "RAdam": (
        "torch.optim:RAdam",
        [
            dict(lr=1e-2),
            dict(lr=1e-2, weight_decay=0.1),
            dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
            dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        ],
    ),
    "Lion": (
        "lion_pytorch:Lion",
        [
            dict(lr=1e-3),
            dict(lr=1e-3, weight_decay=0.1),
            dict(lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True),
            dict(lr=5e-4, betas=(0.8, 0.95), weight_decay=0.05, decoupled_weight_decay=True),
        ],
    ),
}


def _reference(where: str):
    """The reference class at ``"module:Name"``; the test is skipped where its package, a
    test-only dependency, is not installed (the other tests of this module still run)."""
    module, name = where.split(":")
    return getattr(pytest.importorskip(module), name)


PARAMS = [(name, i) for name, (_, settings) in CASES.items() for i in range(len(settings))]


@pytest.mark.parametrize(("name", "index"), PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_matches_reference(name, index, train, relative_difference):
    reference, settings = CASES[name]
    reference = _reference(reference)
    kwargs = settings[index]
    expected = train(reference, **kwargs)
    got = train(getattr(zoo, name), **kwargs)
    assert relative_difference(expected, got) <= TOLERANCE


@pytest.mark.parametrize(("name", "index"), PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_foreach_equals_single_tensor(name, index, train, relative_difference):
    _, settings = CASES[name]
    cls = getattr(zoo, name)
    single = train(cls, steps=50, foreach=False, **settings[index])
    lists = train(cls, steps=50, foreach=True, **settings[index])
    assert relative_difference(single, lists) <= 1e-12


REFERENCES = [name for name, (where, _) in CASES.items() if where.startswith("torch.optim:")]


@pytest.mark.parametrize("name", REFERENCES)
def test_a_tensor_lr_with_foreach_is_taken_where_the_reference_takes_it(
    name, train, relative_difference
):
    """``lr=torch.tensor(...)`` with ``foreach=True``: refused with torch's ValueError where
    the torch class refuses it (Adam, AdamW), else the reference's steps."""
    reference = _reference(CASES[name][0])
    settings = {"lr": torch.tensor(0.01, dtype=torch.float64), "foreach": True}
    if name == "SGD":
        settings["momentum"] = 0.9
    try:
        expected = train(reference, steps=20, **settings)
    except ValueError as error:
        with pytest.raises(ValueError, match=r"lr as a Tensor is not supported"):
            getattr(zoo, name)([torch.zeros(2, requires_grad=True)], **settings)
        assert "foreach=True" in str(error)
        return
    got = train(getattr(zoo, name), steps=20, **settings)
    assert relative_difference(expected, got) <= 1e-12


def _continued(optimizer, params, grads):
    for g in grads:
        for p, gp in zip(params, g, strict=True):
            p.grad = gp.clone()
        optimizer.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize(("name", "index"), PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_a_reference_checkpoint_loads_and_continues_as_the_reference(name, index):
    """Three steps of the reference, its checkpoint (as torch.save gives it back: a copy)
    loaded into the zoo class, three more steps of each: the same parameters. rad's RAD keeps
    a Nesterov product ``mu_product`` (1 without nesterov) that no zoo rule reads: taken off
    on load (it was refused as a foreign buffer), and written into the zoo's own checkpoint so
    that rad loads it (it raised KeyError 'mu_product')."""
    import copy

    where, settings = CASES[name]
    reference, kwargs = _reference(where), settings[index]
    torch.manual_seed(index)
    shapes = [(3, 4), (5,)]
    grads = [[torch.randn(s, dtype=torch.float64) for s in shapes] for _ in range(6)]
    theirs = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    ours = [p.detach().clone().requires_grad_() for p in theirs]
    source = reference(theirs, **kwargs)
    _continued(source, theirs, grads[:3])
    with torch.no_grad():
        for p, q in zip(ours, theirs, strict=True):
            p.copy_(q)
    optimizer = getattr(zoo, name)(ours, **kwargs)
    optimizer.load_state_dict(copy.deepcopy(source.state_dict()))
    expected = _continued(source, theirs, grads[3:])
    got = _continued(optimizer, ours, grads[3:])
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=0)
    back = reference(theirs, **kwargs)
    back.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    _continued(back, theirs, grads[:2])  # the reference steps on from the zoo's checkpoint
