"""One rank of the distributed tests (``tests/optim/test_distributed.py``), run as a script.

Every rank trains the same float64 MLP on its half of a global batch, with every optimizer
case of :data:`CASES` on both generated paths (single-tensor, foreach), first under
``DistributedDataParallel`` and then under FSDP2 (``fully_shard``: parameters, gradients and
optimizer state are ``DTensor`` shards). As a contrast it also runs RGD on each rank's *local
shards* as plain tensors, so its norm is the shard's norm, not the tensor's. Rank 0 writes the
full parameters of every run to a file; the test compares them with single-process training on
the whole batch (:func:`train_single`, the same model and data).

Usage: ``python distributed_worker.py RANK WORLD_SIZE STORE_PORT OUT_FILE``; the test process
hosts the rendezvous store on ``127.0.0.1:STORE_PORT``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import torch

#: (optimizer, constructor arguments): every zoo optimizer, its variants and options.
CASES: tuple[tuple[str, dict], ...] = (
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("DLPF", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("NAG", dict(lr=0.05, momentum=0.9)),
    ("RGD", dict(lr=0.05, momentum=0.9, delta=2.0)),
    ("RGD", dict(lr=0.05, momentum=0.8, delta=1.0, order=2, weight_decay=0.05)),
    ("RAD", dict(lr=1e-2, order=2, delta=2.0)),
    ("RAD", dict(lr=1e-2, zeta=None, max_iter=150, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-2)),
    ("Adamax", dict(lr=1e-2, weight_decay=0.1)),
    ("NAdam", dict(lr=2e-3, weight_decay=0.1)),
    ("RAdam", dict(lr=1e-2)),
    ("Apollo", dict(lr=1e-2, warmup=3, weight_decay=0.01)),
    ("Lion", dict(lr=1e-3, weight_decay=0.1)),
)
#: The per-shard contrast: RGD with a strong norm coupling.
CONTRAST = ("RGD", dict(lr=0.05, momentum=0.9, delta=2.0))
STEPS = 10
GLOBAL_BATCH = 64


def mlp() -> torch.nn.Module:
    """The float64 network (seeded): layer shapes 12×6, 3×12, 1×3 shard unevenly on 2 ranks."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 12),
        torch.nn.Tanh(),
        torch.nn.Linear(12, 3),
        torch.nn.Tanh(),
        torch.nn.Linear(3, 1),
    ).double()


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch ``(x, y)`` (seeded)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(GLOBAL_BATCH, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(GLOBAL_BATCH, 1, generator=gen, dtype=torch.float64)
    return x, y


def optimizer(name: str, params, kwargs: dict, foreach: bool) -> torch.optim.Optimizer:
    import hamopt.optim

    return getattr(hamopt.optim, name)(params, foreach=foreach, **kwargs)


def _train(net, opt, x, y) -> None:
    for _ in range(STEPS):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()


def train_single(name: str, kwargs: dict, foreach: bool) -> list[torch.Tensor]:
    """Single-process training on the whole batch: the reference."""
    net = mlp()
    x, y = data()
    _train(net, optimizer(name, net.parameters(), kwargs, foreach), x, y)
    return [p.detach().clone() for p in net.parameters()]


def _local_batch(rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data()
    n = GLOBAL_BATCH // world
    return x[rank * n : (rank + 1) * n], y[rank * n : (rank + 1) * n]


def train_ddp(rank: int, world: int, name: str, kwargs: dict, foreach: bool) -> list:
    """DDP: gradients averaged over the ranks; returns this rank's (replicated) parameters."""
    net = torch.nn.parallel.DistributedDataParallel(mlp())
    x, y = _local_batch(rank, world)
    _train(net, optimizer(name, net.parameters(), kwargs, foreach), x, y)
    return [p.detach().clone() for p in net.parameters()]


def _fully_sharded(world: int) -> torch.nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))
    net = mlp()
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    return fully_shard(net, mesh=mesh)


