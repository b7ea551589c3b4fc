"""``state_dtype``: every elementwise rule (zoo and derived) keeps its buffers in bfloat16
(stochastic rounding) or 8 bits (block-wise dynamic quantisation), computed in float32.

Every path stores the same bits: the C++ kernel (default and ``fused=True``), the reference one
tensor at a time (``foreach=False``, ``foreach=True``) and ``torch.compile``. A resumed run is
bit-identical to the uninterrupted one; the state dict round-trips in its format; a rule with a
reduction, a float64 parameter, ``differentiable=True``, a dtype that is no format, and a state
of the wrong format are refused with a ValueError or TypeError naming the problem. The format
arithmetic itself is tested in ``tests/runtime/test_state_storage.py``.
"""

import functools
import io
import math

import pytest
import sympy as sp
import torch
import torch._dynamo
from torch._dynamo.utils import counters

import hamopt.optim as zoo
import hamopt.runtime.stored_step as runtime
from hamopt.derive import derive
from hamopt.runtime import state_storage as storage
from hamopt.symbols import p

FORMATS = [torch.bfloat16, torch.uint8]
#: under, over and across 256; the 8-bit format keeps those under 4096 elements in float32
SHAPES = [(40, 30), (700,), (5,), (300,), (3, 1, 7), (4100,), (70, 70)]

#: Elementwise zoo rules and options that exercise their equations.
CONFIGS = [
    ("SGD", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, maximize=True)),
    ("DLPF", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("NAG", dict(lr=0.01, momentum=0.9)),
    ("RAD", dict(lr=0.01, weight_decay=0.01)),
    ("RAD", dict(lr=0.01, order=2, max_iter=50)),
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("Adamax", dict(lr=0.01, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.01)),  # a scalar state beside the stored buffers
    ("RAdam", dict(lr=0.01)),
    ("Lion", dict(lr=1e-3, weight_decay=0.1)),
]


def _params(shapes=SHAPES, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=gen).to(dtype).requires_grad_() for s in shapes]


def _train(params, opt, steps, first=0):
    for t in range(first, first + steps):
        gen = torch.Generator().manual_seed(t)
        for q in params:
            q.grad = (q.detach() - 1 + torch.randn(q.shape, generator=gen).to(q.dtype)) / 10
        opt.step()
    return params


def _same(a, b, opt_a, opt_b):
    """Parameters and every state tensor equal to the bit."""
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
        assert opt_a.state[x].keys() == opt_b.state[y].keys()
        for k in opt_a.state[x]:
            assert torch.equal(opt_a.state[x][k], opt_b.state[y][k]), k


