r"""The fused path's C++ kernel: every tensor of a group in one loop over memory, on CPU.

An optimizer step is memory-bound: Adam reads :math:`\theta, g, m, v` and writes
:math:`\theta, m, v`, 28 bytes per float32 parameter, and its speed limit is the machine's
streaming bandwidth. For every rule the generator writes the tensor equations as a C++ loop,
one line per equation:

.. code-block:: c++

    for (int64_t k = begin; k < end; k++) {
      T grad = sign*grad_data[k];
      T param = param_data[k];
      T exp_avg = exp_avg_data[k];
      ...
      exp_avg = T(beta1)*exp_avg + T(1 - beta1)*grad;  // momentum: EMA v = β1 v + (1-β1) g
      ...
      param_data[k] = param;
      exp_avg_data[k] = exp_avg;
    }

Each element is read once and written once, nothing else touches memory. A rule with reductions
over a tensor (RGD's :math:`\lVert v\rVert`, Apollo's :math:`\lVert d\rVert_4`, sums and mean)
sweeps the group once more per level of reductions: a sweep computes, from the loaded values,
the equations that need no reduction not yet known, accumulates that level's reductions in
``double`` (each thread its own partial sums per tensor, combined by one thread between sweeps)
and stores nothing; the last sweep computes every equation and stores. ``T`` is the
parameters' type (``float`` or ``double``); every sub-expression of hyperparameters and
step-dependent scalars is computed in ``double`` and rounded to ``T`` once (``T(1 - beta1)``),
as torch rounds a Python number to the tensor's type, and hoisted out of the loop by the
compiler. The elements of all tensors of a group are split into one contiguous range per thread
(a range may span tensors): one OpenMP parallel region a step, where torch's fused Adam starts one
per tensor. The step counters are counted in the kernel, before the loop.

The equations are printed after the numerical rewrites of :mod:`hamopt.codegen.numerics`
(``Abs(sqrt(v))`` → ``sqrt(Abs(v))``…), as on every path.

The kernel is a plain shared library loaded with ``ctypes``: no Python headers, no torch headers,
so a module's kernels compile in a second or two. The runtime (:data:`KERNEL_RUNTIME`,
emitted into every generated module) builds the library with the C++ compiler
on first use (``$CXX``, else ``g++``), caches it on disk keyed by the source, the compiler, the
flags and the CPU, and falls back to ``torch.compile`` when it cannot: no compiler, a failed
build, CUDA tensors, a subclass such as DTensor, a dtype other than float32 and float64, or a
tensor with gaps in its memory (a slice; contiguous and channels-last tensors are fine).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import sympy as sp
from sympy.printing.cxx import CXX17CodePrinter
from sympy.printing.precedence import precedence

from hamopt.codegen.names import plural, rule_names
from hamopt.codegen.numerics import NumericFormBase, finite_form
from hamopt.rule.reductions import REDUCTIONS, MaxAbs, Mean, Norm2, Norm4, SumOf
from hamopt.rule.update_rule import UpdateRule

__all__ = ["KERNEL_RUNTIME", "CxxTensorPrinter", "kernel_runtime", "kernel_source"]

_HALF = sp.Rational(1, 2)

#: Names a kernel binds itself, and C++'s keywords: a rule's symbol with one of them is renamed.
_RESERVED = frozenset(
    """numbers table numels n i k begin end pass threads sign sums zero T std square squared maximum
    minimum total largest update sweep finish reduced for_each_range for_each_range_passes
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue
    co_await co_return co_yield decltype default delete do double dynamic_cast else enum
    explicit export extern false float for friend goto if inline int long mutable namespace new
    noexcept not not_eq nullptr operator or or_eq private protected public register
    reinterpret_cast requires return short signed sizeof static static_assert static_cast
    struct switch template this thread_local throw true try typedef typeid typename union
    unsigned using virtual void volatile wchar_t while xor xor_eq""".split()
)


def _cxx_name(name: str) -> str:
    return name + "_" if name in _RESERVED else name


class _ScalarPrinter(CXX17CodePrinter):
    """A hyperparameter expression, in ``double``."""

    def __init__(self, names):
        super().__init__()
        self._names = names

    def doprint(self, expr, assign_to=None):
        """Source of ``expr`` after the numerical rewrites (:mod:`hamopt.codegen.numerics`)."""
        return super().doprint(finite_form(expr), assign_to)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self._names.get(expr, _cxx_name(expr.name))

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Max(self, expr: sp.Max) -> str:
        return self._fold(expr, "maximum<double>")

    def _print_NumericFormBase(self, expr: NumericFormBase) -> str:
        return self._print(expr.evaluated())

    def _print_Min(self, expr: sp.Min) -> str:
        return self._fold(expr, "minimum<double>")

    def _fold(self, expr, fn: str) -> str:
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        """Nested ``?:`` on one line; NaN where no condition holds."""
        *pieces, (value, cond) = expr.args
        out = self._print(value) if cond == sp.true else self._print(sp.nan)
        if cond != sp.true:
            pieces.append((value, cond))
        for value, cond in reversed(pieces):
            out = f"(({self._print(cond)}) ? ({self._print(value)}) : ({out}))"
        return out


class CxxTensorPrinter(_ScalarPrinter):
    """A tensor equation, elementwise, in the kernel's type ``T``.

    A sub-expression free of tensors (hyperparameters, step-dependent scalars, numbers) prints
    once, in ``double``, rounded to ``T``: ``T(1 - beta1)``. Powers of tensors print as
    ``std::sqrt``, ``square`` or ``std::pow`` in ``T``; ``Max``/``Min`` as ``maximum``/
    ``minimum``, which propagate a NaN as ``torch.maximum`` does; ``Piecewise`` as ``?:``.
    """

    def __init__(self, names, is_tensor):
        super().__init__(names)
        self._is_tensor = is_tensor
        self._scalar = _ScalarPrinter(names)

    def _print(self, expr, **kwargs) -> str:
        if isinstance(expr, sp.Expr) and not self._is_tensor(expr):
            return f"T({self._scalar.doprint(expr)})"
        return super()._print(expr, **kwargs)

    def _print_Mul(self, expr: sp.Mul) -> str:
        scalars = [a for a in expr.args if not self._is_tensor(a)]
        if not scalars:
            return super()._print_Mul(expr)
        rest = sp.Mul(*(a for a in expr.args if self._is_tensor(a)))
        coeff = sp.Mul(*scalars)
        body = self.parenthesize(rest, precedence(expr))
        return f"-{body}" if coeff == -1 else f"{self._print(coeff)}*{body}"

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exp = expr.args
        b = self._print(base)
        if exp == _HALF:
            return f"std::sqrt({b})"
        if exp == -_HALF:
            return f"T(1)/std::sqrt({b})"
        if exp == 2:
            return f"square({b})"
        if exp == -1:
            return f"T(1)/{self.parenthesize(base, precedence(expr))}"
        return f"std::pow({b}, {self._print(exp)})"

    def _print_Max(self, expr: sp.Max) -> str:
        return self._fold(expr, "maximum<T>")

    def _print_Min(self, expr: sp.Min) -> str:
        return self._fold(expr, "minimum<T>")

    def _print_sign(self, expr) -> str:
        a = self._print(expr.args[0])
        return f"T(({a} > 0) - ({a} < 0))"


_PRELUDE = """\
// Generated by hamopt from a derivation; do not edit.
// The fused step of {name}'s rules, one loop over every tensor of a group per sweep.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include <omp.h>

