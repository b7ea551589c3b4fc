"""Float64 and seeded randomness for every test; the fused path's kernels in a temporary cache."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _kernel_cache(tmp_path_factory):
    """The generated C++ kernels are built into this session's own cache, not the user's."""
    old = os.environ.get("HAMOPT_CACHE_DIR")
    os.environ["HAMOPT_CACHE_DIR"] = str(tmp_path_factory.mktemp("hamopt-cache"))
    yield
    if old is None:
        del os.environ["HAMOPT_CACHE_DIR"]
    else:
        os.environ["HAMOPT_CACHE_DIR"] = old


@pytest.fixture
def peak_bytes():
    """``peak_bytes(step)``: the bytes one ``step()`` allocates above what exists, by the
    step-time benchmark's own measure (the torch profiler's allocations and frees)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "step_time.py"
    spec = importlib.util.spec_from_file_location("step_time_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return lambda step: benchmark.peak_step_memory(step, "cpu")


@pytest.fixture(autouse=True)
def _float64_and_seed():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    np.random.seed(0)
    yield
    torch.set_default_dtype(old)


def _mlp(seed=0):
    """The test network on random data: ``(net, loss)`` with ``loss()`` the mean squared error."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 12),
        torch.nn.Tanh(),
        torch.nn.Linear(12, 3),
        torch.nn.Tanh(),
        torch.nn.Linear(3, 1),
    ).double()
    x = torch.randn(64, 6, dtype=torch.float64)
    y = torch.randn(64, 1, dtype=torch.float64)
    return net, lambda: ((net(x) - y) ** 2).mean()


def _train(opt_cls, steps=200, seed=0, foreach=None, **kwargs):
    net, loss = _mlp(seed)
    if foreach is not None:
        kwargs["foreach"] = foreach
    opt = opt_cls(net.parameters(), **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


def _relative_difference(a, b):
    """Largest over tensors of max|a - b| / max|a|."""
    return max(float((x - y).abs().max() / x.abs().max()) for x, y in zip(a, b, strict=True))


@pytest.fixture
def mlp():
    return _mlp


@pytest.fixture
def train():
    return _train


@pytest.fixture
def relative_difference():
    return _relative_difference
