r"""The fused path's C++ kernel: every tensor of a group in one loop over memory, on CPU.

An optimizer step is memory-bound: Adam reads :math:`\theta, g, m, v` and writes
:math:`\theta, m, v`, 28 bytes per float32 parameter, and its speed limit is the machine's
streaming bandwidth. For every rule the generator writes the tensor equations as C++, one line
per equation; an elementwise rule's part is the update of one element of tensor ``i``:

.. code-block:: c++

    each_element_as<State, 2>(n, table, numbers + 5 + 2 * n, maximize, [&](auto zero, int64_t i) {
      using T = decltype(zero);
      const double bias_correction1 = bias_correction1_list[i];
      ...
      return [=](T& param, T grad, T& exp_avg, T& exp_avg_sq) {
        exp_avg = T(beta1)*exp_avg + T(1 - beta1)*grad;  // momentum: EMA v = β1 v + (1-β1) g
        ...
      };
    });

and ``prelude.h``'s ``each_element_as`` runs it in one vectorised loop per thread's range,
loading and storing the parameter and buffers. Each element is read once and written once,
nothing else touches memory. A rule with reductions over a tensor (RGD's
:math:`\lVert v\rVert`, Apollo's :math:`\lVert d\rVert_4`, sums and mean) sweeps the group once
more per level of reductions: one loop body, compiled once per pass ``P``, holds every equation;
pass ``P`` accumulates its reductions (``if constexpr (P == 1) sum_0 += ...``) in ``double``
(each thread its own partial sums per tensor, combined by one thread between sweeps) and stores
nothing, so the compiler keeps only the equations they need; the last pass stores. ``T`` is the
parameters' type (``float`` or ``double``); every sub-expression of hyperparameters and
step-dependent scalars is computed in ``double`` and rounded to ``T`` once (``T(1 - beta1)``),
as torch rounds a Python number to the tensor's type, and hoisted out of the loop by the
compiler. The elements of all tensors of a group are split into one contiguous range per thread
(a range may span tensors): one OpenMP parallel region a step, where torch's fused Adam starts one
per tensor. The step counters are counted in the kernel, before the loop.

An elementwise rule's kernel is a template over the format its buffers are kept in:
``prelude.h``'s ``PlainState`` (the parameter's type, ``step_<rule>``: ``load`` and ``keep``
read and write the buffer itself), ``BFloat16State`` and ``Int8State`` (``state_dtype``,
``step_<rule>_bfloat16`` and ``step_<rule>_int8``: float32 tensors, the buffer loaded as
``float`` and stored in its format; 8 bits a block of 256 elements at a time, whose new values
wait until their maximum is known).

The equations are printed after the numerical rewrites of :mod:`hamopt.codegen.numerics`
(``Abs(sqrt(v))`` → ``sqrt(Abs(v))``…), as on every path.

The kernel is a plain shared library: no Python headers, no torch headers, so a module's
kernels compile in a second or two. The runtime (:mod:`hamopt.runtime.kernel`) puts the shared
prelude before them (``hamopt/runtime/prelude.h``: the loop over a group's elements), builds the
library on first use, caches it on disk and calls it as a torch operator; it falls back to
``torch.compile`` when it cannot: no compiler, a failed build, CUDA tensors, a subclass such as
DTensor, a dtype other than float32 and float64, or a tensor with gaps in its memory (a slice;
contiguous and channels-last tensors are fine).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.cxx import CXX17CodePrinter
from sympy.printing.precedence import precedence

from hamopt.codegen.names import plural, rule_names
from hamopt.codegen.numerics import NumericFormBase, finite_form
from hamopt.rule.reductions import REDUCTIONS
from hamopt.rule.update_rule import UpdateRule

__all__ = ["TRANSCENDENTAL", "CxxTensorPrinter", "kernel_source"]

_HALF = sp.Rational(1, 2)

#: Names a kernel binds itself (the elementwise template's too: ``extra``, ``block``, ``last``,
#: the formats), and C++'s keywords: a rule's symbol with one of them is renamed.
_RESERVED = frozenset(
    """numbers table numels n i k begin end pass threads sign sums zero T std square squared maximum
    group Group each_range_as each_range_passes each_element_as extra block last State PlainState
    BFloat16State Int8State HAMOPT_FORMATS HAMOPT_EXPORT
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

    def _print_Integer(self, expr: sp.Integer) -> str:
        """An integer beyond ``int``'s range as a ``double`` literal, as Python's arithmetic on
        the other paths takes it (``1e20`` printed as an integer literal overflowed: a typed
        energy's ``1e-20`` gave a wrong step on the kernel's path only)."""
        if abs(int(expr)) >= 2**31:
            return repr(float(expr))
        return super()._print_Integer(expr)

    def _print_Pow(self, expr: sp.Pow) -> str:
        """``b**-½`` as ``1.0/std::sqrt(b)``: two correctly rounded operations, as
        ``torch.rsqrt`` computes it in the fused path, where ``std::pow`` may differ by one
        unit in the last place."""
        if expr.exp == -_HALF:
            return f"(1.0/std::sqrt({self._print(expr.base)}))"
        return super()._print_Pow(expr)

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
        if rest.is_Pow and rest.exp == 2 and rest.base.is_Symbol:
            # c·x² as (c·x)·x, torch's addcmul(x, x, value=c): c·x² = (1-β₂)g² of a gradient
            # of 3e19 is finite in float32 where x² first overflows (and the bits are torch's)
            body = f"{self._print(rest.base)}*{self._print(rest.base)}"
        else:
            body = self.parenthesize(rest, precedence(expr))
        return f"-{body}" if coeff == -1 else f"{self._print(coeff)}*{body}"

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        """Its terms free of tensors as one number (as in a product), after the others."""
        scalars = [a for a in expr.args if not self._is_tensor(a)]
        if len(scalars) < 2:
            return super()._print_Add(expr, order)
        rest = sp.Add(*(a for a in expr.args if self._is_tensor(a)))
        return f"{self.parenthesize(rest, precedence(expr))} + {self._print(sp.Add(*scalars))}"

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
        e = f"double({self._print(exp)})" if self._is_tensor(exp) else self._scalar.doprint(exp)
        return f"T(std::pow(double({b}), {e}))"

    def _print_transcendental(self, expr) -> str:
        """exp, log, tanh…: in ``double``, rounded to ``T`` once, so that libm's value and
        torch's round to the same float32 (the fused path computes them so too)."""
        name = type(expr).__name__
        args = ", ".join(
            f"double({self._print(a)})" if self._is_tensor(a) else self._scalar.doprint(a)
            for a in expr.args
        )
        return f"T(std::{name}({args}))"

    def _print_Max(self, expr: sp.Max) -> str:
        return self._fold(expr, "maximum<T>")

    def _print_Min(self, expr: sp.Min) -> str:
        return self._fold(expr, "minimum<T>")

    def _print_sign(self, expr) -> str:
        a = self._print(expr.args[0])
        return f"T(({a} > 0) - ({a} < 0))"


