"""The fused path's generated C++ kernel (:mod:`hamopt.codegen.kernel`) on CPU.

Its agreement with the single-tensor path for every zoo optimizer is in ``test_fused.py``; here:
the source reads as the equations, the library is cached on disk and a second process loads it
without a compiler, a missing or failing compiler warns once and hands the step to torch.compile,
channels-last tensors take the kernel while tensors with gaps in memory (also ones that appear
between steps) go to torch.compile, and the split of a group's elements over threads (ranges spanning tensors,
empty tensors, float32 and float64 mixed) changes nothing. Last, the default path (neither
``fused`` nor ``foreach``): the kernel on CPU where it fits and builds, silently the single-tensor
path where it cannot be built, and the gradient check by the library's one vectorised read
(``all_finite``).
"""

import functools
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import hamopt.optim as zoo
from hamopt.codegen.inline import standalone
from hamopt.runtime.compiled import Compiled
from hamopt.runtime.kernel import Kernel
from hamopt.runtime.nonfinite import finite, with_grad

rad = importlib.import_module(zoo.RAD.__module__)


def _group(shapes, dtypes=(torch.float32,), transposed=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for k, shape in enumerate(shapes):
        p = torch.randn(shape, generator=gen, dtype=dtypes[k % len(dtypes)])
        params.append((p.t() if transposed else p).detach().requires_grad_())
    return params


def _steps(params, opt, steps, between=None):
    for t in range(steps):
        gen = torch.Generator().manual_seed(t)
        for p in params:
            p.grad = (p.detach() - 1) + torch.randn(p.shape, generator=gen).to(p.dtype)
        opt.step()
        if between:
            between(t, params)
    return params


def _same(a, b, tolerance=1e-6):
    for p, q in zip(a, b, strict=True):
        error = (
            float((p.detach() - q.detach()).abs().max() / q.detach().abs().max().clamp_min(1e-300))
            if q.numel()
            else 0.0
        )
        assert error <= tolerance, (p.shape, p.dtype, error)


@pytest.fixture
def fresh(monkeypatch):
    """RAD with no library loaded, no layout checked and nothing compiled yet."""
    monkeypatch.setattr(zoo.RAD, "KERNEL", Kernel("rad", rad.KERNEL_SOURCE))
    monkeypatch.setattr(zoo.RAD, "COMPILED", Compiled())
    return zoo.RAD


def test_kernel_source_is_the_equations_one_line_each():
    source = rad.KERNEL_SOURCE
    assert "HAMOPT_FORMATS(order1_fixed)" in source
    for line in [
        "exp_avg = T(beta1)*exp_avg + T(1 - beta1)*grad;  // momentum: EMA v = β1 v + (1-β1) g",
        "exp_avg_sq = T(beta2)*exp_avg_sq + T(1 - beta2)*grad*grad;  // second moment",
        "param = T(-lr*weight_decay + 1)*param;  // decoupled weight decay",
        "return [=](T& param, T grad, T& exp_avg, T& exp_avg_sq) {",
    ]:
        assert line in source, line
    for variant in zoo.RAD.RULES:  # every rule of the module, in its three formats
        assert f"HAMOPT_FORMATS({variant})" in source


def test_kernel_source_sweeps_once_per_level_of_reductions():
    """RGD's norm of the new momentum: one reduction pass, then the update. Apollo's "stable"
    decay: ‖d‖₄, then the two secant sums (which need it), then the mean mass, then the update."""
    rgd = importlib.import_module(zoo.RGD.__module__).KERNEL_SOURCE
    rule = rgd[rgd.index("void step_order1(") : rgd.index("void step_order2(")]
    assert "if constexpr (P == 1) sum_0 += squared(momentum_buffer);" in rule
    assert "std::sqrt(total(sums, threads, n, 1, i, 0));  // Norm2(momentum_buffer)" in rule
    assert "each_range_passes<2>(group, 1, sweep, finish);" in rule
    apollo = importlib.import_module(zoo.Apollo.__module__).KERNEL_SOURCE
    rule = apollo[apollo.index("void step_constant_stable(") : apollo.index("void step_belief_l2(")]
    assert "each_range_passes<4>(group, 4, sweep, finish);" in rule
    assert [rule.count(f"if constexpr (P == {p}) sum_") for p in (1, 2, 3, 4)] == [1, 2, 1, 0]


def test_kernel_is_used_and_matches_for_maximize(fresh):
    kwargs = dict(lr=0.01, weight_decay=0.01, maximize=True)
    a = _group([(30, 4), (7,)], (torch.float32, torch.float64))
    b = [p.detach().clone().requires_grad_() for p in a]
    _steps(a, zoo.RAD(a, fused=True, **kwargs), 20)
    _steps(b, zoo.RAD(b, foreach=False, **kwargs), 20)
    _same(a, b)
    assert fresh.KERNEL.path and not fresh.COMPILED.functions


def test_backward_through_a_graph_that_saved_a_stepped_parameter_is_refused(fresh):
    """The kernel writes behind autograd's back; its version bump keeps autograd's check."""
    w = torch.randn(3, requires_grad=True)
    x = torch.randn(3, requires_grad=True)
    loss = (w * x).sum()  # saves w for x's gradient
    w.grad = torch.ones(3)
    versions = w._version
    zoo.RAD([w], lr=0.1, fused=True).step()
    assert w._version > versions and fresh.KERNEL.path
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def _kernel_ops(events) -> list[str]:
    return [name for name in events if name.startswith("hamopt::kernel_step")]


def test_the_profiler_and_a_dispatch_mode_see_the_kernel_as_one_operator(fresh):
    """Called directly where nothing watches; dispatched as the operator where something does."""
    from torch.utils._python_dispatch import TorchDispatchMode

    w = torch.randn(5, requires_grad=True)
    w.grad = torch.ones(5)
    opt = zoo.RAD([w], lr=0.1, fused=True)
    with torch.profiler.profile() as profile:
        opt.step()
    assert _kernel_ops(e.name for e in profile.events()) == ["hamopt::kernel_step_v1"]

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.name())
            return func(*args, **(kwargs or {}))

    versions = w._version
    with Seen() as seen:
        opt.step()
    assert _kernel_ops(seen.ops) == ["hamopt::kernel_step_v1"]
    assert w._version > versions and opt.state[w]["step"].item() == 2.0
    opt.step()  # nothing watching: no operator, the same writes counted
    assert w._version > versions + 1 and opt.state[w]["step"].item() == 3.0


