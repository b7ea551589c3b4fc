"""PyTorch's own optimizer tests, run on the zoo's drop-in replacements.

The OptimizerInfo entries that ship in the torch wheel
(``torch.testing._internal.common_optimizers.optim_db``) describe, for each torch.optim class,
the constructor inputs its tests run (``optim_inputs_func``) and the inputs that must be refused
(``optim_error_inputs_func``). For the six zoo classes with a torch reference (Adam, AdamW,
Adamax, NAdam, RAdam, SGD) this module takes those entries, swaps in the zoo class, keeps each
input's kwargs, and asserts what torch's generic tests in ``test/test_optim.py`` (and
``test/optim/test_optim.py`` for ``differentiable``) assert: on CPU, with small tensors, float32
where torch's test uses float32 and float64 where it uses float64. Where torch's test compares
two implementations, the zoo is compared with torch's own class in the same test (the same steps
to within the dtype's default ``assert_close`` tolerance; a torch checkpoint, also in an older
format, loaded and continued).

Cases are parametrized over (optimizer, behaviour, input): one test function per behaviour, ids
``<optimizer>-<input>[-<implementation>][-<dtype>]`` (``test_errors``: ``<optimizer>-<n>-<what>``).
The implementations are torch's ``_get_optim_inputs_including_global_cliquey_kwargs``: the
for-loop (``foreach=False``), ``foreach=True``, ``fused=True`` (the zoo has a fused CPU path for
every class) and, where torch's test does not skip it, ``differentiable=True`` (single-tensor
path). They are a parametrize axis where the behaviour goes through the update; printing, the
hooks and the no-gradient step loop over them inside one case, as torch's tests do.

Differences from torch's tests: torch's base configuration passes ``differentiable=False`` (and
``fused=False``) explicitly; here the for-loop passes ``foreach=False`` only, and
``test_accepts_torch_flags_at_their_defaults`` checks the explicit flags once per class, so that
one refused keyword does not fail every case. Documented difference (README, "Inputs"): a
parameter listed twice in one group is refused with a ValueError, where torch warns.

Importing ``common_optimizers`` imports torch's test utilities (they need ``expecttest``, a test
dependency). The import also freezes ``torch.backends``' global flags for torch's own suite;
they are unfrozen again.
"""

import copy
import io
import itertools
import re
import warnings

import pytest
import torch
from torch.nn import Parameter
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

import hamopt.optim as zoo


def _common_optimizers():
    """torch.testing._internal.common_optimizers, imported without side effects on this process."""
    frozen = torch.backends.flags_frozen()
    try:
        from torch.testing._internal import common_optimizers
    finally:
        if not frozen:
            torch.backends.__allow_nonbracketed_mutation_flag = True
    return common_optimizers


_DB = _common_optimizers()
NAMES = ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SGD")
INFOS = {
    info.optim_cls.__name__: info
    for info in _DB.optim_db
    if info.optim_cls.__name__ in NAMES and info.optim_cls is getattr(torch.optim, info.name)
}
ZOO = {name: getattr(zoo, name) for name in NAMES}
TORCH = {name: getattr(torch.optim, name) for name in NAMES}

# torch's global "cliquey" flags, one at a time (torch's base configuration is the for-loop)
IMPLS = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    "differentiable": {"foreach": False, "differentiable": True},
}
ALL = ("forloop", "foreach", "fused", "differentiable")
NOT_DIFFERENTIABLE = ("forloop", "foreach", "fused")
# flags an older checkpoint lacks: torch's not_og_supported_flags and the later decoupled decay
OLD_FLAGS = (
    "maximize",
    "foreach",
    "fused",
    "differentiable",
    "capturable",
    "decoupled_weight_decay",
)
# torch warns; the zoo refuses (README, "Inputs"): a ValueError naming the repeated parameter
DOCUMENTED = {
    "a param group cannot have duplicate parameters": (
        ValueError,
        r"(?is)parameter \d+.*(repeat|duplicate|twice|more than once)",
    ),
}
FP16_REDUCED_PRECISION = {"atol": 1e-5, "rtol": 1e-4}
ITERATIONS = 7  # torch's _compare_between: RAdam's rectification starts at step 6


def _slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _inputs(name):
    """torch's CPU inputs for ``name``, fresh (a tensor lr is mutable). The CUDA-only ones
    (capturable=True) are listed for CUDA devices only."""
    inputs = INFOS[name].optim_inputs_func(device="cpu", dtype=torch.float32)
    return [i for i in inputs if not i.kwargs.get("capturable", False)]


def _kwargs(name, index, impl="forloop", **override):
    return {**copy.deepcopy(_inputs(name)[index].kwargs), **IMPLS[impl], **override}


def _cases(impls=None, dtypes=None, where=None):
    """``(argnames, values)`` for pytest.mark.parametrize: (name, index[, impl][, dtype]) over
    every optimizer and torch input (``where(name, kwargs)`` filters)."""
    names = ["name", "index"] + (["impl"] if impls else []) + (["dtype"] if dtypes else [])
    values = []
    for name in NAMES:
        for index, optim_input in enumerate(_inputs(name)):
            if where is not None and not where(name, optim_input.kwargs):
                continue
            for impl, dtype in itertools.product(impls or [None], dtypes or [None]):
                parts = [name, _slug(optim_input.desc)]
                parts += [impl] if impl else []
                parts += [str(dtype).removeprefix("torch.")] if dtype else []
                value = [name, index] + ([impl] if impl else []) + ([dtype] if dtype else [])
                values.append(pytest.param(*value, id="-".join(parts)))
    return names, values


