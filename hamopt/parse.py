r"""Safe parsing of kinetic energies written as text.

A kinetic energy typed on a command line or stored in a spec file is *data*, never code: the
text is never given to ``eval``, ``exec``, :func:`sympy.sympify` or
:func:`sympy.parsing.sympy_parser.parse_expr` (all of which evaluate Python). Instead

1. the text must be a ``str`` of at most :data:`MAX_LENGTH` characters (checked before
   anything else looks at it);
2. :func:`ast.parse` (``mode="eval"``) turns it into a syntax tree — parsing compiles to an
   AST only and runs nothing; the tree may hold at most :data:`MAX_NODES` nodes and be at most
   :data:`MAX_DEPTH` deep;
3. a whitelist walk builds the SymPy expression node by node. Allowed are

   * numbers: ``int`` and ``float`` literals (floats become exact rationals, ``0.5`` → 1/2),
     of magnitude at most :data:`MAX_MAGNITUDE`; booleans, complex numbers, strings, bytes,
     ``None`` and ``...`` are rejected;
   * names: ``p`` (the momentum, :data:`hamopt.symbols.p`), the declared parameters
     (``Symbol(name, positive=True)``) and the constant ``pi``;
   * the operators ``+ - * / **``, unary ``+`` and ``-``, and parentheses;
   * calls by bare name of the functions in :data:`FUNCTIONS` (``sqrt exp log abs Abs cosh
     sinh tanh cos sin atan asinh sign cbrt`` with one argument (``cbrt`` the real cube
     root, :math:`\operatorname{sign}(x)\,\lvert x\rvert^{1/3}`), ``clip(x, low, high)``
     (:math:`\max(low, \min(x, high))`), ``Max Min max min`` with two to :data:`MAX_ARGS`),
     positional arguments only.

   Everything else — attribute access, subscripts, keyword arguments, lambdas,
   comprehensions, conditional expressions, comparisons, boolean operators, strings and
   f-strings, walrus, starred arguments, ``await``/``yield``, container literals, other
   operators — raises :class:`ParseError` naming the construct and its position.

Exponentiation is guarded against expensive constant folding: a numeric exponent must be at
most :data:`MAX_EXPONENT` in magnitude, and raising an expression whose numbers have ``d``
digits to a power ``e`` must keep ``d·|e|`` within :data:`MAX_POWER_DIGITS`. So ``p**10**10``
and ``10**10**10`` are refused before SymPy computes anything. Every constant (symbol-free)
subexpression is first evaluated in floating point and must be a finite real number of
magnitude at most :data:`MAX_CONSTANT` (``exp(10**15)``, ``sqrt(-1)``, ``log(0)`` are refused
before SymPy evaluates them); the result may not contain ``zoo``, ``oo``, ``nan`` or ``I``.
SymPy errors while building (e.g. ``Max`` of incomparable arguments) become
:class:`ParseError`. Identifiers are NFKC-normalised by the Python parser (``ｐ`` reads as
``p``).

>>> parse_energy("c*sqrt(p**2 + m**2*c**2)", ["m", "c"])
c*sqrt(c**2*m**2 + p**2)
>>> parse_energy("p.__class__")
Traceback (most recent call last):
...
hamopt.parse.ParseError: dunder attribute '.__class__' is not allowed (column 2)
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import re
import warnings
from collections.abc import Callable, Sequence

import sympy as sp

from hamopt.symbols import RESERVED_SYMBOLS
from hamopt.symbols import p as P

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "ParseError",
    "parse_constant",
    "parse_energy",
    "parse_velocity",
    "validate_param_name",
]

#: Longest accepted text, in characters (checked before parsing).
MAX_LENGTH = 2000
#: Most AST nodes in one expression.
MAX_NODES = 400
#: Deepest AST nesting.
MAX_DEPTH = 100
#: Largest magnitude of a numeric literal or of a folded numeric constant.
MAX_MAGNITUDE = 10**15
#: Largest numerator or denominator of an exact rational constant.
MAX_RATIONAL_PART = 10**20
#: Largest magnitude of a numeric exponent.
MAX_EXPONENT = 100
#: Bound on (digits of the numbers in the base) × |exponent| for a numeric exponent.
MAX_POWER_DIGITS = 300
#: Bound on (largest exponent already in the base) × |exponent|.
MAX_EXPONENT_PRODUCT = 1000
#: Largest magnitude of a constant subexpression (checked in floating point before SymPy
#: sees it, so ``exp(10**15)`` or ``sinh(cosh(10**15))`` is refused before it is evaluated).
MAX_CONSTANT = 1e100
#: Most arguments of ``Max``/``Min``.
MAX_ARGS = 8

#: The functions allowed in energies, by name: (SymPy function, least and most arguments).
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int]] = {
    "sqrt": (sp.sqrt, 1, 1),
    "cbrt": (lambda x: sp.sign(x) * sp.cbrt(sp.Abs(x)), 1, 1),  # the real root, as np.cbrt
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "sinh": (sp.sinh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "cos": (sp.cos, 1, 1),
    "sin": (sp.sin, 1, 1),
    "atan": (sp.atan, 1, 1),
    "asinh": (sp.asinh, 1, 1),
    "sign": (sp.sign, 1, 1),
    "clip": (lambda x, low, high: sp.Max(low, sp.Min(x, high)), 3, 3),
    "Max": (sp.Max, 2, MAX_ARGS),
    "Min": (sp.Min, 2, MAX_ARGS),
    "max": (sp.Max, 2, MAX_ARGS),
    "min": (sp.Min, 2, MAX_ARGS),
}


def _real_cbrt(x: float) -> float:
    """The real cube root: negative for a negative x, as NumPy's cbrt (SymPy's own cbrt is
    the principal root, complex there; the parser writes cbrt(x) as sign(x)·cbrt(|x|))."""
    return math.copysign(abs(x) ** (1 / 3), x)


#: Floating-point shadows of :data:`FUNCTIONS`, used to vet constant subexpressions.
_FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "cbrt": _real_cbrt,
    "exp": math.exp,
    "log": math.log,
    "abs": abs,
    "Abs": abs,
    "cosh": math.cosh,
    "sinh": math.sinh,
    "tanh": math.tanh,
    "cos": math.cos,
    "sin": math.sin,
    "atan": math.atan,
    "asinh": math.asinh,
    "sign": lambda x: float((x > 0) - (x < 0)),
    "clip": lambda x, low, high: max(low, min(x, high)),
    "Max": max,
    "Min": min,
    "max": max,
    "min": min,
}

_FLOAT_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: math.pow,
}

#: Named constants.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi}


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REJECTED_BINOPS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_CMPOPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_CONSTRUCTS = {
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expression (… if … else …)",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.NamedExpr: "assignment expression ':='",
    ast.Starred: "starred expression '*'",
    ast.Dict: "dict literal",
    ast.List: "list literal",
    ast.Set: "set literal",
    ast.Tuple: "tuple",
    ast.Slice: "slice",
}


class ParseError(ValueError):
    """Text that is not an acceptable energy expression.

    ``position`` is ``(line, column)`` (1-based, in characters) where known, else ``None``.
    """

    def __init__(self, message: str, position: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.position = position


def validate_param_name(name: object) -> str:
    """Return ``name`` if it may name a parameter of an energy, else raise :class:`ParseError`.

    A parameter name is ASCII (a letter, then letters, digits, ``_``), not a Python keyword or
    builtin, not a function or constant of the whitelist, and none of the system's symbols
    ``p q h r t s``.
    """
    if not isinstance(name, str):
        raise TypeError(f"parameter name must be a str, got {type(name).__name__}")
    if not _NAME.match(name):
        raise ParseError(
            f"parameter name {name!r} is not a plain identifier "
            "(an ASCII letter, then letters, digits or '_')"
        )
    if name in RESERVED_SYMBOLS:
        role = "the momentum" if name == "p" else "a symbol of the Hamiltonian system"
        raise ParseError(f"parameter name {name!r} is reserved: it is {role}")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ParseError(f"parameter name {name!r} is a Python keyword")
    if name in FUNCTIONS or name in CONSTANTS:
        raise ParseError(f"parameter name {name!r} is the name of a function or constant")
    if hasattr(builtins, name):
        raise ParseError(f"parameter name {name!r} shadows a Python builtin")
    return name


def parse_energy(text: str, params: Sequence[str] = ()) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in ``p`` and the parameters ``params``.

    Raises :class:`TypeError` when ``text`` is not a ``str`` and :class:`ParseError` (a
    :class:`ValueError`) naming the offending construct and its position otherwise. Nothing
    in ``text`` is ever executed.

    >>> parse_energy("abs(p) - epsilon*log(1 + abs(p)/epsilon)", ["epsilon"])
    -epsilon*log(1 + Abs(p)/epsilon) + Abs(p)
    """
    if isinstance(params, str):
        raise TypeError("params must be a sequence of names, not one str")
    return _parse(text, _names(params), "energy")


