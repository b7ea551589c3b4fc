r"""The dtype and device matrix: float16, bfloat16, float32, float64 parameters, on the
single-tensor, foreach and fused paths, on CPU and on CUDA (skipped without a GPU).

The convention (the issue's, and what torch's fused CUDA kernels do for the math): a float16 or
bfloat16 parameter keeps its optimizer state in **float32** and is updated in float32; only the
parameter itself is stored in its own dtype, rounded once per step. (torch.optim's single-tensor
and foreach paths in torch 2.13 keep the state in the parameter's dtype, ``zeros_like(p)``, and
round after every operation.) Three properties are tested:

* the state's dtypes: buffers float32 for half precision, else the parameter's; ``step``
  torch.optim's scalar dtype (float32; float64 under a float64 default dtype, as in these
  tests); the parameter keeps its dtype and device;
* **float32 math, rounded once** — bit for bit: a half-precision run equals a float32 run of the
  same optimizer whose parameter is rounded to the half dtype after every step;
* **against a float64 reference** run from the same (rounded) initial values on the same
  (rounded) gradients: :math:`\max|\theta_d - \theta_{64}| \le N\,\varepsilon_d\,\max|\theta|`
  after :math:`N` steps, :math:`\varepsilon_d` the dtype's machine epsilon (``finfo.eps``:
  2^-10 float16, 2^-7 bfloat16, 2^-23 float32, 2^-52 float64). Each step rounds the stored
  parameter by at most half an ulp, :math:`\tfrac12\varepsilon_d|\theta|`, and the float32 math
  adds a few float32 roundings of the update; the gradients are fixed, so errors do not feed
  back (save through the weight decay, a factor :math:`1 - \alpha\lambda`). Measured: at most
  0.38 of the bound (float32 AdamW), 0.15 in half precision. The parameters move by more than
  five times the bound (bfloat16: 6 to 15 times), so the comparison is not vacuous.

The fused path compiles (torch.compile) once per optimizer and layout; on CPU it is run for
Adam only (a half-precision group is upcast, so every dtype shares one float32 graph), on CUDA
for Adam, RGD and NAdam. Runtime on CPU: about 15 s, most of it one compilation.
"""

import inspect

import pytest
import torch

import hamopt.optim as zoo
from hamopt.zoo import ZOO

STEPS = 10
HALF = (torch.float16, torch.bfloat16)
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]

#: One configuration per zoo optimizer, each with weight decay.
CASES = {
    "SGD": dict(lr=0.05, momentum=0.9, weight_decay=0.1),
    "DLPF": dict(lr=0.05, momentum=0.9, weight_decay=0.1),
    "NAG": dict(lr=0.05, momentum=0.9, weight_decay=0.1),
    "RGD": dict(lr=0.05, momentum=0.9, delta=1.0, weight_decay=0.1),
    "RAD": dict(lr=0.05, zeta=None, max_iter=8, weight_decay=0.1),
    "Adam": dict(lr=0.05, weight_decay=0.1),
    "AdamW": dict(lr=0.05, amsgrad=True),
    "Adamax": dict(lr=0.05, weight_decay=0.1),
    "NAdam": dict(lr=0.05, weight_decay=0.1),
    "RAdam": dict(lr=0.05, weight_decay=0.1),
    "Apollo": dict(lr=0.05, warmup=2, weight_decay=0.1),
    "Lion": dict(lr=0.05, weight_decay=0.1),
}
assert set(CASES) == set(ZOO)

#: The fused path, where the optimizer has one (``fused=True``); run for these optimizers.
HAS_FUSED = "fused" in inspect.signature(zoo.Adam).parameters
FUSED = {"cpu": {"Adam"}, "cuda": {"Adam", "RGD", "NAdam"}}
PATHS = {"single": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}


def _matrix(dtypes):
    out = []
    for device in DEVICES:
        dev = device if isinstance(device, str) else device.values[0]
        marks = () if isinstance(device, str) else device.marks
        for path in PATHS:
            names = sorted(CASES) if path != "fused" else sorted(FUSED[dev])
            for name in names:
                for dtype in dtypes:
                    skip = (
                        [] if path != "fused" or HAS_FUSED else [pytest.mark.skip("no fused path")]
                    )
                    out.append(
                        pytest.param(
                            name,
                            dtype,
                            path,
                            dev,
                            marks=[*marks, *skip],
                            id=f"{name}-{str(dtype)[6:]}-{path}-{dev}",
                        )
                    )
    return out


