"""torch.optim conventions of the generated optimizers: signatures, validation, state,
schedulers, closures, maximize, param groups, sparse gradients.

The catalogue of bad inputs is ``test_bad_input.py``, exact resume in a fresh process
``test_resume.py``, the dtype and device matrix ``test_dtypes.py``."""

import inspect

import pytest
import torch

import hamopt.optim as zoo

#: Each zoo member's reference, by where it lives: torch.optim or pytorch-rad's rad.optim.
REFERENCES = {
    "SGD": "torch.optim",
    "Adam": "torch.optim",
    "AdamW": "torch.optim",
    "Adamax": "torch.optim",
    "RAD": "rad.optim",
    "RGD": "rad.optim",
    "DLPF": "rad.optim",
    "NAG": "rad.optim",
    "NAdam": "torch.optim",
    "RAdam": "torch.optim",
}
#: Reference arguments hamopt leaves to torch's other paths (capturable, differentiable, fused).
TORCH_ONLY = {"capturable", "differentiable", "fused", "foreach"}
NEEDS_LR = {"RGD", "DLPF", "NAG"}


def reference(name):
    """The reference class; a test that needs pytorch-rad's is skipped without it (and only
    that test: argument, sparse and scheduler tests do not need the reference)."""
    return getattr(pytest.importorskip(REFERENCES[name]), name)


def _kwargs(name):
    return {"lr": 0.01} if name in NEEDS_LR else {}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_signature_matches_reference(name):
    """Same argument names, order and defaults as the reference (drop-in replacement)."""
    ours = inspect.signature(getattr(zoo, name)).parameters
    theirs = inspect.signature(reference(name)).parameters
    positional = [
        n
        for n, p in theirs.items()
        if p.kind is p.POSITIONAL_OR_KEYWORD and (n not in TORCH_ONLY or n == "foreach")
    ]
    assert [n for n in ours if n in positional] == positional
    mine = [n for n, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert mine[: len(positional)] == positional  # Adamax(params, lr, betas, eps, wd, foreach)
    for n in positional:
        default = theirs[n].default
        if default is inspect.Parameter.empty or n == "params":
            continue
        if type(default).__name__ == "_RequiredParameter":
            continue
        assert ours[n].default == default, n
    for n, p in theirs.items():
        if p.kind is p.KEYWORD_ONLY and n not in TORCH_ONLY:
            assert n in ours and ours[n].default == p.default, n


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "message"),
    [
        ("Adam", dict(lr=-1.0), ValueError, r"lr must be in \[0, inf\), got -1.0"),
        ("Adam", dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\), got 1.0"),
        ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in \[0, 1\), got -0.1"),
        ("Adam", dict(betas=0.9), TypeError, r"betas must be a pair of numbers, got float 0.9"),
        ("Adam", dict(eps="small"), TypeError, r"eps must be a real number, got 'small'"),
        ("Adam", dict(lr=float("nan")), ValueError, r"lr must be in \[0, inf\), got nan"),
        ("Adam", dict(amsgrad=1), TypeError, r"amsgrad must be True or False, got 1"),
        ("RAD", dict(delta=-1.0), ValueError, r"delta must be in \[0, inf\), got -1.0"),
        ("RAD", dict(zeta=-1e-3), ValueError, r"zeta must be in \[0, inf\), got -0.001"),
        ("RAD", dict(max_iter=0), ValueError, r"max_iter must be in \(0, inf\), got 0"),
        ("RAD", dict(order=3), ValueError, r"order must be one of 1, 2, got 3"),
        ("RAD", dict(nesterov=True), ValueError, r"nesterov=True is not supported"),
        ("RGD", dict(lr=0.1, order=2), ValueError, r"order=2 needs momentum > 0"),
        ("RGD", dict(lr=0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
        ("SGD", dict(nesterov=True), ValueError, r"Nesterov momentum requires a momentum"),
        ("SGD", dict(weight_decay=-0.1), ValueError, r"weight_decay must be in \[0, inf\)"),
        ("DLPF", dict(), TypeError, r"DLPF: missing required argument lr"),
        ("Adam", dict(maximize="yes"), TypeError, r"maximize must be True or False"),
    ],
)
def test_invalid_hyperparameters(name, kwargs, error, message):
    w = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(error, match=message):
        getattr(zoo, name)([w], **kwargs)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_state_dict_round_trip(name):
    """Save after 5 steps, load into a fresh optimizer, continue: identical to uninterrupted."""
    cls = getattr(zoo, name)

    def make():
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(4, 3))
        return w, cls([w], **_kwargs(name))

    def steps(w, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (w**4).sum().backward()
            opt.step()

    w1, o1 = make()
    steps(w1, o1, 10)
    w2, o2 = make()
    steps(w2, o2, 5)
    saved = o2.state_dict()
    assert all(
        isinstance(v, (torch.Tensor, int, float))
        for s in saved["state"].values()
        for v in s.values()
    )
    w3, o3 = make()
    w3.data.copy_(w2.data)
    o3.load_state_dict(saved)
    steps(w3, o3, 5)
    assert torch.equal(w1, w3)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_closure_scheduler_and_groups(name):
    cls = getattr(zoo, name)
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(5))
    base = cls([a], **_kwargs(name)).defaults["lr"]
    opt = cls([{"params": [a]}, {"params": [b], "lr": base / 10}], **_kwargs(name))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def closure():
        opt.zero_grad()
        loss = (a**2).sum() + (b**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor)
    for _ in range(3):
        opt.step(closure)
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(base * 0.5)
    assert opt.param_groups[1]["lr"] == pytest.approx(base / 20)