def parse_velocity(
    text: str, params: Sequence[str] = (), coordinates: Sequence[str] = ()
) -> sp.Expr:
    """Parse a velocity map: in ``p`` (or the real coordinates ``coordinates``, e.g. ``p1``,
    ``p2`` of a vector map) and the positive parameters ``params``; the same rules as
    :func:`parse_energy`.

    >>> parse_velocity("clip(p, -1, 1)")
    Max(-1, Min(1, p))
    """
    if isinstance(params, str) or isinstance(coordinates, str):
        raise TypeError("params and coordinates must be sequences of names, not one str")
    return _parse(text, _names(params, coordinates), "velocity")


def parse_constant(text: str) -> sp.Expr:
    """Parse a numeric constant such as ``"1/2"`` or ``"1/(2 - cbrt(2))"`` (no symbols).

    >>> parse_constant("1/(2 - 2**(1/3))")
    1/(2 - 2**(1/3))
    """
    return _parse(text, dict(CONSTANTS), "constant")


# -- implementation ----------------------------------------------------------------------------
def _names(params: Sequence[str], coordinates: Sequence[str] = ()) -> dict[str, sp.Expr]:
    """What a text may name: ``p``, the real ``coordinates``, the positive ``params``, ``pi``."""
    names: dict[str, sp.Expr] = {"p": P, **CONSTANTS}
    for name in coordinates:
        validate_param_name(name)
        names[name] = sp.Symbol(name, real=True)
    for prm in params:
        validate_param_name(prm)
        if prm in names:
            raise ParseError(f"parameter {prm!r} is declared twice")
        names[prm] = sp.Symbol(prm, positive=True)
    return names


