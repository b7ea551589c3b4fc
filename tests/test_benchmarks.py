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


def test_state_bytes_count_a_tensor_subclass_by_its_inner_tensors(script):
    """torchao's 8-bit state is a tensor subclass that reports float32 elements: the state
    column counts the bytes of its inner tensors (``__tensor_flatten__``), not 4 a value."""
    from torch.testing._internal.two_tensor import TwoTensor

    step_time = script("step_time")
    codes, scales = torch.zeros(1024, dtype=torch.uint8), torch.zeros(1024, dtype=torch.uint8)
    wrapped = TwoTensor(codes, scales)
    assert wrapped.element_size() * wrapped.numel() == 1024
    assert step_time._nbytes(wrapped) == 2048
    assert step_time._nbytes(torch.zeros(8, dtype=torch.bfloat16)) == 16


def test_the_byte_floor_sweeps_move_each_formats_bytes_and_check_first(script):
    """``byte_floor.py``'s sweeps add g into θ and into each buffer in its own storage (float32,
    bfloat16, 8-bit codes and block maxima; the codec's sweep through the 8-bit format's decode
    and encode), so every byte of the format is read and written; with the check, a NaN
    gradient leaves everything as it was, as the kernels' check does."""
    from hamopt.runtime.state_storage import load

    floor = script("byte_floor")
    try:
        lib = floor.library()
    except SystemExit:
        pytest.skip("no C++ compiler: the sweeps are not built")
    params = [torch.ones(300, dtype=torch.float32, requires_grad=True) for _ in range(2)]
    for p in params:
        p.grad = torch.full_like(p, 0.5)
    for fmt in floor.FORMATS:
        run = floor.Sweep(lib, fmt, params, check=True)
        before = [p.detach().clone() for p in params]
        assert run() == 1
        assert all(torch.equal(p, b + 0.5) for p, b in zip(params, before, strict=True))
        m, v = run.buffers[:2]
        if fmt == "int8 codec":  # g through decode and encode: 0.5, each block's maximum
            for codes, maxima in zip(m + v, run.buffers[2] + run.buffers[3], strict=True):
                assert torch.equal(load("int8", (codes, maxima)), torch.full((300,), 0.5))
                assert maxima.tolist() == [0.5, 0.5]
            assert [float(t) for t in run.steps] == [1.0, 1.0]  # counted, as a kernel's table
        else:
            expected = {"float32": 0.5, "bfloat16": 0.5, "int8": 1}[fmt]
            assert all(float(t.float().min()) == float(t.float().max()) == expected for t in m + v)
        if fmt == "int8":  # the block maxima: two blocks a tensor, each read and written once
            for maxima in run.buffers[2:]:
                assert all(t.tolist() == [1.0, 1.0] for t in maxima)
        params[1].grad[7] = math.nan
        after = [p.detach().clone() for p in params]
        assert run() == 0
        assert all(torch.equal(p, a) for p, a in zip(params, after, strict=True))
        params[1].grad[7] = 0.5


def test_the_byte_floor_table_has_a_floor_and_a_step_per_format(script):
    floor = script("byte_floor")
    try:
        lib = floor.library()
    except SystemExit:
        pytest.skip("no C++ compiler: the sweeps are not built")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        info = floor.run_config(lib, 4096, 2, steps=2, warmup=1)
    finally:
        torch.set_default_dtype(old)
    assert info["bytes"] == {
        "float32": 28, "float32 + check": 32, "bfloat16": 20, "bfloat16 + check": 24,
        "int8": 16 + 1 / 16, "int8 + check": 20 + 1 / 16,
        "int8 codec": 16 + 1 / 16, "int8 codec + check": 20 + 1 / 16,
    }  # fmt: skip
    text = floor.markdown({(4096, 2): info}, 2, 1, "python benchmarks/byte_floor.py")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "format" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| " + name for name in info["bytes"]]


def test_counts_are_whole_numbers_and_errors_name_them(script):
    """``--sizes 1.5`` timed 1 parameter and ``--sizes inf`` ended in an OverflowError from
    int(); both are now argument errors, and 10.24M is 10,240,000."""
    step_time = script("step_time")
    assert step_time._counts("10.24M,51.2M,1_000") == [10_240_000, 51_200_000, 1000]
    for bad in ("1.5", "inf", "1e400", "nan"):
        problem = step_time.argument_problem(bad, "1", 3, 1, "cpu", None)
        assert problem is not None and "counts like 1M,10M" in problem, bad


def test_the_byte_floor_refuses_tensors_that_keep_float32_state(script, capsys):
    """Below 4096 elements an 8-bit group's tensor keeps float32 state: the int8 rows would
    compare a float32 step with the 8-bit floor."""
    floor = script("byte_floor")
    with pytest.raises(SystemExit):
        floor.main(["--sizes", "100K", "--tensors", "100", "--steps", "1"])
    assert "4096 elements or more" in capsys.readouterr().err
