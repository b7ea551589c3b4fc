"""The byte floor of an optimizer step on this machine, beside the step itself.

An elementwise optimizer step reads θ, g and its state and writes θ and its state back: Adam
with float32 state moves 28 bytes a parameter, with bfloat16 state 20, with 8-bit state 16 (and
the two buffers' block maxima, read and written: 16 bytes per 256 values); the gradient check
(``nonfinite="raise"``) reads g once more first (4). Here each of these byte patterns is swept with no arithmetic but adding g
into θ and into each buffer (in its own storage: a float32 add, a bfloat16 value widened and cut
back, an 8-bit code incremented), by the kernels' own loop over a group (``prelude.h``'s
``for_each_range``: the same threads and ranges, the check the same ``column_finite`` sweep).
No step that moves those bytes can be faster on this machine than its sweep. One more sweep,
*int8 codec*, moves the 8-bit bytes through the format's own arithmetic as an 8-bit kernel does
(``Int8State``: each block decoded to float32, its maximum found, encoded again) around the same
additions: no step that runs the format's codec can be faster than it here. So

* floor / float32 floor: the best ratio a format can reach against float32 Adam's bytes;
* floor / torch: the floor against ``torch.optim.Adam(fused=True)``, timed in the same rounds;
* hamopt / floor: how far ``hamopt.optim.Adam`` at that format (defaults, and
  ``nonfinite="ignore"``) is above its floor.

Every sweep and step takes one timed turn per round (``--steps`` rounds after ``--warmup``
untimed ones, the kernels built then), so a change of load hits all alike; medians.

    python benchmarks/byte_floor.py                                   # 10M in 10 tensors
    python benchmarks/byte_floor.py --sizes 10M,50M --tensors 10,200  # the acceptance sizes

Writes a Markdown table (default ``benchmarks/results/byte_floor.md``). CPU only: the sweeps
are C++, built with the kernels' compiler and flags.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import shlex
import statistics
import sys
import time
from pathlib import Path

import step_time  # the sibling script: its parameters, counts and argument checks
import tables
import torch

from hamopt.runtime.state_storage import SMALL, extra_numbers

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "byte_floor.md"

#: The sweeps (C++, after the kernels' prelude): each adds g into θ and into the buffers m and v
#: in their storage, over the group's table (θ, g, m, v; 8-bit: then m's and v's block maxima),
#: after the gradient check where ``check`` (nothing written where a gradient is not finite).
SOURCE = r"""
// The sweep of one format over the group's table: where check, the gradients' sweep first (0,
// nothing written, where one is not finite); then per thread's range [begin, end) of tensor i
// body(i, begin, end, θ, g, m, v), the buffers m and v of element type B.
template <typename B, typename Body>
int floor_sweep(int64_t n, const int64_t* table, int check, int64_t align, const Body& body) {
  if (check && !column_finite(n, table, 1)) return 0;
  for_each_range(n, table, [&](int64_t i, int64_t begin, int64_t end) {
    body(i, begin, end, reinterpret_cast<float*>(table[2 * n + i]),
         reinterpret_cast<const float*>(table[3 * n + i]), reinterpret_cast<B*>(table[4 * n + i]),
         reinterpret_cast<B*>(table[5 * n + i]));
  }, align);
  return 1;
}

extern "C" int floor_float32(int64_t n, const int64_t* table, int check) {
  return floor_sweep<float>(n, table, check, 1, [](int64_t, int64_t begin, int64_t end,
      float* __restrict q, const float* __restrict g, float* __restrict m, float* __restrict v) {
#pragma omp simd
    for (int64_t k = begin; k < end; k++) {
      q[k] += g[k];
      m[k] += g[k];
      v[k] += g[k];
    }
  });
}

// bfloat16: a value widened to float32, g added, its upper half kept
extern "C" int floor_bfloat16(int64_t n, const int64_t* table, int check) {
  return floor_sweep<uint16_t>(n, table, check, 1, [](int64_t, int64_t begin, int64_t end,
      float* __restrict q, const float* __restrict g, uint16_t* __restrict m, uint16_t* __restrict v) {
#pragma omp simd
    for (int64_t k = begin; k < end; k++) {
      q[k] += g[k];
      m[k] = uint16_t(bits_of(float_of(uint32_t(m[k]) << 16) + g[k]) >> 16);
      v[k] = uint16_t(bits_of(float_of(uint32_t(v[k]) << 16) + g[k]) >> 16);
    }
  });
}