def _by_name(names=NAMES):
    return pytest.mark.parametrize("name", names, ids=list(names))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on these small tensors threads cost more than they save (a
    Conv2d/BatchNorm2d backward: 10 times faster on a loaded two-core machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _torch_default_dtype():
    """torch's tests run under torch's default dtype, float32 (this suite's conftest sets
    float64): a tensor made without a dtype, and torch's step counters, are float32."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(old)


# --- helpers ---------------------------------------------------------------------------------


def _weight_bias(dtype=torch.float32, contiguous=True):
    if contiguous:
        return Parameter(torch.randn(10, 5, dtype=dtype)), Parameter(torch.randn(10, dtype=dtype))
    weight = Parameter(torch.randn(10, 5, 2, dtype=dtype)[..., 0])
    bias = Parameter(torch.randn(10, 2, dtype=dtype)[..., 0])
    return weight, bias


def _clone(*params):
    return [Parameter(p.detach().clone()) for p in params]


def _closure(optimizer, weight, bias, x):
    def closure():
        optimizer.zero_grad()
        loss = (weight.mv(x) + bias).pow(2).sum()
        loss.backward()
        return loss

    return closure


def _step_schedulers(schedulers, loss):
    for scheduler in schedulers:
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(loss.item())
        else:
            scheduler.step()


def _assert_direction(kwargs, final, initial):
    if kwargs.get("maximize", False):
        assert final > initial, f"maximize: loss {initial} -> {final} did not increase"
    else:
        assert final < initial, f"loss {initial} -> {final} did not decrease"


def _assert_state_close(actual, expected, *, shared_only, where, **tolerance):
    """Per-parameter state: the same keys (``shared_only``: those both hold), each value close;
    a scalar (the step, NAdam's mu_product) by value, whatever its dtype."""
    if not shared_only:
        assert set(actual) == set(expected), f"{where}: state keys {set(actual)} != {set(expected)}"
    for key in set(actual) & set(expected):
        a, e = actual[key], expected[key]
        if isinstance(a, torch.Tensor) and a.dim() == 0:
            a = a.double()
            e = torch.as_tensor(e).double()
        torch.testing.assert_close(
            a, e, msg=lambda m, k=key: f"{where}, state {k!r}: {m}", **tolerance
        )


def _assert_same(a, b, where="state_dict"):
    """``a`` and ``b`` hold the same values: tensors bit for bit (and dtype), containers recursively."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), f"{where}: {type(b).__name__} is not a tensor"
        assert a.dtype == b.dtype and a.shape == b.shape, (
            f"{where}: {a.dtype}{tuple(a.shape)} != {b.dtype}{tuple(b.shape)}"
        )
        assert torch.equal(a, b), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (
            f"{where}: keys {a.keys()} != {getattr(b, 'keys', lambda: b)()}"
        )
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _model(dtype):
    """torch's _test_derived_optimizers model: Linear-Sigmoid-Linear-Sigmoid (seed 1) and a
    0-dim parameter as the last one."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid()
    ).to(dtype)
    scalar = torch.randn((), dtype=dtype, requires_grad=True)  # torch.empty((), ...) in torch
    scalar.grad = torch.rand_like(scalar)
    return model, [*model.parameters(), scalar]


def _lockstep(make_a, make_b, dtype, *, shared_only=False, **tolerance):
    """torch's _compare_between: two optimizers on two identical models, ``ITERATIONS`` steps
    (no gradients at the third, the second Linear frozen at the fourth and fifth), parameters
    and per-parameter state compared after every step."""
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=dtype).reshape(3, 2)
    runs = []
    for make in (make_a, make_b):
        model, params = _model(dtype)
        runs.append((model, params, make(params)))
    for i in range(ITERATIONS):
        for model, _, optimizer in runs:
            optimizer.zero_grad()
            if i == 3:
                model[2].requires_grad_(False)
            if i == 5:
                model[2].requires_grad_(True)
            if i != 2:
                model(x).sum().backward()
            optimizer.step()
        (_, params_a, opt_a), (_, params_b, opt_b) = runs
        for k, (p, q) in enumerate(zip(params_a, params_b, strict=True)):
            where = f"step {i + 1}, parameter {k}"
            torch.testing.assert_close(p, q, msg=lambda m, w=where: f"{w}: {m}", **tolerance)
            _assert_state_close(
                opt_a.state[p], opt_b.state[q], shared_only=shared_only, where=where, **tolerance
            )


def _each_impl(check, impls=ALL):
    """``check(impl)`` for each implementation, as torch's tests loop over its expanded inputs
    (for behaviours that do not depend on the update path); fails once, listing every
    implementation that failed and its error."""
    failed = []
    for impl in impls:
        try:
            check(impl)
        except Exception as error:
            failed.append(f"{impl}: {type(error).__name__}: {error}")
    if failed:
        pytest.fail("\n".join(failed))


# --- TestOptimRenewed.test_errors ------------------------------------------------------------


