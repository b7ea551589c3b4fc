"""The safe energy parser: hostile text is refused with a message, and nothing in it runs."""

import ast
import builtins
import random
import re
import time

import pytest
import sympy as sp
import sympy.parsing.sympy_parser as sympy_parser

from hamopt.kinetic import (
    KineticEnergy,
    adam_energy,
    classical,
    massless,
    power,
    relativistic,
    relativistic_norm,
)
from hamopt.parse import (
    MAX_LENGTH,
    ParseError,
    parse_constant,
    parse_energy,
    parse_velocity,
    validate_param_name,
)
from hamopt.symbols import p

SENTINEL = "hamopt_sentinel_created"

# (text, declared params, a fragment the message must contain)
HOSTILE = [
    ("__import__('os').system('x')", (), "dunder name '__import__'"),
    (f"__import__('os').system('touch {SENTINEL}')", (), "dunder name '__import__'"),
    ("p.__class__", (), "dunder attribute '.__class__'"),
    ("().__class__.__bases__", (), "dunder attribute '.__class__'"),
    ("p.real", (), "attribute access '.real'"),
    ("lambda: 1", (), "lambda"),
    ("open('f')", (), "unknown function 'open'"),
    (f"open('{SENTINEL}', 'w')", (), "unknown function 'open'"),
    ("eval('1')", (), "unknown function 'eval'"),
    ("'p'*10**6", (), "string literal 'p'"),
    ("p" * 10**6, (), "too long: 1000000 characters"),
    ("p + " * 1000 + "p", (), "too long"),
    ("sqrt(p**2 + 1", (), "'(' was never closed"),
    ("(p))", (), "unmatched ')'"),
    ("foo(p)", (), "unknown function 'foo'"),
    ("[x for x in ()]", (), "list comprehension"),
    ("(x for x in ())", (), "generator expression"),
    ("p if p else 1", (), "conditional expression"),
    ("math.sqrt(p)", (), "call through attribute 'math.sqrt(…)'"),
    ("p**10**10", (), "exponent 10**10 = 10000000000 is too large"),
    ("10**10**10", (), "exponent 10**10 = 10000000000 is too large"),
    ("((p*10)**64)**64", (), "would fold to a constant"),
    ("10**16*p", (), "is too large"),
    ("1e999*p", (), "number 1e999 is too large"),
    ('"p"', (), "string literal 'p'"),
    ("b'p'", (), "bytes literal"),
    ('f"{p}"', (), "f-string"),
    ("p[0]", (), "subscript"),
    ("p; import os", (), "syntax error"),
    ("import os", (), "syntax error"),
    ("q*p", (), "unknown name 'q': undeclared symbol"),
    ("m*p", ("c",), "unknown name 'm'"),
    ("", (), "empty"),
    ("   \n ", (), "empty"),
    ("p == 1", (), "comparison '=='"),
    ("p < 1", (), "comparison '<'"),
    ("p and 1", (), "boolean operator 'and'"),
    ("not p", (), "unary operator 'not'"),
    ("~p", (), "unary operator '~'"),
    ("p // 2", (), "operator '//'"),
    ("p % 2", (), "operator '%'"),
    ("(yield)", (), "yield"),
    ("await p", (), "await"),
    ("sqrt(x=p)", (), "keyword argument 'x='"),
    ("sqrt(**{})", (), "keyword argument '**'"),
    ("sqrt(*p)", (), "starred argument"),
    ("(x := p)", (), "assignment expression ':='"),
    ("{}", (), "dict literal"),
    ("[p]", (), "list literal"),
    ("{p}", (), "set literal"),
    ("(p, 1)", (), "tuple"),
    ("1j*p", (), "complex number"),
    ("True*p", (), "constant True"),
    ("None", (), "constant None"),
    ("p/0", (), "division by zero"),
    ("sqrt", (), "function 'sqrt' used without a call"),
    ("sqrt()", (), "takes 1 argument(s), got 0"),
    ("log(p, 2)", (), "takes 1 argument(s), got 2"),
    ("__builtins__", (), "dunder name '__builtins__'"),
    ("-" * 500 + "p", (), "nested too deeply"),
    ("(" * 300 + "p" + ")" * 300, (), "too many nested parentheses"),
    ("exp(p)\x00", (), "NUL character"),
    ("p**(1/1000)", (), "too large a denominator"),
    ("exp(999999999999999)*p", (), "not a finite real number"),
    ("sinh(cosh(999999999999999))*p", (), "not a finite real number"),
    ("p + sqrt(-1)", (), "not a finite real number"),
    ("p + log(0)", (), "not a finite real number"),
    ("p + 1/(2 - 2)", (), "division by zero"),
]


