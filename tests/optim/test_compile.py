"""``torch.compile(optimizer.step)`` for every zoo optimizer on every path.

torch's own pattern for a compiled optimizer step is ``step = torch.compile(opt.step)``. For each
zoo optimizer and each of its paths (single-tensor ``foreach=False``, ``foreach=True``,
``fused=True``) one run of ``STEPS`` compiled steps with changing gradients, from a fresh dynamo
(``torch._dynamo.reset()``), is checked against ``torch.optim.Adam`` run the same way on the same
path (same parameters, gradients, number of steps and backend; torch's run once per path and
backend, before the zoo's):

* graph breaks: no more than torch's, with the gradients unchecked (``nonfinite="ignore"``,
  torch.optim's behaviour) and with the default check (which, traced, reads nothing on the
  host: its assertions and mask are in the graph). Counted by dynamo over all the steps,
  recompilations included: ``counters["graph_break"]`` (a break at which dynamo split the frame into graphs)
  plus ``counters["unimplemented"]`` (a break it could not split at, such as one inside a loop,
  after which it runs the whole frame eagerly, which ``graph_break`` does not count).
* no recompilation once the state exists: the frames dynamo compiles in the steps after the
  first ``WARM_UP`` (the first creates the state, the second meets it) no more than torch's,
  which compiles none there. A step that recompiles every step (a guard on a Python number
  such as the step count, or on the identity of the new gradient tensors) reaches dynamo's
  recompile limit (8) a few steps later than these tests look, and runs eagerly from then on
  (with a warning);
* no warnings of dynamo or inductor beyond torch's own (``warnings.warn`` and the records that
  ``torch._dynamo`` and ``torch._inductor`` log at WARNING or above);
* the compiled steps equal the eager ones: the parameters agree to 1e-12 relative in float64
  after ``STEPS`` steps from identical starts.

The backend is ``"eager"`` (dynamo's graphs run as they are: the graph breaks and the equality
are dynamo's, quick to compile on CPU); one case runs Adam's single-tensor path through
inductor. Cost: one to five seconds per case (the fused path also builds each module's C++
kernel once), under two minutes in all on two cores.
"""

import functools
import logging
import warnings
from dataclasses import dataclass

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

import hamopt.optim as zoo

STEPS = 5
WARM_UP = 2  # steps that may compile: the first creates the state, the second meets it
TOLERANCE = 1e-12  # float64, relative to the largest entry of each parameter

#: Arguments that exercise each optimizer's equations (momentum, weight decay, its variants).
CONFIGS = {
    "Adam": dict(lr=0.01, weight_decay=0.01),
    "AdamW": dict(lr=0.01),
    "Adamax": dict(lr=0.01, weight_decay=0.01),
    "NAdam": dict(lr=0.01, weight_decay=0.01),
    "RAdam": dict(lr=0.01, weight_decay=0.01),
    "SGD": dict(lr=0.01, momentum=0.9, weight_decay=0.01),
    "RAD": dict(lr=0.01, weight_decay=0.01),
    "RGD": dict(lr=0.01, momentum=0.9, delta=1.0, weight_decay=0.01),
    "DLPF": dict(lr=0.01, momentum=0.9, weight_decay=0.01),
    "NAG": dict(lr=0.01, momentum=0.9, weight_decay=0.01),
    "Apollo": dict(lr=0.01, warmup=2, weight_decay=0.01),
    "Lion": dict(lr=0.001, weight_decay=0.01, decoupled_weight_decay=True),
}

PATHS = {
    "single-tensor": dict(foreach=False),
    "foreach": dict(foreach=True),
    "fused": dict(fused=True),
}

CASES = [(name, path) for name in CONFIGS for path in PATHS]
IDS = [f"{name}-{path}" for name, path in CASES]

#: Loggers whose WARNING records count as warnings of the compiler.
LOGGERS = ("torch", "torch._dynamo", "torch._inductor")


@dataclass(frozen=True)
class Compiled:
    """What ``STEPS`` compiled steps left: parameters, break count and reasons, warnings."""

    params: tuple[torch.Tensor, ...]
    breaks: int
    recompiles: int  # frames dynamo compiled again in the steps after the first WARM_UP
    reasons: tuple[str, ...]  # "count × first line of the reason"
    warnings: tuple[str, ...]  # first line of each warning or log record, in order