def _error_cases():
    values = []
    for name in NAMES:
        errors = INFOS[name].optim_error_inputs_func(device="cpu", dtype=torch.float32)
        for index, error in enumerate(errors):
            desc = _slug(error.optimizer_error_input.desc)
            values.append(pytest.param(name, index, id=f"{name}-{index:02d}-{desc}"))
    return values


@pytest.mark.parametrize(("name", "index"), _error_cases())
def test_errors(name, index):
    """Each of torch's error inputs is refused with an exception of torch's type (the message
    may differ); torch's warning for a parameter listed twice may be the documented ValueError."""
    error = INFOS[name].optim_error_inputs_func(device="cpu", dtype=torch.float32)[index]
    params, kwargs = error.optimizer_error_input.params, error.optimizer_error_input.kwargs
    cls = ZOO[name]
    if error.error_on == _DB.OptimizerErrorEnum.STEP_ERROR:
        optimizer = cls(params, **kwargs)
        act = optimizer.step
    else:

        def act():
            cls(params, **kwargs)

    if issubclass(error.error_type, Warning):
        documented = DOCUMENTED.get(error.optimizer_error_input.desc)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                act()
            except Exception as refused:
                if documented is None or not isinstance(refused, documented[0]):
                    raise
                assert re.search(documented[1], str(refused)), (
                    f"{refused!r} does not name the duplicate"
                )
                return
        assert any(issubclass(w.category, error.error_type) for w in caught), (
            f"expected {error.error_type.__name__} ({error.error_regex}), got {[str(w.message) for w in caught]}"
        )
    else:
        with pytest.raises(error.error_type):
            act()


# --- direction of the loss -------------------------------------------------------------------


@pytest.mark.parametrize(*_cases())
def test_forloop_goes_right_direction(name, index):
    """torch's test_forloop_goes_right_direction: 20 for-loop steps on contiguous and
    non-contiguous parameters, without and with each of torch's lr schedules, move the loss the
    right way."""
    info = INFOS[name]
    for contiguous, schedulers_c in itertools.product(
        (True, False), [None, *info.scheduler_inputs]
    ):
        kwargs = _kwargs(name, index)  # fresh: a scheduler mutates a tensor lr
        weight, bias = _weight_bias(contiguous=contiguous)
        x = torch.randn(5)
        optimizer = ZOO[name]([weight, bias], **kwargs)
        schedulers = [s(optimizer) for s in (schedulers_c or [])]
        closure = _closure(optimizer, weight, bias, x)
        initial = closure().item()
        for _ in range(20):
            loss = closure()
            optimizer.step()
            _step_schedulers(schedulers, loss)
        _assert_direction(kwargs, closure().item(), initial)


@_by_name()
def test_group_lr_with_default_constructor_lr(name):
    """torch's test_param_group_with_lrscheduler_goes_right_direction, against torch: the
    constructor's lr left at its default, one group setting its own; the groups' lr are torch's,
    and with each of torch's lr schedules the zoo takes torch's steps and lowers the loss."""
    for schedulers_c in INFOS[name].scheduler_inputs:
        weight, bias = _weight_bias()
        weight_t, bias_t = _clone(weight, bias)
        x = torch.randn(5)
        optimizer = ZOO[name]([{"params": [weight]}, {"params": [bias], "lr": 0.01}])
        reference = TORCH[name]([{"params": [weight_t]}, {"params": [bias_t], "lr": 0.01}])
        assert [g["lr"] for g in optimizer.param_groups] == [
            g["lr"] for g in reference.param_groups
        ]
        schedulers = [s(optimizer) for s in schedulers_c]
        schedulers_t = [s(reference) for s in schedulers_c]
        closure = _closure(optimizer, weight, bias, x)
        closure_t = _closure(reference, weight_t, bias_t, x)
        initial = closure().item()
        for _ in range(20):
            _step_schedulers(schedulers, optimizer.step(closure))
            _step_schedulers(schedulers_t, reference.step(closure_t))
            torch.testing.assert_close(weight, weight_t)
            torch.testing.assert_close(bias, bias_t)
        assert closure().item() < initial


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_param_groups_weight_decay(name, index, impl):
    """torch's test_param_groups_weight_decay: the weight with the input's weight decay, the
    bias in a second group without; the loss moves the right way."""
    weight_kwargs = _kwargs(name, index, impl)
    bias_kwargs = {**copy.deepcopy(weight_kwargs), "weight_decay": 0.0}
    weight, bias = _weight_bias()
    x = torch.randn(5)
    optimizer = ZOO[name](
        [dict(params=[weight], **weight_kwargs), dict(params=[bias], **bias_kwargs)]
    )
    closure = _closure(optimizer, weight, bias, x)
    initial = closure().item()
    for _ in range(20):
        loss = closure()
        optimizer.step()
    _assert_direction(weight_kwargs, loss.item(), initial)


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_param_groups_lr(name, index, impl):
    """torch's test_param_groups_lr: the input's kwargs in one group, the constructor's lr 1e-28
    for a second group, whose parameter does not move."""
    kwargs = _kwargs(name, index, impl)
    if "lr" not in kwargs or kwargs["lr"] == 0:
        kwargs["lr"] = 1e-3
    weight, bias = _weight_bias()
    irrelevant = Parameter(torch.randn(2))
    irrelevant_before = irrelevant.detach().clone()
    x = torch.randn(5)
    optimizer = ZOO[name](
        [dict(params=[weight, bias], **kwargs), dict(params=[irrelevant])], lr=1e-28
    )
    closure = _closure(optimizer, weight, bias, x)
    initial = closure().item()
    for _ in range(20):
        loss = closure()
        irrelevant.grad = torch.rand_like(irrelevant)
        optimizer.step()
    _assert_direction(kwargs, loss.item(), initial)
    torch.testing.assert_close(irrelevant.detach(), irrelevant_before)


