r"""Helper functions a generated module defines for sharded parameters (DTensor, FSDP2).

Under FSDP2 (``torch.distributed.fsdp.fully_shard``) every parameter, gradient and state buffer
is a ``DTensor``: each rank holds one shard. Elementwise equations then run shard by shard
unchanged, but two things need care:

* **Reductions are partial.** A reduction over a whole tensor —
  :math:`\lVert v\rVert = (\sum_{r} \lVert v_r\rVert^2)^{1/2}` over the shards :math:`v_r`,
  :math:`\sum_i x_i = \sum_r \sum_{i \in r} x_i` — returns a DTensor whose ranks hold their
  shards' values, pending an all-reduce. A nonlinear use (``sqrt``, ``square``) all-reduces it,
  but a linear one (``δ·d̂²`` in Apollo's curvature update) keeps it partial and lets DTensor
  pick a new layout for the result, which an in-place ``copy_`` into the shard then refuses.
  :data:`WHOLE` completes every reduction where it is computed, so each rank sees the
  reduction over the *whole* tensor (RGD's norm, Apollo's :math:`\lVert d\rVert_4` and sums),
  never over its local shard.
* **DTensor has no** ``torch._foreach_copy_``. :data:`FOREACH_COPY` writes a list of results
  back with the fused kernel on plain tensors and tensor by tensor otherwise.

On plain tensors both helpers leave the computation exactly as it was (the same kernels, the
same rounding). A module defines only the helpers its code calls (:func:`helpers_used`).
"""

from __future__ import annotations

__all__ = ["FOREACH_COPY", "HELPERS", "WHOLE", "helpers_used"]

#: Name of the reduction helper the printers wrap around every per-tensor reduction.
WHOLE = "_whole"

#: Name of the helper the foreach path writes its results back with.
FOREACH_COPY = "_foreach_copy"

#: Source of each helper, by name.
HELPERS: dict[str, str] = {
    WHOLE: f'''def {WHOLE}(x):
    """A reduction over a whole tensor, on every rank: a sharded DTensor's is partial until here."""
    placements = getattr(x, "placements", None)
    if placements is None or all(p.is_replicate() for p in placements):
        return x
    from torch.distributed.tensor import Replicate

    return x.redistribute(placements=[Replicate()] * len(placements))''',
    FOREACH_COPY: f'''def {FOREACH_COPY}(targets, values):
    """torch._foreach_copy_(targets, values); tensor by tensor where it has no kernel (DTensor)."""
    if all(type(t) in (torch.Tensor, torch.nn.Parameter) for t in targets):
        torch._foreach_copy_(targets, values)
    else:
        for target, value in zip(targets, values, strict=True):
            target.copy_(value)''',
}


def helpers_used(code: str) -> list[str]:
    """Sources of the helpers that ``code`` calls, in a fixed order.

    >>> [h.split("(")[0] for h in helpers_used("y = _whole(torch.sum(x))")]
    ['def _whole']
    >>> helpers_used("y = torch.sum(x)")
    []
    """
    return [source for name, source in HELPERS.items() if f"{name}(" in code]