namespace {{

// Elements a thread takes at least: fewer and starting the thread costs more than it saves.
constexpr int64_t kGrain = 32768;

template <typename T> T square(T x) {{ return x * x; }}
// torch.maximum / torch.minimum: a NaN in either argument is the result
template <typename T> T maximum(T a, T b) {{ return (a > b || a != a) ? a : b; }}
template <typename T> T minimum(T a, T b) {{ return (a < b || a != a) ? a : b; }}

// sweep(pass, i, begin, end, sums) on elements [begin, end) of tensor i, for the n tensors of
// numels[i] elements and pass = 1, ..., passes: the elements of all tensors are split into one
// contiguous range per thread (a range may span tensors), so a step is one parallel region
// however many tensors there are. A rule with reductions over a tensor (a norm, a sum) sweeps
// once per level of reductions, then once to update: a pass before the last adds this thread's
// partial reductions of tensor i into its row sums[k] (width of them), then one thread combines
// the rows of all threads (finish(pass, sums, threads)) while the others wait.
template <typename Sweep, typename Finish>
void for_each_range_passes(int64_t n, const int64_t* numels, int passes, int64_t width,
                           const Sweep& sweep, const Finish& finish) {{
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += numels[i];
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), total / kGrain));
  std::vector<double> sums(threads * n * width, 0.0);  // thread t, tensor i: sums[(t * n + i) * width]
#pragma omp parallel num_threads(threads)
  {{
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t first = total * t / nt, last = total * (t + 1) / nt;
    for (int pass = 1; pass <= passes; pass++) {{
      int64_t offset = 0;
      for (int64_t i = 0; i < n && offset < last; offset += numels[i], i++) {{
        const int64_t begin = std::max(first, offset), end = std::min(last, offset + numels[i]);
        if (begin < end) sweep(pass, i, begin - offset, end - offset, sums.data() + (t * n + i) * width);
      }}
      if (pass < passes) {{
#pragma omp barrier
#pragma omp single
        finish(pass, sums.data(), nt);
      }}
    }}
  }}
}}

