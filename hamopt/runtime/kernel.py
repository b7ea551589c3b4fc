r"""The fused path's C++ kernels: built once per machine, called as a torch operator.

A generated module's ``KERNEL_SOURCE`` holds one C function per rule,

``void step_<rule>(int64_t n, const int64_t* table, const double* numbers, int maximize)``

(:mod:`hamopt.codegen.kernel` prints them), after the shared prelude ``prelude.h``. A
:class:`Kernel` builds the library with the C++ compiler on first use (``$CXX``, else ``g++``)
and caches it on disk, keyed by the source, the compiler, its flags and the CPU; where it cannot
be built it warns once, and the fused path runs on torch.compile instead.

The call is the operator ``torch.ops.hamopt.kernel_step_v1``, which declares what it writes (the
parameters, the buffers, the step counters): its ``ADInplaceOrView`` kernel bumps their version
counters as an in-place torch op does, so autograd still refuses a backward through a graph that
saved a parameter the step has since changed, and the profiler shows one op a step. Where
nothing watches torch's operators, :func:`kernel_step` does what the operator's kernels do
without dispatching it.
"""

import array
import ctypes
import hashlib
import os
import pathlib
import platform
import subprocess
import tempfile
import warnings

import torch

from hamopt.runtime.tensors import PLAIN, dense

__all__ = ["Kernel", "count_writes", "define_operator", "kernel_step", "prelude"]

#: dtypes the kernels compute in (half precision comes upcast to float32)
KERNEL_TYPES = (torch.float32, torch.float64)

#: the compiler's flags
FLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",  # one rounding per operation, as torch's eager steps (no fused a*b + c)
    "-std=c++17",
    "-shared",
    "-fPIC",
)


def prelude() -> str:
    """The C++ every kernel source starts with: the loop over a group's elements and helpers."""
    return (pathlib.Path(__file__).parent / "prelude.h").read_text(encoding="utf-8")