class Sandbox:
    """Records every way the text could run — eval, exec, open, a non-AST compile, an import
    other than SymPy's own lazy ones, SymPy's string parser (what ``sympify(str)`` calls) — while
    armed. Refused calls also raise."""

    def __init__(self, monkeypatch):
        self.calls = []
        self.armed = False
        real_import, real_compile = builtins.__import__, builtins.compile

        def guarded_import(name, globals=None, *args, **kwargs):
            importer = str((globals or {}).get("__name__", "")).split(".")[0]
            target = name.split(".")[0]
            # SymPy's own lazy imports are fine; anything else (os, subprocess…) is recorded.
            if (
                self.armed
                and "sympy" not in (importer, target)
                and "mpmath"
                not in (
                    importer,
                    target,
                )
            ):
                self.calls.append(("import", name, importer))
            return real_import(name, globals, *args, **kwargs)

        def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
            if self.armed and not flags & ast.PyCF_ONLY_AST:
                self.calls.append(("compile", source))
            return real_compile(source, filename, mode, flags, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", guarded_import)
        monkeypatch.setattr(builtins, "compile", guarded_compile)
        for label in ("eval", "exec", "open"):
            monkeypatch.setattr(builtins, label, self.refuse(label, getattr(builtins, label)))
        monkeypatch.setattr(
            sympy_parser, "parse_expr", self.refuse("parse_expr", sympy_parser.parse_expr)
        )

    def refuse(self, label, real):
        def call(*args, **kwargs):
            if not self.armed:
                return real(*args, **kwargs)
            self.calls.append((label, args))
            raise AssertionError(f"{label} called")

        return call

    def __call__(self, fn, *args):
        self.armed = True
        try:
            return fn(*args)
        finally:
            self.armed = False


@pytest.fixture
def sandbox(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    box = Sandbox(monkeypatch)
    yield box
    assert box.calls == []
    assert not (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize(("text", "params", "message"), HOSTILE)
def test_hostile_input_is_refused_and_nothing_runs(sandbox, text, params, message):
    t0 = time.perf_counter()
    with pytest.raises(ParseError) as info:
        sandbox(parse_energy, text, params)
    assert time.perf_counter() - t0 < 2.0
    assert message in str(info.value)
    assert sandbox.calls == []


def _random_expression(rng, depth):
    if depth <= 0 or rng.random() < 0.2:
        return rng.choice(["p", "m", "c", "2", "10", "0.5", "999999999999999", "1e-8", "64", "pi"])
    k = rng.random()
    if k < 0.5:
        op = rng.choice(["+", "-", "*", "/", "**", "**"])
        return f"({_random_expression(rng, depth - 1)}){op}({_random_expression(rng, depth - 1)})"
    if k < 0.6:
        return "-" + _random_expression(rng, depth - 1)
    if k < 0.65:
        return f"Max({_random_expression(rng, depth - 1)}, {_random_expression(rng, depth - 1)})"
    fn = rng.choice(["sqrt", "exp", "log", "abs", "cosh", "sinh", "tanh", "cos", "atan", "cbrt"])
    return f"{fn}({_random_expression(rng, depth - 1)})"


def test_cbrt_is_the_real_cube_root():
    """cbrt(-8) = -2, as NumPy's cbrt (SymPy's own is the principal root, complex there), and
    cbrt(p) is real and odd in p; cbrt of a positive constant stays exact."""
    assert parse_energy("p*cbrt(-8)", []) == -2 * p
    root = parse_energy("cbrt(p)", [])
    assert float(root.subs(p, -8)) == -2.0 and float(root.subs(p, 27)) == 3.0
    assert sp.simplify(root.subs(p, -p) + root) == 0
    assert parse_constant("1/(2 - cbrt(2))") == 1 / (2 - sp.cbrt(2))


def test_random_expressions_parse_or_fail_cleanly_and_fast():
    """Random arithmetic over the whitelist: a SymPy expression or a ParseError, never another
    exception, never a slow constant fold."""
    rng = random.Random(0)
    for _ in range(300):
        text = _random_expression(rng, rng.randint(1, 7))
        t0 = time.perf_counter()
        try:
            assert isinstance(parse_energy(text, ["m", "c"]), sp.Expr)
        except ParseError:
            pass
        assert time.perf_counter() - t0 < 1.0, text


def test_sandbox_catches_code_that_runs(monkeypatch, tmp_path):
    """The sandbox itself works: evaluating the hostile text the unsafe way is recorded."""
    monkeypatch.chdir(tmp_path)
    box = Sandbox(monkeypatch)
    with pytest.raises(AssertionError):
        box(sp.sympify, f"__import__('os').system('touch {SENTINEL}')")
    assert box.calls
    assert not (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("p.__class__", (1, 2)),
        ("q*p", (1, 1)),
        ("2*p + foo(p)", (1, 7)),
        ("sqrt(p**2 + 1", (1, 5)),
        ("p**10**10", (1, 4)),
        ("p*(1 +\n  foo(p))", (2, 3)),
        ("p^2", (1, 2)),  # a refused operator: its symbol, not its left operand
        ("(p + 1) ^ 2", (1, 9)),
        ("p**2/2 +", (1, 9)),  # the input ends too soon: after its last character
    ],
)
def test_error_names_the_position(text, position):
    with pytest.raises(ParseError) as info:
        parse_energy(text)
    assert info.value.position == position
    line, col = position
    assert (f"column {col}" if line == 1 else f"line {line}, column {col}") in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clip(p, 1, -1)**2", "clip(x, low, high) needs low <= high, got low = 1 > high = -1"),
        ("1e-400*p**2 + p**2", "number 1e-400 underflows to 0 in float64"),
    ],
)
def test_a_literal_that_means_something_else_than_written_is_refused(text, message):
    """clip with its bounds swapped is the constant low (Max(low, Min(x, high))), which was
    refused as "does not depend on p"; 1e-400 is 0 in float64, which was taken silently."""
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_energy(text)
    assert parse_energy("0.0e5*p + p**2") == p**2  # a zero written as zero is a zero