# --- lr as a tensor --------------------------------------------------------------------------


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_tensor_lr(name, index, impl):
    """torch's test_tensor_lr: lr=torch.tensor(1e-3) takes the steps of lr=1e-3 (or is refused
    with a ValueError saying a tensor lr is not supported there, as torch's foreach path does)."""
    kwargs = _kwargs(name, index, impl, lr=1e-3)
    weight, bias = _weight_bias()
    weight_c, bias_c = _clone(weight, bias)
    x = torch.randn(5)
    optimizer_r = ZOO[name]([weight, bias], **kwargs)
    try:
        optimizer = ZOO[name]([weight_c, bias_c], **{**kwargs, "lr": torch.tensor(1e-3)})
    except ValueError as refused:
        assert re.search(r"(?i)lr.*tensor|tensor.*lr", str(refused)), refused
        return
    closure_r = _closure(optimizer_r, weight, bias, x)
    closure = _closure(optimizer, weight_c, bias_c, x)
    for _ in range(5):
        optimizer_r.step(closure_r)
        optimizer.step(closure)
        torch.testing.assert_close(weight_c, weight)
        torch.testing.assert_close(bias_c, bias)


@_by_name()
def test_tensor_lr_matches_torch(name):
    """lr=torch.tensor(0.01): the zoo's for-loop takes torch's steps."""
    _lockstep(
        lambda params: ZOO[name](params, lr=torch.tensor(0.01), foreach=False),
        lambda params: TORCH[name](params, lr=torch.tensor(0.01), foreach=False),
        torch.float32,
        shared_only=True,
    )


# --- no-op steps -----------------------------------------------------------------------------


@pytest.mark.parametrize(*_cases())
def test_step_is_noop_when_params_have_no_grad(name, index):
    """torch's test_step_is_noop_when_params_have_no_grad, each implementation."""
    params = [torch.randn(2, 3, requires_grad=False) for _ in range(2)]
    before = [p.detach().clone() for p in params]

    def check(impl):
        optimizer = ZOO[name](params, **_kwargs(name, index, impl))
        optimizer.step(lambda: torch.tensor([1.0]))
        torch.testing.assert_close(params, before)

    _each_impl(check)


@pytest.mark.parametrize(
    *_cases(ALL, where=lambda name, kwargs: kwargs.get("weight_decay", 0) == 0)
)
def test_step_is_noop_for_zero_grads(name, index, impl):
    """torch's test_step_is_noop_for_zero_grads (inputs without weight decay; AdamW's default
    decoupled decay at lr 1e-5, as torch's test sets it)."""
    kwargs = _kwargs(name, index, impl)
    if name == "AdamW":
        kwargs["lr"] = torch.tensor(1e-5) if isinstance(kwargs.get("lr"), torch.Tensor) else 1e-5
    param = torch.randn(5, 1, requires_grad=True)
    before = param.detach().clone()
    params = [param.clone()] if kwargs.get("differentiable", False) else [param]
    optimizer = ZOO[name](params, **kwargs)
    params[0].grad = torch.zeros_like(params[0])
    optimizer.step(lambda: torch.tensor([1.0]))
    torch.testing.assert_close(params[0].detach(), before)


@pytest.mark.parametrize(*_cases())
def test_optimizer_can_be_printed(name, index):
    """torch's test_optimizer_can_be_printed, each implementation."""
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)]

    def check(impl):
        assert repr(ZOO[name](params, **_kwargs(name, index, impl)))

    _each_impl(check)


@pytest.mark.parametrize(*_cases())
def test_non_empty_state(name, index):
    """torch's test_non_empty_state: after a step, every parameter's state holds something."""
    model = torch.nn.Linear(5, 5).float()
    optimizer = ZOO[name](model.parameters(), **_kwargs(name, index))
    model(torch.rand(2, 5)).sum().backward()
    optimizer.step()
    for state in optimizer.state.values():
        assert len(state) > 0


# --- the zoo against torch and its implementations against each other ------------------------


@pytest.mark.parametrize(*_cases(dtypes=(torch.float32, torch.float64)))
def test_matches_torch(name, index, dtype):
    """The zoo's for-loop takes torch's for-loop steps (parameters and the state both keep),
    on torch's _compare_between protocol."""
    _lockstep(
        lambda params: ZOO[name](params, **_kwargs(name, index)),
        lambda params: TORCH[name](params, **_kwargs(name, index)),
        dtype,
        shared_only=True,
    )


@pytest.mark.parametrize(*_cases())
def test_foreach_matches_forloop(name, index):
    """torch's test_foreach_matches_forloop (float64)."""
    _lockstep(
        lambda params: ZOO[name](params, **_kwargs(name, index, "forloop")),
        lambda params: ZOO[name](params, **_kwargs(name, index, "foreach")),
        torch.float64,
    )