@pytest.fixture
def kernel_calls(monkeypatch):
    """The names of the kernels the steps call."""
    calls = []
    original = runtime.kernel_step

    def counting(library, rule, *args):
        calls.append(rule)
        return original(library, rule, *args)

    monkeypatch.setattr(runtime, "kernel_step", counting)
    return calls


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
@pytest.mark.parametrize(
    ("name", "kwargs"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
)
def test_every_path_stores_the_same_bits(name, kwargs, state_dtype, kernel_calls):
    cls = getattr(zoo, name)
    runs = {}
    for path in [dict(), dict(fused=True), dict(foreach=False), dict(foreach=True)]:
        params = _params()
        opt = cls(params, **kwargs, **path, state_dtype=state_dtype)
        runs[str(path)] = (_train(params, opt, 6), opt)
    fmt = "bfloat16" if state_dtype == torch.bfloat16 else "int8"
    assert any(c.endswith(fmt) for c in kernel_calls)  # the format's kernel ran
    (a, opt_a), *others = runs.values()
    for b, opt_b in others:
        _same(a, b, opt_a, opt_b)


def _compiled_run(make, params, backend, steps=5):
    """``steps`` steps of ``torch.compile(opt.step, backend=backend)`` from a fresh dynamo:
    the optimizer, dynamo's graph breaks (splits and frames run eagerly) and the frames it
    compiled after the first two steps (the first makes the state, the second meets it)."""
    torch._dynamo.reset()
    counters.clear()
    opt = make(params)
    step = torch.compile(opt.step, backend=backend)
    for t in range(steps):
        if t == 2:
            compiled_before = counters["frames"]["total"]
        _grads(params, t)
        step()
    breaks = sum(counters["graph_break"].values()) + sum(counters["unimplemented"].values())
    recompiles = counters["frames"]["total"] - compiled_before
    torch._dynamo.reset()
    return opt, breaks, recompiles


def _grads(params, t):
    gen = torch.Generator().manual_seed(t)
    for q in params:
        q.grad = (q.detach() - 1 + torch.randn(q.shape, generator=gen).to(q.dtype)) / 10


COMPILED = [
    ("Adam", dict(lr=0.01, weight_decay=0.01), {}),
    ("NAdam", dict(lr=0.01), dict(fused=True)),  # a scalar state beside the stored buffers
    ("SGD", dict(lr=0.01, momentum=0.9, maximize=True), dict(foreach=True)),
    ("Lion", dict(lr=1e-3, weight_decay=0.1), dict(foreach=False)),
]


@pytest.mark.parametrize("backend", ["eager", "inductor"])
@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
@pytest.mark.parametrize(
    ("name", "kwargs", "path"),
    COMPILED,
    ids=[f"{n}-{','.join(f'{k}={v}' for k, v in p.items()) or 'default'}" for n, _, p in COMPILED],
)
def test_torch_compile_stores_the_same_bits_in_one_graph(name, kwargs, path, state_dtype, backend):
    """``torch.compile(opt.step)`` with low-precision state: the step is one operator of the
    graph (``hamopt::stored_step_v1``), so it breaks the graph no more than torch.optim.Adam's
    compiled step, compiles nothing once the state exists, and stores the eager step's bits
    (its numbers and random keys are computed when the graph runs, as eagerly)."""
    make = functools.partial(getattr(zoo, name), **kwargs, **path, state_dtype=state_dtype)
    eager = _params()
    opt_eager = make(eager)
    for t in range(5):
        _grads(eager, t)
        opt_eager.step()
    compiled = _params()
    opt, breaks, recompiles = _compiled_run(make, compiled, backend)
    _same(eager, compiled, opt_eager, opt)
    torch_adam = functools.partial(torch.optim.Adam, lr=0.01)
    _, torch_breaks, torch_recompiles = _compiled_run(torch_adam, _params(), backend)
    assert breaks <= torch_breaks
    assert recompiles <= torch_recompiles


def test_torch_compile_of_half_precision_parameters_with_low_precision_state():
    """bfloat16 parameters, bfloat16 state, under torch.compile: the eager step's bits."""
    a, b = _params(dtype=torch.bfloat16), _params(dtype=torch.bfloat16)
    opt_a = zoo.Adam(a, lr=0.01, state_dtype=torch.bfloat16)
    opt_b = zoo.Adam(b, lr=0.01, state_dtype=torch.bfloat16)
    step = torch.compile(opt_b.step, backend="eager")
    for t in range(3):
        _grads(a, t)
        _grads(b, t)
        opt_a.step()
        step()
    _same(a, b, opt_a, opt_b)
    torch._dynamo.reset()


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
def test_torch_compile_with_a_nan_gradient_changes_nothing(nonfinite):
    """Traced, the check's mask reaches the eager low-precision step: a NaN gradient raises
    (the in-graph assertion) or skips, and the stored state is untouched."""
    params = _params()
    opt = zoo.Adam(params, lr=0.01, state_dtype=torch.bfloat16, nonfinite=nonfinite)
    step = torch.compile(opt.step)
    for t in range(2):
        for x in params:
            x.grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(t)).float()
        step()
    before = [{k: v.clone() for k, v in opt.state[x].items()} for x in params]
    values = [x.detach().clone() for x in params]
    params[0].grad[0] = float("inf")
    if nonfinite == "raise":
        with pytest.raises(
            RuntimeError, match=r"non-finite gradient .* parameter 0 of param group 0"
        ):
            step()
    else:
        step()
    for x, old, state in zip(params, values, before, strict=True):
        assert torch.equal(x, old)
        assert all(torch.equal(v, opt.state[x][k]) for k, v in state.items())
    torch._dynamo.reset()


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
@pytest.mark.parametrize("name", ["Adam", "RAD", "Lion"])
def test_a_resumed_run_is_bit_identical(name, state_dtype):
    cls = getattr(zoo, name)
    whole = _params()
    opt = cls(whole, state_dtype=state_dtype)
    _train(whole, opt, 20)
    half = _params()
    first = cls(half, state_dtype=state_dtype)
    _train(half, first, 10)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = cls(half, state_dtype=state_dtype)
    resumed.load_state_dict(torch.load(buffer))
    _train(half, resumed, 10, first=10)
    _same(whole, half, opt, resumed)


def test_param_groups_with_their_own_formats_and_options_store_the_same_bits_on_every_path():
    runs = []
    for path in [dict(), dict(foreach=False)]:
        a, b, c = _params([(300,), (300,)]), _params([(80, 80)]), _params([(700,)])
        groups = [
            dict(params=a, state_dtype=torch.bfloat16),
            dict(params=b, state_dtype=torch.uint8, lr=0.02),
            dict(params=c),  # float32 state
        ]
        opt = zoo.Adam(groups, lr=0.01, **path)
        runs.append((_train(a + b + c, opt, 5), opt))
    (first, opt_1), (second, opt_2) = runs
    _same(first[:3], second[:3], opt_1, opt_2)  # the low-precision groups: to the bit
    # float32 state: the kernel and the single-tensor path agree to rounding (test_fused.py)
    difference = (first[3] - second[3]).detach().abs().max() / second[3].detach().abs().max()
    assert float(difference) <= 1e-6
    state = opt_1.state
    assert [state[q]["exp_avg"].dtype for q in runs[0][0]] == [
        torch.bfloat16,
        torch.bfloat16,
        torch.uint8,
        torch.float32,
    ]


def test_the_state_is_two_bytes_or_one_byte_and_a_block_maximum_per_value():
    params = _params([(5000,)])
    for state_dtype, dtypes in [
        (torch.bfloat16, {"exp_avg": torch.bfloat16, "exp_avg_sq": torch.bfloat16}),
        (
            torch.uint8,
            {
                "exp_avg": torch.uint8,
                "exp_avg_absmax": torch.float32,
                "exp_avg_sq": torch.uint8,
                "exp_avg_sq_absmax": torch.float32,
            },
        ),
    ]:
        opt = zoo.Adam(params, state_dtype=state_dtype)
        _train(params, opt, 1)
        state = opt.state[params[0]]
        assert {k: v.dtype for k, v in state.items() if k != "step"} == dtypes
        stored = sum(v.numel() * v.element_size() for k, v in state.items() if k != "step")
        assert stored == (20_000 if state_dtype == torch.bfloat16 else 10_000 + 2 * 20 * 4)