@pytest.mark.parametrize("bad", [None, 1, 2.5, b"p", ["p"], sp.Symbol("p")])
def test_non_string_is_a_type_error(bad):
    with pytest.raises(TypeError):
        parse_energy(bad)


def test_length_cap_is_checked_before_parsing(monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("ast.parse called on over-long text")

    monkeypatch.setattr(ast, "parse", no_parse)
    with pytest.raises(ParseError, match="too long"):
        parse_energy("p" * (MAX_LENGTH + 1))


def test_parse_error_is_a_value_error():
    assert issubclass(ParseError, ValueError)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p", "momentum"),
        ("h", "reserved"),
        ("s", "reserved"),
        ("__x", "not a plain identifier"),
        ("_x", "not a plain identifier"),
        ("a b", "not a plain identifier"),
        ("lambda", "keyword"),
        ("sqrt", "function or constant"),
        ("open", "builtin"),
        ("μ", "not a plain identifier"),
    ],
)
def test_bad_parameter_names(name, message):
    with pytest.raises(ParseError, match=message):
        validate_param_name(name)
    with pytest.raises(ParseError):
        parse_energy("p**2", [name])


def _canonical(expr, library):
    return KineticEnergy(
        expr, library.params, coupling=library.coupling, scope=library.scope, validate=False
    ).expr