@pytest.mark.parametrize(*_cases(dtypes=(torch.float32, torch.float64)))
def test_fused_matches_forloop(name, index, dtype):
    """torch's test_fused_matches_forloop: the zoo's fused CPU path takes its for-loop steps."""
    _lockstep(
        lambda params: ZOO[name](params, **_kwargs(name, index, "forloop")),
        lambda params: ZOO[name](params, **_kwargs(name, index, "fused")),
        dtype,
    )


@pytest.mark.parametrize(*_cases())
def test_set_default_dtype_works_with_foreach(name, index):
    """torch's test_set_default_dtype_works_with_foreach (CUDA-only in torch; its CPU part):
    under default dtype float64 and float16, foreach matches the for-loop, and the step counter
    has the dtype torch's own class gives it."""
    old = torch.get_default_dtype()
    for default in (torch.float64, torch.float16):
        try:
            torch.set_default_dtype(default)
            tolerance = FP16_REDUCED_PRECISION if default == torch.float16 else {}
            _lockstep(
                lambda params: ZOO[name](params, **_kwargs(name, index, "forloop")),
                lambda params: ZOO[name](params, **_kwargs(name, index, "foreach")),
                torch.float64,
                **tolerance,
            )
            p = Parameter(torch.randn(3, dtype=torch.float64))
            p.grad = torch.randn_like(p)
            reference = TORCH[name]([p], **_kwargs(name, index, "foreach"))
            reference.step()
            if not torch.is_tensor(reference.state[p].get("step")):
                continue  # torch keeps no step (SGD)
            q = Parameter(p.detach().clone())
            q.grad = p.grad.clone()
            optimizer = ZOO[name]([q], **_kwargs(name, index, "foreach"))
            optimizer.step()
            expected = reference.state[p]["step"].dtype
            actual = optimizer.state[q]["step"].dtype
            assert actual == expected, f"default {default}: step is {actual}, torch's {expected}"
        finally:
            torch.set_default_dtype(old)


@pytest.mark.parametrize(*_cases(("forloop", "foreach")))
def test_complex(name, index, impl):
    """torch's test_complex: complex parameters (and a real one) take the steps of their real
    views, ``torch.view_as_real``."""
    kwargs = _kwargs(name, index, impl)
    complex_params = [
        torch.randn(10, 5, dtype=torch.complex64, requires_grad=True),
        torch.randn(10, dtype=torch.complex64, requires_grad=True),
        torch.randn(10, 5, dtype=torch.float32, requires_grad=True),
    ]
    real_params = [
        (torch.view_as_real(p) if p.is_complex() else p).detach().clone().requires_grad_()
        for p in complex_params
    ]
    complex_optimizer = ZOO[name](complex_params, **kwargs)
    real_optimizer = ZOO[name](real_params, **copy.deepcopy(kwargs))
    for _ in range(3):
        for p, r in zip(complex_params, real_params, strict=True):
            r.grad = torch.randn_like(r)
            p.grad = torch.view_as_complex(r.grad.clone()) if p.is_complex() else r.grad.clone()
        real_optimizer.step()
        complex_optimizer.step()
        as_real = [torch.view_as_real(p) if p.is_complex() else p for p in complex_params]
        torch.testing.assert_close(as_real, real_params)


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_nonfinite_params_without_weight_decay(name, index, impl):
    """±inf parameters with weight_decay=0 (finite gradients): the steps torch takes (an
    infinite entry stays infinite, the finite ones move as usual, no NaN appears)."""
    kwargs = _kwargs(name, index, impl, weight_decay=0.0)
    reference_kwargs = _kwargs(name, index, weight_decay=0.0)
    inf = float("inf")
    values = [torch.tensor([inf, -inf, 0.5, -1.5, 2.0]), torch.tensor([[1.0, -inf], [0.25, 3.0]])]
    params = [Parameter(v.clone()) for v in values]
    params_t = [Parameter(v.clone()) for v in values]
    optimizer = ZOO[name](params, **kwargs)
    reference = TORCH[name](params_t, **reference_kwargs)
    for step in range(3):
        for p, q in zip(params, params_t, strict=True):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        optimizer.step()
        reference.step()
        for k, (p, q) in enumerate(zip(params, params_t, strict=True)):
            where = f"step {step + 1}, parameter {k}"
            torch.testing.assert_close(p, q, equal_nan=True, msg=lambda m, w=where: f"{w}: {m}")
            _assert_state_close(
                optimizer.state[p],
                reference.state[q],
                shared_only=True,
                where=where,
                equal_nan=True,
            )


# --- state_dict ------------------------------------------------------------------------------


def _named(params, named):
    return [(f"name{i}", p) for i, p in enumerate(params)] if named else list(params)