#: The functions of a tensor the kernel computes in ``double``, rounded once (C++'s names are
#: SymPy's; the fused path's ``in_double`` computes them so too).
TRANSCENDENTAL = frozenset(
    """exp expm1 log log1p log2 log10 sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh
    erf erfc""".split()
)
for _name in TRANSCENDENTAL:
    setattr(CxxTensorPrinter, f"_print_{_name}", CxxTensorPrinter._print_transcendental)


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
    parts = [
        "// Generated by hamopt from a derivation; do not edit.\n"
        f"// The fused step of {name}'s rules, after the prelude (hamopt/runtime/prelude.h).\n"
    ]
    for rule, hypers, lists in rules:
        if rule.elementwise:
            parts.append(_elementwise_kernel(rule, hypers, lists))
        else:
            parts.append(_rule_kernel(rule, hypers, lists))
    return "\n".join(parts)


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


def _number_lines(hypers: list[str], lists: list[str]) -> list[str]:
    """The lines that name a kernel's numbers: the hyperparameters, then each per-tensor list."""
    lines = []
    if hypers:
        values = ", ".join(f"{_cxx_name(h)} = numbers[{j}]" for j, h in enumerate(hypers))
        lines.append(f"  const double {values};")
    for k, name in enumerate(lists):
        offset = f"{len(hypers)} + {k} * n" if k else f"{len(hypers)}"
        lines.append(f"  const double* {_cxx_name(plural(name))} = numbers + {offset};")
    return lines