// 8 bits: each code incremented, each block's maxima (columns 4 and 5) read and written
extern "C" int floor_int8(int64_t n, const int64_t* table, int check) {
  return floor_sweep<uint8_t>(n, table, check, kInt8Block, [&](int64_t i, int64_t begin, int64_t end,
      float* __restrict q, const float* __restrict g, uint8_t* __restrict m, uint8_t* __restrict v) {
    float* __restrict m_max = reinterpret_cast<float*>(table[6 * n + i]);
    float* __restrict v_max = reinterpret_cast<float*>(table[7 * n + i]);
    for (int64_t block = begin; block < end; block += kInt8Block) {
      const int64_t last = std::min(end, block + kInt8Block);
#pragma omp simd
      for (int64_t k = block; k < last; k++) {
        q[k] += g[k];
        m[k] = uint8_t(m[k] + 1);
        v[k] = uint8_t(v[k] + 1);
      }
      m_max[block / kInt8Block] += 1.0f;
      v_max[block / kInt8Block] += 1.0f;
    }
  });
}

// 8 bits and their codec, as an 8-bit rule's kernel runs it (each_element_as over Int8State:
// each block's codes decoded to float32, its new values' maximum found, the block encoded
// again) around no arithmetic but g added into θ, m and v. The table as floor_int8's, then a
// column of step counters (the kernels' table counts them) and their flag; extra: the format's
// numbers (state_storage.extra_numbers).
extern "C" int floor_int8_codec(int64_t n, const int64_t* table, int check, const double* extra) {
  if (check && !column_finite(n, table, 1)) return 0;
  each_element_as<Int8State, 2>(n, table, extra, 0, [](auto zero, int64_t) {
    using T = decltype(zero);
    return [](T& param, T grad, T& m, T& v) {
      param += grad;
      m += grad;
      v += grad;
    };
  });
  return 1;
}
"""

#: Per sweep: the dtype of the buffers, the bytes a parameter moves without the check (θ read
#: and written, g read, each buffer read and written; 8-bit: its block maxima too), and the
#: format whose hamopt step it is the floor of. ``int8 codec``: the 8-bit bytes and the
#: format's arithmetic (decode, block maximum, encode), the floor of any 8-bit kernel here.
FORMATS = {
    "float32": (torch.float32, 12 + 2 * 2 * 4, "float32"),
    "bfloat16": (torch.bfloat16, 12 + 2 * 2 * 2, "bfloat16"),
    "int8": (torch.uint8, 12 + 2 * 2 * (1 + 4 / 256), "int8"),
    "int8 codec": (torch.uint8, 12 + 2 * 2 * (1 + 4 / 256), "int8"),
}
STATE_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "int8": torch.uint8}
BASELINE = "torch.optim.Adam(fused=True)"


def library() -> ctypes.CDLL:
    """The sweeps, built (once per machine, in the kernels' cache) with the kernels' prelude."""
    from hamopt.runtime.kernel import Kernel

    path = Kernel("byte_floor", SOURCE).library("byte floor")
    if not path:
        raise SystemExit("byte_floor.py: the C++ sweeps could not be built (see the warning)")
    lib = ctypes.CDLL(path)
    for fmt in FORMATS:
        function = getattr(lib, _function_name(fmt))
        function.argtypes, function.restype = (
            [ctypes.c_int64, ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * _codec(fmt),
            ctypes.c_int,
        )
    return lib


def _function_name(fmt: str) -> str:
    return "floor_" + fmt.replace(" ", "_")


def _adam_nonzero() -> tuple[bool, ...]:
    """Per buffer of Adam's rule, whether 8-bit state keeps its values that are not 0 from
    being stored as 0 (``Rule.nonzero``: the second moment), as Adam's 8-bit kernel encodes."""
    from hamopt.optim import Adam

    rule = Adam.RULES["adam"]
    return tuple(b in rule.nonzero for b in rule.buffers)


def _codec(fmt: str) -> bool:
    """Whether the sweep runs the format's codec (it then takes the format's numbers)."""
    return fmt.endswith(" codec")


class Sweep:
    """One sweep of format ``fmt`` over ``params`` (their gradients) and ``buffers`` of its own:
    m and v in the format's dtype, and for 8 bits their block maxima (float32, one a block of
    256). Calling it sweeps once: 1, or 0 where the check found a gradient not finite."""

    def __init__(self, lib: ctypes.CDLL, fmt: str, params: list[torch.Tensor], check: bool):
        dtype, codec = FORMATS[fmt][0], _codec(fmt)
        self.buffers = [[torch.zeros_like(p, dtype=dtype) for p in params] for _ in range(2)]
        if dtype == torch.uint8:
            blocks = [-(-p.numel() // 256) for p in params]
            self.buffers += [
                [torch.zeros(b, dtype=torch.float32) for b in blocks] for _ in range(2)
            ]
        self.steps = [torch.zeros((), dtype=torch.float32) for _ in params] if codec else []
        grads = [p.grad for p in params]
        pointers = [t.data_ptr() for ts in (params, grads, *self.buffers, self.steps) for t in ts]
        numbers = [p.numel() for p in params] + [0] * len(params) + pointers + [0] * codec
        self.table = array.array("q", numbers)
        self.function, self.n, self.check = getattr(lib, _function_name(fmt)), len(params), check
        self.extra = (extra_numbers("int8", [], [], _adam_nonzero()),) if codec else ()

    def __call__(self) -> int:
        extra = tuple(e.buffer_info()[0] for e in self.extra)
        return self.function(self.n, self.table.buffer_info()[0], int(self.check), *extra)


def run_config(lib, n: int, tensors: int, steps: int, warmup: int) -> dict[str, dict]:
    """Median seconds of every sweep and step over ``steps`` interleaved rounds."""
    from tqdm import tqdm

    import hamopt.optim as ours

    params = step_time.make_params(n, tensors, "cpu")
    runs, bytes_ = {BASELINE: torch.optim.Adam(params, lr=1e-3, fused=True).step}, {}
    for fmt, (_, moved, stepped) in FORMATS.items():
        for check in (False, True):
            name = f"{fmt}{' + check' if check else ''}"
            runs[f"floor {name}"] = Sweep(lib, fmt, params, check)
            bytes_[name] = moved + 4 * check
            if stepped == fmt:  # a format's step, timed once (the codec's row reads int8's)
                extra = {} if check else {"nonfinite": "ignore"}
                opt = ours.Adam(params, lr=1e-3, state_dtype=STATE_DTYPES[fmt], **extra)
                runs[f"hamopt {name}"] = opt.step
    for run in runs.values():
        for _ in range(max(warmup, 1)):
            run()
    times = {name: [] for name in runs}
    for _ in tqdm(range(steps), desc=f"{n:,} params in {tensors} tensors", unit="round"):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(ts) for name, ts in times.items()}
    return {"seconds": seconds, "bytes": bytes_, "numel": sum(p.numel() for p in params)}


def markdown(table: dict, steps: int, warmup: int, command: str) -> str:
    lines = [
        "# The byte floor of an optimizer step",
        "",
        f"`{command}`",
        "",
        f"Median ms over {steps} interleaved rounds after {max(warmup, 1)} warm-up steps; "
        f"float32 parameters in equal tensors, torch {torch.__version__}, {tables.threads()}, "
        f"{tables.machine()}. *floor*: the sweep that moves the bytes of the row's "
        "format and adds g into θ and each buffer, nothing more (*int8 codec*: through the "
        "8-bit format's decode, block maximum and encode, as its kernels run them). *hamopt*: "
        "`hamopt.optim.Adam(params, state_dtype=…)`, the check rows at its defaults "
        "(`nonfinite='raise'`), the others with `nonfinite='ignore'`. Ratios in the same rounds; "
        f"*torch*: `{BASELINE}`.",
    ]
    for (n, k), info in table.items():
        s, base = info["seconds"], info["seconds"][BASELINE]
        floor32 = s["floor float32"]
        gbs = 28 * info["numel"] / base / 1e9
        lines += [
            "",
            f"## {n:,} parameters in {k} tensors",
            "",
            f"{BASELINE}: {1e3 * base:.2f} ms ({gbs:.1f} GB/s of its 28 bytes a parameter).",
            "",
            "| format | bytes / param | floor ms | floor / float32 floor | floor / torch "
            "| hamopt ms | hamopt / floor | hamopt / torch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, moved in info["bytes"].items():
            fmt, check = name.removesuffix(" + check"), name.endswith(" + check")
            floor = s[f"floor {name}"]
            ours = s[f"hamopt {FORMATS[fmt][2]}{' + check' if check else ''}"]
            lines.append(
                f"| {name} | {moved:.2f} | {1e3 * floor:.2f} | {floor / floor32:.2f} "
                f"| {floor / base:.2f} | {1e3 * ours:.2f} | {ours / floor:.2f} "
                f"| {ours / base:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10M", help="total parameter counts (10M, 50_000_000)")
    parser.add_argument("--tensors", default="10", help="tensor counts, comma-separated")
    parser.add_argument("--steps", type=int, default=15, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown table to write")
    args = parser.parse_args(argv)
    problem = step_time.argument_problem(
        args.sizes, args.tensors, args.steps, args.warmup, "cpu", None
    )
    if problem is None and min(step_time._counts(args.sizes)) < SMALL * max(
        step_time._counts(args.tensors)
    ):
        problem = (
            f"every tensor needs {SMALL} elements or more (--sizes / --tensors): smaller ones "
            "keep float32 state in an 8-bit group, and the int8 rows would time float32 steps"
        )
    if problem is not None:
        parser.error(problem)
    lib = library()
    sizes, counts = step_time._counts(args.sizes), step_time._counts(args.tensors)
    table = {(n, k): run_config(lib, n, k, args.steps, args.warmup) for n in sizes for k in counts}
    given = sys.argv[1:] if argv is None else argv
    text = markdown(
        table, args.steps, args.warmup, shlex.join(["python", "benchmarks/byte_floor.py", *given])
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