@pytest.mark.parametrize("name", ["Adam", "SGD", "Adamax", "AdamW", "NAdam", "RAdam"])
def test_maximize_matches_torch(name, train, relative_difference):
    kw = dict(lr=1e-3, maximize=True, **({"momentum": 0.9} if name == "SGD" else {}))
    expected = train(reference(name), steps=20, **kw)
    got = train(getattr(zoo, name), steps=20, **kw)
    assert relative_difference(expected, got) <= 1e-12


@pytest.mark.parametrize("name", sorted(set(zoo.__all__) - {"SGD"}))
def test_sparse_gradient_is_a_clear_error(name):
    """Sparse gradients are refused where the torch reference refuses them (every class but
    SGD), before anything changes."""
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = getattr(zoo, name)(emb.parameters(), lr=0.01)
    before = emb.weight.detach().clone()
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ValueError, match=f"{name} does not support sparse gradients"):
        opt.step()
    assert torch.equal(emb.weight, before) and not opt.state


def _sparse_run(cls, path=None, steps=8, nan_at=None, **kwargs):
    """An embedding with sparse gradients beside a dense layer, ``steps`` steps; where
    ``nan_at`` is a step, a NaN in the embedding's gradient there (what the step raised)."""
    torch.manual_seed(0)
    emb, lin = torch.nn.Embedding(20, 4, sparse=True), torch.nn.Linear(4, 1)
    opt = cls([*emb.parameters(), *lin.parameters()], **kwargs, **(path or {}))
    gen = torch.Generator().manual_seed(1)
    for t in range(steps):
        opt.zero_grad()
        (lin(emb(torch.randint(0, 20, (12,), generator=gen))) - 1).pow(2).mean().backward()
        if t == nan_at:
            emb.weight.grad._values()[0, 0] = float("nan")
            with pytest.raises(ValueError, match="non-finite gradient") as raised:
                opt.step()
            return raised.value, [p.detach().clone() for p in (emb.weight, *lin.parameters())]
        opt.step()
    return None, [p.detach().clone() for p in (emb.weight, *lin.parameters())]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.3),
        dict(lr=0.05, momentum=0.9, nesterov=True),
    ],
)
@pytest.mark.parametrize("path", [{}, dict(foreach=True), dict(foreach=False), dict(fused=True)])
def test_sgd_steps_sparse_gradients_as_torch_does(kwargs, path, relative_difference):
    """An embedding's sparse gradient (``sparse=True``), as torch.optim.SGD takes it: made
    dense for the step, on every path, torch's parameters to 1e-12 (float64)."""
    _, expected = _sparse_run(torch.optim.SGD, **kwargs)
    _, got = _sparse_run(zoo.SGD, path, **kwargs)
    assert relative_difference(expected, got) <= 1e-12


