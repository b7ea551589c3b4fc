"""Exact resume: a state_dict saved at step k and loaded in a fresh process, into a fresh model
and optimizer, continues bit for bit like the uninterrupted run.

Every zoo optimizer (with RAD's annealed ζ, NAdam's μ product, AMSGrad's running max), float32
and float64 parameters (and float32 parameters under a float64 default dtype, where NAdam's
scalar state is float64), single-tensor and foreach paths: ``torch.equal`` on every parameter.
One subprocess (``resume_worker.py``) resumes all the runs; about 5 s in all.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("resume_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _load_worker():
    spec = importlib.util.spec_from_file_location("resume_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``(uninterrupted, resumed)`` final parameters by run key."""
    old = torch.get_default_dtype()
    checkpoints, uninterrupted = {}, {}
    try:
        for k, case, dtype, default, foreach in worker.keys():
            torch.set_default_dtype(default)
            net, opt = worker.build(case, dtype, foreach, seed=0)
            worker.train(net, opt, 0, worker.SAVE_AT)
            checkpoints[k] = copy.deepcopy(
                {"model": net.state_dict(), "optimizer": opt.state_dict()}
            )
            worker.train(net, opt, worker.SAVE_AT, worker.STEPS)
            uninterrupted[k] = [p.detach().clone() for p in net.parameters()]
    finally:
        torch.set_default_dtype(old)
    tmp = tmp_path_factory.mktemp("resume")
    torch.save(checkpoints, tmp / "checkpoints.pt")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, str(WORKER), str(tmp / "checkpoints.pt"), str(tmp / "resumed.pt")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return uninterrupted, torch.load(tmp / "resumed.pt")


@pytest.mark.parametrize("key", [k for k, *_ in worker.keys()])
def test_resumed_in_a_fresh_process_is_bit_identical(runs, key):
    uninterrupted, resumed = runs
    expected, got = uninterrupted[key], resumed[key]
    assert [p.dtype for p in got] == [p.dtype for p in expected]
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


def test_the_fresh_model_starts_elsewhere():
    """The resumed network is built from other initial values: only loading makes it match."""
    a, _ = worker.build(0, torch.float64, False, seed=0)
    b, _ = worker.build(0, torch.float64, False, seed=1)
    assert not any(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_a_scalar_state_survives_a_float32_parameter():
    """NAdam's μ product is float64 under a float64 default; torch's loading would round it to
    the float32 parameter's dtype, the generated load_state_dict keeps it as saved."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        case = next(i for i, (name, _) in enumerate(worker.CASES) if name == "NAdam")
        net, opt = worker.build(case, torch.float32, False, seed=0)
        worker.train(net, opt, 0, 3)
        saved = copy.deepcopy(opt.state_dict())
        fresh, again = worker.build(case, torch.float32, False, seed=1)
        again.load_state_dict(saved)
        for p, q in zip(net.parameters(), fresh.parameters(), strict=True):
            mu, loaded = opt.state[p]["mu_product"], again.state[q]["mu_product"]
            assert loaded.dtype == torch.float64 and torch.equal(mu, loaded)
    finally:
        torch.set_default_dtype(old)