def test_small_tensors_of_an_8_bit_group_keep_float32_state_as_the_default_does():
    """As bitsandbytes' 8-bit optimizers (``min_8bit_size``): under 4096 elements the buffers
    stay float32, and the step is the default float32 step to the bit."""
    a, b = _params([(4095,), (64, 64)]), _params([(4095,), (64, 64)])
    opt_a = zoo.Adam(a, lr=0.01, state_dtype=torch.uint8)
    opt_b = zoo.Adam(b, lr=0.01)
    _train(a, opt_a, 5)
    _train(b, opt_b, 5)
    assert torch.equal(a[0], b[0])
    assert opt_a.state[a[0]].keys() == {"step", "exp_avg", "exp_avg_sq"}
    assert opt_a.state[a[0]]["exp_avg"].dtype == torch.float32
    assert opt_a.state[a[1]]["exp_avg"].dtype == torch.uint8  # 4096 elements: 8 bits


def test_half_precision_and_complex_parameters_keep_their_state_in_the_format():
    for dtype in (torch.bfloat16, torch.complex64):
        a, b = _params([(3000,), (80, 80)], dtype), _params([(3000,), (80, 80)], dtype)
        opt_a = zoo.Adam(a, lr=0.01, state_dtype=torch.uint8)
        opt_b = zoo.Adam(b, lr=0.01, state_dtype=torch.uint8, foreach=False)
        _same(_train(a, opt_a, 5), _train(b, opt_b, 5), opt_a, opt_b)
        state = opt_a.state[a[1]]  # 6400 elements: 8 bits
        assert state["exp_avg"].dtype == torch.uint8
        real = torch.view_as_real(a[1]) if a[1].is_complex() else a[1]
        assert state["exp_avg"].shape == real.shape


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
def test_low_precision_state_trains_about_as_float32_state_does(state_dtype):
    """A least-squares fit: the loss after 300 steps within 10 % (in log) of float32 state's."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, 50, generator=gen, dtype=torch.float32)
    y = a @ torch.randn(50, generator=gen, dtype=torch.float32)
    losses = {}
    for dtype in (None, state_dtype):
        w = torch.zeros(50, dtype=torch.float32, requires_grad=True)
        opt = zoo.Adam([w], lr=0.05, state_dtype=dtype)
        for _ in range(300):
            opt.zero_grad()
            loss = ((a @ w - y) ** 2).mean()
            loss.backward()
            opt.step()
        losses[dtype] = loss.item()
    assert losses[state_dtype] < 1e-2 * float((y**2).mean())
    assert abs(math.log(losses[state_dtype]) - math.log(losses[None])) < 0.1 * abs(
        math.log(losses[None])
    )


@pytest.mark.parametrize(
    "energy",
    [
        sp.sqrt(p**2 + 1),  # relativistic: +, ×, ÷, √ in its rule
        sp.log(sp.cosh(p)) + p**2 / 10,  # tanh in its rule: computed in float64, rounded once
    ],
    ids=["relativistic", "log-cosh"],
)
def test_a_derived_optimizer_takes_low_precision_state_on_every_path(energy):
    cls = derive(energy, "leapfrog", "adam", name="Mine").cls
    for state_dtype in FORMATS:
        runs = []
        for path in [dict(), dict(foreach=False)]:
            params = _params()
            opt = cls(params, lr=0.01, state_dtype=state_dtype, **path)
            runs.append((_train(params, opt, 8), opt))
        _same(runs[0][0], runs[1][0], runs[0][1], runs[1][1])


def test_what_cannot_be_kept_in_low_precision_is_refused():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(
        ValueError, match=r"state_dtype must be None, torch.float32, torch.bfloat16"
    ):
        zoo.Adam([w], state_dtype=torch.float16)
    with pytest.raises(TypeError, match=r"state_dtype must be .* got 'bf16'"):
        zoo.Adam([w], state_dtype="bf16")
    with pytest.raises(
        ValueError,
        match=r"RGD: state_dtype=torch.bfloat16 needs an elementwise rule, and rule order1 reduces",
    ):
        zoo.RGD([w], lr=0.1, state_dtype=torch.bfloat16)
    with pytest.raises(ValueError, match=r"needs an elementwise rule"):
        zoo.Apollo([w], lr=0.1, state_dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"parameter 0 of param group 0 is torch.float64"):
        zoo.Adam([torch.zeros(3, dtype=torch.float64, requires_grad=True)], state_dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"is torch.float64, and state_dtype=torch.float32"):
        zoo.Adam(
            [torch.zeros(3, dtype=torch.float64, requires_grad=True)], state_dtype=torch.float32
        )
    with pytest.raises(ValueError, match=r"differentiable=True needs float32 state"):
        zoo.Adam([w], state_dtype=torch.bfloat16, differentiable=True)
    w32 = torch.zeros(3, dtype=torch.float32, requires_grad=True)
    opt = zoo.Adam([w32], state_dtype=torch.float32)  # float32: the default format
    assert opt.param_groups[0]["state_dtype"] == torch.float32


def test_a_state_of_another_format_is_refused_and_nothing_changes():
    params = _params([(5000,)])
    plain = zoo.Adam(params)
    _train(params, plain, 2)
    stored = zoo.Adam(params, state_dtype=torch.bfloat16)
    with pytest.raises(
        ValueError,
        match=r"exp_avg of parameter 0 of param group 0 in the loaded state is torch.float32.*keeps torch.bfloat16",
    ):
        stored.load_state_dict(
            {
                **plain.state_dict(),
                "param_groups": [
                    {**plain.state_dict()["param_groups"][0], "state_dtype": torch.bfloat16}
                ],
            }
        )
    assert len(stored.state) == 0


PATHS = {"default": {}, "fused": {"fused": True}, "foreach": {"foreach": True}, "single": {}}
PATHS["single"] = {"foreach": False}
#: How close a buffer comes back from a format: bfloat16 (8 bits of mantissa), 8 bits a value
#: of its block's maximum (the dynamic map's coarsest step, 0.9/64, about 1.4 %)
CLOSE = {None: 1e-7, torch.bfloat16: 1e-2, torch.uint8: 2e-2}


def _read(opt, w, state_dtype, buffer):
    """``buffer`` of ``w``'s state as float32, whatever its format."""
    fmt = storage.FORMATS.get(state_dtype)
    state = opt.state[w]
    return (
        storage.load(fmt, tuple(state[k] for k in storage.state_keys(fmt, buffer)))
        if fmt
        else state[buffer]
    )


