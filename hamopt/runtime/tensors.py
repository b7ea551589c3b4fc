r"""The tensors a rule sees, and the two helpers its equations call on sharded tensors.

* :func:`real_views` — a complex parameter :math:`z \in \mathbb{C}^n` is the point
  :math:`(\Re z, \Im z) \in \mathbb{R}^{2n}` (``torch.view_as_real``, as ``torch.optim``
  does); torch's gradient of a real loss is then exactly the :math:`\mathbb{R}^{2n}` gradient,
  so the derived map on :math:`\mathbb{R}^{2n}` applies unchanged, and a norm is the Hermitian
  norm :math:`(\sum_i |z_i|^2)^{1/2}`.
* :func:`upcast` — a float16 or bfloat16 tensor is computed on as a float32 copy; its state is
  float32 and the parameter is rounded back once per step.
* :func:`whole` — under FSDP2 every tensor is a ``DTensor`` shard, and a reduction over a
  tensor (:math:`\lVert v\rVert = (\sum_r \lVert v_r\rVert^2)^{1/2}` over the shards
  :math:`v_r`) is partial until all-reduced: every reduction in a generated equation is wrapped
  in ``whole``, so each rank sees the reduction over the whole tensor. On a plain tensor it
  returns its argument.
* :func:`foreach_copy` — ``torch._foreach_copy_``, tensor by tensor where it has no kernel
  (DTensor).
* :func:`sqrt_rn` — the correctly rounded square root (IEEE's, as C++'s ``std::sqrt``), where
  torch's vectorised float32 ``sqrt`` on CPU may be one unit in the last place off.
* :func:`in_double` — a transcendental function in float64, rounded once (the kernel's way).
* :func:`before` — under autograd (``differentiable=True``), a copy of a buffer that its own
  update reads through a saved input (AMSGrad's maximum).
* :func:`nonsingular` — under autograd, the argument of a switch's branch with its singular
  point moved away where the switch takes another branch (tanh‖v‖/‖v‖ at ‖v‖ = 0).
"""

import math

import torch

__all__ = [
    "HALF",
    "PLAIN",
    "VIEWED",
    "before",
    "dense",
    "dense_grad",
    "foreach_copy",
    "foreach_max_abs",
    "in_double",
    "max_abs",
    "nonsingular",
    "one_d",
    "real_views",
    "sqrt_rn",
    "upcast",
    "whole",
]

#: Half-precision dtypes: computed in float32, with float32 state.
HALF = (torch.float16, torch.bfloat16)

#: dtypes a rule sees through a view: complex as pairs of reals, half precision as float32.
VIEWED = frozenset((torch.complex32, torch.complex64, torch.complex128, *HALF))

#: Tensor types that are plain memory (not a subclass such as DTensor).
PLAIN = (torch.Tensor, torch.nn.Parameter)


