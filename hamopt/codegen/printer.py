r"""Printers from SymPy expressions of an :class:`~hamopt.rule.update_rule.UpdateRule` to Python.

* :class:`TensorPrinter` — one tensor at a time: tensor sub-expressions print with ``torch``
  (``torch.sqrt``), scalar ones with ``math``; floats print as ``repr(float)``.
* :func:`foreach_code` — lists of tensors: each operation on tensors becomes one
  ``torch._foreach_*`` call; scalars that vary per tensor are Python lists (``ScalarList``).

Both print an expression after :func:`~hamopt.codegen.numerics.finite_form`, the rewrites that
floating point evaluates where the rule is finite (``Abs(sqrt(v))`` → ``sqrt(Abs(v))``,
``log(1 + x)`` → ``log1p(x)``…; :mod:`hamopt.codegen.numerics`).

Both dispatch on whether a sub-expression involves a tensor symbol (see
:meth:`UpdateRule.is_tensor`), which is why hyperparameter-only expressions never reach
``torch`` (``torch.exp`` of a Python float fails).

A reduction over a whole tensor (``Norm2``, ``SumOf``…) prints inside the runtime's ``whole``
(:func:`hamopt.runtime.tensors.whole`): on a sharded DTensor it is the reduction over every shard.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from hamopt.codegen.names import WHOLE
from hamopt.codegen.numerics import NumericFormBase, expm1, finite_form, log1p
from hamopt.rule.reductions import ReductionBase

__all__ = [
    "ForeachUnsupported",
    "ScalarPrinter",
    "TensorPrinter",
    "foreach_code",
    "foreach_parts",
    "scalar_calls",
]

_HALF = sp.Rational(1, 2)


class Nonsingular(sp.Function):
    """``x`` as a branch reads it that a switch takes only where ``x`` ≠ a number: printed as
    the runtime's :func:`~hamopt.runtime.tensors.nonsingular`."""

    nargs = 2


def _nonsingular_branches(
    pieces: tuple[tuple[sp.Expr, sp.Basic], ...], is_tensor: Callable[[sp.Expr], bool]
) -> list[tuple[sp.Expr, sp.Basic]]:
    r"""A switch's (value, condition) pairs, each value after a condition :math:`x = c` (a
    tensor ``x``, a number ``c``) reading ``x`` through :class:`Nonsingular`: ``torch.where``
    differentiates every branch, and a branch taken only where :math:`x \ne c` may not be
    differentiable at ``c`` (the norm-coupled :math:`\tanh\lVert v\rVert/\lVert v\rVert`)."""
    out = list(pieces)
    for i, (_, cond) in enumerate(pieces):
        if not (isinstance(cond, sp.Eq) and cond.rhs.is_number and is_tensor(cond.lhs)):
            continue
        moved = {cond.lhs: Nonsingular(cond.lhs, cond.rhs)}
        out[i + 1 :] = [
            (v.xreplace(moved) if _singular(v, cond.lhs, cond.rhs) else v, c)
            for v, c in out[i + 1 :]
        ]
    return out


def _singular(value: sp.Expr, x: sp.Expr, at: sp.Expr) -> bool:
    """Whether ``value`` or its derivative in ``x`` is not (known to be) finite at x = ``at``."""
    d = sp.Dummy("x")
    value = value.xreplace({x: d})
    if d not in value.free_symbols:
        return False
    for f in (value, sp.diff(value, d)):
        try:
            there = f.subs(d, at)
        except (TypeError, ValueError, ZeroDivisionError):
            return True
        if there.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            return True
    return False