def _params():
    """Two float64 matrices and a vector, as in a small MLP (64 → 8 → 3)."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(8, 6), (8,), (3, 8)]
    return [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes]


def _set_grads(params, t):
    """Step ``t``'s gradients: a noisy pull of θ towards 1, new noise every step."""
    gen = torch.Generator().manual_seed(100 + t)
    for p in params:
        noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        p.grad = (p.detach() - 1) + 0.5 * noise


def _make(name, path, nonfinite="raise"):
    """Factory of ``name``'s optimizer on ``path`` (``"torch.Adam"``: torch.optim.Adam)."""
    if name == "torch.Adam":
        return lambda params: torch.optim.Adam(params, lr=0.01, weight_decay=0.01, **PATHS[path])
    options = {**PATHS[path], "nonfinite": nonfinite}
    return lambda params: getattr(zoo, name)(params, **CONFIGS[name], **options)


def _eager(make):
    params = _params()
    opt = make(params)
    for t in range(STEPS):
        _set_grads(params, t)
        opt.step()
    return tuple(p.detach().clone() for p in params)


class _Records(logging.Handler):
    """Collects the WARNING (and worse) records of the compiler's loggers, each once."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = {}

    def emit(self, record):
        self.records.setdefault(id(record), record)


def _first_line(text):
    return next(iter(str(text).strip().splitlines()), "")


def _forget_warned_once():
    """Dynamo logs its ``Tensor.item()`` graph-break warning once per process
    (``functools.cache``); forget that, so each run logs it again and the order of the tests
    does not decide which of them sees it."""
    from torch._dynamo.variables.tensor import TensorVariable

    warn = getattr(TensorVariable, "_warn_capture_scalar_outputs", None)
    if hasattr(warn, "cache_clear"):
        warn.cache_clear()


def _compiled(make, backend):
    """``STEPS`` steps of ``torch.compile(opt.step, backend=backend)`` from a fresh dynamo."""
    torch._dynamo.reset()
    counters.clear()
    _forget_warned_once()
    params = _params()
    opt = make(params)
    step = torch.compile(opt.step, backend=backend)
    handler = _Records()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for t in range(STEPS):
                if t == WARM_UP:
                    compiled_before = counters["frames"]["total"]
                _set_grads(params, t)
                step()
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    reasons = [f"{n} × {_first_line(why)}" for why, n in counters["graph_break"].items()]
    reasons += [
        f"{n} × {_first_line(why)} (frame run eagerly)"
        for why, n in counters["unimplemented"].items()
    ]
    breaks = sum(counters["graph_break"].values()) + sum(counters["unimplemented"].values())
    recompiles = counters["frames"]["total"] - compiled_before
    records = sorted(handler.records.values(), key=lambda r: r.created)
    seen = [f"{w.category.__name__}: {_first_line(w.message)}" for w in caught]
    seen += [f"log {r.name}: {_first_line(r.getMessage())}" for r in records]
    torch._dynamo.reset()
    return Compiled(
        params=tuple(p.detach().clone() for p in params),
        breaks=breaks,
        recompiles=recompiles,
        reasons=tuple(reasons),
        warnings=tuple(seen),
    )


@functools.cache
def _warm_up():
    """One compiled torch.optim.Adam step, so that what torch imports and warns about once per
    process on its first compilation is behind us before anything is measured."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compiled(_make("torch.Adam", "foreach"), "eager")


@functools.cache
def _torch_adam(path, backend):
    """torch.optim.Adam compiled on ``path``: the reference of every zoo optimizer there."""
    _warm_up()
    return _compiled(_make("torch.Adam", path), backend)


@functools.cache
def _case(name, path, backend="eager", nonfinite="raise"):
    """``(torch.optim.Adam compiled, the zoo optimizer compiled, the zoo optimizer eager)``,
    each on ``path``; torch's first, so that it meets whatever is warned once per process."""
    reference = _torch_adam(path, backend)
    compiled = _compiled(_make(name, path, nonfinite), backend)
    return reference, compiled, _eager(_make(name, path, nonfinite))