def real_views(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Complex tensors as their real views (a point of R^2n); others unchanged."""
    return [torch.view_as_real(t) if t.is_complex() else t for t in tensors]


def upcast(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Half-precision tensors as float32 copies; others unchanged."""
    return [t.float() if t.dtype in HALF else t for t in tensors]


def whole(x: torch.Tensor) -> torch.Tensor:
    """A reduction over a whole tensor, on every rank: a sharded DTensor's is partial until here."""
    placements = getattr(x, "placements", None)
    if placements is None or all(p.is_replicate() for p in placements):
        return x
    from torch.distributed.tensor import Replicate

    return x.redistribute(placements=[Replicate()] * len(placements))


def max_abs(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\lVert x \rVert_\infty`, torch's ``vector_norm(x, inf)``, and 0 for an empty
    tensor, where torch refuses the maximum over nothing (the kernel's and the NumPy
    evaluator's start at 0), so that every path steps an empty parameter alike."""
    if x.numel() == 0:
        return x.abs().new_zeros(())
    return torch.linalg.vector_norm(x, math.inf)


def foreach_max_abs(xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """:func:`max_abs` of each tensor: one ``torch._foreach_norm`` where none is empty."""
    if all(x.numel() for x in xs):
        return torch._foreach_norm(xs, math.inf)
    return [max_abs(x) for x in xs]


def foreach_copy(targets: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    """targets[i] ← values[i]: one ``torch._foreach_copy_``, tensor by tensor for DTensor."""
    if all(type(t) in PLAIN for t in targets):
        torch._foreach_copy_(targets, values)
    else:
        for target, value in zip(targets, values, strict=True):
            target.copy_(value)


def sqrt_rn(x: torch.Tensor) -> torch.Tensor:
    r"""\sqrt{x} rounded to nearest, as IEEE 754 and C++'s ``std::sqrt`` define it, so that the
    fused path's equations in torch and the C++ kernel agree to the bit. A float32 or half
    tensor's root is taken in float64 and rounded once to its type: the exact root rounded
    twice, first to 53 bits, is still the exact root rounded to 24 (53 ≥ 2·24 + 2), where
    torch's vectorised float32 ``sqrt`` on CPU is off by one unit in the last place for about
    one element in 150. Traced by ``torch.compile``, torch's own: inductor's vectorised root
    is the hardware's, correctly rounded, and twice as fast as one in float64."""
    if torch.compiler.is_compiling():
        return torch.sqrt(x)
    return in_double(torch.sqrt, x)  # elsewhere than CPU torch's own: no kernel to agree with


def in_double(fn, x: torch.Tensor, *args) -> torch.Tensor:
    """``fn(x, *args)`` (``torch.tanh``, ``torch.pow``…) computed in float64 and rounded once to
    ``x``'s type, as the C++ kernel computes a transcendental function of a float32 tensor
    (``T(std::tanh(double(x)))``): libm's and torch's float64 values lie within a unit in
    their last place of each other, so both round to the same float32 but for an exact value
    that close to a float32 rounding boundary. Elsewhere (float64, not CPU) ``fn`` itself."""
    if x.dtype == torch.float64 or not x.is_floating_point() or x.device.type != "cpu":
        return fn(x, *args)
    wide = [a.double() if isinstance(a, torch.Tensor) else a for a in args]
    return fn(x.double(), *wide).to(x.dtype)


def before(x: torch.Tensor) -> torch.Tensor:
    """``x`` where a later in-place call would overwrite a value autograd saved: ``x`` itself,
    or, with autograd on (``differentiable=True``), a copy, which the backward can still read
    after the write. The generated code reads through it a buffer that an equation writes in
    place (torch.optim's differentiable AMSGrad clones its maximum so), and the result of a call
    whose backward needs its output (``sqrt``, ``exp``…) before the next in-place call on it."""
    return x.clone() if torch.is_grad_enabled() else x


def nonsingular(x: torch.Tensor, singular: float) -> torch.Tensor:
    r"""``x`` as a switch's branch reads it where the switch takes that branch only at
    :math:`x \ne` ``singular``: ``x`` itself, or, with autograd on (``differentiable=True``),
    ``x`` with ``singular + 1`` where it equals ``singular``. ``torch.where`` sends the branch it
    does not take a zero gradient, and the branch's own derivative there can be NaN (that of
    :math:`\tanh\lVert v\rVert/\lVert v\rVert` at :math:`\lVert v\rVert = 0`): 0·NaN is NaN,
    so every gradient through the step would be. Where the branch is taken, ``x`` and its
    derivative are unchanged."""
    return torch.where(x == singular, singular + 1, x) if torch.is_grad_enabled() else x


def dense(t: torch.Tensor) -> bool:
    """Whether ``t``'s elements fill the memory from its data pointer on, without a gap or an
    overlap, in some order of its dimensions (contiguous, channels-last, a transpose...)."""
    if t.is_contiguous():
        return True
    expected = 1
    for stride, size in sorted(zip(t.stride(), t.shape, strict=True)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def dense_grad(p: torch.Tensor) -> torch.Tensor:
    """``p``'s gradient as a dense tensor: a sparse one (an embedding's, ``sparse=True``) made
    dense, as the steps read every element; any other as it is."""
    return p.grad.to_dense() if p.grad.layout == torch.sparse_coo else p.grad


def one_d(t: torch.Tensor) -> torch.Tensor:
    """``t``, where it is 0-d as a 1-element view (writes reach ``t``): the fused equations
    read their numbers as 0-d float64 tensors, and torch computes an operation whose tensors are
    all 0-d in the widest dtype, float64, where the kernel computes in float32."""
    return t.view(1) if t.dim() == 0 else t
