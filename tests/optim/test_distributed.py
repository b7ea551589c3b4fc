"""Generated optimizers under torch.distributed: DDP and FSDP2, gloo, 2 processes on localhost.

Two worker processes (``distributed_worker.py``) train every zoo optimizer case on halves of a
global batch, on the single-tensor and the foreach path, under ``DistributedDataParallel`` and
under FSDP2 (``fully_shard``, DTensor parameters and state); the final parameters must equal
single-process training on the whole batch to <= 1e-12 (float64). RGD's step is normalised by
the norm of each whole tensor; run on each rank's local shards instead it ends far from the
single-process parameters, which is what the FSDP2 comparison would catch if the generated code
took the norm of the local shard. One pair of processes runs everything (about 15 s).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with the gloo backend is not available", allow_module_level=True)

WORLD = 2
TOLERANCE = 1e-12
#: The whole distributed run; it takes about 15 s on 2 cores.
TIMEOUT_S = 120
WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _load_worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(worker.CASES)]


def _launch(out: Path) -> None:
    """Run the two ranks against a rendezvous store hosted here on a free port."""
    store = dist.TCPStore(
        "127.0.0.1",
        0,
        WORLD + 1,
        is_master=True,
        wait_for_workers=False,
        timeout=timedelta(seconds=TIMEOUT_S),
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), str(WORLD), str(store.port), str(out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]
    deadline, logs = time.monotonic() + TIMEOUT_S, []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.wait()
        pytest.fail(f"the distributed workers did not finish within {TIMEOUT_S} s")
    finally:
        del store
    failed = [
        (rank, log)
        for rank, (proc, log) in enumerate(zip(procs, logs, strict=True))
        if proc.returncode
    ]
    assert not failed, "\n".join(f"rank {rank} failed:\n{log[-3000:]}" for rank, log in failed)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed") / "results.pt"
    _launch(out)
    return torch.load(out)


def _differences(reference, got):
    """(max |a - b|, max over tensors of max |a - b| / max |a|)."""
    pairs = list(zip(reference, got, strict=True))
    return (
        max(float((a - b).abs().max()) for a, b in pairs),
        max(float((a - b).abs().max() / a.abs().max()) for a, b in pairs),
    )


@pytest.fixture(scope="module")
def single():
    """Single-process training on the whole batch, per (case, foreach)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return {
            (i, foreach): worker.train_single(name, kwargs, foreach)
            for i, (name, kwargs) in enumerate(worker.CASES)
            for foreach in (False, True)
        }
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
@pytest.mark.parametrize("index", range(len(worker.CASES)), ids=IDS)
def test_ddp_matches_single_process(results, single, index, foreach):
    error = results["errors"].get(("ddp", index, foreach))
    assert error is None, error
    absolute, relative = _differences(single[index, foreach], results["ddp"][index, foreach])
    assert absolute <= TOLERANCE, (absolute, relative)
    assert results["replicas_agree"][index, foreach]  # both ranks hold the same parameters


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
@pytest.mark.parametrize("index", range(len(worker.CASES)), ids=IDS)
def test_fsdp2_matches_single_process(results, single, index, foreach):
    error = results["errors"].get(("fsdp2", index, foreach))
    assert error is None, error
    absolute, relative = _differences(single[index, foreach], results["fsdp2"][index, foreach])
    assert absolute <= TOLERANCE, (absolute, relative)
    # the optimizer state is sharded like the parameters (DTensor), not gathered
    assert results["sharded_state"][index, foreach]


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
def test_rgd_norm_is_over_the_whole_tensor_not_the_shard(results, single, foreach):
    # RGD divides by sqrt(δ²‖v‖² + 1): with the shard's ‖v‖ it is a different optimizer
    index = worker.CASES.index(worker.CONTRAST)
    error = results["errors"].get(("fsdp2", index, foreach))
    assert error is None, error
    reference = single[index, foreach]
    _, sharded = _differences(reference, results["fsdp2"][index, foreach])
    _, per_shard = _differences(reference, results["per_shard"][foreach])
    assert sharded <= TOLERANCE
    assert per_shard > 1e-3, per_shard