def _stepped_and_changed(made, changed, kw):
    """Two steps with state_dtype=made, then state_dtype=changed and one step at lr = 0 on zero
    gradients (the state times β, nothing else): the parameter, its buffers before the change
    (float32) and the optimizer."""
    w, small = _params([(5000,), (100,)])
    opt = zoo.Adam([w, small], lr=1e-2, state_dtype=made, **kw)
    _train([w, small], opt, 2)
    before = {b: _read(opt, w, made, b).clone() for b in ("exp_avg", "exp_avg_sq")}
    opt.param_groups[0]["state_dtype"] = changed
    opt.param_groups[0]["lr"] = 0.0
    w.grad, small.grad = torch.zeros_like(w), torch.zeros_like(small)
    opt.step()
    return w, before, opt


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(
    "made, changed",
    [
        (torch.uint8, torch.bfloat16),
        (torch.uint8, None),
        (torch.bfloat16, torch.uint8),
        (torch.bfloat16, None),
        (None, torch.uint8),
        (None, torch.bfloat16),
    ],
)
def test_a_state_dtype_changed_after_the_state_is_made_converts_the_state(made, changed, path):
    """state_dtype set to another format once the state exists: the next step rewrites each
    buffer in the new format (loaded as float32, stored as a step stores), so it reads what it
    was, within the new format's precision. Read in the old format instead, 8-bit codes went
    to the kernel as bfloat16 (twice their bytes: a crash, or a hang with fused=True), or to
    torch as float32 (|θ| 4 → 30 in three steps)."""
    w, before, opt = _stepped_and_changed(made, changed, PATHS[path])
    fmt = storage.FORMATS.get(changed)
    keys = {k for b in before for k in (storage.state_keys(fmt, b) if fmt else (b,))}
    assert set(opt.state[w]) == {"step", *keys}
    for (b, old), beta in zip(before.items(), (0.9, 0.999), strict=True):
        held = tuple(opt.state[w][k] for k in storage.state_keys(fmt, b)) if fmt else ()
        assert (
            storage.holds(fmt, held, w.numel()) if fmt else opt.state[w][b].dtype == torch.float32
        )
        error = (_read(opt, w, changed, b) - beta * old).abs().max() / old.abs().max()
        assert float(error) <= CLOSE[changed]


@pytest.mark.parametrize(
    "made, changed", [(torch.uint8, torch.bfloat16), (torch.bfloat16, torch.uint8)]
)
def test_a_state_converted_between_low_precision_formats_is_the_same_bits_on_every_path(
    made, changed
):
    runs = [_stepped_and_changed(made, changed, kw) for kw in PATHS.values()]
    for w, _, opt in runs[1:]:
        assert torch.equal(w, runs[0][0])
        for k, t in opt.state[w].items():
            assert torch.equal(t, runs[0][2].state[runs[0][0]][k]), k


@pytest.mark.parametrize("changed", [torch.bfloat16, torch.uint8])
def test_a_float32_checkpoint_goes_on_in_low_precision_state(changed):
    """torch's Adam checkpoint loads into hamopt's Adam with its own group options (state_dtype
    None, as torch loads them); state_dtype set then converts its float32 buffers, which read
    back within the format's precision."""
    (w,) = _params([(5000,)])
    reference = torch.optim.Adam([w], lr=1e-2)
    _train([w], reference, 3)
    opt = zoo.Adam([w], lr=1e-2, state_dtype=changed)
    opt.load_state_dict(reference.state_dict())
    assert opt.param_groups[0]["state_dtype"] is None
    opt.param_groups[0]["state_dtype"] = changed
    opt.param_groups[0]["lr"] = 0.0
    saved = {b: reference.state[w][b].clone() for b in ("exp_avg", "exp_avg_sq")}
    w.grad = torch.zeros_like(w)  # this step: the state times β, nothing else
    opt.step()
    for b, beta in (("exp_avg", 0.9), ("exp_avg_sq", 0.999)):
        error = (_read(opt, w, changed, b) - beta * saved[b]).abs().max() / saved[b].abs().max()
        assert float(error) <= CLOSE[changed]