// One sweep: body(i, begin, end), for an elementwise rule.
template <typename Body>
void for_each_range(int64_t n, const int64_t* numels, const Body& body) {{
  for_each_range_passes(n, numels, 1, 0,
      [&](int, int64_t i, int64_t begin, int64_t end, double*) {{ body(i, begin, end); }},
      [](int, const double*, int64_t) {{}});
}}

template <typename T> double squared(T x) {{ return double(x) * double(x); }}
// reduction k of tensor i: the sum, or the largest, of the threads' rows
double total(const double* sums, int64_t threads, int64_t n, int64_t width, int64_t i, int64_t k) {{
  double out = 0;
  for (int64_t t = 0; t < threads; t++) out += sums[(t * n + i) * width + k];
  return out;
}}
double largest(const double* sums, int64_t threads, int64_t n, int64_t width, int64_t i, int64_t k) {{
  double out = 0;
  for (int64_t t = 0; t < threads; t++) out = maximum<double>(out, sums[(t * n + i) * width + k]);
  return out;
}}

}}  // namespace
"""


def kernel_source(name: str, rules: list[tuple[UpdateRule, list[str], list[str]]]) -> str:
    """C++ source of the kernels of optimizer ``name``.

    ``rules``: each rule with what its ``numbers`` hold (the hyperparameters the tensor equations
    use, then one list per tensor of each per-tensor number, by the name of one tensor's), in the
    layout of the ``torch.compile`` path. Per rule ``<variant>`` the library exports

    ``void step_<variant>(int64_t n, const int64_t* table, const double* numbers, int maximize)``

    where ``table`` holds the numels of the ``n`` tensors, whether each is float64 (else
    float32), then the data pointers of the parameters, the gradients, each tensor buffer and
    the float32 step counters (n each).
    """
    parts = [_PRELUDE.format(name=name)]
    for rule, hypers, lists in rules:
        parts.append(_rule_kernel(rule, hypers, lists))
    return "\n".join(parts)


#: Per reduction: how a thread accumulates an element ``{x}`` into ``{s}`` (a double), how the
#: threads' partial results combine (``total`` or ``largest``), and the result from the combined.
_REDUCE = {
    Norm2: ("{s} += squared({x})", "total", "std::sqrt({s})"),
    Norm4: ("{s} += squared(squared({x}))", "total", "std::sqrt(std::sqrt({s}))"),
    SumOf: ("{s} += double({x})", "total", "{s}"),
    Mean: ("{s} += double({x})", "total", "{s}/double(numels[i])"),
    MaxAbs: ("{s} = maximum<double>({s}, std::fabs(double({x})))", "largest", "{s}"),
}


@dataclass(frozen=True)
class _Reduction:
    """Reduction ``index`` of a rule: ``node`` in tensor equation ``at``, known after pass
    ``level`` (1 + the passes its argument needs), named ``symbol`` once known."""

    index: int
    node: sp.Expr
    at: int
    level: int

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(f"reduction_{self.index}")


def _plan(equations) -> tuple[list[_Reduction], list[int]]:
    """The reductions of the tensor equations, and the pass each equation needs before it can be
    computed (0: none, the equation is elementwise in what is loaded)."""
    reductions: dict[tuple[int, sp.Expr], _Reduction] = {}
    depth: dict[sp.Symbol, int] = {}  # the pass a symbol's current value needs
    needs = []

    def level(expr, at):
        out = max((depth.get(sym, 0) for sym in expr.free_symbols), default=0)
        for node in _outer_reductions(expr):
            if (at, node) not in reductions:
                inner = 1 + level(node.args[0], at)
                reductions[at, node] = _Reduction(len(reductions), node, at, inner)
            out = max(out, reductions[at, node].level)
        return out

    for at, a in enumerate(equations):
        needs.append(level(a.expr, at))
        depth[a.target] = needs[-1]
    return list(reductions.values()), needs


def _outer_reductions(expr):
    if isinstance(expr, REDUCTIONS):
        yield expr
        return
    for arg in expr.args:
        yield from _outer_reductions(arg)


def _known(reductions, at, below):
    """Equation ``at``'s reductions known before pass ``below``, as their symbols."""
    return {r.node: r.symbol for r in reductions if r.at == at and r.level < below}


def _rule_kernel(rule: UpdateRule, hypers: list[str], lists: list[str]) -> str:
    tensors = [b for b in rule.buffers if b.shape == "tensor"]
    names = {sym: _cxx_name(name) for sym, name in rule_names(rule).items()}
    columns = ["param", "grad", *(names[b.symbol] for b in tensors)]
    equations = [a for a in rule.assignments if rule.is_tensor(a.expr)]
    reductions, needs = _plan(equations)
    passes = max((r.level for r in reductions), default=0)
    width = len(reductions)
    lines = [f"// Rule {rule.name}: the fused step of one param group"]
    lines.append(
        f'extern "C" void step_{rule.name}(int64_t n, const int64_t* table, '
        "const double* numbers, int maximize) {"
    )
    lines.append("  const int64_t* numels = table;")
    lines.append("  const int64_t* doubles = table + n;  // 1: a float64 tensor, 0: float32")
    for j, col in enumerate([*columns, "step"], start=2):
        lines.append(f"  const int64_t* {col}_pointers = table + {j} * n;")
    for j, h in enumerate(hypers):
        lines.append(f"  const double {_cxx_name(h)} = numbers[{j}];")
    for k, name in enumerate(lists):
        offset = f"{len(hypers)} + {k} * n" if k else f"{len(hypers)}"
        lines.append(f"  const double* {_cxx_name(plural(name))} = numbers + {offset};")
    lines.append(
        "  for (int64_t i = 0; i < n; i++) *reinterpret_cast<float*>(step_pointers[i]) += 1;"
    )
    if reductions:
        lines.append(
            f"  std::vector<double> reduced(n * {width});  // reduction k of tensor i: "
            f"reduced[i * {width} + k]"
        )
    sweeps = [f"reduce_{level}" for level in range(1, passes + 1)] + ["update"]
    for level, sweep in enumerate(sweeps, start=1):
        final = level > passes
        what = "update" if final else f"reductions of pass {level}"
        lines.append(f"  // elements [begin, end) of tensor i, in its type T: the {what}")
        sums = "" if final and not reductions else ", double* sums"
        lines.append(
            f"  auto {sweep} = [&](auto zero, int64_t i, int64_t begin, int64_t end{sums}) {{"
        )
        lines.extend(
            _sweep(rule, names, columns, lists, equations, reductions, needs, level, final)
        )
        lines.append("  };")
    if not reductions:
        lines.append("  for_each_range(n, numels, [&](int64_t i, int64_t begin, int64_t end) {")
        lines.append(
            "    if (doubles[i]) update(0.0, i, begin, end); else update(0.0f, i, begin, end);"
        )
        lines.append("  });")
    else:
        lines.append("  // after pass p: combine the threads' partial reductions of pass p")
        lines.append("  auto finish = [&](int pass, const double* sums, int64_t threads) {")
        lines.append("    for (int64_t i = 0; i < n; i++) {")
        for level in range(1, passes + 1):
            lines.append(f"      if (pass == {level}) {{")
            for r in reductions:
                if r.level == level:
                    _, combine, result = _REDUCE[type(r.node)]
                    s = f"{combine}(sums, threads, n, {width}, i, {r.index})"
                    lines.append(
                        f"        reduced[i * {width} + {r.index}] = {result.format(s=s)};"
                        f"  // {r.node}"
                    )
            lines.append("      }")
        lines.append("    }")
        lines.append("  };")
        lines.append(
            f"  for_each_range_passes(n, numels, {passes + 1}, {width}, "
            "[&](int pass, int64_t i, int64_t begin, int64_t end, double* sums) {"
        )
        for level, sweep in enumerate(sweeps, start=1):
            cond = "else " if level > passes else f"if (pass == {level}) "
            if level > 1 and level <= passes:
                cond = "else " + cond
            lines.append(
                f"    {cond}doubles[i] ? {sweep}(0.0, i, begin, end, sums) : "
                f"{sweep}(0.0f, i, begin, end, sums);"
            )
        lines.append("  }, finish);")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _sweep(rule, names, columns, lists, equations, reductions, needs, level, final) -> list[str]:
    """Body of one sweep over elements [begin, end) of tensor i: pass ``level``'s reductions or,
    ``final``, the update. A reduction pass loads, computes the equations it can (those needing no
    reduction of this pass or later), accumulates its reductions and stores nothing."""
    lines = ["    using T = decltype(zero);", "    const T sign = maximize ? T(-1) : T(1);"]
    for col in columns:
        const = "const " if col == "grad" else ""
        lines.append(
            f"    {const}T* __restrict {col}_data = reinterpret_cast<{const}T*>({col}_pointers[i]);"
        )
    for name in lists:
        lines.append(f"    const double {_cxx_name(name)} = {_cxx_name(plural(name))}[i];")
    width = len(reductions)
    for r in reductions:
        if r.level < level:
            lines.append(f"    const double {r.symbol} = reduced[i * {width} + {r.index}];")
    mine = [r for r in reductions if r.level == level]
    lines.extend(f"    double sum_{r.index} = 0;" for r in mine)
    clauses = [
        f"reduction({'max' if _REDUCE[type(r.node)][1] == 'largest' else '+'}:sum_{r.index})"
        for r in mine
    ]
    lines.append(" ".join(["#pragma omp simd", *clauses]))
    lines.append("    for (int64_t k = begin; k < end; k++) {")
    lines.append("      T grad = sign*grad_data[k];")
    lines.extend(f"      T {col} = {col}_data[k];" for col in columns if col != "grad")
    declared = set(columns)
    printer = CxxTensorPrinter(names, rule.is_tensor)
    for at, a in enumerate(equations):
        known = _known(reductions, at, level)
        for r in mine:
            if r.at == at:
                x = printer.doprint(r.node.args[0].xreplace(known))
                lines.append(f"      {_REDUCE[type(r.node)][0].format(s=f'sum_{r.index}', x=x)};")
        if not final and needs[at] >= level:
            continue
        target = names[a.target]
        code = printer.doprint(a.expr.xreplace(known))
        buf = rule.buffer(a.target)
        if buf is not None and buf.init == "grad":
            code = f"step == 1 ? grad : {code}"  # first-gradient init
        decl = "" if target in declared else "T "
        declared.add(target)
        doc = f"  // {a.doc}" if a.doc else ""
        lines.append(f"      {decl}{target} = {code};{doc}")
    if final:
        lines.extend(f"      {col}_data[k] = {col};" for col in columns if col != "grad")
    lines.append("    }")
    for r in mine:  # into this thread's row
        if _REDUCE[type(r.node)][1] == "largest":
            lines.append(f"    sums[{r.index}] = maximum<double>(sums[{r.index}], sum_{r.index});")
        else:
            lines.append(f"    sums[{r.index}] += sum_{r.index};")
    return lines


KERNEL_RUNTIME = '''_KERNEL = {}  # "library": the module's compiled kernels (ctypes), or None where they cannot be built
_KERNEL_TYPES = (torch.float32, torch.float64)
_PLAIN = (torch.Tensor, torch.nn.Parameter)
_CHECKED = {}  # layouts (rule, numels, data pointers) _fits accepted → (which are float64, all contiguous)


def _kernel_library():
    """The C++ kernels of _KERNEL_SOURCE, built once per machine and cached on disk.

    The library lands in ``$$HAMOPT_CACHE_DIR`` (default ``~/.cache/hamopt``), named by a hash of
    the source, the compiler, its flags and the CPU, so a later process loads it and a source or a
    machine that differs builds its own. Where it cannot be built (no compiler, a failed build),
    warn once and return None: the fused path then runs on torch.compile."""
    if "library" in _KERNEL:
        return _KERNEL["library"]
    _KERNEL["library"] = None
    cxx = os.environ.get("CXX", "g++")
    flags = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-std=c++17", "-shared", "-fPIC"]
    cpu = platform.machine() + platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu += next((line for line in f if line.startswith(("flags", "Features"))), "")
    key = hashlib.sha256("\\0".join([_KERNEL_SOURCE, cxx, *flags, cpu]).encode()).hexdigest()[:24]
    cache = pathlib.Path(os.environ.get("HAMOPT_CACHE_DIR") or pathlib.Path.home() / ".cache" / "hamopt") / "kernels"
    path = cache / f"$module-{key}.so"
    try:
        if not path.exists():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                source = pathlib.Path(tmp) / "kernels.cpp"
                source.write_text(_KERNEL_SOURCE, encoding="utf-8")
                subprocess.run([cxx, *flags, str(source), "-o", str(source.with_suffix(".so"))], check=True, capture_output=True, text=True, timeout=600)
                os.replace(source.with_suffix(".so"), path)  # atomic: a concurrent process sees all or nothing
        library = ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError) as error:
        lines = (getattr(error, "stderr", None) or str(error)).strip().splitlines()
        reason = f"{type(error).__name__}: {next((line for line in lines if 'error' in line), lines[0] if lines else '')}"
        warnings.warn(f"$name(fused=True): the C++ kernels could not be built with {cxx}, so fused steps run on torch.compile instead ({reason})", RuntimeWarning, stacklevel=3)
        return None
    for variant in _FUSED:
        getattr(library, f"step_{variant}").argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    _KERNEL["library"] = library
    return library


def _dense(t):
    """Whether ``t``'s elements fill the memory from its data pointer on, without a gap or an
    overlap, in some order of its dimensions (contiguous, channels-last, a transpose...)."""
    if t.is_contiguous():
        return True
    expected = 1
    for stride, size in sorted(zip(t.stride(), t.shape, strict=True)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def _fits(params, grads, buffers, state_steps):
    """Whether the kernel may run on these lists: plain CPU tensors (not CUDA, not a subclass
    such as DTensor) of float32 or float64; each parameter dense, each gradient and buffer of its
    parameter's dtype, shape and strides (so that the kernel, which walks memory, meets the same
    element of each at the same place); the step counters float32 CPU tensors."""
    if not all(type(p) in _PLAIN and p.dtype in _KERNEL_TYPES and p.is_cpu and _dense(p) for p in params):
        return False
    for ts in (grads, *buffers):
        if not all(type(t) in _PLAIN and t.dtype == p.dtype and t.is_cpu and t.shape == p.shape and t.stride() == p.stride() for t, p in zip(ts, params, strict=True)):
            return False
    return all(type(s) in _PLAIN and s.dtype == torch.float32 and s.is_cpu for s in state_steps)


def _kernel_table(variant, params, grads, buffers, state_steps):
    """The kernel's table for this step, or None where the group is not for the kernel (see
    ``_fits``) or ``HAMOPT_FUSED=compile`` is set in the environment.

    The table: the numels, whether each tensor is float64, then the data pointers of the
    parameters, gradients, buffers and step counters (int64). A layout is checked in full once;
    later steps on the same storage (same data pointers and sizes) of contiguous parameters check
    only that the gradients, which may be new tensors every step, are contiguous too (torch keeps
    their dtype and shape the parameter's); other layouts are checked in full every step."""
    if os.environ.get("HAMOPT_FUSED") == "compile":
        return None
    numels = [p.numel() for p in params]
    pointers = [t.data_ptr() for ts in (params, *buffers, state_steps) for t in ts]
    key = (variant, *numels, *pointers)
    doubles, contiguous = _CHECKED.get(key, (None, False))
    if not (contiguous and all(g.is_contiguous() for g in grads)):
        if not _fits(params, grads, buffers, state_steps):
            return None
        doubles = [p.dtype == torch.float64 for p in params]
        _CHECKED[key] = doubles, all(p.is_contiguous() for p in params)
        while len(_CHECKED) > 16:  # the layouts seen last
            _CHECKED.pop(next(iter(_CHECKED)), None)
    n = len(params)
    grad_pointers = [g.data_ptr() for g in grads]
    return torch.tensor([*numels, *doubles, *pointers[:n], *grad_pointers, *pointers[n:]], dtype=torch.int64)


def _fused_call(variant, params, grads, state_steps, *buffers, numbers, maximize):
    """One fused step: the C++ kernel where it fits and could be built, else _fused_<variant>
    compiled by torch.compile. The kernel writes through data pointers, so the version counters
    of what it wrote are bumped here, as an in-place torch op bumps them: autograd still refuses
    a backward through a graph that saved a parameter the step has since changed."""
    table = _kernel_table(variant, params, grads, buffers, state_steps)
    library = None if table is None else _kernel_library()
    if library is None:
        _compiled_step(variant, params, grads, state_steps, *buffers, numbers, maximize=maximize)
        return
    getattr(library, f"step_{variant}")(len(params), table.data_ptr(), numbers.data_ptr(), int(maximize))
    for written in (params, *buffers, state_steps):  # what an in-place torch op would count
        torch.autograd.graph.increment_version(written)'''


def kernel_runtime(name: str, module: str) -> str:
    """Source of the kernel runtime in the module of optimizer class ``name``."""
    return string.Template(KERNEL_RUNTIME).substitute(name=name, module=module)