def _start(rounding):
    """Initial values in [-0.5, 0.5] and the gradients of every step, rounded to ``rounding``."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (6,)]
    theta = [(torch.rand(s, generator=gen, dtype=torch.float64) - 0.5).to(rounding) for s in shapes]
    grads = [
        [torch.randn(s, generator=gen, dtype=torch.float64).to(rounding) for s in shapes]
        for _ in range(STEPS)
    ]
    return theta, grads


def _run(name, dtype, path, device, rounding=None):
    """``STEPS`` steps on parameters stored in ``dtype`` (values and gradients rounded to
    ``rounding``, by default ``dtype``); returns the parameters and the optimizer."""
    theta, grads = _start(rounding or dtype)
    params = [torch.nn.Parameter(t.to(device=device, dtype=dtype)) for t in theta]
    opt = getattr(zoo, name)(params, **CASES[name], **PATHS[path])
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.to(device=device, dtype=dtype)
        opt.step()
    return params, opt


@pytest.mark.parametrize(("name", "dtype", "path", "device"), _matrix(DTYPES))
def test_state_dtype_and_device(name, dtype, path, device):
    params, opt = _run(name, dtype, path, device)
    expected = torch.float32 if dtype in HALF else dtype
    for p in params:
        assert p.dtype == dtype and p.device.type == device and torch.isfinite(p).all()
        state = opt.state[p]
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        assert state["step"].dtype == scalar and float(state["step"]) == STEPS
        for key, value in state.items():
            if key != "step" and value.dim() > 0:
                assert value.dtype == expected and value.device == p.device, key


@pytest.mark.parametrize(("name", "dtype", "path", "device"), _matrix(HALF))
def test_half_precision_is_float32_math_rounded_once_per_step(name, dtype, path, device):
    """Bit for bit: the half-precision run equals float32 steps on a float32 copy of the
    parameter that is rounded to ``dtype`` after every step (state float32 throughout)."""
    got, _ = _run(name, dtype, path, device)
    theta, grads = _start(dtype)
    stored = [t.to(device=device, dtype=dtype) for t in theta]
    work = [torch.nn.Parameter(s.float()) for s in stored]
    opt = getattr(zoo, name)(work, **CASES[name], **PATHS[path])
    for step_grads in grads:
        for w, s, g in zip(work, stored, step_grads, strict=True):
            w.data.copy_(s)
            w.grad = g.to(device=device, dtype=torch.float32)
        opt.step()
        for w, s in zip(work, stored, strict=True):
            s.copy_(w)
    assert all(torch.equal(g, s) for g, s in zip(got, stored, strict=True))


@pytest.mark.parametrize(("name", "dtype", "path", "device"), _matrix(DTYPES))
def test_against_a_float64_reference(name, dtype, path, device):
    """max|θ_d - θ_64| <= N ε_d max|θ| after N steps, the parameters moving by more than
    five times that."""
    got, _ = _run(name, dtype, path, device)
    ref, _ = _run(name, torch.float64, "single", "cpu", rounding=dtype)
    got, ref = [p.detach() for p in got], [p.detach() for p in ref]
    theta, _ = _start(dtype)
    scale = max(float(t.abs().max()) for t in [*theta, *ref])
    tolerance = STEPS * torch.finfo(dtype).eps * scale
    error = max(float((g.cpu().double() - r).abs().max()) for g, r in zip(got, ref, strict=True))
    moved = max(float((r - t.double()).abs().max()) for r, t in zip(ref, theta, strict=True))
    assert error <= tolerance and moved > 5 * tolerance


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RAdam", "RAD"])
@pytest.mark.parametrize(
    "path", [dict(), dict(fused=True), dict(foreach=True), dict(foreach=False)]
)
def test_a_gradient_whose_square_overflows_float32_takes_torchs_step(name, path):
    """g = 3e19: g² overflows float32, (1-β₂)·g·g (torch's addcmul) does not. Every path
    computes it in that order, so the second moment is finite and the steps are torch's (the
    kernel's c·g² made y = inf, and the coordinate never moved again)."""
    reference = getattr(torch.optim, "Adam" if name == "RAD" else name)
    # RAD(δ = 1, ζ = 0) is Adam(ε = 0)
    kwargs, torch_kwargs = (dict(delta=1.0, zeta=0.0), dict(eps=0.0)) if name == "RAD" else ({}, {})
    runs = []
    for make in (
        lambda ps: getattr(zoo, name)(ps, lr=0.01, **kwargs, **path),
        lambda ps: reference(ps, lr=0.01, **torch_kwargs),
    ):
        w = torch.nn.Parameter(torch.tensor([5.0, 1.0], dtype=torch.float32))
        opt = make([w])
        for k in range(4):
            w.grad = torch.tensor([3e19, 1.0], dtype=torch.float32) if k == 0 else 2 * w.detach()
            opt.step()
        runs.append((w.detach().clone(), opt.state[w]["exp_avg_sq"].clone()))
    (w, y), (w_torch, y_torch) = runs
    assert torch.isfinite(y).all() and y[0] > 1e35
    torch.testing.assert_close(y, y_torch, rtol=1e-6, atol=0)
    torch.testing.assert_close(w, w_torch, rtol=1e-6, atol=0)
    assert w[0] != 5.0