class Kernel:
    """The C++ kernels of one generated module (``source``: its rule functions), with the
    layouts already checked (rule, the table less the gradients' pointers → all contiguous)."""

    def __init__(self, module: str, source: str):
        self.module, self.source = module, source
        self.path = None  # the built library, once built; "" where it cannot be
        self.failure = ()  # why it cannot be (compiler, error), until warned
        self.checked = {}

    def library(self, optimizer: str, quiet: bool = False, silent: bool = False) -> str:
        """The path of the built library, or "" where it cannot be built: warned once, on the
        first request that is not ``silent`` (the gradient check, which only asks). The
        default path asks ``quiet``ly: it takes another path without a word where there is no
        compiler, and warns once where there is one that failed, or a cache it cannot write
        (what a user can mend, and would otherwise never learn of, stepping slower)."""
        if self.path is None:
            self.path, self.failure = self._build()
        if not self.path and self.failure and not silent and not (quiet and self.failure[2]):
            cxx, reason, _ = self.failure
            instead = (
                "fused steps run on torch.compile instead"
                if not quiet
                else "steps take the foreach or single-tensor path instead (the same numbers, slower)"
            )
            warnings.warn(
                f"{optimizer}{'' if quiet else '(fused=True)'}: the C++ kernels could not be built with {cxx}, so {instead} ({reason})",
                RuntimeWarning,
                stacklevel=4,
            )
            self.failure = ()  # once
        return self.path

    def _build(self) -> tuple[str, tuple]:
        """Build (or find in the cache) and load the library: its path, or "" and why not
        (the compiler, the error, and whether the compiler is missing)."""
        cxx = os.environ.get("CXX", "g++")
        cpu = platform.machine() + platform.processor()
        if os.path.exists("/proc/cpuinfo"):
            with open("/proc/cpuinfo") as f:
                cpu += next((line for line in f if line.startswith(("flags", "Features"))), "")
        source = prelude() + "\n" + self.source
        key = hashlib.sha256("\0".join([source, cxx, *FLAGS, cpu]).encode()).hexdigest()[:24]
        cache = (
            pathlib.Path(
                os.environ.get("HAMOPT_CACHE_DIR") or pathlib.Path.home() / ".cache" / "hamopt"
            )
            / "kernels"
        )
        path = cache / f"{self.module}-{key}.so"
        try:
            if not path.exists():
                try:
                    cache.mkdir(parents=True, exist_ok=True)
                    folder = tempfile.TemporaryDirectory(dir=cache)
                except OSError as error:
                    reason = (
                        f"the kernel cache {cache} cannot be written: {type(error).__name__}: "
                        f"{error}; set HAMOPT_CACHE_DIR to a writable folder"
                    )
                    return "", (cxx, reason, False)
                with folder as tmp:
                    cpp = pathlib.Path(tmp) / "kernels.cpp"
                    cpp.write_text(source, encoding="utf-8")
                    subprocess.run(
                        [cxx, *FLAGS, str(cpp), "-o", str(cpp.with_suffix(".so"))],
                        check=True,
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                    os.replace(
                        cpp.with_suffix(".so"), path
                    )  # atomic: a concurrent process sees all or nothing
            _load(str(path))
        except (OSError, subprocess.SubprocessError) as error:
            lines = (getattr(error, "stderr", None) or str(error)).strip().splitlines()
            reason = f"{type(error).__name__}: {next((line for line in lines if 'error' in line), lines[0] if lines else '')}"
            missing = isinstance(error, FileNotFoundError) and error.filename == cxx
            return "", (cxx, reason, missing)
        return str(path), ()

    def all_finite(self, optimizer: str, tensors: list[torch.Tensor]) -> bool | None:
        """Whether every element of ``tensors`` is finite, by the library's one vectorised read
        (``all_finite`` of ``prelude.h``); None where the kernel cannot tell: a tensor that is
        not a plain dense CPU float32 or float64 tensor, or no library."""
        if not all(map(_plain, tensors)):
            return None
        library = self.library(optimizer, silent=True)
        if not library:
            return None
        return _all_finite(library, tensors)

    def table(self, rule: str, params, grads, buffers, state_steps) -> array.array | None:
        """prelude.h's table of the group (:func:`_table`; ``buffers``: a list per buffer) where
        the kernel may run on these lists, else None (always None under
        ``HAMOPT_FUSED=compile``). The kernel takes plain CPU tensors (not CUDA, not a subclass
        such as DTensor) of float32 or float64; each parameter dense, each gradient and buffer
        of its parameter's dtype, shape and strides (the kernel walks memory and must meet the
        same element of each at the same place); the step counters CPU tensors, all float32 or
        all float64 (:meth:`layout`)."""
        if os.environ.get("HAMOPT_FUSED") == "compile":
            return None
        return self.layout(rule, params, grads, buffers, state_steps, _fits)

    def layout(self, name, params, grads, columns, state_steps, fits) -> array.array | None:
        """prelude.h's table of a group (a list of tensors per column after the gradients),
        where ``fits(params, grads, columns, state_steps)`` says the kernel may run on them,
        else None. A layout is checked in full once, keyed by ``name`` (the rule, or what else
        tells layouts apart) and the table less the gradients' pointers; later steps on the
        same storage of contiguous parameters check only that the parameters and gradients are
        still contiguous and each gradient of its parameter's size in bytes (a new gradient
        tensor every step is the rule; one whose storage was set to fewer elements would be
        read past its end)."""
        steps = int(state_steps[0].dtype == torch.float64)
        table = _table(params, grads, *columns, state_steps, last=(steps,))
        n = len(params)
        key = (name, table[: 3 * n].tobytes(), table[4 * n :].tobytes())
        if self.checked.get(key) and all(
            p.is_contiguous() and g.is_contiguous() and g.nbytes == p.nbytes
            for p, g in zip(params, grads, strict=True)
        ):
            return table
        if not fits(params, grads, columns, state_steps):
            return None
        self.checked[key] = all(p.is_contiguous() for p in params)
        while len(self.checked) > 16:  # the layouts seen last
            self.checked.pop(next(iter(self.checked)), None)
        return table


def _plain(t: torch.Tensor) -> bool:
    """A plain (not a subclass such as DTensor) dense CPU tensor of a type the kernels take."""
    return type(t) in PLAIN and t.dtype in KERNEL_TYPES and t.is_cpu and dense(t)


def _fits(params, grads, buffers, state_steps) -> bool:
    if not all(map(_plain, params)):
        return False
    for ts in (grads, *buffers):
        if not all(
            type(t) in PLAIN
            and t.dtype == p.dtype
            and t.is_cpu
            and t.shape == p.shape
            and t.stride() == p.stride()
            for t, p in zip(ts, params, strict=True)
        ):
            return False
    kind = state_steps[0].dtype
    return kind in KERNEL_TYPES and all(
        type(s) in PLAIN and s.dtype == kind and s.is_cpu for s in state_steps
    )


_LIBRARIES = {}  # path → the loaded library (ctypes)
_FUNCTIONS = {}  # (path, name) → the library's function, argument types set
_ADDRESSES = {}  # (path, name) → the address of the library's function
#: The argument and result types of the library's functions: ``step_<rule>`` and ``all_finite``.
_TYPES = {
    "step": ([ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int], None),
    "all_finite": ([ctypes.c_int64, ctypes.c_void_p], ctypes.c_int),
    "checked_step": (
        [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int],
        ctypes.c_int,
    ),
    "int8_codes": (
        [ctypes.c_int64, ctypes.c_void_p, ctypes.c_float, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        + [ctypes.c_void_p] * 2,
        None,
    ),
}


def _load(path: str):
    if path not in _LIBRARIES:
        _LIBRARIES[path] = ctypes.CDLL(path)
    return _LIBRARIES[path]


def _function(path: str, name: str):
    """The function ``name`` (``step_<rule>``, ``all_finite``) of the library at ``path``, with
    its argument and result types."""
    if (path, name) not in _FUNCTIONS:
        function = getattr(_load(path), name)
        function.argtypes, function.restype = _TYPES["step" if name.startswith("step_") else name]
        _FUNCTIONS[path, name] = function
    return _FUNCTIONS[path, name]


def _address_of(path: str, name: str) -> int:
    """The address of the function ``name`` of the library at ``path`` (``checked_step`` takes
    the step it calls so)."""
    if (path, name) not in _ADDRESSES:
        _ADDRESSES[path, name] = ctypes.cast(_function(path, name), ctypes.c_void_p).value
    return _ADDRESSES[path, name]


def _table(tensors: list, *columns: list, last: tuple[int, ...] = ()) -> array.array:
    """prelude.h's table of a group: the numels of ``tensors``, whether each is float64, the
    data pointers of ``tensors`` and of each list of ``columns``, then ``last`` (int64, in an
    ``array``: a sixth of the time a tensor takes to build, on every step)."""
    numels = [t.numel() for t in tensors]
    doubles = [int(t.dtype == torch.float64) for t in tensors]
    pointers = [t.data_ptr() for ts in (tensors, *columns) for t in ts]
    return array.array("q", [*numels, *doubles, *pointers, *last])


def _all_finite(library: str, tensors: list[torch.Tensor]) -> bool:
    """The library's ``all_finite`` on plain dense tensors of the kernels' types."""
    table = _table(tensors)  # held: the call reads its buffer
    return bool(_function(library, "all_finite")(len(tensors), _address(table)))


def _address(table: array.array) -> int:
    return table.buffer_info()[0]


def _kernel_step(
    library, rule, params, grads, buffers, state_steps, numbers, maximize, check=False, table=None
) -> bool:
    """The CPU implementation: the table of numels, float64 flags and data pointers (of the
    parameters, gradients, each buffer's tensors and the step counters) and whether the step
    counters are float64 (prelude.h's ``Group``; ``table``, where the caller made it already),
    then the C call. With ``check``, the call is ``checked_step``, which reads the gradients
    first and writes nothing where one holds NaN or ±Inf. Whether it stepped."""
    if table is None:
        steps = int(state_steps[0].dtype == torch.float64)
        table = _table(params, grads, buffers, state_steps, last=(steps,))
    arguments = (len(params), _address(table), numbers.data_ptr(), int(maximize))
    if check:
        checked = _function(library, "checked_step")
        return bool(checked(_address_of(library, f"step_{rule}"), *arguments))
    _function(library, f"step_{rule}")(*arguments)
    return True


def _operator_cpu(library, rule, params, grads, buffers, state_steps, numbers, maximize) -> None:
    """The operator's CPU kernel: :func:`_kernel_step` unchecked (the caller checked)."""
    _kernel_step(library, rule, params, grads, buffers, state_steps, numbers, maximize)


def _kernel_step_inplace(library, rule, params, grads, buffers, state_steps, numbers, maximize):
    """What an in-place op does above the kernel: run it, then count the writes."""
    with torch._C._AutoDispatchBelowADInplaceOrView():
        _OPERATOR(library, rule, params, grads, buffers, state_steps, numbers, maximize)
    count_writes(params, buffers, state_steps)


def count_writes(*written: list) -> None:
    """Bump the version counters of every tensor of each list, as an in-place op does."""
    for tensors in written:
        torch.autograd.graph.increment_version(tensors)


def kernel_step(
    library, rule, params, grads, buffers, state_steps, numbers, maximize, check=False, table=None
) -> bool:
    """The kernel of ``rule`` on a group: the operator ``torch.ops.hamopt.kernel_step_v1`` where
    something watches torch's operators (the profiler, a dispatch mode, a tracing compiler),
    else the same two things its kernels do, called directly: the C call, then the version
    counts of what it wrote. Dispatching an operator whose kernels are Python functions costs
    three times the call itself (about 30 µs a step).

    ``check``: the gradients are read first, before anything is written (in the C call, or by
    the library's ``all_finite`` before the operator), and where one holds NaN or ±Inf nothing
    is. Whether it stepped. ``table``: the group's table where the caller made it already
    (:meth:`Kernel.table`), for the direct call."""
    if (
        torch.autograd._profiler_enabled()
        or torch._C._len_torch_dispatch_stack()
        or torch.compiler.is_compiling()
    ):
        if check and not _all_finite(library, grads):
            return False
        _OPERATOR(library, rule, params, grads, buffers, state_steps, numbers, maximize)
        return True
    if not _kernel_step(
        library, rule, params, grads, buffers, state_steps, numbers, maximize, check, table
    ):
        return False
    count_writes(params, buffers, state_steps)
    return True


def define_operator(name: str, schema: str, kernels: dict, fake=None):
    """``torch.ops.hamopt.<name>``: its ``schema`` (the arguments, what it writes), its
    implementation per dispatch key in ``kernels``, and its fake kernel (what a tracing
    compiler runs on tensors without data). Defined once per process, whichever copy of this
    runtime is imported first: an exported module carries its own."""
    if not hasattr(torch.ops.hamopt, name):
        library = torch.library.Library("hamopt", "FRAGMENT")
        library.define(name + schema)
        for key, kernel in kernels.items():
            library.impl(name, kernel, key)
        if fake is not None:
            torch.library.register_fake(f"hamopt::{name}", fake, lib=library)
        _OPERATOR_LIBRARIES.append(library)  # the registration lives as long as this object
    return getattr(torch.ops.hamopt, name).default


_OPERATOR_LIBRARIES = []
_OPERATOR = define_operator(
    "kernel_step_v1",  # a new table layout or schema: a new version
    "(str library, str rule, Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] buffers, Tensor(c!)[] state_steps, Tensor numbers, bool maximize) -> ()",
    {"CPU": _operator_cpu, "ADInplaceOrView": _kernel_step_inplace},
)
