"""Helpers of the benchmark scripts in ``benchmarks/`` that decide what a table says."""

import argparse
import math
import sys
from pathlib import Path

import pytest
import torch

from hamopt.resolve import load_module

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def script():
    """``script(name)``: the benchmark ``benchmarks/<name>.py`` as a module
    (:func:`hamopt.resolve.load_module`; its folder on ``sys.path`` for its sibling
    ``tables``)."""
    sys.path.insert(0, str(BENCHMARKS))
    yield lambda name: load_module(BENCHMARKS / f"{name}.py", f"{name}_benchmark")
    sys.path.remove(str(BENCHMARKS))


def test_a_verdict_on_one_float32_seed_is_undetermined(script):
    """``state_dtype_quality.py --seeds 1`` marked every row "outside float32 mean ± 2 s.e."
    with s.e. = nan. With one finite float32 run there is no spread: undetermined."""
    quality = script("state_dtype_quality")
    one = quality.Summary.of([0.95])
    assert math.isnan(one.half_width)
    assert quality.verdict(quality.Summary.of([0.90]), one).startswith("undetermined")
    ref = quality.Summary.of([0.94, 0.96, 0.95])
    assert quality.verdict(quality.Summary.of([0.95, 0.95]), ref) == (
        "within the float32 seed interval; inside float32 mean ± 2 s.e."
    )
    assert quality.verdict(quality.Summary.of([0.5]), ref).startswith("**outside**")


def test_the_compiled_step_benchmark_times_both_compiled_training_steps(script):
    """``compiled_step.py`` times the eager training step against torch's recipe
    (``torch.compile(opt.step)`` in it) and against the whole function compiled: a row per
    optimizer with both ratios, and both compiled copies of the network trained as the eager
    one (float32 digits MLP, a few steps: parameters within 1e-5 relative)."""
    benchmark = script("compiled_step")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)  # the benchmark's network, as users run it
    try:
        table = benchmark.run(3, 3, "default", "eager", only="hamopt Adam$")
    finally:
        torch.set_default_dtype(old)
    args = argparse.Namespace(steps=3, warmup=3, backend="eager", path="default")
    text = benchmark.markdown(table, args)
    assert set(table) == {"no optimizer", "hamopt Adam"}
    row = table["hamopt Adam"]
    assert row["distance"] < 1e-5
    assert all(row[k] > 0 for k in ("eager", "compiled", "recipe", "step_eager", "step_compiled"))
    assert row["recipe_breaks"] == 1  # torch.optim's own break, in torch.compile(opt.step)
    header = next(line for line in text.splitlines() if line.startswith("| optimizer"))
    assert "`compile(opt.step)` ms" in header and "whole function ms" in header
    hamopt_row = next(line for line in text.splitlines() if line.startswith("| hamopt Adam |"))
    assert len(hamopt_row.split("|")) == len(header.split("|"))
