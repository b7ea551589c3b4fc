r"""Time and memory of one Apollo step against Adam's, measured in the same run.

Self-contained: a ReLU MLP of a given width gets one fixed set of gradients; each optimizer's
``step()`` is timed alone (the gradients are not recomputed), in interleaved rounds so that the
machine's load hits every optimizer alike; the figure is the median over rounds of the mean
step time within a round. Memory is the optimizer's persistent state, summed over the tensors
in ``optimizer.state`` (Apollo keeps three buffers per parameter, Adam two). Ratios are taken
against ``torch.optim.Adam`` (the reference) and against the zoo's generated ``Adam`` (same code
generator as Apollo, so the ratio isolates the rule's own cost). Every optimizer runs its
single-tensor path (torch's CPU default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Cost", "measure"]


@dataclass(frozen=True)
class Cost:
    """Per optimizer name: median step time (s) and state bytes, for one model size."""

    parameters: int
    seconds: dict[str, float]
    state_bytes: dict[str, int]

    def ratio(self, name: str, against: str) -> float:
        return self.seconds[name] / self.seconds[against]

    def memory_ratio(self, name: str, against: str) -> float:
        return self.state_bytes[name] / self.state_bytes[against]


def _factories():
    from hamopt.optim import Adam, Apollo

    return {
        "Apollo": lambda p: Apollo(p, lr=0.01, warmup=0),
        "Adam (zoo)": lambda p: Adam(p, lr=1e-3),
        "torch.optim.Adam": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=False),
    }


def _state_bytes(opt: torch.optim.Optimizer) -> int:
    return sum(
        v.numel() * v.element_size()
        for state in opt.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor)
    )


def measure(width: int, *, steps: int = 20, rounds: int = 5, seed: int = 0) -> Cost:
    """Time ``steps`` steps per round, ``rounds`` rounds, for a 256-width-width-10 MLP."""
    torch.manual_seed(seed)
    factories = _factories()
    models, opts = {}, {}
    for name, make in factories.items():
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(256, width), torch.nn.ReLU(), torch.nn.Linear(width, width)
        )
        net.append(torch.nn.ReLU())
        net.append(torch.nn.Linear(width, 10))
        gen = torch.Generator().manual_seed(seed + 1)
        for p in net.parameters():
            p.grad = 1e-3 * torch.randn(p.shape, generator=gen)
        models[name], opts[name] = net, make(list(net.parameters()))
        for _ in range(3):  # warm up: state created, code paths compiled
            opts[name].step()
    samples: dict[str, list[float]] = {name: [] for name in factories}
    for _ in range(rounds):
        for name, opt in opts.items():
            start = time.perf_counter()
            for _ in range(steps):
                opt.step()
            samples[name].append((time.perf_counter() - start) / steps)
    count = sum(p.numel() for p in next(iter(models.values())).parameters())
    return Cost(
        count,
        {name: float(np.median(s)) for name, s in samples.items()},
        {name: _state_bytes(opt) for name, opt in opts.items()},
    )