def train_fsdp2(rank: int, world: int, name: str, kwargs: dict, foreach: bool):
    """FSDP2: ``DTensor`` parameters sharded on dim 0; returns the full (gathered) parameters
    and whether every tensor of optimizer state is a DTensor laid out like its parameter."""
    net = _fully_sharded(world)
    x, y = _local_batch(rank, world)
    opt = optimizer(name, net.parameters(), kwargs, foreach)
    _train(net, opt, x, y)
    sharded_state = all(
        getattr(value, "placements", None) == p.placements
        for p in net.parameters()
        for value in opt.state[p].values()
        if value.dim() > 0
    )
    return [p.full_tensor().detach().clone() for p in net.parameters()], sharded_state


def train_per_shard(rank: int, world: int, name: str, kwargs: dict, foreach: bool) -> list:
    """The contrast: FSDP2 training whose optimizer sees each rank's local shards as plain
    tensors, so a norm-coupled energy normalises by the shard's norm."""
    net = _fully_sharded(world)
    x, y = _local_batch(rank, world)
    params = list(net.parameters())
    shards = [p.to_local().detach().clone().requires_grad_() for p in params]
    opt = optimizer(name, shards, kwargs, foreach)
    for _ in range(STEPS):
        for p in params:
            p.grad = None
        ((net(x) - y) ** 2).mean().backward()
        for p, shard in zip(params, shards, strict=True):
            shard.grad = p.grad.to_local()
        opt.step()
        with torch.no_grad():
            for p, shard in zip(params, shards, strict=True):
                p.to_local().copy_(shard)
    return [p.full_tensor().detach().clone() for p in params]


def _attempt(errors: dict, key: tuple, train, *args):
    """``train(*args)``, or ``None`` with the error recorded under ``key``: both ranks run the
    same code, so both fail at the same operation (before its collective) and go on together."""
    try:
        return train(*args)
    except Exception as error:  # reported by the test that reads this run
        errors[key] = f"{type(error).__name__}: {error}"
        return None


def run(rank: int, world: int) -> dict:
    """Every run on this rank: ``{(case index, foreach): parameters}`` per mode, the checks,
    and ``errors[(mode, case index, foreach)]`` for runs that raised."""
    import torch.distributed as dist

    out: dict = {"ddp": {}, "fsdp2": {}, "sharded_state": {}, "replicas_agree": {}, "errors": {}}
    errors = out["errors"]
    for i, (name, kwargs) in enumerate(CASES):
        for foreach in (False, True):
            params = _attempt(
                errors, ("ddp", i, foreach), train_ddp, rank, world, name, kwargs, foreach
            )
            if params is not None:
                gathered = [[torch.empty_like(p) for _ in range(world)] for p in params]
                for p, slots in zip(params, gathered, strict=True):
                    dist.all_gather(slots, p)
                out["ddp"][i, foreach] = params
                out["replicas_agree"][i, foreach] = all(
                    torch.equal(slots[0], other) for slots in gathered for other in slots[1:]
                )
            fsdp2 = _attempt(
                errors, ("fsdp2", i, foreach), train_fsdp2, rank, world, name, kwargs, foreach
            )
            if fsdp2 is not None:
                out["fsdp2"][i, foreach], out["sharded_state"][i, foreach] = fsdp2
    out["per_shard"] = {
        foreach: train_per_shard(rank, world, *CONTRAST, foreach) for foreach in (False, True)
    }
    return out


def main(argv: list[str]) -> None:
    import torch.distributed as dist

    rank, world, port, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=timedelta(seconds=60))
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=world, timeout=timedelta(seconds=60)
    )
    try:
        results = run(rank, world)
        if rank == 0:
            torch.save(results, path)
        # both ranks done before either tears gloo down: a rank whose peer is still busy can
        # end in std::terminate at teardown (seen once in a full-suite run under load)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown, where gloo's threads can end in std::terminate


if __name__ == "__main__":
    main(sys.argv[1:])