def test_a_nan_in_a_sparse_gradient_raises_before_anything_changes():
    """The check reads a sparse gradient's stored values: a NaN there raises, and the step
    leaves every parameter as the steps before it left them."""
    error, after = _sparse_run(zoo.SGD, nan_at=3, lr=0.1, momentum=0.9)
    _, before = _sparse_run(zoo.SGD, steps=3, lr=0.1, momentum=0.9)
    assert "parameter 0 of param group 0" in str(error)
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))


@pytest.mark.parametrize("name", sorted(zoo.__all__))
def test_a_tensor_lr_works_on_every_path_and_one_that_requires_grad_is_refused(name):
    """A 1-element tensor ``lr`` (torch's pattern for schedulers under torch.compile) steps as
    its number does, ``differentiable=True`` included (Apollo's ``init_lr`` default, lr/1000,
    is then a number); one that requires grad is refused by name: the in-place step takes the
    step size as a number, so no gradient would reach it."""
    kwargs = {"momentum": 0.9} if name in ("SGD", "RGD", "DLPF", "NAG") else {}
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    runs = []
    for lr in (0.01, torch.tensor(0.01, dtype=torch.float64)):
        p = w.clone()
        opt = getattr(zoo, name)([p], lr=lr, differentiable=True, **kwargs)
        for t in range(2):
            p.grad = torch.randn(3, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
            opt.step()
        runs.append(p.detach())
    assert torch.equal(runs[0], runs[1])
    lr = torch.tensor(0.01, requires_grad=True)
    with pytest.raises(
        ValueError, match=rf"{name}: a Tensor lr that requires grad is not supported"
    ):
        getattr(zoo, name)([torch.nn.Parameter(torch.ones(2))], lr=lr)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Adam", dict(lr=0.01)),
        ("NAdam", dict(lr=0.01)),  # a scalar state, loaded in its own dtype
        ("Adam", dict(lr=0.01, state_dtype=torch.bfloat16)),  # loaded in its format
    ],
)
def test_load_state_dict_hooks_run_when_torch_runs_them(name, kwargs):
    """A pre-hook sees the dict as given and may adapt it before it is checked (here: buffers
    saved under other names); a post-hook runs last, so what it writes stays (here: zeroing
    the first moment of a half-precision parameter, whose buffers are loaded as float32)."""
    params = [torch.randn(4, 3, dtype=torch.bfloat16, requires_grad=True)]
    params.append(torch.randn(300, dtype=torch.float32, requires_grad=True))
    cls = getattr(zoo, name)
    opt = cls(params, **kwargs)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    saved = opt.state_dict()
    renamed = {
        "param_groups": saved["param_groups"],
        "state": {
            k: {("m" if key == "exp_avg" else key): v for key, v in s.items()}
            for k, s in saved["state"].items()
        },
    }

    def rename_back(optimizer, state_dict):
        state_dict["state"] = {
            k: {("exp_avg" if key == "m" else key): v for key, v in s.items()}
            for k, s in state_dict["state"].items()
        }

    def zero_first_moments(optimizer):
        for state in optimizer.state.values():
            state["exp_avg"].zero_()

    fresh = cls(params, **kwargs)
    fresh.register_load_state_dict_pre_hook(rename_back)
    fresh.register_load_state_dict_post_hook(zero_first_moments)
    fresh.load_state_dict(renamed)
    for p in params:
        assert fresh.state[p].keys() == opt.state[p].keys()
        assert not fresh.state[p]["exp_avg"].any()
        assert fresh.state[p]["exp_avg_sq"].equal(opt.state[p]["exp_avg_sq"])
    assert fresh.state[params[0]]["exp_avg"].dtype == opt.state[params[0]]["exp_avg"].dtype