def _without_param_names(state_dict):
    state_dict = copy.deepcopy(state_dict)
    for group in state_dict["param_groups"]:
        group.pop("param_names", None)
    return state_dict


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_state_dict_deterministic(name, index, impl):
    """torch's test_state_dict_deterministic: a loaded state continues identically, and the
    state dicts are then equal; loading leaves the loaded dict unmodified and the step on CPU
    (test_state_dict_with_cuda_params, CPU part). Of torch's four combinations of named and
    unnamed parameters, the two mixed ones (each side named once)."""
    for named, named_c in ((True, False), (False, True)):
        kwargs = _kwargs(name, index, impl)
        weight = Parameter(torch.randn(2, 3))
        bias = Parameter(torch.randn(2))
        x = torch.randn(3)
        optimizer = ZOO[name](_named([weight, bias], named), **kwargs)
        closure = _closure(optimizer, weight, bias, x)
        for _ in range(10):
            closure()
            optimizer.step()
        weight_c, bias_c = _clone(weight, bias)
        optimizer_c = ZOO[name](_named([weight_c, bias_c], named_c), **copy.deepcopy(kwargs))
        closure_c = _closure(optimizer_c, weight_c, bias_c, x)
        saved = copy.deepcopy(optimizer.state_dict())
        loaded = copy.deepcopy(saved)
        optimizer_c.load_state_dict(loaded)
        _assert_same(loaded, saved, "the loaded state_dict")
        for state in optimizer_c.state.values():
            if torch.is_tensor(state.get("step")):
                assert state["step"].device.type == "cpu"
        for _ in range(10):
            closure()
            closure_c()
            optimizer.step()
            optimizer_c.step()
            torch.testing.assert_close(weight, weight_c)
            torch.testing.assert_close(bias, bias_c)
        _assert_same(
            _without_param_names(optimizer.state_dict()),
            _without_param_names(optimizer_c.state_dict()),
        )
        optimizer_c.param_groups.extend(optimizer_c.param_groups)
        _assert_same(
            _without_param_names(optimizer.state_dict())["param_groups"][-1],
            _without_param_names(optimizer_c.state_dict())["param_groups"][-1],
        )


@pytest.mark.parametrize(*_cases())
def test_load_torch_state_dict(name, index):
    """A torch.optim checkpoint (10 steps) loads into the zoo class, which then takes torch's
    next 10 steps. (The loaded param groups carry torch's foreach/fused flags, so the zoo's own
    implementation flags do not matter here.)"""
    kwargs = _kwargs(name, index)
    weight, bias = _weight_bias()
    x = torch.randn(5)
    reference = TORCH[name]([weight, bias], **copy.deepcopy(kwargs))
    closure_t = _closure(reference, weight, bias, x)
    for _ in range(10):
        reference.step(closure_t)
    weight_z, bias_z = _clone(weight, bias)
    optimizer = ZOO[name]([weight_z, bias_z], **kwargs)
    saved = copy.deepcopy(reference.state_dict())
    loaded = copy.deepcopy(saved)
    optimizer.load_state_dict(loaded)
    _assert_same(loaded, saved, "the loaded state_dict")
    closure = _closure(optimizer, weight_z, bias_z, x)
    for _ in range(10):
        reference.step(closure_t)
        optimizer.step(closure)
        torch.testing.assert_close(weight_z, weight)
        torch.testing.assert_close(bias_z, bias)


def _older(state_dict):
    """``state_dict`` as an older torch wrote it: the step (and NAdam's mu_product) a Python
    number, the flags added since then absent from the param groups."""
    state_dict = copy.deepcopy(state_dict)
    for state in state_dict["state"].values():
        for key in ("step", "mu_product"):
            if torch.is_tensor(state.get(key)):
                state[key] = state[key].item()
    for group in state_dict["param_groups"]:
        for flag in OLD_FLAGS:
            group.pop(flag, None)
    return state_dict


@pytest.mark.parametrize(*_cases())
def test_can_load_older_state_dict(name, index):
    """torch's test_can_load_older_state_dict, from torch: an older-format torch checkpoint
    (``_older``) of a Conv2d/BatchNorm2d model loads into the zoo class, which then takes the
    steps torch takes from the same checkpoint. (The flags are absent from the loaded groups, so
    the zoo's own implementation flags do not matter here.)"""
    kwargs = _kwargs(name, index)
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1, stride=2), torch.nn.BatchNorm2d(2)).float()
    # BatchNorm in eval mode and a weighted sum (torch's test: train mode, a plain sum): in train
    # mode the conv's gradient is zero up to rounding, and steps on rounding noise do not compare
    model.eval()
    x = torch.rand(1, 4, 8, 8)
    weights = torch.randn(1, 2, 4, 4)

    def loss(m):
        return (m(x) * weights).sum()

    source = TORCH[name](model.parameters(), **copy.deepcopy(kwargs))
    for _ in range(3):
        source.zero_grad()
        loss(model).backward()
        source.step()
    old = _older(source.state_dict())
    model_z, model_t = copy.deepcopy(model), copy.deepcopy(model)
    optimizer = ZOO[name](model_z.parameters(), **kwargs)
    optimizer.load_state_dict(copy.deepcopy(old))
    reference = TORCH[name](model_t.parameters(), **copy.deepcopy(kwargs))
    reference.load_state_dict(copy.deepcopy(old))
    for _ in range(3):
        for m, opt in ((model_z, optimizer), (model_t, reference)):
            opt.zero_grad()
            loss(m).backward()
            opt.step()
        torch.testing.assert_close(list(model_z.parameters()), list(model_t.parameters()))


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_load_nontensor_step(name, index, impl):
    """torch's test_load_nontensor_step: the zoo's own checkpoint with every step a Python
    number loads, and continues as the unmodified checkpoint does."""
    kwargs = _kwargs(name, index, impl)
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)]
    for p in params:
        p.grad = torch.rand_like(p)
    optimizer = ZOO[name](params, **kwargs)
    for _ in range(3):
        optimizer.step()
    saved = copy.deepcopy(optimizer.state_dict())
    twins = []
    for as_number in (False, True):
        state_dict = copy.deepcopy(saved)
        if as_number:
            for state in state_dict["state"].values():
                if torch.is_tensor(state.get("step")):
                    state["step"] = state["step"].item()
        twin = [Parameter(p.detach().clone()) for p in params]
        for t, p in zip(twin, params, strict=True):
            t.grad = p.grad.clone()
        opt = ZOO[name](twin, **copy.deepcopy(kwargs))
        opt.load_state_dict(state_dict)
        opt.step()
        twins.append(twin)
    torch.testing.assert_close(twins[1], twins[0])


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_save_load_equality_with_weights_only(name, index, impl):
    """torch's test_save_load_equality_with_weights_only: torch.save, then torch.load with and
    without weights_only, gives back an equal state_dict (named and unnamed parameters)."""
    for named in (False, True):
        weight = Parameter(torch.randn(2, 3))
        bias = Parameter(torch.randn(2))
        x = torch.randn(3)
        optimizer = ZOO[name](_named([weight, bias], named), **_kwargs(name, index, impl))
        closure = _closure(optimizer, weight, bias, x)
        for _ in range(3):
            optimizer.step(closure)
        state_dict = optimizer.state_dict()
        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        for weights_only in (False, True):
            buffer.seek(0)
            _assert_same(torch.load(buffer, weights_only=weights_only), state_dict)