@pytest.mark.parametrize(
    ("name", "kwargs", "dtypes", "tolerance"),
    [
        ("Adam", dict(lr=0.01), (torch.float32, torch.float64), 1e-6),
        ("RGD", dict(lr=0.01, momentum=0.9), (torch.float32, torch.float64), 1e-6),
        # three passes of reductions; float64: float32 Apollo amplifies the sums' rounding
        ("Apollo", dict(lr=0.01, warmup=2, weight_decay_type="stable"), (torch.float64,), 1e-10),
    ],
)
def test_elements_split_over_threads_across_tensor_boundaries(name, kwargs, dtypes, tolerance):
    """Two threads take one contiguous range each of 180,015 elements in six tensors (an empty
    one and one of a single element among them): as one tensor at a time, the reductions of a
    tensor that both threads share included."""
    shapes = [(40001,), (0,), (70001,), (1,), (3, 23337), (1,)]
    a = _group(shapes, dtypes)
    b = [p.detach().clone().requires_grad_() for p in a]
    compiled = dict(getattr(zoo, name).COMPILED.functions)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _steps(a, getattr(zoo, name)(a, fused=True, **kwargs), 5)
    finally:
        torch.set_num_threads(threads)
    _steps(b, getattr(zoo, name)(b, foreach=False, **kwargs), 5)
    _same(a, b, tolerance)
    assert getattr(zoo, name).COMPILED.functions == compiled  # the kernel ran, nothing was compiled