def test_a_state_dtype_that_is_no_format_is_refused_after_the_first_step_too():
    (w,) = _params([(5000,)])
    opt = zoo.Adam([w], lr=1e-2)
    _train([w], opt, 1)
    opt.param_groups[0]["state_dtype"] = torch.float16
    state = {k: t.clone() for k, t in opt.state[w].items()}
    w.grad = torch.ones_like(w)
    with pytest.raises(
        ValueError, match=r"state_dtype must be None, torch.float32.*got torch.float16"
    ):
        opt.step()
    assert all(torch.equal(t, opt.state[w][k]) for k, t in state.items())


@pytest.mark.parametrize("path", [{}, {"foreach": True}])
@pytest.mark.parametrize(
    "state_dtype, key, written",
    [
        (torch.bfloat16, "exp_avg", torch.zeros(5000, dtype=torch.uint8)),
        (torch.uint8, "exp_avg", torch.zeros(5000, dtype=torch.bfloat16)),
        (torch.uint8, "exp_avg_absmax", torch.zeros(5, dtype=torch.float32)),
    ],
)
def test_a_buffer_written_over_in_another_format_is_refused(state_dtype, key, written, path):
    """A state tensor replaced by hand with one of another dtype or size: the kernel would read
    it in the format's layout (uint8 codes as bfloat16 values: past their end), the reference
    would take it silently. Every step refuses it, naming the buffer and what the format keeps,
    before anything changes."""
    (w,) = _params([(5000,)])
    opt = zoo.Adam([w], lr=1e-2, state_dtype=state_dtype, **path)
    _train([w], opt, 1)
    opt.state[w][key] = written
    before = w.detach().clone()
    w.grad = torch.ones_like(w)
    with pytest.raises(ValueError, match=r"state exp_avg of parameter 0 of param group 0 holds"):
        opt.step()
    assert torch.equal(w.detach(), before)


@pytest.mark.parametrize("copy", ["state_dict", "deepcopy"])
@pytest.mark.parametrize(
    "made, changed",
    [(None, torch.uint8), (torch.bfloat16, None), (torch.uint8, torch.bfloat16)],
)
def test_a_checkpoint_or_copy_taken_after_a_state_dtype_switch_goes_on_as_the_original(
    made, changed, copy
):
    """state_dtype switched, then a checkpoint or a copy before the next step: the state is
    converted as that step would convert it, so the copy holds buffers of the format its group
    names, loads, and steps to the same bits as the original. Before, the checkpoint named the
    new format beside buffers in the old one (refused on load, even by the same optimizer), and
    a deepcopy's first step crashed in torch."""
    a = _params([(5000,), (300,)])
    opt = zoo.Adam(a, lr=1e-2, state_dtype=made)
    _train(a, opt, 2)
    opt.param_groups[0]["state_dtype"] = changed
    if copy == "state_dict":
        saved = io.BytesIO()
        torch.save(opt.state_dict(), saved)
        b = [w.detach().clone().requires_grad_() for w in a]
        other = zoo.Adam(b, lr=1e-2)
        saved.seek(0)
        other.load_state_dict(torch.load(saved))
    else:
        import copy as copying

        b, other = copying.deepcopy((a, opt))
    assert other.param_groups[0]["state_dtype"] == changed
    _same(_train(a, opt, 2, first=2), _train(b, other, 2, first=2), opt, other)


def test_a_state_dtype_switched_to_no_format_fails_the_checkpoint_not_the_load():
    (w,) = _params([(5000,)])
    opt = zoo.Adam([w], lr=1e-2, state_dtype=torch.bfloat16)
    _train([w], opt, 1)
    opt.param_groups[0]["state_dtype"] = "bf16"
    with pytest.raises(TypeError, match=r"state_dtype must be None.*got 'bf16' \(param group 0"):
        opt.state_dict()


@pytest.mark.parametrize(
    "name, state_dtype, error, match",
    [
        ("Adam", "bf16", TypeError, r"state_dtype must be None.*got 'bf16' \(param group 0\)"),
        ("Adam", torch.int8, ValueError, r"state_dtype must be None.*got torch.int8"),
        ("RGD", torch.bfloat16, ValueError, r"state_dtype=torch.bfloat16 needs an elementwise"),
    ],
)
def test_a_state_dtype_set_before_the_first_step_is_checked_at_that_step(
    name, state_dtype, error, match
):
    """Set in param_groups after the constructor, before any state exists: the first step
    checks it as the constructor does. Before, a dtype that is no format was kept as float32
    silently (and written into the checkpoint), and RGD looked up a bfloat16 kernel it has
    not (AttributeError)."""
    (w,) = _params([(5000,)])
    opt = getattr(zoo, name)([w], lr=1e-2)
    opt.param_groups[0]["state_dtype"] = state_dtype
    w.grad = torch.ones_like(w)
    with pytest.raises(error, match=match):
        opt.step()
    assert not opt.state[w]