@pytest.mark.parametrize(
    ("text", "library"),
    [
        ("p**2/(2*m)", classical()),
        ("0.5*p**2/m", classical()),
        ("c*sqrt(p**2 + m**2*c**2)", relativistic()),
        ("c * sqrt(p ** 2 + (m * c) ** 2)", relativistic()),
        ("c*sqrt(p**2 + m**2*c**2)", relativistic_norm()),
        ("Abs(p) - epsilon*log(1 + Abs(p)/epsilon)", adam_energy()),
        ("abs(p) - epsilon*log(1 + abs(p)/epsilon)", adam_energy()),
        ("Abs(p)**a/a", power()),
        ("abs(p)", massless()),
        ("+abs(-p)", massless()),
    ],
)
def test_library_energies_as_text(sandbox, text, library):
    expr = sandbox(parse_energy, text, [prm.name for prm in library.params])
    assert _canonical(expr, library) == library.expr


@pytest.mark.parametrize(("exponent", "text"), [(1.5, "abs(p)**1.5/1.5"), (2.5, "abs(p)**2.5/2.5")])
def test_decimal_exponent_is_the_library_energy_at_that_exponent(exponent, text):
    # decimals become exact rationals, so the typed energy is power(a) at a = 3/2 exactly
    built = power(exponent)
    a = built.params[0].symbol
    assert parse_energy(text) == built.expr.subs(a, sp.Rational(repr(exponent)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("log(cosh(k*p))/k", sp.log(sp.cosh(sp.Symbol("k", positive=True) * p))),
        ("sqrt(1 + p**2) - 1", sp.sqrt(1 + p**2) - 1),
        ("exp(p) + exp(-p)", sp.exp(p) + sp.exp(-p)),
        ("Max(p**2, abs(p))", sp.Max(p**2, sp.Abs(p))),
        ("p*atan(p) - log(1 + p**2)/2", p * sp.atan(p) - sp.log(1 + p**2) / 2),
        ("pi*p**2", sp.pi * p**2),
        ("1e-3*p**2", p**2 / 1000),
        ("(p**10)**10", p**100),
    ],
)
def test_other_energies(text, expected):
    params = ["k"] if "k" in text else []
    expr = parse_energy(text, params)
    if params:
        expected = expected / sp.Symbol("k", positive=True)
    assert sp.simplify(expr - expected) == 0


def test_parsed_energy_builds_a_validated_kinetic_energy():
    expr = parse_energy("c*sqrt(p**2 + m**2*c**2)", ["m", "c"])
    T = KineticEnergy(expr, ["m", "c"], name="relativistic")
    assert T.velocity_expr == relativistic().velocity_expr


@pytest.mark.parametrize(
    ("text", "value"),
    [("1/2", sp.Rational(1, 2)), ("-0.25", sp.Rational(-1, 4)), ("1/(2 - cbrt(2))", None)],
)
def test_parse_constant(text, value):
    out = parse_constant(text)
    assert out.is_number
    if value is not None:
        assert out == value


@pytest.mark.parametrize("text", ["p", "1/0", "__import__('os')", "x"])
def test_parse_constant_refuses(text):
    with pytest.raises(ParseError):
        parse_constant(text)


def test_clip_and_velocity_maps():
    assert parse_energy("clip(p, -1, 2)") == sp.Max(-1, sp.Min(p, 2))
    with pytest.raises(ParseError, match=r"clip\(…\) takes 3 argument\(s\), got 2"):
        parse_energy("clip(p, 1)")
    v = parse_velocity("p1/sqrt(p1**2 + p2**2)", coordinates=["p1", "p2"])
    assert {s.name for s in v.free_symbols} == {"p1", "p2"}
    assert all(s.is_real and not s.is_positive for s in v.free_symbols)  # momenta take any sign
    with pytest.raises(ParseError, match="unknown name 'p3'"):
        parse_velocity("p3", coordinates=["p1", "p2"])
    with pytest.raises(TypeError, match="not one str"):
        parse_velocity("p", coordinates="p1")