@pytest.mark.parametrize(*_cases(NOT_DIFFERENTIABLE))
def test_deepcopy_copies_all_public_attrs(name, index, impl):
    """torch's test_deepcopy_copies_all_public_attrs."""
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)]
    for p in params:
        p.grad = torch.rand_like(p)
    optimizer = ZOO[name](params, **_kwargs(name, index, impl))
    for _ in range(3):
        optimizer.step()

    def public(obj):
        return {k for k in obj.__dict__ if not k.startswith("_")}

    assert public(optimizer) == public(copy.deepcopy(optimizer))


# --- hooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(*_cases())
def test_step_hooks(name, index):
    """torch's test_step_pre_hook, test_step_post_hook and test_step_all_hooks, each
    implementation: global and local hooks fire in order (global pre, local pre, local post,
    global post) and stop when removed."""

    def check(impl):
        params = [torch.tensor([1.0, 1.0])]
        optimizer = ZOO[name](params, **_kwargs(name, index, impl))
        other = torch.optim.SGD(params)
        data = []
        handles = []
        try:
            handles.append(register_optimizer_step_pre_hook(lambda *_: data.append(0)))
            handles.append(register_optimizer_step_post_hook(lambda *_: data.append(5)))
            for opt in (optimizer, other):
                handles.append(opt.register_step_pre_hook(lambda *_: data.append(1)))
                handles.append(opt.register_step_post_hook(lambda *_: data.append(2)))
            optimizer.step()
            assert data == [0, 1, 2, 5]
            other.step()
            optimizer.step()
            assert data == [0, 1, 2, 5] * 3
        finally:
            for handle in handles:
                handle.remove()
        optimizer.step()
        other.step()
        assert data == [0, 1, 2, 5] * 3

    _each_impl(check)


def _state_dict_pre_hook(optimizer):
    optimizer.state["test"] = 1


def _state_dict_post_hook(optimizer, state_dict):
    state_dict["ran_state_dict_pre_hook"] = "test" in state_dict["state"]
    state_dict["state"].pop("test", None)
    return state_dict


def _load_state_dict_pre_hook1(optimizer, state_dict):
    state_dict["param_groups"][0]["lr"] = 0.002


def _load_state_dict_pre_hook2(optimizer, state_dict):
    state_dict = copy.deepcopy(state_dict)
    state_dict["param_groups"][0]["lr"] = 0.003
    return state_dict


def _load_state_dict_post_hook(optimizer):
    optimizer.state["ran_load_state_dict_pre_hook2"] = optimizer.param_groups[0]["lr"] == 0.003
    optimizer.state["ran_load_state_dict_post_hook"] = True


@pytest.mark.parametrize(*_cases())
def test_state_dict_hooks(name, index):
    """torch's test_state_dict_pre_hook, _post_hook, _pre_post_hook and
    test_load_state_dict_pre_hook_and_prepend, _post_hook, _pre_post_hook, each implementation."""
    _each_impl(lambda impl: _check_state_dict_hooks(name, index, impl))