def _parse(text: object, names: dict[str, sp.Expr], what: str) -> sp.Expr:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"{what} text is too long: {len(text)} characters (at most {MAX_LENGTH})")
    if not text.strip():
        raise ParseError(f"{what} text is empty")
    if "\x00" in text:
        raise ParseError(f"{what} text contains a NUL character (column {text.index(chr(0)) + 1})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning "invalid decimal literal"
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        line = err.lineno or 1
        rows = text.strip().splitlines() or [""]
        end = len(rows[min(line, len(rows)) - 1]) + 1  # no offset: the input ended too soon
        pos = (line, err.offset or end)
        raise ParseError(
            f"syntax error in {what}: {err.msg} ({_where(pos)})" + _caret(text.strip(), pos),
            pos,
        ) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise ParseError(f"{what} text cannot be parsed: {type(err).__name__}") from None
    _check_size(tree, what)
    _check_dunders(tree, text.strip())
    builder = _Builder(text.strip(), names)
    expr = builder.build(tree.body)
    if not isinstance(expr, sp.Expr):
        raise ParseError(f"{what} is not an arithmetic expression")
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ParseError(f"{what} is not finite: {_short(expr, 80)} (a division by zero?)")
    if expr.has(sp.I):
        raise ParseError(f"{what} is not real: {_short(expr, 80)}")
    if what == "constant" and expr.free_symbols:
        raise ParseError(f"constant depends on {sorted(map(str, expr.free_symbols))}")
    return expr


def _check_size(tree: ast.AST, what: str) -> None:
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ParseError(f"{what} is too large: more than {MAX_NODES} syntax nodes")
        if depth > MAX_DEPTH:
            raise ParseError(f"{what} is nested too deeply: more than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_dunders(tree: ast.AST, text: str) -> None:
    """Reject any dunder identifier first, wherever it is (the usual sandbox escape)."""
    builder = _Builder(text, {})
    hits = []
    for node in _walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            hits.append((builder.pos(node) or (0, 0), f"name {node.id!r}", node))
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            at = _attr_pos(node)
            hits.append((builder.pos(at) or (0, 0), f"attribute '.{node.attr}'", at))
    if hits:
        _, ident, node = min(hits, key=lambda hit: hit[0])
        raise builder.fail(f"dunder {ident} is not allowed", node)


def _walk(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` (iteratively; :func:`ast.walk` imports at call time)."""
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _where(pos: tuple[int, int]) -> str:
    line, col = pos
    return f"column {col}" if line == 1 else f"line {line}, column {col}"


def _caret(text: str, pos: tuple[int, int]) -> str:
    lines = text.splitlines() or [""]
    line, col = pos
    if not 1 <= line <= len(lines) or len(lines[line - 1]) > 120:
        return ""
    return f"\n    {lines[line - 1]}\n    {' ' * max(col - 1, 0)}^"


class _Builder:
    """Builds the SymPy expression from a whitelisted AST, node by node."""

    def __init__(self, text: str, names: dict[str, sp.Expr]) -> None:
        self.lines = text.splitlines() or [""]
        self.names = names
        # Float value of every constant (symbol-free) node built so far, by id of the node.
        self.approx: dict[int, float] = {}

    # -- constants in floating point -----------------------------------------------------------
    def fold(self, node: ast.AST, fn: Callable[..., float], children: Sequence[ast.AST]) -> None:
        """Vet a constant node in floating point before SymPy evaluates it exactly."""
        if not all(id(child) in self.approx for child in children):
            return
        try:
            value = float(fn(*(self.approx[id(child)] for child in children)))
        except ZeroDivisionError:
            raise self.fail(f"division by zero in {self.segment(node)}", node) from None
        except (OverflowError, ValueError, TypeError):
            value = math.nan
        if not math.isfinite(value) or abs(value) > MAX_CONSTANT:
            raise self.fail(
                f"constant {self.segment(node)} is not a finite real number of magnitude at "
                f"most {MAX_CONSTANT:.0e}",
                node,
            )
        self.approx[id(node)] = value

    def sympy(self, node: ast.AST, fn: Callable[..., sp.Expr], *args: sp.Expr) -> sp.Expr:
        """Apply the SymPy operation ``fn``; its errors become :class:`ParseError`."""
        try:
            out = fn(*args)
        except (ValueError, TypeError, ArithmeticError, RecursionError, MemoryError) as err:
            raise self.fail(
                f"cannot build {self.segment(node)}: {type(err).__name__}: {_short(err, 80)}",
                node,
            ) from None
        if not isinstance(out, sp.Expr):
            raise self.fail(f"{self.segment(node)} is not an arithmetic expression", node)
        return self.number_ok(out, node)

    # -- positions and errors ------------------------------------------------------------------
    def pos(self, node: ast.AST) -> tuple[int, int] | None:
        line = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if line is None or col is None:
            return None
        src = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        # col_offset counts UTF-8 bytes; report characters.
        chars = len(src.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return line, chars + 1

    def symbol(self, node: ast.BinOp) -> ast.AST:
        """Where a binary operator's symbol is (the node itself starts at its left operand):
        the first character after the left operand that is not a space or a closing
        parenthesis, on the same line (else the node)."""
        line, col = getattr(node.left, "end_lineno", None), getattr(node.left, "end_col_offset", 0)
        if line is None or not 1 <= line <= len(self.lines):
            return node
        raw = self.lines[line - 1].encode("utf-8")
        while col < len(raw) and raw[col : col + 1] in (b" ", b")"):
            col += 1
        spot = ast.Name(id="", ctx=ast.Load())
        spot.lineno, spot.col_offset = line, col
        return spot

    def fail(self, message: str, node: ast.AST) -> ParseError:
        pos = self.pos(node)
        if pos is None:
            return ParseError(message)
        return ParseError(f"{message} ({_where(pos)})", pos)

    def segment(self, node: ast.AST, limit: int = 30) -> str:
        text = ast.get_source_segment("\n".join(self.lines), node) or "…"
        return text if len(text) <= limit else text[: limit - 1] + "…"

    # -- the walk ------------------------------------------------------------------------------
    def build(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            return self.unaryop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            raise self.fail(f"attribute access '.{node.attr}' is not allowed", _attr_pos(node))
        if isinstance(node, ast.Subscript):
            raise self.fail("subscript '[…]' is not allowed", node)
        if isinstance(node, ast.Compare):
            ops = ", ".join(repr(_CMPOPS.get(type(op), type(op).__name__)) for op in node.ops)
            raise self.fail(f"comparison {ops} is not allowed", node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            raise self.fail(f"boolean operator '{op}' is not allowed", node)
        for kind, label in _CONSTRUCTS.items():
            if isinstance(node, kind):
                raise self.fail(f"{label} is not allowed", node)
        raise self.fail(f"{type(node).__name__} is not allowed", node)

    def constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.fail(f"constant {value!r} is not allowed; only numbers are", node)
        if isinstance(value, (str, bytes)):
            kind = "string" if isinstance(value, str) else "bytes"
            shown = repr(value) if len(value) <= 20 else repr(value[:20])[:-1] + "…'"
            raise self.fail(f"{kind} literal {shown} is not allowed; only numbers are", node)
        if isinstance(value, complex):
            raise self.fail(f"complex number {value!r} is not allowed", node)
        if isinstance(value, int):
            if abs(value) > MAX_MAGNITUDE:
                raise self.fail(f"number {value} is too large (at most {MAX_MAGNITUDE:.0e})", node)
            self.approx[id(node)] = float(value)
            return sp.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                raise self.fail(
                    f"number {self.segment(node)} is too large (at most {MAX_MAGNITUDE:.0e})",
                    node,
                )
            if value == 0 and any(
                c in "123456789" for c in self.segment(node).lower().split("e")[0]
            ):
                raise self.fail(
                    f"number {self.segment(node)} underflows to 0 in float64 (below 5e-324)", node
                )
            self.approx[id(node)] = value
            return sp.Rational(repr(value))
        raise self.fail(f"constant of type {type(value).__name__} is not allowed", node)

    def name(self, node: ast.Name) -> sp.Expr:
        ident = node.id
        if ident.startswith("__"):
            raise self.fail(f"dunder name {ident!r} is not allowed", node)
        if ident in self.names:
            if ident in CONSTANTS:
                self.approx[id(node)] = float(CONSTANTS[ident])
            return self.names[ident]
        if ident in FUNCTIONS:
            raise self.fail(f"function {ident!r} used without a call", node)
        declared = sorted(n for n in self.names if n not in CONSTANTS and n != "p")
        raise self.fail(
            f"unknown name {ident!r}: undeclared symbol, not 'p' and not a declared parameter "
            f"(declared parameters: {', '.join(declared) or 'none'})",
            node,
        )

    def unaryop(self, node: ast.UnaryOp) -> sp.Expr:
        if isinstance(node.op, ast.USub):
            operand = self.build(node.operand)
            self.fold(node, lambda a: -a, [node.operand])
            return self.sympy(node, lambda a: -a, operand)
        if isinstance(node.op, ast.UAdd):
            operand = self.build(node.operand)
            self.fold(node, lambda a: a, [node.operand])
            return operand
        op = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), type(node.op).__name__)
        raise self.fail(f"unary operator '{op}' is not allowed", node)

    def binop(self, node: ast.BinOp) -> sp.Expr:
        kind = type(node.op)
        if kind not in _BINOPS:
            sym = _REJECTED_BINOPS.get(kind, kind.__name__)
            raise self.fail(f"operator '{sym}' is not allowed; use + - * / **", self.symbol(node))
        left = self.build(node.left)
        right = self.build(node.right)
        if kind is ast.Div and right.is_zero:
            raise self.fail(f"division by zero ({self.segment(node.right)})", node.right)
        if kind is ast.Pow:
            self.check_power(left, right, node)
        self.fold(node, _FLOAT_BINOPS[kind], [node.left, node.right])
        ops: dict[type, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
            ast.Pow: lambda a, b: a**b,
        }
        return self.sympy(node, ops[kind], left, right)

    def check_power(self, base: sp.Expr, expo: sp.Expr, node: ast.BinOp) -> None:
        if not expo.is_Number:
            # SymPy splits an exponent a + N and may compute base**N exactly: bound every
            # number inside a symbolic exponent too.
            big = [n for n in expo.atoms(sp.Number) if abs(n) > MAX_EXPONENT]
            if big:
                raise self.fail(
                    f"number {_short(big[0])} in exponent {self.segment(node.right)} is too "
                    f"large (at most {MAX_EXPONENT})",
                    node.right,
                )
            return
        e = abs(expo)
        shown = self.segment(node.right)
        if e > MAX_EXPONENT:
            raise self.fail(
                f"exponent {shown} = {_short(expo)} is too large (at most {MAX_EXPONENT})",
                node.right,
            )
        if expo.is_Rational and expo.q > MAX_EXPONENT:
            raise self.fail(
                f"exponent {shown} has too large a denominator (at most {MAX_EXPONENT})",
                node.right,
            )
        digits = max((_digits(n) for n in base.atoms(sp.Number)), default=0.0)
        if digits * float(e) > MAX_POWER_DIGITS:
            raise self.fail(
                f"power {self.segment(node)} would fold to a constant of about "
                f"{digits * float(e):.0f} digits",
                node,
            )
        powers = [abs(pw.exp) for pw in base.atoms(sp.Pow) if pw.exp.is_Number]
        if powers and float(max(powers)) * float(e) > MAX_EXPONENT_PRODUCT:
            raise self.fail(f"nested powers in {self.segment(node)} are too large", node)

    def number_ok(self, value: sp.Expr, node: ast.AST) -> sp.Expr:
        if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise self.fail(f"{self.segment(node)} is not finite", node)
        if value.is_Number:
            if value.is_Rational:
                if abs(value.p) > MAX_RATIONAL_PART or value.q > MAX_RATIONAL_PART:
                    raise self.fail(f"constant {self.segment(node)} is too large", node)
            if abs(value) > MAX_MAGNITUDE:
                raise self.fail(
                    f"constant {self.segment(node)} = {_short(value)} is too large "
                    f"(at most {MAX_MAGNITUDE:.0e})",
                    node,
                )
        return value

    def call(self, node: ast.Call) -> sp.Expr:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self.fail(
                f"call through attribute '{_dotted(func)}(…)' is not allowed; "
                "call whitelisted functions by bare name",
                _attr_pos(func),
            )
        if not isinstance(func, ast.Name):
            raise self.fail(f"call of a {type(func).__name__} is not allowed", node)
        fname = func.id
        if fname not in FUNCTIONS:
            raise self.fail(
                f"unknown function {fname!r}; allowed: {', '.join(sorted(set(FUNCTIONS)))}", func
            )
        if node.keywords:
            kw = node.keywords[0]
            label = f"'{kw.arg}='" if kw.arg else "'**'"
            raise self.fail(f"keyword argument {label} in {fname}(…) is not allowed", kw)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(f"starred argument in {fname}(…) is not allowed", arg)
        fn, least, most = FUNCTIONS[fname]
        if not least <= len(node.args) <= most:
            count = str(least) if least == most else f"{least} to {most}"
            raise self.fail(f"{fname}(…) takes {count} argument(s), got {len(node.args)}", node)
        args = [self.build(arg) for arg in node.args]
        if fname == "clip" and (args[1] - args[2]).is_positive:  # Max(low, Min(x, high)) = low
            raise self.fail(
                f"clip(x, low, high) needs low <= high, got low = {args[1]} > high = {args[2]}",
                node,
            )
        self.fold(node, _FLOAT_FUNCTIONS[fname], node.args)
        return self.sympy(node, fn, *args)


def _short(value: object, limit: int = 30) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digits(n: sp.Number) -> float:
    if n.is_Rational:
        return float(max(len(str(abs(n.p))), len(str(n.q))))
    try:
        return max(math.log10(abs(float(n))), 1.0) if n != 0 else 1.0
    except (OverflowError, ValueError):
        return float("inf")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "…"


class _At:
    def __init__(self, lineno: int, col_offset: int) -> None:
        self.lineno, self.col_offset = lineno, col_offset


def _attr_pos(node: ast.Attribute) -> ast.AST | _At:
    """The position of the ``.attr`` part of ``node`` (its value's end)."""
    line = getattr(node.value, "end_lineno", None)
    col = getattr(node.value, "end_col_offset", None)
    if line is None or col is None:
        return node
    return _At(line, col)