@pytest.mark.parametrize("path", [{}, {"foreach": False}])
@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
@pytest.mark.parametrize("size", [50_000, 10])
def test_a_parameter_whose_data_changed_size_is_refused_not_read_past_its_state(
    state_dtype, size, path
):
    """``p.data = ...`` keeps the parameter and its state the same objects, so a check skipped
    for the tensors it checked last step missed it: the kernel read and wrote past the end of
    the state (heap corruption, a crash). Now a tensor of another size or dtype is checked
    again, and refused."""
    (w,) = _params([(5000,)])
    opt = zoo.Adam([w], lr=1e-2, state_dtype=state_dtype, **path)
    _train([w], opt, 2)
    w.data = torch.randn(size, dtype=torch.float32)
    w.grad = torch.randn(size, dtype=torch.float32)
    with pytest.raises(ValueError, match=rf"parameter 0 of param group 0 holds .* for its {size}"):
        opt.step()
    w.data = torch.randn(5000, dtype=torch.float32)
    w.grad = torch.randn(5000, dtype=torch.float32)
    opt.step()
    w.data = torch.zeros(10_000, dtype=torch.float16)  # the same bytes: twice the elements
    with pytest.raises(ValueError, match=r"has shape \(5000,\), the parameter \(10000,\)"):
        opt.step()
    w.data = torch.randn(5000, dtype=torch.float32)
    w.grad.set_(torch.ones(16, dtype=torch.float32))  # the gradient's storage set to fewer elements
    with pytest.raises(ValueError, match=r"has shape \(16,\), the parameter \(5000,\)"):
        opt.step()
    w.grad = torch.randn(5000, dtype=torch.float32)
    w.data = torch.randn(size, dtype=torch.float32)  # after its gradient: the gradient's size
    with pytest.raises(
        ValueError,
        match=rf"gradient of parameter 0 of param group 0 has shape \(5000,\), the parameter \({size},\)",
    ):
        opt.step()
    held = next(k for k in opt.state[w] if k != "step")
    opt.state[w][held].data = opt.state[w][held].data[:10]  # a state tensor shrunk in place
    w.data = torch.randn(5000, dtype=torch.float32)
    w.grad = torch.randn(5000, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"of parameter 0 of param group 0 holds"):
        opt.step()


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
def test_a_parameter_no_longer_contiguous_leaves_the_kernel_whose_layout_was_checked(
    state_dtype, kernel_calls
):
    """The kernel's layout is checked in full once, then only for contiguous parameters and
    gradients: a parameter's data made a transposed view of its own storage (the same pointer,
    shape and size) steps by the reference, to the bits of a run that took it all along."""
    runs = []
    for path in [{}, {"foreach": False}]:
        (w,) = _params([(64, 64)])
        opt = zoo.Adam([w], lr=1e-2, state_dtype=state_dtype, **path)
        _train([w], opt, 2)
        kernel_calls.clear()
        w.data = w.data.t()
        assert not w.is_contiguous()
        _train([w], opt, 2, first=2)
        assert kernel_calls == []
        runs.append((w, opt))
    (a, opt_a), (b, opt_b) = runs
    _same([a], [b], opt_a, opt_b)


def test_the_record_of_checked_state_is_void_once_a_tensor_of_it_is_gone():
    """``gather`` skips its checks for the very tensors it checked last; it keeps none alive,
    and an ``id`` of a tensor that is gone may be a new tensor's: the record is void then."""
    group, params, held = {}, [torch.zeros(3)], [torch.zeros(3), torch.zeros(1)]
    sizes = runtime._sizes(params, [], held)
    record = runtime._Checked(group, params, held, sizes)
    assert record.holds(group, params, held, sizes)
    assert not record.holds(group, params, held[::-1], sizes[:1] + sizes[:0:-1])
    assert not record.holds(group, params, [held[0], torch.zeros(1)], sizes)
    held.pop()
    assert not record.alive and not record.holds(group, params, held, sizes)


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
def test_a_group_without_gradients_steps_nothing_and_the_others_step(state_dtype):
    """A frozen group (no parameter with a gradient) beside one that trains: nothing to do for
    it, on every path (its empty state lists once failed a slice of step 0)."""
    runs = []
    for path in PATHS.values():
        frozen = torch.zeros(10, dtype=torch.float32, requires_grad=True)
        (w,) = _params([(5000,)])
        opt = zoo.Adam(
            [{"params": [frozen]}, {"params": [w]}], lr=1e-2, state_dtype=state_dtype, **path
        )
        opt.step()  # no gradient anywhere
        _train([w], opt, 3)
        assert not frozen.any() and not opt.state[frozen]
        runs.append((w, opt))
    (a, opt_a), *others = runs
    for b, opt_b in others:
        _same([a], [b], opt_a, opt_b)


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
def test_step_counters_of_two_dtypes_step_as_the_reference(state_dtype):
    """A checkpoint whose step counters are float64 for one parameter and float32 for another
    (written under another default dtype): the kernel reads every counter as the first one's
    type, so it wrote 8 bytes into a 4-byte counter; now such a group takes the reference."""
    runs = []
    for path in PATHS.values():
        params = _params([(5000,), (5000,)])
        opt = zoo.Adam(params, lr=1e-2, state_dtype=state_dtype, **path)
        _train(params, opt, 1)
        state = opt.state_dict()
        state["state"][0]["step"] = state["state"][0]["step"].double()
        state["state"][1]["step"] = state["state"][1]["step"].float()
        opt = zoo.Adam(params, lr=1e-2, state_dtype=state_dtype, **path)
        opt.load_state_dict(state)
        _train(params, opt, 3, first=1)
        assert [float(opt.state[q]["step"]) for q in params] == [4.0, 4.0]
        runs.append((params, opt))
    (a, opt_a), *others = runs
    for b, opt_b in others:
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        for x, y in zip(a, b, strict=True):
            for k, v in opt_a.state[x].items():
                if k != "step":  # its dtype is the path's (fused=True converts on load)
                    assert torch.equal(v, opt_b.state[y][k]), k