class TensorPrinter(PythonCodePrinter):
    """Python source of one expression on single tensors."""

    def __init__(self, names: Mapping[sp.Symbol, str], is_tensor: Callable[[sp.Expr], bool]):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self._names = names
        self._is_tensor = is_tensor

    def doprint(self, expr, assign_to=None):
        """Source of ``expr`` after the numerical rewrites (:func:`finite_form`)."""
        return super().doprint(finite_form(expr), assign_to)

    def formed(self, expr: sp.Expr) -> str:
        """Source of a part of an expression already in :func:`finite_form`."""
        return super().doprint(expr)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self._names.get(expr, expr.name)

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"{expr.p}/{expr.q}"

    def _print_Half(self, expr: sp.Rational) -> str:
        return "0.5"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        if self._is_tensor(base):
            b = self._print(base)
            if exp == _HALF:
                return f"torch.sqrt({b})"
            if exp == -_HALF:
                return f"torch.rsqrt({b})"
            if exp == 2:
                return f"torch.square({b})"
            if exp == -1:
                return f"torch.reciprocal({b})"
            return f"torch.pow({b}, {self._print(exp)})"
        if exp == _HALF:
            return f"math.sqrt({self._print(base)})"
        return super()._print_Pow(expr, rational=rational)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # a condition on a tensor (|p|^k's velocity at p = 0) is elementwise: torch.where
        # evaluates both branches and keeps one per element; a scalar condition stays Python's
        if not any(self._is_tensor(c) for _, c in expr.args):
            return super()._print_Piecewise(expr)
        *pieces, (value, cond) = _nonsingular_branches(expr.args, self._is_tensor)
        out = self._print(value) if cond == sp.true else "math.nan"
        if not any(self._is_tensor(v) for v, _ in expr.args):
            # numbers alone would make a tensor of torch's default dtype (float32), and a
            # float64 step that goes on in place from it would round to float32: the last
            # number takes the dtype of a tensor the conditions read
            anchor = min((a for a in expr.free_symbols if self._is_tensor(a)), key=str)
            out = f"{self._print(anchor)}.new_tensor({out})"
        if cond != sp.true:
            pieces.append((value, cond))
        for value, cond in reversed(pieces):
            v, c = self._print(value), self._print(cond)
            out = (
                f"torch.where({c}, {v}, {out})"
                if self._is_tensor(cond)
                else f"(({v}) if ({c}) else ({out}))"
            )
        return out

    def _print_Nonsingular(self, expr: Nonsingular) -> str:
        return f"nonsingular({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    # a condition on tensors combines elementwise (torch.logical_*: Python's ``or`` of two
    # tensors raises "Boolean value of Tensor … is ambiguous"); on numbers, Python's own
    def _print_And(self, expr: sp.And) -> str:
        if not self._is_tensor(expr):
            return super()._print_And(expr)
        return self._fold_logical(expr, "torch.logical_and")

    def _print_Or(self, expr: sp.Or) -> str:
        if not self._is_tensor(expr):
            return super()._print_Or(expr)
        return self._fold_logical(expr, "torch.logical_or")

    def _print_Not(self, expr: sp.Not) -> str:
        if not self._is_tensor(expr):
            return super()._print_Not(expr)
        return f"torch.logical_not({self._print(expr.args[0])})"

    def _fold_logical(self, expr: sp.Expr, fn: str) -> str:
        args = [self._print(a) for a in expr.args]
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out

    def _fn(self, expr: sp.Expr, torch_name: str, math_name: str) -> str:
        arg = self._print(expr.args[0])
        return f"{torch_name}({arg})" if self._is_tensor(expr) else f"{math_name}({arg})"

    def _print_Abs(self, expr):
        return self._fn(expr, "torch.abs", "abs")

    def _print_sign(self, expr):
        if self._is_tensor(expr):
            return f"torch.sign({self._print(expr.args[0])})"
        a = self._print(expr.args[0])
        return f"(({a} > 0) - ({a} < 0))"

    def _print_exp(self, expr):
        return self._fn(expr, "torch.exp", "math.exp")

    def _print_log(self, expr):
        return self._fn(expr, "torch.log", "math.log")

    def _print_log1p(self, expr):
        return self._fn(expr, "torch.log1p", "math.log1p")

    def _print_expm1(self, expr):
        return self._fn(expr, "torch.expm1", "math.expm1")

    def _print_NumericFormBase(self, expr: NumericFormBase) -> str:
        return self._print(expr.evaluated())

    def _print_elementary(self, expr):
        name = type(expr).__name__
        return self._fn(expr, f"torch.{name}", f"math.{name}")

    # the trigonometric and hyperbolic functions an energy may use (tanh of log cosh's velocity)
    _print_sin = _print_cos = _print_tan = _print_elementary
    _print_asin = _print_acos = _print_atan = _print_elementary
    _print_sinh = _print_cosh = _print_tanh = _print_elementary
    _print_asinh = _print_acosh = _print_atanh = _print_elementary

    def _print_Max(self, expr):
        return self._minmax(expr, "maximum", "min", "max")

    def _print_Min(self, expr):
        return self._minmax(expr, "minimum", "max", "min")

    def _minmax(self, expr, torch_name: str, clamp: str, builtin: str) -> str:
        args = list(expr.args)
        if not self._is_tensor(expr):
            return f"{builtin}({', '.join(self._print(a) for a in args)})"
        tensors = [a for a in args if self._is_tensor(a)]
        scalars = [a for a in args if not self._is_tensor(a)]
        out = self._print(tensors[0])
        for t in tensors[1:]:
            out = f"torch.{torch_name}({out}, {self._print(t)})"
        for s in scalars:
            out = f"torch.clamp({out}, {clamp}={self._print(s)})"
        return out

    # a reduction over a whole tensor (its record's torch form), completed on every rank by the
    # WHOLE helper (DTensor)
    def _print_ReductionBase(self, expr: ReductionBase) -> str:
        return f"{WHOLE}({expr.torch.format(x=self._print(expr.args[0]))})"