def test_every_zoo_optimizer_is_covered():
    assert set(CONFIGS) == set(zoo.__all__)


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_no_more_graph_breaks_than_torch_adam(name, path):
    """With the gradients unchecked (``nonfinite="ignore"``, torch.optim's behaviour) the step
    breaks where torch's does, and nowhere else."""
    torch_adam, ours, _ = _case(name, path, nonfinite="ignore")
    assert ours.breaks <= torch_adam.breaks, (
        f"{name} ({path}): {ours.breaks} graph breaks over {STEPS} compiled steps, "
        f"torch.optim.Adam {torch_adam.breaks}\n  ours: {'; '.join(ours.reasons)}"
        f"\n  torch's: {'; '.join(torch_adam.reasons)}"
    )


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_the_gradient_check_adds_no_graph_break(name, path):
    """The default check of the gradients (``nonfinite="raise"``) is in the graph: torch's
    breaks, nothing else."""
    torch_adam, ours, _ = _case(name, path)
    assert ours.breaks <= torch_adam.breaks, "; ".join(ours.reasons)
    extra = [r for r in ours.reasons if r not in torch_adam.reasons]
    assert not extra, ours.reasons


def _nonfinite_step(name, path, nonfinite, backend):
    """Three compiled steps, then one with a NaN in parameter 1's gradient: what it raised
    (None if nothing), whether parameters and state are unchanged by it, and the step counts
    after one more good step."""
    torch._dynamo.reset()
    params = _params()
    opt = _make(name, path, nonfinite)(params)
    step = torch.compile(opt.step, backend=backend)
    for t in range(3):
        _set_grads(params, t)
        step()
    before = [p.detach().clone() for p in params]
    state = [{k: v.clone() for k, v in opt.state[p].items()} for p in params]
    _set_grads(params, 3)
    params[1].grad[2] = float("nan")
    raised = None
    try:
        step()
    except RuntimeError as error:
        raised = error
    unchanged = all(torch.equal(a, p) for a, p in zip(before, params, strict=True)) and all(
        torch.equal(v, opt.state[p][k])
        for s, p in zip(state, params, strict=True)
        for k, v in s.items()
    )
    _set_grads(params, 4)
    step()
    counts = [float(opt.state[p]["step"]) for p in params]
    torch._dynamo.reset()
    return raised, unchanged, counts


@pytest.mark.parametrize("backend", ["eager", "inductor"])
@pytest.mark.parametrize(
    ("name", "path"), [("Adam", "fused"), ("RGD", "foreach"), ("RAD", "single-tensor")]
)
def test_compiled_raise_names_the_parameter_and_changes_nothing(name, path, backend):
    """Traced, a NaN gradient of a "raise" group raises torch's in-graph assertion
    (RuntimeError) with the eager message; nothing changed, and the next step goes on."""
    raised, unchanged, counts = _nonfinite_step(name, path, "raise", backend)
    assert raised is not None
    assert (
        f"{name}: non-finite gradient (NaN or Inf) for parameter 1 of param group 0, shape (8,)"
        in str(raised)
    )
    assert unchanged
    assert counts == [4.0, 4.0, 4.0]


@pytest.mark.parametrize("backend", ["eager", "inductor"])
@pytest.mark.parametrize(
    ("name", "path"), [("Adam", "fused"), ("Apollo", "foreach"), ("SGD", "single-tensor")]
)
def test_compiled_skip_changes_nothing(name, path, backend):
    raised, unchanged, counts = _nonfinite_step(name, path, "skip", backend)
    assert raised is None
    assert unchanged
    assert counts == [4.0, 4.0, 4.0]


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_no_recompilation_once_the_state_exists(name, path):
    torch_adam, ours, _ = _case(name, path)
    assert ours.recompiles <= torch_adam.recompiles, (
        f"{name} ({path}): dynamo compiled {ours.recompiles} frames in steps "
        f"{WARM_UP + 1}-{STEPS}, torch.optim.Adam {torch_adam.recompiles}"
    )


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_no_compiler_warnings(name, path):
    torch_adam, ours, _ = _case(name, path)
    extra = [w for w in ours.warnings if w not in torch_adam.warnings]
    assert not extra, f"{name} ({path}) under torch.compile warned:\n  " + "\n  ".join(extra)


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_compiled_step_equals_eager(name, path):
    _, ours, eager = _case(name, path)
    for k, (a, b) in enumerate(zip(ours.params, eager, strict=True)):
        error = float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))
        assert error <= TOLERANCE, (
            f"{name} ({path}): parameter {k} after {STEPS} compiled steps is {error:.2e} "
            f"(relative) from the eager steps"
        )


