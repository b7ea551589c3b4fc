"""The runtime's tensor helpers for sharded (DTensor) parameters, on plain tensors.

Their DTensor behaviour — reductions over the whole tensor, write-back without
``torch._foreach_copy_`` — is tested under FSDP2 in ``tests/optim/test_distributed.py``.
"""

import inspect

import torch

import hamopt.optim.adam as adam
import hamopt.optim.apollo as apollo
import hamopt.optim.rgd as rgd
from hamopt.runtime.tensors import dense, foreach_copy, real_views, upcast, whole


def test_whole_returns_a_plain_reduction_itself():
    norm = torch.linalg.vector_norm(torch.arange(4.0))
    assert whole(norm) is norm


class _Tagged(torch.Tensor):
    """A tensor subclass: the foreach copy falls back to one copy_ per tensor."""


def test_foreach_copy_writes_plain_tensors_and_subclasses():
    targets = [torch.zeros(3), torch.zeros(2, 2)]
    values = [torch.arange(3.0), torch.ones(2, 2)]
    foreach_copy(targets, values)
    assert all(torch.equal(t, v) for t, v in zip(targets, values, strict=True))
    tagged = [torch.zeros(3).as_subclass(_Tagged)]
    foreach_copy(tagged, [torch.full((3,), 7.0)])
    assert torch.equal(tagged[0].as_subclass(torch.Tensor), torch.full((3,), 7.0))


def test_generated_equations_call_the_runtime_helpers():
    rgd_source, adam_source = inspect.getsource(rgd), inspect.getsource(adam)
    apollo_source = inspect.getsource(apollo)
    assert "whole(torch.linalg.vector_norm(" in rgd_source
    assert "whole(" not in adam_source  # Adam reduces nothing over a tensor
    assert "foreach_copy(" not in adam_source  # Adam writes its buffers in place
    assert "foreach_copy(updates" in apollo_source and "def foreach_copy" not in apollo_source


def test_complex_tensors_are_seen_as_real_and_half_precision_as_float32():
    z = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64)
    (r,) = real_views([z])
    assert r.shape == (2, 2) and r.dtype == torch.float32
    r[0, 1] = 5.0  # a view: writes reach the complex tensor
    assert z[0] == 1 + 5j
    h = torch.ones(3, dtype=torch.bfloat16)
    (u,) = upcast([h])
    assert u.dtype == torch.float32 and u is not h


def test_dense_layouts():
    x = torch.randn(4, 6)
    assert (
        dense(x)
        and dense(x.t())
        and dense(torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last))
    )
    assert not dense(x[:, :3]) and not dense(x[::2])