#: Elementary functions with a ``torch._foreach_*`` form (asinh, acosh, atanh run per tensor).
_FOREACH_ELEMENTARY = (sp.sin, sp.cos, sp.tan, sp.asin, sp.acos, sp.atan, sp.sinh, sp.cosh, sp.tanh)


def scalar_calls(code: str) -> str:
    """``code`` with its calls of ``math`` functions through the runtime's ``scalar``."""
    return re.sub(r"\bmath\.(?!nan\b|inf\b|pi\b|e\b)(\w+)\(", r"scalar.\1(", code)


class ScalarPrinter(TensorPrinter):
    """The step-dependent scalars, for a Python number or, under torch.compile, a 0-d tensor:
    functions through the runtime's ``scalar`` namespace (:mod:`hamopt.runtime.scalars`:
    ``math`` on numbers, ``torch`` on tensors), a ``Piecewise`` as ``scalar.where`` (its branches
    as ``lambda``: a number takes one, a tensor condition both), ``Max`` as
    ``scalar.maximum``, logical connectives as ``scalar.logical_*``."""

    def __init__(self, names: Mapping[sp.Symbol, str]):
        super().__init__(names, lambda e: False)

    def doprint(self, expr, assign_to=None):
        return scalar_calls(super().doprint(expr, assign_to))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (value, cond) = expr.args
        out = self._print(value) if cond == sp.true else "math.nan"
        if cond != sp.true:
            pieces.append((value, cond))
        for value, cond in reversed(pieces):
            out = f"scalar.where({self._print(cond)}, lambda: {self._print(value)}, lambda: {out})"
        return out

    def _minmax(self, expr, torch_name: str, clamp: str, builtin: str) -> str:
        return f"scalar.{torch_name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_And(self, expr) -> str:
        return f"scalar.logical_and({', '.join(self._print(a) for a in expr.args)})"

    def _print_Or(self, expr) -> str:
        return f"scalar.logical_or({', '.join(self._print(a) for a in expr.args)})"

    def _print_Not(self, expr) -> str:
        return f"scalar.logical_not({self._print(expr.args[0])})"


class ForeachUnsupported(Exception):
    """An expression has no list form (a tensor-valued ``Piecewise``); print it per tensor."""


def foreach_code(
    expr: sp.Expr,
    names: Mapping[sp.Symbol, str],
    is_tensor: Callable[[sp.Expr], bool],
    scalar_lists: frozenset[sp.Symbol],
    singular: Mapping[sp.Symbol, str],
) -> str:
    """Source of ``expr`` evaluated on lists of tensors with ``torch._foreach_*`` calls.

    ``names`` gives list variables for tensor symbols and per-tensor scalars (symbols in
    ``scalar_lists``, Python lists with one scalar per tensor); ``singular`` names one element
    of them; every other symbol is a plain Python scalar.
    """
    return foreach_parts(names, is_tensor, scalar_lists, singular)(finite_form(expr))[0]


def foreach_parts(
    names: Mapping[sp.Symbol, str],
    is_tensor: Callable[[sp.Expr], bool],
    scalar_lists: frozenset[sp.Symbol],
    singular: Mapping[sp.Symbol, str],
) -> Callable[[sp.Expr], tuple[str, str]]:
    """:func:`foreach_code`'s printer for parts of an expression already in :func:`finite_form`:
    ``part → (source, kind)``, kind ``"T"`` (a list of tensors), ``"S"`` (a list of numbers, one
    per tensor) or ``"c"`` (one number)."""
    scalar = TensorPrinter(singular, lambda e: False)
    return _Foreach(names, is_tensor, scalar_lists, scalar, singular).code