def test_a_state_tensor_replaced_by_a_view_at_its_own_address_steps_as_the_reference():
    """A state tensor replaced by a non-contiguous view of its own storage keeps the pointer
    the kernel's layout was keyed by: the record of the state made anew makes the layout
    checked anew, and every path reads the view in its logical order."""
    runs = []
    for path in PATHS.values():
        (w,) = _params([(64, 128)])
        opt = zoo.Adam([w], lr=1e-2, state_dtype=torch.bfloat16, **path)
        _train([w], opt, 1)
        held = opt.state[w]["exp_avg"]
        opt.state[w]["exp_avg"] = held.view(128, 64).t()
        assert opt.state[w]["exp_avg"].data_ptr() == held.data_ptr()
        _train([w], opt, 2, first=1)
        runs.append((w, opt))
    (a, opt_a), *others = runs
    for b, opt_b in others:
        _same([a], [b], opt_a, opt_b)


def test_a_block_whose_maximum_is_nan_reads_nan_on_every_path():
    """With ``nonfinite="ignore"`` a NaN gradient makes its 8-bit block's maximum NaN: the
    kernel reads the whole block as NaN, and so does the reference (which read its zero codes
    as 0, as it does for an overflowed block's, and stepped other parameters)."""
    runs = []
    for path in PATHS.values():
        (w,) = _params([(4096,)])
        opt = zoo.SGD(
            [w], lr=1e-2, momentum=0.9, state_dtype=torch.uint8, nonfinite="ignore", **path
        )
        for t in range(3):
            gen = torch.Generator().manual_seed(t)
            w.grad = torch.randn(4096, generator=gen, dtype=torch.float32)
            if t == 1:
                w.grad[7] = math.nan
            opt.step()
        runs.append((w.detach().view(torch.int32), opt.state[w]["momentum_buffer_absmax"]))
    (a, maxima), *others = runs
    assert math.isnan(maxima[0])
    for b, _ in others:
        assert torch.equal(a, b)


@pytest.mark.parametrize("state_dtype", FORMATS, ids=["bfloat16", "uint8"])
def test_float64_parameters_are_refused_however_they_came(state_dtype):
    """The constructor refuses float64 parameters with low-precision state; ``model.double()``
    after it, or a low-precision checkpoint loaded into an optimizer over float64 parameters,
    is refused too (at the step; at the load), where before it stepped in float32."""
    model = torch.nn.Linear(100, 50, dtype=torch.float32)
    opt = zoo.Adam(model.parameters(), lr=1e-2, state_dtype=state_dtype)
    model(torch.randn(4, 100, dtype=torch.float32)).sum().backward()
    opt.step()
    model.double()
    model(torch.randn(4, 100, dtype=torch.float64)).sum().backward()
    with pytest.raises(ValueError, match=r"parameter 0 of param group 0 is torch.float64"):
        opt.step()
    float64 = [w.detach().double().requires_grad_() for w in (model.weight, model.bias)]
    other = zoo.Adam(float64, lr=1e-2)
    with pytest.raises(ValueError, match=r"parameter 0 of param group 0 \(the loaded state's\)"):
        other.load_state_dict(opt.state_dict())


def test_an_8_bit_block_of_subnormal_values_is_stored_as_they_are_on_every_path():
    """A block whose largest magnitude is subnormal (below 1.2e-38): its inverse overflows
    float32, and every value (zeros included) was stored as ±a, differently by the kernel and
    the reference. Now both scale x and a by 2^64 first: zeros stay zero, the same codes."""
    runs = []
    for path in ({}, {"foreach": False}):
        w = torch.zeros(4096, dtype=torch.float32, requires_grad=True)
        opt = zoo.SGD([w], lr=1.0, momentum=0.9, state_dtype=torch.uint8, **path)
        w.grad = torch.zeros(4096, dtype=torch.float32)
        w.grad[0], w.grad[1] = 2e-39, -1e-39
        opt.step()
        runs.append((w.detach().clone(), opt.state[w]["momentum_buffer"].clone()))
        momentum = _read(opt, w, torch.uint8, "momentum_buffer")
        assert torch.count_nonzero(momentum) == 2
        assert abs(float(momentum[0]) - 2e-39) <= 0.02 * 2e-39
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("state_dtype", [None, torch.uint8])
def test_a_0_d_parameter_steps_in_float32_on_every_path(state_dtype):
    """A 0-d parameter met the fused equations' 0-d float64 numbers, and torch computed in
    float64 where the kernel computes in float32 (one ulp apart in exp_avg_sq after 5 steps)."""
    runs = []
    for kw in ({}, {"foreach": False}, {"fused": True}, "compiled"):
        w = torch.tensor(0.7, dtype=torch.float32, requires_grad=True)
        opt = zoo.Adam([w], lr=0.1, state_dtype=state_dtype, **(kw if kw != "compiled" else {}))
        step = torch.compile(opt.step, backend="aot_eager") if kw == "compiled" else opt.step
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            w.grad = torch.randn((), generator=gen, dtype=torch.float32)
            step()
        runs.append((float(w), float(opt.state[w]["exp_avg_sq"])))
    torch._dynamo.reset()
    assert len(set(runs)) == 1, runs