def _rule_kernel(rule: UpdateRule, hypers: list[str], lists: list[str]) -> str:
    """The kernel of a rule with reductions: one sweep per level of reductions, then the
    update, as one loop compiled once per pass (an elementwise rule's is
    :func:`_elementwise_kernel`)."""
    tensors = [b for b in rule.buffers if b.shape == "tensor"]
    names = {sym: _cxx_name(name) for sym, name in rule_names(rule).items()}
    columns = ["param", "grad", *(names[b.symbol] for b in tensors)]
    equations = [a for a in rule.assignments if rule.is_tensor(a.expr)]
    reductions, _ = _plan(equations)
    passes = max((r.level for r in reductions), default=0)
    width = len(reductions)
    lines = [f"// Rule {rule.name}: the fused step of one param group"]
    lines.append(
        f'extern "C" void step_{rule.name}(int64_t n, const int64_t* table, '
        "const double* numbers, int maximize) {"
    )
    lines.append(
        f"  const Group group(n, table, {len(columns)});  // {', '.join(columns)}; counts the steps"
    )
    lines.extend(_number_lines(hypers, lists))
    lines.append(
        f"  std::vector<double> reduced(n * {width});  // reduction k of tensor i: "
        f"reduced[i * {width} + k]"
    )
    lines.append(
        f"  // pass P over elements [begin, end) of tensor i, in its type T: P < {passes + 1} "
        f"accumulates its reductions, P = {passes + 1} updates"
    )
    lines.append(
        "  auto sweep = [&](auto pass, auto zero, int64_t i, int64_t begin, int64_t end, "
        "double* sums) {"
    )
    lines.extend(_sweep(rule, names, columns, lists, equations, reductions, passes + 1))
    lines.append("  };")
    lines.append("  // after pass p: combine the threads' partial reductions of pass p")
    lines.append("  auto finish = [&](int pass, const double* sums, int64_t threads) {")
    lines.append("    for (int64_t i = 0; i < n; i++) {")
    for level in range(1, passes + 1):
        lines.append(f"      if (pass == {level}) {{")
        for r in reductions:
            if r.level == level:
                _, combine, result = r.node.cxx
                s = f"{combine}(sums, threads, n, {width}, i, {r.index})"
                lines.append(
                    f"        reduced[i * {width} + {r.index}] = {result.format(s=s)};  // {r.node}"
                )
        lines.append("      }")
    lines.append("    }")
    lines.append("  };")
    lines.append(f"  each_range_passes<{passes + 1}>(group, {width}, sweep, finish);")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _assignment(rule, names, printer, a, known, declared: set) -> str:
    """One equation's line in a sweep (``known``: its reductions already computed, as symbols;
    ``declared``: the variables declared so far, which it adds to)."""
    target = names[a.target]
    code = printer.doprint(a.expr.xreplace(known))
    buf = rule.buffer(a.target)
    if buf is not None and buf.init == "grad":
        code = f"step == 1 ? grad : {code}"  # first-gradient init
    idle = rule.idle_at_zero(a)
    if idle is not None:  # the gradient unchanged at its hyperparameter's zero
        code = f"{_cxx_name(idle.name)} != 0 ? {code} : grad"
    decl = "" if target in declared else "T "
    declared.add(target)
    doc = f"  // {a.doc}" if a.doc else ""
    return f"      {decl}{target} = {code};{doc}"