class _Foreach:
    def __init__(self, names, is_tensor, scalar_lists, scalar_printer, singular):
        self.names, self.is_tensor = names, is_tensor
        self.scalar_lists, self.sp, self.singular = scalar_lists, scalar_printer, singular

    # kind: "T" tensor list, "S" scalar list, "c" scalar
    def code(self, expr: sp.Expr) -> tuple[str, str]:
        if not self.is_tensor(expr):
            used = sorted(expr.free_symbols & self.scalar_lists, key=str)
            body = self.sp.doprint(expr)
            if not used:
                return body, "c"
            loop = ", ".join(self.singular.get(s, s.name) for s in used)
            lists = ", ".join(self.names.get(s, s.name) for s in used)
            if len(used) == 1:
                return f"[{body} for {loop} in {lists}]", "S"
            return f"[{body} for {loop} in zip({lists}, strict=True)]", "S"
        if isinstance(expr, sp.Symbol):
            return self.names.get(expr, expr.name), "T"
        if isinstance(expr, sp.Add):
            return self._fold(expr.args, "add")
        if isinstance(expr, sp.Mul):
            return self._mul(expr)
        if isinstance(expr, sp.Pow):
            return self._pow(expr)
        unary = {sp.Abs: "abs", sp.sign: "sign", sp.exp: "exp", sp.log: "log"}
        unary |= {log1p: "log1p", expm1: "expm1"}
        unary |= {f: f.__name__ for f in _FOREACH_ELEMENTARY}
        for cls, name in unary.items():
            if isinstance(expr, cls):
                return f"torch._foreach_{name}({self.code(expr.args[0])[0]})", "T"
        if isinstance(expr, (sp.Max, sp.Min)):
            big = isinstance(expr, sp.Max)
            tensors = [a for a in expr.args if self.is_tensor(a)]
            others = [a for a in expr.args if not self.is_tensor(a)]
            out = self.code(tensors[0])[0]
            for t in tensors[1:]:
                out = f"torch._foreach_{'maximum' if big else 'minimum'}({out}, {self.code(t)[0]})"
            for o in others:
                out = f"torch._foreach_clamp_{'min' if big else 'max'}({out}, {self.code(o)[0]})"
            return out, "T"
        if isinstance(
            expr, ReductionBase
        ):  # its record's list form, else its torch form per tensor
            xs = self.code(expr.args[0])[0]
            if expr.foreach is not None:
                return f"[{WHOLE}(x) for x in {expr.foreach.format(x=xs)}]", "T"
            return f"[{WHOLE}({expr.torch.format(x='x')}) for x in {xs}]", "T"
        raise ForeachUnsupported(f"no foreach form for {type(expr).__name__}")

    def _fold(self, args, op: str) -> tuple[str, str]:
        tensors = [a for a in args if self.is_tensor(a)]
        rest = [a for a in args if not self.is_tensor(a)]
        out = self.code(tensors[0])[0]
        for t in tensors[1:]:
            out = f"torch._foreach_{op}({out}, {self.code(t)[0]})"
        if rest:
            code, _ = self.code(sp.Add(*rest) if op == "add" else sp.Mul(*rest))
            out = f"torch._foreach_{op}({out}, {code})"
        return out, "T"

    def _mul(self, expr: sp.Mul) -> tuple[str, str]:
        num, den, scal = [], [], []
        for a in expr.args:
            if not self.is_tensor(a):
                scal.append(a)
            elif isinstance(a, sp.Pow) and a.exp.is_negative:
                den.append(sp.Pow(a.base, -a.exp))
            else:
                num.append(a)
        if num:
            out = self.code(num[0])[0]
            for t in num[1:]:
                out = f"torch._foreach_mul({out}, {self.code(t)[0]})"
        else:
            first = den.pop(0)
            out = f"torch._foreach_reciprocal({self.code(first)[0]})"
        for d in den:
            out = f"torch._foreach_div({out}, {self.code(d)[0]})"
        if scal:
            out = f"torch._foreach_mul({out}, {self.code(sp.Mul(*scal))[0]})"
        return out, "T"

    def _pow(self, expr: sp.Pow) -> tuple[str, str]:
        base, exp = expr.args
        b = self.code(base)[0]
        if exp == _HALF:
            return f"torch._foreach_sqrt({b})", "T"
        if exp == -_HALF:
            return f"torch._foreach_reciprocal(torch._foreach_sqrt({b}))", "T"
        if exp == 2:  # a list by its name times itself; else computed once, squared
            if b.isidentifier():
                return f"torch._foreach_mul({b}, {b})", "T"
            return f"torch._foreach_pow({b}, 2)", "T"
        if exp == -1:
            return f"torch._foreach_reciprocal({b})", "T"
        if self.is_tensor(exp):
            raise ForeachUnsupported("tensor exponent")
        return f"torch._foreach_pow({b}, {self.code(exp)[0]})", "T"