def _check_state_dict_hooks(name, index, impl):
    def fresh():
        param = torch.rand(2, 3, requires_grad=True)
        return ZOO[name]([param], **_kwargs(name, index, impl))

    optimizer = fresh()
    optimizer.register_state_dict_pre_hook(_state_dict_pre_hook)
    assert optimizer.state_dict()["state"]["test"] == 1

    optimizer = fresh()
    optimizer.register_state_dict_post_hook(_state_dict_post_hook)
    assert not optimizer.state_dict()["ran_state_dict_pre_hook"]

    optimizer = fresh()
    optimizer.register_state_dict_pre_hook(_state_dict_pre_hook)
    optimizer.register_state_dict_post_hook(_state_dict_post_hook)
    state_dict = optimizer.state_dict()
    assert "test" not in state_dict["state"] and state_dict["ran_state_dict_pre_hook"]

    optimizer = fresh()
    state_dict = optimizer.state_dict()
    optimizer.register_load_state_dict_pre_hook(_load_state_dict_pre_hook1)
    optimizer.load_state_dict(state_dict)
    assert optimizer.param_groups[0]["lr"] == 0.002
    optimizer.register_load_state_dict_pre_hook(_load_state_dict_pre_hook2, prepend=True)
    optimizer.load_state_dict(state_dict)
    assert optimizer.param_groups[0]["lr"] == 0.002  # prepended: hook1 runs last

    optimizer = fresh()
    optimizer.register_load_state_dict_post_hook(_load_state_dict_post_hook)
    optimizer.load_state_dict(optimizer.state_dict())
    assert not optimizer.state["ran_load_state_dict_pre_hook2"]
    assert optimizer.state["ran_load_state_dict_post_hook"]

    optimizer = fresh()
    optimizer.register_load_state_dict_pre_hook(_load_state_dict_pre_hook2)
    optimizer.register_load_state_dict_post_hook(_load_state_dict_post_hook)
    optimizer.load_state_dict(optimizer.state_dict())
    assert optimizer.state["ran_load_state_dict_pre_hook2"]
    assert optimizer.state["ran_load_state_dict_post_hook"]


# --- differentiable, capturable and the explicit flags ---------------------------------------


def _diff_step(p, grad, state, cls, kwargs, *state_values):
    """One differentiable step from ``state`` (torch's _diff_fn): the new parameter and the state
    tensors that require grad, as functions of ``p`` and ``grad``."""
    p = p.clone()
    p.grad = grad
    optimizer = cls([p], **kwargs)
    optimizer.state[p].update({k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()})
    optimizer.step()
    return (p, *(v for v in optimizer.state[p].values() if torch.is_tensor(v) and v.requires_grad))


@pytest.mark.parametrize(*_cases())
def test_differentiable(name, index):
    """torch's test_optimizers_differentiable_wrt_params: with differentiable=True on the
    single-tensor path, gradcheck through one step from a state the optimizer reached (float64)."""
    kwargs = _kwargs(name, index)
    source = torch.rand(10, dtype=torch.float64)
    source.grad = torch.rand_like(source)
    primer = ZOO[name]([source], **copy.deepcopy(kwargs))
    primer.step()
    state = primer.state_dict()["state"].get(0, {})
    kwargs.update(differentiable=True, foreach=False)
    params = torch.rand(10, dtype=torch.float64, requires_grad=True)
    grad = torch.rand(10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        _diff_step, (params, grad, state, ZOO[name], kwargs, *state.values())
    )


@_by_name()
def test_accepts_torch_flags_at_their_defaults(name):
    """The flags torch's tests pass explicitly at their off value (its base configuration:
    foreach, differentiable, fused as supported, capturable=False where torch has it) are
    accepted, and the zoo then takes torch's steps."""
    info = INFOS[name]
    flags = {flag: False for flag in info.supported_impls}
    if info.has_capturable_arg:
        flags["capturable"] = False
    _lockstep(
        lambda params: ZOO[name](params, **flags),
        lambda params: TORCH[name](params, **flags),
        torch.float32,
        shared_only=True,
    )


@_by_name([name for name in NAMES if INFOS[name].has_capturable_arg])
def test_capturable_refused_on_cpu(name):
    """capturable=True with CPU parameters (torch's CUDA-graph option; torch's step asserts the
    device) is refused with a ValueError or RuntimeError naming capturable, and nothing moves."""
    p = Parameter(torch.randn(3))
    before = p.detach().clone()
    with pytest.raises((ValueError, RuntimeError), match="capturable"):
        optimizer = ZOO[name]([p], capturable=True)
        p.grad = torch.randn_like(p)
        optimizer.step()
    torch.testing.assert_close(p.detach(), before)


@pytest.mark.parametrize(
    ("name", "impl"),
    [pytest.param(n, i, id=f"{n}-{i}") for n in NAMES for i in ("default", "fused")],
)
def test_meta_params(name, impl):
    """torch's test_fused_error_on_params_on_meta: a step on meta-device parameters is refused
    with the optimizer's own error (naming it and the meta device, not a failure from inside a
    tensor op); once the model is materialised on CPU, torch's test steps again (a no-op: the
    optimizer still holds the meta parameters, whose gradients were cleared), and an optimizer
    on the materialised parameters moves them."""
    kwargs = {"fused": True} if impl == "fused" else {}
    with torch.device("meta"):
        model = torch.nn.Sequential(
            torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1)
        )
    optimizer = ZOO[name](model.parameters(), **kwargs)
    with torch.device("meta"):
        for p in model.parameters():
            p.grad = torch.rand_like(p)
    with pytest.raises((RuntimeError, ValueError, TypeError, NotImplementedError)) as refused:
        optimizer.step()
    message = str(refused.value)
    assert "meta" in message and name in message, (
        f"not the optimizer's own error: {refused.value!r}"
    )
    optimizer.zero_grad(set_to_none=True)
    model.to_empty(device="cpu")
    optimizer.step()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
            p.grad = torch.rand_like(p)
    before = [p.detach().clone() for p in model.parameters()]
    ZOO[name](model.parameters(), **kwargs).step()
    assert all(not torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