def test_channels_last_group_takes_the_kernel(fresh):
    """A channels-last weight (dense, its dimensions in another order) with its buffers in the
    same layout: the kernel walks memory, the same element of each at the same place."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 3, 5, 5, generator=gen).to(memory_format=torch.channels_last)
    a = [weight.requires_grad_(), torch.randn(4, generator=gen).requires_grad_()]
    assert not a[0].is_contiguous()
    b = [p.detach().clone().requires_grad_() for p in a]  # clone keeps channels-last
    _steps(a, zoo.RAD(a, lr=0.01, fused=True), 5)
    _steps(b, zoo.RAD(b, lr=0.01, foreach=False), 5)
    _same(a, b)
    assert fresh.KERNEL.path and not fresh.COMPILED.functions


def test_group_with_gaps_in_memory_goes_to_torch_compile(fresh):
    """Every other column of a matrix (a slice) is not one run of memory: torch.compile."""
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(6, 8, generator=gen)[:, ::2].requires_grad_()]
    b = [p.detach().clone().requires_grad_() for p in a]
    _steps(a, zoo.RAD(a, lr=0.01, fused=True), 5)
    _steps(b, zoo.RAD(b, lr=0.01, foreach=False), 5)
    _same(a, b)
    assert fresh.COMPILED.functions and not fresh.COMPILED.failed


def test_layout_that_changes_between_steps_is_checked_again(fresh):
    """After step 2 a parameter's data becomes a transposed copy (new storage, not contiguous):
    the kernel, which read it as a flat array in the order of its buffers, must not run on it."""

    def transpose(t, params):
        if t == 1:
            params[0].data = params[0].data.t().contiguous().t()

    a, b = _group([(6, 5), (9,)]), None
    b = [p.detach().clone().requires_grad_() for p in a]
    _steps(a, zoo.RAD(a, lr=0.01, fused=True), 6, between=transpose)
    _steps(b, zoo.RAD(b, lr=0.01, foreach=False), 6, between=transpose)
    _same(a, b)
    assert fresh.COMPILED.functions  # steps 3 to 6


def test_parameter_transposed_on_its_own_storage_is_checked_again(fresh):
    """After step 2 a square parameter's data becomes its own transpose: the same storage, data
    pointer, numel and shape, other strides, while its gradients stay contiguous. The layout
    checked before must not pass for it: the kernel would meet the gradient's elements in
    another order than the parameter's."""
    a = _group([(5, 5), (9,)])
    b = [p.detach().clone().requires_grad_() for p in a]
    for params, opt in (
        (a, zoo.RAD(a, lr=0.01, fused=True)),
        (b, zoo.RAD(b, lr=0.01, foreach=False)),
    ):
        for t in range(6):
            if t == 2:
                params[0].data = params[0].data.t()
            gen = torch.Generator().manual_seed(t)
            for p in params:
                p.grad = (
                    (p.detach() - 1) + torch.randn(p.shape, generator=gen).to(p.dtype)
                ).contiguous()
            opt.step()
    assert not a[0].is_contiguous() and a[0].grad.is_contiguous()
    _same(a, b)


@pytest.mark.parametrize(
    ("compiler", "reason"),
    [("/nonexistent/c++", "FileNotFoundError"), ("false", "CalledProcessError")],
)
def test_no_compiler_warns_once_and_falls_back_to_torch_compile(
    fresh, monkeypatch, tmp_path, compiler, reason
):
    monkeypatch.setenv("HAMOPT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", compiler)
    a = _group([(5, 3), (7,)])
    b = [p.detach().clone().requires_grad_() for p in a]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _steps(a, zoo.RAD(a, lr=0.01, fused=True), 10)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith(
        f"RAD(fused=True): the C++ kernels could not be built with {compiler}, so fused steps "
        "run on torch.compile instead"
    )
    assert f"({reason}: " in messages[0]
    assert fresh.KERNEL.path == "" and fresh.COMPILED.functions
    _steps(b, zoo.RAD(b, lr=0.01, foreach=False), 10)
    _same(a, b)
    assert not list(tmp_path.rglob("*.so"))


_CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys, torch
    spec = importlib.util.spec_from_file_location("adam", sys.argv[1])  # standalone: torch only
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    p = torch.zeros(1000, requires_grad=True)
    p.grad = torch.ones(1000)
    module.Adam([p], lr=0.1, fused=True).step()
    print(json.dumps({"library": module.Adam.KERNEL.path,
                      "compiled": bool(module.Adam.COMPILED.functions), "p": p[0].item(),
                      "hamopt": sorted(m for m in sys.modules if m.startswith("hamopt"))}))
    """
)


def test_second_process_loads_the_cached_library_without_a_compiler(tmp_path):
    """The first process builds the library into the cache; the second, with no compiler on its
    PATH, loads the same file (had it tried to build, it would have fallen back and warned). Both
    run the exported Adam (the runtime inlined), which imports nothing of hamopt."""
    module = tmp_path / "adam.py"
    module.write_text(standalone(inspect.getsource(importlib.import_module(zoo.Adam.__module__))))

    def child(path):
        env = {**os.environ, "HAMOPT_CACHE_DIR": str(tmp_path), "PATH": path}
        env.pop("CXX", None)
        out = subprocess.run(
            [sys.executable, "-W", "error::RuntimeWarning", "-c", _CHILD, str(module)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = child(os.environ["PATH"])
    libraries = list((tmp_path / "kernels").glob("adam-*.so"))
    assert [str(p) for p in libraries] == [first["library"]]
    built = libraries[0].stat()
    second = child(str(tmp_path / "no-compiler-here"))
    assert second["library"] == first["library"] and not second["compiled"]
    assert libraries[0].stat().st_mtime_ns == built.st_mtime_ns
    assert second["p"] == first["p"] == pytest.approx(-0.1)
    assert first["hamopt"] == second["hamopt"] == []


@pytest.mark.parametrize("name", ["Adam", "RAD"])
def test_fused_step_keeps_two_buffers_and_allocates_no_temporary(fresh, name, peak_bytes):
    """State: exactly two full-size buffers and the step counter. A fused step allocates only the
    kernel's table and numbers (bytes per tensor), not one full-size temporary: the foreach step
    of the same group, which does, is the contrast."""
    a = _group([(250_000,)] * 4)
    for p in a:
        p.grad = torch.randn_like(p)
    fused = getattr(zoo, name)(a, lr=1e-3, fused=True, nonfinite="ignore")
    fused.step()  # the state exists, the library is loaded
    assert all(set(fused.state[p]) == {"step", "exp_avg", "exp_avg_sq"} for p in a)
    assert all(fused.state[p]["exp_avg"].numel() == p.numel() for p in a)
    smallest = min(p.numel() * p.element_size() for p in a)  # 1 MB
    assert peak_bytes(fused.step) < 4096
    foreach = getattr(zoo, name)(a, lr=1e-3, foreach=True, nonfinite="ignore")
    foreach.step()
    assert peak_bytes(foreach.step) >= smallest


# -- the default path (no fused, no foreach) and the kernel's gradient check -------------------
def _calls(monkeypatch, cls):
    """The number of kernel steps taken, counted from now."""
    calls = []
    original = cls._kernel_step

    def counted(self, *args, **kwargs):
        ran = original(self, *args, **kwargs)
        calls.append(ran)
        return ran

    monkeypatch.setattr(cls, "_kernel_step", counted)
    return calls


def test_no_flags_take_the_kernel_on_cpu(fresh, monkeypatch):
    calls = _calls(monkeypatch, fresh)
    a = _group([(6, 5), (9,)], dtypes=(torch.float32, torch.float64))
    b = [p.detach().clone().requires_grad_() for p in a]
    _steps(a, fresh(a, lr=0.01), 5)
    assert calls == [True] * 5 and fresh.KERNEL.path
    _steps(b, fresh(b, lr=0.01, foreach=False), 5)
    assert calls == [True] * 5  # foreach=False: one tensor at a time, no kernel
    _same(a, b)


@pytest.mark.parametrize("options", [dict(foreach=False), dict(foreach=True), dict(fused=False)])
def test_a_path_asked_for_is_taken(fresh, monkeypatch, options):
    calls = _calls(monkeypatch, fresh)
    a = _group([(4, 3)], dtypes=(torch.float64,))
    _steps(a, fresh(a, lr=0.01, **options), 2)
    assert calls == []


def test_differentiable_is_single_tensor_and_recorded(fresh, monkeypatch):
    """``differentiable=True``: no kernel (autograd cannot see through it); the step is a
    function of the leaf the parameter was computed from."""
    calls = _calls(monkeypatch, fresh)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    p = w.clone()
    p.grad = torch.ones(3, dtype=torch.float64)
    fresh([p], lr=0.01, differentiable=True).step()
    assert calls == [] and p.grad_fn is not None
    (grad,) = torch.autograd.grad(p.sum(), w)
    assert torch.equal(grad, torch.ones(3, dtype=torch.float64))


def test_half_precision_and_complex_take_the_kernel(fresh, monkeypatch):
    calls = _calls(monkeypatch, fresh)
    half = [torch.randn(7, dtype=torch.bfloat16, requires_grad=True)]
    twin = [half[0].detach().clone().requires_grad_()]
    _steps(half, fresh(half, lr=0.01), 3)
    _steps(twin, fresh(twin, lr=0.01, foreach=False), 3)
    assert calls == [True] * 3 and torch.equal(half[0], twin[0])
    z = [torch.randn(5, dtype=torch.complex128, requires_grad=True)]
    _steps(z, fresh(z, lr=0.01), 2)
    assert calls == [True] * 5


def test_without_a_compiler_the_default_path_is_single_tensor_and_silent(
    fresh, monkeypatch, tmp_path
):
    monkeypatch.setenv("HAMOPT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    a = _group([(5, 3), (7,)])
    b = [p.detach().clone().requires_grad_() for p in a]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a word
        _steps(a, fresh(a, lr=0.01), 4)
    assert fresh.KERNEL.path == "" and not fresh.COMPILED.functions
    _steps(b, fresh(b, lr=0.01, foreach=False), 4)
    _same(a, b, tolerance=0.0)


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"CXX": "false"}, "CalledProcessError"),
        ({"HAMOPT_CACHE_DIR": "/proc/no-such-folder"}, "the kernel cache /proc/no-such-folder/"),
    ],
)
def test_a_compiler_that_fails_or_a_cache_it_cannot_write_warns_once_on_the_default_path(
    fresh, monkeypatch, tmp_path, setting, reason
):
    """Silence is for a machine without a compiler; one that fails, or a cache folder that
    cannot be written, is a thing the user can mend, so the default path says so, once, and
    steps as the single-tensor path does."""
    monkeypatch.setenv("HAMOPT_CACHE_DIR", str(tmp_path))
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    a = _group([(5, 3), (7,)])
    b = [p.detach().clone().requires_grad_() for p in a]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _steps(a, fresh(a, lr=0.01), 4)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{fresh.__name__}: the C++ kernels could not be built with ")
    assert "steps take the foreach or single-tensor path instead" in messages[0]
    assert reason in messages[0]
    if "HAMOPT_CACHE_DIR" in setting:
        assert messages[0].endswith("set HAMOPT_CACHE_DIR to a writable folder)")
    _steps(b, fresh(b, lr=0.01, foreach=False), 4)
    _same(a, b, tolerance=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_the_kernel_check_finds_every_nonfinite_element(dtype, bad):
    """One bad element anywhere — in any tensor, at any offset, including the last element of a
    thread's range — is found; the check agrees with torch's max|g| test."""
    params = [torch.zeros(n, dtype=dtype, requires_grad=True) for n in (0, 1, 70001, 33)]
    opt = zoo.Adam(params, lr=0.01)
    for p in params:
        p.grad = torch.randn(p.shape, dtype=dtype)
    work = [(g, opt._rule(g), with_grad(opt, i, g)) for i, g in enumerate(opt.param_groups)]
    assert finite(work, opt) == [True, True]
    for k, index in ((1, 0), (2, 0), (2, 35000), (2, 70000), (3, 32)):
        grad = params[k].grad
        grad.view(-1)[index] = bad
        assert finite(work, opt) == [False, True], (k, index)
        assert finite(work, None).tolist() == [0.0, 1.0]  # torch's test agrees
        grad.view(-1)[index] = 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kernel_check_finds_a_nan_at_every_position(dtype):
    """The sweep reads each thread's range of a tensor as several streams side by side, and the
    elements past the last whole stream apart: a NaN at every position of a group whose ranges
    split a tensor between threads, each in turn, is found, and nothing else is reported."""
    grads = [torch.ones(n, dtype=dtype) for n in (3, 70001, 37)]
    kernel = zoo.Adam.KERNEL
    assert kernel.all_finite("Adam", grads) is True
    for grad in grads:
        flat = grad.view(-1)
        missed = []
        for index in range(flat.numel()):
            flat[index] = float("nan")
            if kernel.all_finite("Adam", grads) is not False:
                missed.append(index)
            flat[index] = 1.0
        assert not missed, (grad.numel(), missed[:10])
    assert kernel.all_finite("Adam", grads) is True


def test_the_kernel_check_raises_and_skips_before_anything_changes():
    params = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)]
    opt = zoo.Adam([{"params": params[:1]}, {"params": params[1:], "nonfinite": "skip"}], lr=0.1)
    params[0].grad, params[1].grad = torch.ones(3), torch.tensor([1.0, float("nan")])
    opt.step()  # the skip group's NaN: the whole step is skipped
    assert all(torch.equal(p, torch.ones_like(p)) for p in params) and not opt.state
    params[0].grad[1] = float("inf")
    with pytest.raises(ValueError, match=r"non-finite gradient .* parameter 0 of param group 0"):
        opt.step()
    assert all(torch.equal(p, torch.ones_like(p)) for p in params) and not opt.state


#: Every zoo optimizer, with arguments that exercise its equations; NAdam's numbers update its
#: scalar state before the kernel runs, so its check comes first, apart (the same contract).
CHECKED = {
    "Adam": dict(lr=0.01, weight_decay=0.01),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "Adamax": dict(lr=0.01),
    "NAdam": dict(lr=0.01),
    "RAdam": dict(lr=0.01),
    "SGD": dict(lr=0.01, momentum=0.9),
    "RAD": dict(lr=0.01),
    "RGD": dict(lr=0.01, momentum=0.9),
    "DLPF": dict(lr=0.01, momentum=0.9),
    "NAG": dict(lr=0.01, momentum=0.9),
    "Apollo": dict(lr=0.01, warmup=2),
    "Lion": dict(lr=1e-3),
}


def _snapshot(opt, params) -> list[torch.Tensor]:
    """Every tensor a step may write: the parameters and each tensor of the state."""
    return [p.detach().clone() for p in params] + [
        v.clone() for p in params for v in opt.state[p].values() if isinstance(v, torch.Tensor)
    ]


def _identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", list(CHECKED))
@pytest.mark.parametrize(
    ("dtype", "bad", "nonfinite", "path"),
    [
        (torch.float32, float("nan"), "raise", {}),
        (torch.float64, float("-inf"), "skip", dict(fused=True)),
    ],
    ids=["float32-nan-raise-default", "float64-neginf-skip-fused"],
)
def test_the_kernel_checks_in_its_own_call_before_anything_changes(
    monkeypatch, name, dtype, bad, nonfinite, path
):
    """One param group on the kernel: the gradients are read in the call that steps
    (``checked_step``), with no check in Python first, and a bad element — here the last of a
    tensor split over threads — leaves every parameter, buffer and step counter as it was;
    the run then goes on to the bit as one that never met the bad gradient."""
    cls = getattr(zoo, name)
    make = functools.partial(cls, nonfinite=nonfinite, **CHECKED[name], **path)
    checks = _checked_in_its_own_call(monkeypatch, make, [(70001,), (7, 3)], dtype, bad)
    # the check in Python: the first step (no state yet) only, but for NAdam
    assert checks == (2 * 5 + 1 if name == "NAdam" else 2)


@pytest.mark.parametrize("name", ["Adam", "RAD", "SGD", "Lion"])
@pytest.mark.parametrize(
    ("state_dtype", "bad", "nonfinite", "path"),
    [
        (torch.bfloat16, float("nan"), "raise", {}),
        (torch.uint8, float("-inf"), "skip", dict(fused=True)),
    ],
    ids=["bfloat16-nan-raise-default", "uint8-neginf-skip-fused"],
)
def test_the_kernel_checks_low_precision_state_in_its_own_call(
    monkeypatch, name, state_dtype, bad, nonfinite, path
):
    """The same with the state in bfloat16 or 8 bits (every tensor large enough for the 8-bit
    format, so that the group is one kernel call): the low-precision kernel's call reads the
    gradients first, and a bad one changes no parameter, code, block maximum or counter."""
    make = functools.partial(
        getattr(zoo, name), nonfinite=nonfinite, state_dtype=state_dtype, **CHECKED[name], **path
    )
    checks = _checked_in_its_own_call(monkeypatch, make, [(70001,), (64, 64)], torch.float32, bad)
    assert checks == 2


def _checked_in_its_own_call(monkeypatch, make, shapes, dtype, bad) -> int:
    """Two runs of ``make(params)`` on parameters of ``shapes``: one meets a gradient whose
    last element is ``bad`` at its fourth step, and must raise (``nonfinite="raise"``) or skip
    with nothing changed, then go on to the bit as the other, which never meets it. The
    number of checks in Python (:func:`~hamopt.runtime.nonfinite.finite`) the runs made."""
    checks = []
    monkeypatch.setattr(
        "hamopt.runtime.optimizer.finite", lambda *a: checks.append(1) or finite(*a)
    )
    runs = []
    for meets_bad in (True, False):
        params = _group(shapes, dtypes=(dtype,))
        opt = make(params)
        _steps(params, opt, 3)
        if meets_bad:
            before = _snapshot(opt, params)
            params[0].grad[-1] = bad
            if opt.param_groups[0]["nonfinite"] == "raise":
                with pytest.raises(
                    ValueError, match=r"non-finite gradient .* parameter 0 of param"
                ):
                    opt.step()
            else:
                assert opt.step() is None
            assert _identical(_snapshot(opt, params), before)
        _steps(params, opt, 2)
        runs.append(_snapshot(opt, params))
    assert _identical(*runs)
    return len(checks)


def test_the_check_comes_first_for_several_groups_and_under_the_profiler(monkeypatch):
    """Where the kernel cannot check in its own call — several groups, each checked before
    any steps; the operator, under the profiler — the check comes first, with the same
    contract."""
    checks = []
    monkeypatch.setattr(
        "hamopt.runtime.optimizer.finite", lambda *a: checks.append(1) or finite(*a)
    )
    params = _group([(5, 3), (4,)])
    opt = zoo.Adam([{"params": params[:1]}, {"params": params[1:], "nonfinite": "skip"}])
    _steps(params, opt, 2)
    assert len(checks) == 2
    params[1].grad[0] = float("nan")
    before = _snapshot(opt, params)
    opt.step()
    assert _identical(_snapshot(opt, params), before) and len(checks) == 3
    single = zoo.Adam(params[:1])
    _steps(params[:1], single, 2)
    params[0].grad[0, 0] = float("inf")
    before = _snapshot(single, params[:1])
    with torch.profiler.profile() as profile:
        with pytest.raises(ValueError, match="non-finite gradient"):
            single.step()
    assert _identical(_snapshot(single, params[:1]), before)
    assert "hamopt::kernel_step_v1" not in {e.name for e in profile.events()}
    params[0].grad[0, 0] = 1.0
    with torch.profiler.profile() as profile:
        single.step()
    assert "hamopt::kernel_step_v1" in {e.name for e in profile.events()}
    assert not _identical(_snapshot(single, params[:1]), before)


class _Eager:
    """``Compiled`` that runs the fused equations eagerly, uncompiled."""

    failed = ()

    def __call__(self, optimizer, name, fn, *args, inputs_checked=None, **kwargs):
        fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
        ("NAG", dict(lr=0.01, momentum=0.9)),
        ("RAD", dict(lr=0.01, weight_decay=0.01)),
        ("RAD", dict(lr=0.01, order=2, max_iter=50)),
        ("Adam", dict(lr=0.01, weight_decay=0.01)),
        ("AdamW", dict(lr=0.01, amsgrad=True)),
        ("NAdam", dict(lr=0.01, weight_decay=0.01)),
        ("RAdam", dict(lr=0.01)),
        ("Lion", dict(lr=1e-3, weight_decay=0.1)),
    ],
)
def test_the_fused_equations_in_torch_compute_as_the_kernel_to_the_bit(name, kwargs):
    """``_fused_<rule>`` prints each equation operation for operation as the kernel computes it
    (one number per sub-expression free of tensors, the same operands in the same order, the
    correctly rounded square root), so in float32 eager torch and the kernel agree to the bit:
    what lets low-precision state round the same values on every path."""
    cls = getattr(zoo, name)
    runs = []
    for eager in (False, True):
        params = _group([(40, 30), (70_000,), (5,)])
        opt = cls(params, fused=True, **kwargs)
        if eager:
            opt.KERNEL, opt.COMPILED = None, _Eager()
        runs.append((_steps(params, opt, 20), opt))
    (a, opt_a), (b, opt_b) = runs
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)
        for k in opt_a.state[p]:
            assert torch.equal(opt_a.state[p][k], opt_b.state[q][k]), k


def test_a_hyperparameter_named_like_a_name_of_the_elementwise_kernel_is_renamed():
    """``block``, ``last`` and ``extra`` are the template's own: the kernel renames the
    symbol (``block_``), builds, and is the step that runs."""
    import sympy as sp

    from hamopt.derive import derive
    from hamopt.symbols import p

    block = sp.Symbol("block", positive=True)
    cls = derive(block * sp.sqrt(p**2 + 1), "euler", "adam", name="Blk", params=("block",)).cls
    assert "block_ = numbers[" in cls.KERNEL.source
    params = _group([(300,)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed build would warn
        _steps(params, cls(params, lr=0.01, block=1.0, fused=True), 2)
    assert cls.KERNEL.path


@pytest.mark.parametrize("path", [{}, {"foreach": False}, {"foreach": True}])
@pytest.mark.parametrize("replaced", ["data", "grad"])
def test_a_gradient_or_data_of_other_size_is_a_value_error_after_the_layout_was_checked(
    path, replaced
):
    """The kernel's layout, checked once, is keyed by the parameters' sizes and pointers: a
    float16 ``.data`` of the parameter's bytes (twice its elements), or a gradient whose
    storage was set to fewer elements, leaves the kernel (which would read past an end) and
    is the caller's ValueError naming the tensor on every path, not torch's size mismatch;
    nothing changes."""
    p = torch.nn.Parameter(torch.randn(8192, dtype=torch.float32))
    opt = zoo.Adam([p], lr=1e-2, **path)
    for _ in range(2):
        p.grad = torch.randn(8192, dtype=torch.float32)
        opt.step()
    if replaced == "data":
        p.data = torch.zeros(16384, dtype=torch.float16)
        shapes = r"\(8192,\), the parameter \(16384,\)"
    else:
        p.grad.set_(torch.ones(16, dtype=torch.float32))
        shapes = r"\(16,\), the parameter \(8192,\)"
    before = p.detach().clone()
    with pytest.raises(
        ValueError, match=rf"Adam: the gradient of the group's parameter 0 .*{shapes}"
    ):
        opt.step()
    assert torch.equal(p.detach(), before)