def _elementwise_kernel(rule: UpdateRule, hypers: list[str], lists: list[str]) -> str:
    """The kernels of an elementwise rule (no reduction): one template over the format its
    buffers are kept in (``prelude.h``'s ``PlainState``: the parameter's type;
    ``BFloat16State``, ``Int8State``: ``state_dtype``), exported as ``step_<rule>``,
    ``step_<rule>_bfloat16`` and ``step_<rule>_int8`` (``HAMOPT_FORMATS``). The rule's part is
    the update of one element, per tensor (its per-tensor numbers bound); ``prelude.h``'s
    ``each_element_as`` walks the group, loads and keeps the buffers in their format. A
    format's numbers (random keys, or the 8-bit maps) follow the rule's numbers."""
    tensors = [b for b in rule.buffers if b.shape == "tensor"]
    names = {sym: _cxx_name(name) for sym, name in rule_names(rule).items()}
    buffers = [names[b.symbol] for b in tensors]
    equations = [a for a in rule.assignments if rule.is_tensor(a.expr)]
    signature = "int64_t n, const int64_t* table, const double* numbers, int maximize"
    arguments = ", ".join(["T& param", "T grad", *(f"T& {b}" for b in buffers)])
    extra = f"numbers + {len(hypers)} + {len(lists)} * n" if lists else f"numbers + {len(hypers)}"
    lines = [
        f"// Rule {rule.name}: the fused step of one param group, its buffers in format State",
        "template <template <typename> class State>",
        f"void step_{rule.name}_as({signature}) {{",
    ]
    lines.extend(_number_lines(hypers, lists))
    lines.append("  // tensor i, in its type T: the update of one of its elements")
    lines.append(
        f"  each_element_as<State, {len(buffers)}>(n, table, {extra}, maximize, "
        "[&](auto zero, int64_t i) {"
    )
    lines.append("    using T = decltype(zero);")
    for name in lists:
        lines.append(f"    const double {_cxx_name(name)} = {_cxx_name(plural(name))}[i];")
    lines.append(f"    return [=]({arguments}) {{")
    declared = {"param", "grad", *buffers}
    printer = CxxTensorPrinter(names, rule.is_tensor)
    for a in equations:
        lines.append(_assignment(rule, names, printer, a, {}, declared))
    lines.append("    };")
    lines.append("  });")
    lines.append("}")
    lines.append(f"HAMOPT_FORMATS({rule.name})")
    return "\n".join(lines) + "\n"


def _sweep(rule, names, columns, lists, equations, reductions, last) -> list[str]:
    """Body of the sweep over elements [begin, end) of tensor i in pass ``P``: every equation in
    its final form, each reduction accumulated in its pass (``if constexpr``), the columns stored
    in the last. A pass before the last stores nothing, so the compiler drops what its
    reductions do not need."""
    lines = [
        "    using T = decltype(zero);",
        "    constexpr int P = decltype(pass)::value;",
        "    const T sign = maximize ? T(-1) : T(1);",
    ]
    for c, col in enumerate(columns):
        const = "const " if col == "grad" else ""
        lines.append(f"    {const}T* __restrict {col}_data = group.data<T>({c}, i);")
    for name in lists:
        lines.append(f"    const double {_cxx_name(name)} = {_cxx_name(plural(name))}[i];")
    width = len(reductions)
    for r in reductions:
        lines.append(
            f"    const double {r.symbol} = reduced[i * {width} + {r.index}];  "
            f"// known after pass {r.level}"
        )
    if reductions:
        lines.append(f"    double {', '.join(f'sum_{r.index} = 0' for r in reductions)};")
    clauses = [
        f"reduction({'max' if r.node.cxx[1] == 'largest' else '+'}:sum_{r.index})"
        for r in reductions
    ]
    lines.append(" ".join(["#pragma omp simd", *clauses]))
    lines.append("    for (int64_t k = begin; k < end; k++) {")
    lines.append("      T grad = sign*grad_data[k];")
    lines.extend(f"      T {col} = {col}_data[k];" for col in columns if col != "grad")
    declared = set(columns)
    printer = CxxTensorPrinter(names, rule.is_tensor)
    for at, a in enumerate(equations):
        for r in reductions:
            if r.at == at:
                x = printer.doprint(r.node.args[0].xreplace(_known(reductions, at, r.level)))
                accumulate = r.node.cxx[0].format(s=f"sum_{r.index}", x=x)
                lines.append(f"      if constexpr (P == {r.level}) {accumulate};")
        known = _known(reductions, at, last)
        lines.append(_assignment(rule, names, printer, a, known, declared))
    lines.append(f"      if constexpr (P == {last}) {{")
    lines.extend(f"        {col}_data[k] = {col};" for col in columns if col != "grad")
    lines.append("      }")
    lines.append("    }")
    for r in reductions:  # into this thread's row
        if r.node.cxx[1] == "largest":
            add = f"sums[{r.index}] = maximum<double>(sums[{r.index}], sum_{r.index})"
        else:
            add = f"sums[{r.index}] += sum_{r.index}"
        lines.append(f"    if constexpr (P == {r.level}) {add};")
    return lines
