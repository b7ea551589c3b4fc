"""A NaN in one rank's shard of an FSDP2 gradient, seen by every rank: run as a script.

Two ranks (gloo, CPU) shard a linear layer with ``fully_shard`` and take one finite RGD step;
then rank 1 alone writes a NaN into its local shard of the weight's gradient and both call
``step()``. With ``nonfinite="raise"`` both ranks must raise, with ``"skip"`` both must skip,
and the full parameters must be unchanged on both. Each rank writes ``rank<r>.json`` in OUT_DIR:
``{mode: [outcome, message, unchanged]}``.

Usage: ``python sharded_nonfinite_worker.py OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def rank_main(rank: int, world: int, out_dir: str) -> None:
    store = Path(out_dir) / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import hamopt.optim

    mesh = init_device_mesh("cpu", (world,))
    out = {}
    for mode in ("raise", "skip"):
        torch.manual_seed(0)
        net = fully_shard(torch.nn.Linear(4, 4), mesh=mesh)
        opt = hamopt.optim.RGD(net.parameters(), lr=0.1, momentum=0.9, nonfinite=mode)
        x = torch.randn(3, 4)
        net(x).sum().backward()
        opt.step()
        before = [p.full_tensor().clone() for p in net.parameters()]
        net(x).sum().backward()
        if rank == 1:
            net.weight.grad.to_local()[0, 0] = float("nan")
        try:
            opt.step()
            outcome, message = "returned", ""
        except ValueError as error:
            outcome, message = "raised", str(error)
        after = [p.full_tensor() for p in net.parameters()]
        unchanged = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
        out[mode] = [outcome, message, unchanged]
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(out))
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # skip interpreter teardown, where gloo's threads have aborted the process


if __name__ == "__main__":
    import torch.multiprocessing as mp

    mp.spawn(rank_main, args=(2, sys.argv[1]), nprocs=2)