def test_inductor_adam_single_tensor():
    """Adam's single-tensor path through inductor: no more breaks than torch's, no warnings,
    the eager result."""
    torch_adam, ours, eager = _case("Adam", "single-tensor", "inductor", "ignore")
    assert ours.breaks <= torch_adam.breaks, "; ".join(ours.reasons)
    extra = [w for w in ours.warnings if w not in torch_adam.warnings]
    assert not extra, "\n".join(extra)
    for a, b in zip(ours.params, eager, strict=True):
        assert float((a - b).abs().max() / b.abs().max()) <= TOLERANCE


def _through_two_steps(make, compiled, nonfinite="raise"):
    """d(sum θ₂)/dθ₀ through two steps of a ``differentiable=True`` optimizer, θ a non-leaf
    copy of θ₀ (as torch's own differentiable tests use), its gradient fixed."""
    torch._dynamo.reset()
    start = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).requires_grad_()
    theta = start.clone()
    theta.grad = torch.linspace(0.5, -0.3, 12, dtype=torch.float64)
    opt = make([theta], nonfinite)
    step = torch.compile(opt.step, backend="eager") if compiled else opt.step
    step()
    step()
    theta.sum().backward()
    torch._dynamo.reset()
    return start.grad


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_differentiable_step_has_the_eager_gradient(name, nonfinite):
    """``differentiable=True``, autograd through two steps (every buffer written again by the
    second: what the first saved for the backward must be a copy), eager and under
    ``torch.compile(opt.step)`` (which takes the single-tensor equations): the same gradient."""

    def make(params, nonfinite):
        return getattr(zoo, name)(params, **CONFIGS[name], differentiable=True, nonfinite=nonfinite)

    eager = _through_two_steps(make, compiled=False, nonfinite=nonfinite)
    compiled = _through_two_steps(make, compiled=True, nonfinite=nonfinite)
    assert torch.allclose(compiled, eager, rtol=1e-12, atol=0)


def _through_the_gradients(cls, compiled: bool) -> torch.Tensor:
    """d(sum θ₃)/dw through three steps whose gradients w·θ depend on w, as a hypergradient
    does: the path through each buffer's history counts."""
    torch._dynamo.reset()
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    theta = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True).clone()
    opt = cls([theta], lr=0.1, differentiable=True)
    step = torch.compile(opt.step, backend="aot_eager") if compiled else opt.step
    for _ in range(3):
        theta.grad = w * theta.clone()
        step()
    (gradient,) = torch.autograd.grad(theta.sum(), w)
    torch._dynamo.reset()
    return gradient


@pytest.mark.parametrize(
    ("energy", "scheme", "closure"),
    [("p**2/2", "euler", "none"), ("log(cosh(p))", "euler", "lookahead")],
    ids=["classical", "log-cosh-lookahead"],
)
def test_a_derived_differentiable_step_compiled_has_the_eager_hypergradient(
    energy, scheme, closure
):
    """A derived rule whose momentum starts at 0, under ``torch.compile(opt.step)`` with
    AOTAutograd (``aot_eager``, what inductor runs): traced, the in-place update of the buffer
    lost its history (half the eager hypergradient), and lookahead's read after the update
    failed the backward's version check. A differentiable step runs eagerly inside the
    compiled one, with the eager gradient."""
    from hamopt.derive import derive
    from hamopt.parse import parse_energy

    cls = derive(parse_energy(energy), scheme, closure, name="Hyper").cls
    eager = _through_the_gradients(cls, compiled=False)
    compiled = _through_the_gradients(cls, compiled=True)
    assert torch.allclose(compiled, eager, rtol=1e-12, atol=0)
