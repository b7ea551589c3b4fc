"""The helpers generated modules define for sharded (DTensor) parameters, on plain tensors.

Their DTensor behaviour — reductions over the whole tensor, write-back without
``torch._foreach_copy_`` — is tested under FSDP2 in ``tests/optim/test_distributed.py``.
"""

import torch

from hamopt.codegen.helpers import FOREACH_COPY, HELPERS, WHOLE, helpers_used


def _helpers() -> dict:
    namespace = {"torch": torch}
    for source in HELPERS.values():
        exec(source, namespace)
    return namespace


def test_whole_returns_a_plain_reduction_itself():
    norm = torch.linalg.vector_norm(torch.arange(4.0))
    assert _helpers()[WHOLE](norm) is norm


class _Tagged(torch.Tensor):
    """A tensor subclass: the foreach copy falls back to one copy_ per tensor."""


def test_foreach_copy_writes_plain_tensors_and_subclasses():
    copy = _helpers()[FOREACH_COPY]
    targets = [torch.zeros(3), torch.zeros(2, 2)]
    values = [torch.arange(3.0), torch.ones(2, 2)]
    copy(targets, values)
    assert all(torch.equal(t, v) for t, v in zip(targets, values, strict=True))
    tagged = [torch.zeros(3).as_subclass(_Tagged)]
    copy(tagged, [torch.full((3,), 7.0)])
    assert torch.equal(tagged[0].as_subclass(torch.Tensor), torch.full((3,), 7.0))


def test_modules_define_the_helpers_they_call():
    import inspect

    import hamopt.optim.adam as adam
    import hamopt.optim.rgd as rgd

    rgd_source, adam_source = inspect.getsource(rgd), inspect.getsource(adam)
    assert f"def {WHOLE}(" in rgd_source and f"{WHOLE}(torch.linalg.vector_norm(" in rgd_source
    assert f"def {WHOLE}(" not in adam_source  # Adam reduces nothing over a tensor
    assert (
        f"def {FOREACH_COPY}(" in adam_source and "torch._foreach_copy_(params" not in adam_source
    )
    assert helpers_used("") == []