@pytest.mark.parametrize("path", list(PATHS))
def test_8_bit_adam_steps_as_float32_adam_where_its_block_spans_a_ratio_of_1e23(path):
    """A second moment 1e-24 beside 1e21 in one block of 256: its value times 1/max underflows
    to 0 in float32, and it was stored as 0 while the first moment was not, so Adam's second
    step read m/ε and moved the element by 1.5e10. Now it moves the way it does with float32
    state, and no further (the first step as float32's; at the second the first moment, 1e-13
    of its block's maximum, reads 0), on every path."""
    moved = {}
    for state_dtype in (None, torch.uint8):
        x = torch.zeros(4096, dtype=torch.float32, requires_grad=True)
        opt = zoo.Adam([x], lr=0.01, state_dtype=state_dtype, **PATHS[path])
        for first in (True, False):
            x.grad = torch.full_like(x, 1e-12)
            if first:
                x.grad[7] = 1e11
            opt.step()
        moved[state_dtype] = float(x[0])
    assert moved[None] < 0 and 0.4 < moved[torch.uint8] / moved[None] < 1.25, moved


@pytest.mark.parametrize("path", list(PATHS))
def test_8_bit_adam_keeps_a_tiny_first_moment_over_a_zero_second_moment_tiny(path):
    """g = 1e-22 beside 1 in a block: (1 − β2)g² is 0 in float32 itself, so the second moment is
    truly 0 and float32 Adam steps lr·m/ε ≈ 1e-17. The first moment, which Adam does not divide
    by, is stored as its nearest 8-bit value, 0 here; raised to its block's smallest value (as a
    buffer the rule divides by is) it stepped about 20·lr a step."""
    x = torch.zeros(4096, dtype=torch.float32, requires_grad=True)
    opt = zoo.Adam([x], lr=1e-3, state_dtype=torch.uint8, **PATHS[path])
    for _ in range(10):
        x.grad = torch.full_like(x, 1e-22)
        x.grad[7] = 1.0
        opt.step()
    assert abs(float(x[0])) < 1e-12
    assert float(x[7]) == pytest.approx(-1e-2, rel=1e-2)  # the large one: lr a step
    codes = opt.state[x]["exp_avg_sq"]
    assert bool((codes[:256] != storage._ZERO[False]).sum() == 1)  # only the large one is not 0


@functools.cache
def _relativistic_adam():
    """The README's MyRAD: relativistic momentum by leapfrog with Adam's closures."""
    from hamopt.kinetic import relativistic

    return derive(relativistic(), "leapfrog", "adam", name="MyRAD").cls


@pytest.mark.parametrize("path", list(PATHS))
def test_8_bit_state_of_a_derived_rule_keeps_a_tiny_momentum_tiny(path):
    """The momentum v of MyRAD sits in the denominator √(u² + m²c²), which never vanishes:
    read as 0 a tiny v steps less, and it is stored at its nearest value. Counted as a divisor
    (every buffer in a denominator), it was raised to its block's smallest value where the
    second moment is truly 0 (g = 1e-22 beside 1), and the coordinate moved 9e-3 in ten steps,
    against 1e-16 with float32 state."""
    x = torch.zeros(4096, dtype=torch.float32, requires_grad=True)
    opt = _relativistic_adam()([x], lr=1e-3, state_dtype=torch.uint8, **PATHS[path])
    for _ in range(10):
        x.grad = torch.full_like(x, 1e-22)
        x.grad[7] = 1.0
        opt.step()
    assert abs(float(x[0])) < 1e-12 and float(x[7]) < -1e-3


@pytest.mark.parametrize("path", list(PATHS))
def test_8_bit_state_of_a_second_moment_that_overflows_steps_no_nan(path):
    """g = 1e30 (finite, so the check passes) makes (1 − β2)g² = inf in float32: the block's
    maximum is inf, and its other values read 0·inf = NaN, so the parameters went NaN in two
    steps where float32 state steps 0 there (m/√inf). Now the overflowed value reads inf, the
    block's 0s read 0, its other second moments inf (frozen, as the overflowed one is in
    float32), and another block steps as it does with float32 state."""
    x = torch.zeros(4096, dtype=torch.float32, requires_grad=True)
    opt = zoo.Adam([x], lr=1e-3, state_dtype=torch.uint8, **PATHS[path])
    reference = x.detach().clone().requires_grad_()
    plain = zoo.Adam([reference], lr=1e-3, **PATHS[path])
    for _ in range(3):
        g = torch.zeros(4096, dtype=torch.float32)
        g[0], g[300:310] = 1e30, 1e-3  # 300...: in the second block
        x.grad, reference.grad = g.clone(), g.clone()
        opt.step()
        plain.step()
    assert bool(torch.isfinite(x).all())
    assert float(x[0]) == float(reference[0]) == 0.0
    assert bool((x[:256] == 0).all())
    torch.testing.assert_close(x[256:], reference[256:], rtol=2e-2, atol=1e-7)
    v = storage.load("int8", (opt.state[x]["exp_avg_sq"], opt.state[x]["exp_avg_sq_absmax"]))
    assert math.isinf(float(v[0])) and bool((v[1:256] == 0).all())
