r"""Spec files: a derivation written down as TOML, reproducible and safe to share.

A spec file records everything :func:`hamopt.derive` takes — the kinetic energy (as text, read
by the safe parser :func:`hamopt.parse.parse_energy`, never evaluated), its parameters with
defaults and valid intervals, the splitting scheme (by name or as a table), the closures, the
momentum form and the parameterisation — so a derivation can be committed beside a paper and
re-run by anyone. :func:`dump_spec` writes the spec of a derivation (``hamopt derive
--spec-out``), and ``load_spec(dump_spec(x))`` derives the same module byte for byte:

.. code-block:: toml

    name = "MyRAD"
    description = "Relativistic energy, leapfrog, Adam closure"
    parameterisation = "ml"        # lr is the step scale; "physical": lr is the step h

    [kinetic]
    energy = "c*sqrt(p**2 + m**2*c**2)"
    coupling = "particle"          # or "norm", then scope = "tensor" | "global"

    [kinetic.params]
    m = { default = 1.0, min = 0, min_open = true, doc = "mass" }
    c = { default = 1.0, min = 0, min_open = true }

    [scheme]
    name = "leapfrog"              # or rows = [["D", "1/2"], ["F", "1/2"], ...] and order = 2

    [closure]
    name = "adam"                  # a preset ("none" | "adam"), or
    # names = ["second_moment", "bias_correction"]

    [momentum]
    form = "ema"                   # or "sum"
    init = "zeros"                 # or "grad"

    [defaults]
    lr = 1e-3                      # optional: the derivation's default when left out
    betas = [0.9, 0.999]

Keys
----
top level
    ``name`` (required; the class name: an identifier, not a keyword, a builtin or starting
    with ``_``), ``description`` (optional text), ``parameterisation`` (``"ml"``, the
    default, or ``"physical"``), ``kinetic``, ``scheme``, ``closure`` (tables;
    ``scheme = "leapfrog"``, ``closure = "adam"`` and ``closure = ["second_moment", …]`` are
    accepted as short forms), ``momentum`` and ``defaults`` (optional tables).
``[kinetic]``
    ``energy`` (required text), ``name`` (optional; default: the spec's name in lower case),
    ``coupling`` (``"particle"``, the default, or ``"norm"``), ``scope`` (``"tensor"``, the
    default, or ``"global"``; only with ``coupling = "norm"``), ``velocity`` (optional text:
    the closed form of τ'(p) to use, checked against the derivative; per-particle energies
    only), ``params`` (table).
``[kinetic.params]``
    one entry per parameter, each of which must appear in the energy: a table with
    ``default`` (number, optional), ``min`` / ``max`` (numbers, optional: unbounded),
    ``min_open`` / ``max_open`` (booleans, default false; an infinite end is always open)
    and ``doc`` (text); or a bare number, short for a positive parameter with that default.
``[scheme]``
    (optional: ``euler``, as on the command line) either ``name`` (one of
    :data:`hamopt.schemes.SCHEMES`), or ``rows`` (a list of
    ``[flow, fraction]`` pairs; a fraction is a number or text such as ``"1/2"`` or
    ``"1/(2 - cbrt(2))"``, read by :func:`hamopt.parse.parse_constant`) with ``order`` and
    optional ``name``, ``description`` and ``rotation`` (the rows a rotation of another
    scheme moved from its front, as :meth:`hamopt.schemes.Scheme.rotated` records them: the
    variables its order is measured in).
``[closure]``
    (optional: ``none``, as on the command line) ``name`` (a preset, or one closure name; a
    list of one preset is that preset) or ``names`` (a list of closure names, applied
    in order); the names are those of :func:`closure_catalogue`.
``[momentum]``
    ``form`` (``"ema"``, the default: v ← β₁v + (1 − β₁)g; or ``"sum"``: v ← β₁v + g) and
    ``init`` (``"zeros"``, the default, or ``"grad"``: v₁ = g₁).
``[defaults]``
    ``lr`` and ``betas = [β1, β2]``, the constructor defaults of the generated class (each
    optional; left out, the derivation's own: betas (0.9, 0.999), Lion's (0.9, 0.99) with
    ``lookahead``).

Every problem — unknown or missing keys, wrong types, bad intervals, unknown schemes or
closures, an unused parameter, an energy the parser or the kinetic-energy validation rejects —
raises :class:`ValueError` naming the file and the key.
"""

from __future__ import annotations

import builtins
import keyword
import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import sympy as sp
from sympy.printing.str import StrPrinter

from hamopt.closures import registry
from hamopt.kinetic.energy import KineticEnergy
from hamopt.labels import check_label
from hamopt.parameters import Parameter
from hamopt.parse import ParseError, parse_constant, parse_energy, validate_param_name
from hamopt.schemes import SCHEMES, Scheme

if TYPE_CHECKING:  # hamopt.derive may import this module: import it lazily at run time
    from hamopt.derive import DerivedOptimizer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "MOMENTUM_FORMS",
    "MOMENTUM_INITS",
    "PARAMETERISATIONS",
    "Spec",
    "SpecError",
    "check_class_name",
    "closure_catalogue",
    "closure_choice",
    "derive_spec",
    "dump_spec",
    "energy_text",
    "load_spec",
    "spec_from_dict",
    "spec_from_text",
]

#: Largest spec file read, in bytes.
MAX_FILE_BYTES = 1_000_000

#: Momentum forms: the EMA v ← β₁v + (1 − β₁)g, or the sum v ← β₁v + g.
MOMENTUM_FORMS = ("ema", "sum")
#: Momentum initialisations: zeros, or the first gradient.
MOMENTUM_INITS = ("zeros", "grad")
#: ``"ml"``: lr is the step scale; ``"physical"``: lr is the step h of the flow.
PARAMETERISATIONS = ("ml", "physical")

_TOP_KEYS = {
    "name",
    "description",
    "parameterisation",
    "kinetic",
    "scheme",
    "closure",
    "momentum",
    "defaults",
}
_KINETIC_KEYS = {"energy", "name", "coupling", "scope", "velocity", "params"}
_PARAM_KEYS = {"default", "min", "max", "min_open", "max_open", "doc"}
_SCHEME_KEYS = {"name", "rows", "order", "description", "rotation"}
_CLOSURE_KEYS = {"name", "names"}
_MOMENTUM_KEYS = {"form", "init"}
_DEFAULTS_KEYS = {"lr", "betas"}


class SpecError(ValueError):
    """A spec that cannot be read; the message names the file and the key."""


@dataclass
class Spec:
    """A derivation read from a spec file (or a dict): every input of :func:`hamopt.derive`.

    ``closure`` is a preset name (``"none"``, ``"adam"``) or a tuple of closure names; ``lr``
    is ``None`` for the derivation's own default.
    """

    name: str
    kinetic: KineticEnergy
    scheme: Scheme
    closure: str | tuple[str, ...]
    description: str = ""
    source: Path | None = None
    lr: float | None = None
    betas: tuple[float, float] | None = None  # None: the derivation's own
    energy_text: str = field(default="", repr=False)
    momentum: str = "ema"
    init: str = "zeros"
    parameterisation: str = "ml"


# -- names -------------------------------------------------------------------------------------
def check_class_name(name: object) -> str:
    """Return ``name`` if it may name a generated optimizer class, else raise ``ValueError``.

    The class is bound at the top level of the generated module, so its name must be an
    identifier that is not a Python keyword, does not shadow a builtin the code calls
    (``zip``, ``float``…) and does not start with ``_`` (the module's private names).

    >>> check_class_name("class")
    Traceback (most recent call last):
    ...
    ValueError: class name 'class' is a Python keyword
    """
    if not isinstance(name, str):
        raise TypeError(f"class name must be text, got {type(name).__name__} {name!r}")
    if not name.isidentifier():
        raise ValueError(f"class name must be a Python identifier, got {name!r}")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"class name {name!r} is a Python keyword")
    if name.startswith("_"):
        raise ValueError(f"class name {name!r} starts with '_' (the module's private names)")
    if hasattr(builtins, name):
        raise ValueError(f"class name {name!r} would shadow the Python builtin {name}")
    return name


def closure_catalogue() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(presets, closures)``: the preset names and the composable closure names that
    :func:`hamopt.derive` takes (:mod:`hamopt.closures.registry`)."""
    return tuple(registry.PRESETS), tuple(registry.CLOSURES)


def closure_choice(value: str | Sequence[str]) -> str | tuple[str, ...]:
    """A preset name, or a tuple of closure names, from ``value``: a preset, one closure name,
    a comma list (``"second_moment,bias_correction"``) or a sequence of names.

    Raises ``ValueError`` listing the valid names when one is unknown or empty, and the
    registry's own message when the names do not compose (two masses, a missing
    prerequisite).

    >>> closure_choice("adam"), closure_choice("second_moment, bias_correction")
    ('adam', ('second_moment', 'bias_correction'))
    """
    presets, closures = closure_catalogue()
    valid = f"presets: {', '.join(presets)}; closures: {', '.join(closures)}"
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
        if len(items) == 1 and items[0] in presets:
            return items[0]
    elif isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        items = list(value)
        if len(items) == 1 and items[0] in presets:  # ["adam"]: the preset alone
            return items[0]
    else:
        raise TypeError(f"closures must be text or a list of text, got {_type(value)}")
    if not items or any(not item for item in items):
        raise ValueError(f"empty closure name in {value!r}; {valid}")
    for item in items:
        if item in presets:
            raise ValueError(f"the preset {item!r} cannot be combined with other closures; {valid}")
        if item not in closures:
            raise ValueError(f"unknown closure {item!r}; {valid}")
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise ValueError(f"closure {repeated[0]!r} is given twice")
    registry.resolve(items)  # the names compose: one mass, one bias correction, prerequisites
    return tuple(items)


# -- reading -----------------------------------------------------------------------------------
def load_spec(path: str | Path) -> Spec:
    """Read and validate the spec file at ``path``."""
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SpecError(f"{where}: cannot read spec file: {err.strerror or err}") from None
    if size > MAX_FILE_BYTES:
        raise SpecError(f"{where}: spec file is too large ({size} bytes, at most {MAX_FILE_BYTES})")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as err:
        raise SpecError(f"{where}: cannot read spec file: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{where}: spec file is not UTF-8 ({err.reason})") from None
    return spec_from_text(text, source=path)


def spec_from_text(text: str, source: str | Path | None = None, *, where: str = "") -> Spec:
    """Validate the TOML ``text`` and build the :class:`Spec`; messages name ``where``
    (default: ``source``)."""
    where = where or ("<spec>" if source is None else str(source))
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(f"{where}: spec is too large ({len(text)} characters)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{where}: invalid TOML: {err}") from None
    return spec_from_dict(data, source=source, where=where)


def spec_from_dict(
    data: Mapping[str, Any], source: str | Path | None = None, *, where: str = ""
) -> Spec:
    """Validate ``data`` (the parsed TOML) and build the :class:`Spec`."""
    src = None if source is None else Path(source)
    ctx = _Context(where or ("<spec>" if src is None else str(src)))
    table = ctx.table(data, "", _TOP_KEYS, required={"name", "kinetic"})
    name = ctx.string(table, "name")
    try:
        check_class_name(name)
    except ValueError as err:
        ctx.fail("name", str(err))
    from hamopt.codegen.inline import name_clash

    why = name_clash(name)  # a name the runtime binds: refused here under its key, as derive does
    if why is not None:
        ctx.fail("name", f"{why}; choose another")
    description = ctx.string(table, "description", "")
    parameterisation = ctx.choice(table, "parameterisation", PARAMETERISATIONS, "ml")
    lr, betas = _defaults(ctx, table.get("defaults"))
    form, init = _momentum(ctx, table.get("momentum"))
    kinetic, energy_text = _kinetic(ctx, table["kinetic"], name)
    scheme = _scheme(ctx, table.get("scheme", "euler"))  # the command line's defaults
    closure = _closure(ctx, table.get("closure", "none"))
    return Spec(
        name=name,
        kinetic=kinetic,
        scheme=scheme,
        closure=closure,
        description=description,
        source=src,
        lr=lr,
        betas=betas,
        energy_text=energy_text,
        momentum=form,
        init=init,
        parameterisation=parameterisation,
    )


def derive_spec(spec: Spec) -> DerivedOptimizer:
    """Derive the optimizer that ``spec`` describes; a refusal of :func:`hamopt.derive` is
    raised as a :class:`SpecError` naming the spec's file (if it came from one)."""
    from hamopt.derive import derive

    try:
        return derive(
            spec.kinetic,
            spec.scheme,
            spec.closure,
            name=spec.name,
            momentum=spec.momentum,
            init=spec.init,
            parameterisation=spec.parameterisation,
            lr=spec.lr,
            betas=spec.betas,
            description=spec.description,
        )
    except (ValueError, TypeError) as err:
        if spec.source is None:
            raise
        raise SpecError(f"{spec.source}: {err}") from None


# -- sections ----------------------------------------------------------------------------------
def _kinetic(ctx: _Context, value: Any, spec_name: str) -> tuple[KineticEnergy, str]:
    table = ctx.table(value, "kinetic", _KINETIC_KEYS, required={"energy"})
    text = ctx.string(table, "energy", key_path="kinetic.energy")
    ename = ctx.string(table, "name", spec_name.lower(), key_path="kinetic.name")
    _check_label(ctx, ename, "kinetic.name", "kinetic energy name")
    coupling = ctx.string(table, "coupling", "particle", key_path="kinetic.coupling")
    if coupling not in ("particle", "norm"):
        ctx.fail("kinetic.coupling", f"must be 'particle' or 'norm', got {coupling!r}")
    if "scope" in table and coupling != "norm":
        ctx.fail("kinetic.scope", "applies only to coupling = 'norm'")
    scope = ctx.string(table, "scope", "tensor", key_path="kinetic.scope")
    if scope not in ("tensor", "global"):
        ctx.fail("kinetic.scope", f"must be 'tensor' or 'global', got {scope!r}")
    params = _params(ctx, table.get("params", {}))
    try:
        expr = parse_energy(text, [prm.name for prm in params])
    except ParseError as err:
        ctx.fail("kinetic.energy", str(err))
    used = {sym.name for sym in expr.free_symbols}
    for prm in params:
        if prm.name not in used:
            ctx.fail(
                f"kinetic.params.{prm.name}", f"parameter {prm.name} does not appear in the energy"
            )
    try:
        kinetic = KineticEnergy(expr, params, name=ename, coupling=coupling, scope=scope)
    except (ValueError, TypeError) as err:
        ctx.fail("kinetic.energy", f"rejected as a kinetic energy: {err}")
    if "velocity" in table:
        kinetic = _with_velocity(ctx, table, kinetic)
    return kinetic, text


def _with_velocity(
    ctx: _Context, table: Mapping[str, Any], kinetic: KineticEnergy
) -> KineticEnergy:
    """``kinetic`` with the closed form of its velocity τ'(p) that ``table`` gives (checked
    against the derivative: :func:`hamopt.kinetic.validation.choose_velocity`)."""
    if kinetic.coupling != "particle":
        ctx.fail("kinetic.velocity", "applies only to coupling = 'particle'")
    text = ctx.string(table, "velocity", key_path="kinetic.velocity")
    try:
        velocity = _read(text, kinetic.params)
        out = KineticEnergy(
            kinetic.expr, kinetic.params, name=kinetic.name, velocity=velocity, validate=False
        )
        out.velocity_expr  # noqa: B018 - checks the given form against the derivative
    except (ValueError, TypeError) as err:
        ctx.fail("kinetic.velocity", str(err))
    return out


def _params(ctx: _Context, value: Any) -> list[Parameter]:
    table = ctx.table(value, "kinetic.params", None)
    out = []
    for pname, entry in table.items():
        key = f"kinetic.params.{pname}"
        try:
            validate_param_name(pname)
        except ParseError as err:
            ctx.fail(key, str(err))
        try:
            from hamopt.derive import check_parameter_name

            check_parameter_name(pname)
        except ValueError as err:
            ctx.fail(key, str(err))
        if _is_number(entry):
            entry = {"default": entry, "min": 0, "min_open": True}
        sub = ctx.table(entry, key, _PARAM_KEYS)
        default = ctx.number(sub, "default", None, key_path=f"{key}.default", exact=True)
        lo = ctx.number(sub, "min", -math.inf, key_path=f"{key}.min")
        hi = ctx.number(sub, "max", math.inf, key_path=f"{key}.max")
        lo_open = ctx.boolean(sub, "min_open", False, key_path=f"{key}.min_open")
        hi_open = ctx.boolean(sub, "max_open", False, key_path=f"{key}.max_open")
        doc = ctx.string(sub, "doc", "", key_path=f"{key}.doc")
        if math.isnan(lo) or math.isnan(hi):
            ctx.fail(key, "interval ends must be numbers, not nan")
        if default is not None and math.isnan(default):
            ctx.fail(f"{key}.default", "must be a number, not nan")
        for end, given, flag in (
            ("min", "min" in sub, "min_open"),
            ("max", "max" in sub, "max_open"),
        ):
            if flag in sub and not given:
                ctx.fail(
                    f"{key}.{flag}",
                    f"says whether {end} is in the interval, but no {end} is given "
                    "(an infinite end is always open)",
                )
        if lo == math.inf or hi == -math.inf:
            ctx.fail(key, f"bad interval: min = {lo}, max = {hi}")
        if not lo < hi:
            ctx.fail(key, f"bad interval: min = {lo} must be below max = {hi}")
        start = -sp.oo if lo == -math.inf else sp.nsimplify(lo)
        end = sp.oo if hi == math.inf else sp.nsimplify(hi)
        interval = sp.Interval(start, end, lo_open or lo == -math.inf, hi_open or hi == math.inf)
        try:
            out.append(Parameter(pname, default, interval, doc))
        except (ValueError, TypeError) as err:
            ctx.fail(f"{key}.default", str(err))
    return out


def _scheme(ctx: _Context, value: Any) -> Scheme:
    if isinstance(value, str):
        value = {"name": value}
    table = ctx.table(value, "scheme", _SCHEME_KEYS)
    if "rows" not in table:
        extra = sorted(set(table) - {"name"})
        if extra:
            ctx.fail(f"scheme.{extra[0]}", "given without rows (a named scheme takes only name)")
        if "name" not in table:
            ctx.fail("scheme", "needs a name (one of the library) or rows and order")
        sname = ctx.string(table, "name", key_path="scheme.name")
        if sname not in SCHEMES:
            ctx.fail("scheme.name", f"unknown scheme {sname!r}; choose from {sorted(SCHEMES)}")
        return SCHEMES[sname]
    if "order" not in table:
        ctx.fail("scheme.order", "missing (a scheme given by rows needs its order)")
    order = table["order"]
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        ctx.fail("scheme.order", f"must be a positive integer, got {order!r}")
    sname = ctx.string(table, "name", "custom", key_path="scheme.name")
    _check_label(ctx, sname, "scheme.name", "scheme name")
    desc = ctx.string(table, "description", "", key_path="scheme.description")
    rows = _rows(ctx, table["rows"], "scheme.rows")
    rotation = _rows(ctx, table["rotation"], "scheme.rotation") if "rotation" in table else ()
    try:
        return Scheme(sname, rows, order, desc, rotation)
    except (ValueError, TypeError) as err:
        ctx.fail("scheme", str(err))


def _rows(ctx: _Context, value: Any, where: str) -> list:
    """A scheme's rows (or its rotation's), ``[flow, fraction]`` pairs, as (flow, SymPy
    number) pairs."""
    if not isinstance(value, list) or not value:
        ctx.fail(where, "must be a non-empty list of [flow, fraction] pairs")
    if len(value) > 200:
        ctx.fail(where, f"has {len(value)} rows (at most 200)")
    rows = []
    for i, row in enumerate(value):
        key = f"{where}[{i}]"
        if not isinstance(row, list) or len(row) != 2 or not isinstance(row[0], str):
            ctx.fail(key, f"must be a [flow, fraction] pair, got {row!r}")
        flow, frac = row
        if _is_number(frac):
            if not math.isfinite(frac):
                ctx.fail(key, f"fraction must be finite, got {frac!r}")
            frac = sp.Rational(repr(frac)) if isinstance(frac, float) else sp.Integer(frac)
        elif isinstance(frac, str):
            try:
                frac = parse_constant(frac)
            except ParseError as err:
                ctx.fail(key, f"fraction: {err}")
        else:
            ctx.fail(key, f"fraction must be a number or text, got {type(frac).__name__}")
        rows.append((flow, frac))
    return rows


def _closure(ctx: _Context, value: Any) -> str | tuple[str, ...]:
    if isinstance(value, (str, list)):
        value = {"names" if isinstance(value, list) else "name": value}
    table = ctx.table(value, "closure", _CLOSURE_KEYS)
    if ("name" in table) == ("names" in table):
        ctx.fail("closure", "give either name (a preset or one closure) or names (a list)")
    if "name" in table:
        key, given = "closure.name", ctx.string(table, "name", key_path="closure.name")
    else:
        key, given = "closure.names", table["names"]
        if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
            ctx.fail(key, f"must be a list of closure names, got {_type(given)}")
    try:
        return closure_choice(given)
    except (ValueError, TypeError) as err:
        ctx.fail(key, str(err))


def _momentum(ctx: _Context, value: Any) -> tuple[str, str]:
    if value is None:
        return "ema", "zeros"
    table = ctx.table(value, "momentum", _MOMENTUM_KEYS)
    form = ctx.choice(table, "form", MOMENTUM_FORMS, "ema", key_path="momentum.form")
    init = ctx.choice(table, "init", MOMENTUM_INITS, "zeros", key_path="momentum.init")
    return form, init


def _defaults(ctx: _Context, value: Any) -> tuple[float | None, tuple[float, float] | None]:
    """The ``[defaults]`` table's lr and betas, None where left out (the derivation's own:
    Lion's (0.9, 0.99) with ``lookahead``)."""
    if value is None:
        return None, None
    table = ctx.table(value, "defaults", _DEFAULTS_KEYS)
    lr = ctx.number(table, "lr", None, key_path="defaults.lr", exact=True)
    if lr is not None and not 0 < lr < math.inf:
        ctx.fail("defaults.lr", f"must be positive and finite, got {lr!r}")
    betas = table.get("betas")
    if betas is None:
        return lr, None
    if not isinstance(betas, list) or len(betas) != 2 or not all(_is_number(b) for b in betas):
        ctx.fail("defaults.betas", f"must be a list of two numbers, got {betas!r}")
    if not all(0 <= b < 1 for b in betas):
        ctx.fail("defaults.betas", f"each beta must be in [0, 1), got {betas!r}")
    return lr, (float(betas[0]), float(betas[1]))


# -- writing -----------------------------------------------------------------------------------
class _EnergyPrinter(StrPrinter):
    """SymPy's text form in the words of :mod:`hamopt.parse`: ``abs`` for ``Abs`` and
    ``exp(1)`` for ``E``; everything else SymPy prints is already one of its words."""

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "exp(1)"


def energy_text(kinetic: KineticEnergy, expr: sp.Expr | None = None) -> str:
    """``kinetic``'s expression (or ``expr``, in the same symbols: its given velocity) as text
    that :func:`hamopt.parse.parse_energy` reads back to the same expression (checked);
    ``ValueError`` when there is none (a float, a function outside the parser's whitelist).

    >>> from hamopt.kinetic import adam_energy
    >>> energy_text(adam_energy())
    '-epsilon*log(1 + abs(p)/epsilon) + abs(p)'
    """
    expr = kinetic.expr if expr is None else expr
    text = _EnergyPrinter().doprint(expr)
    try:
        back = _read(text, kinetic.params)
    except ParseError as err:
        raise ValueError(
            f"{kinetic.name}: {expr} has no text form the parser reads: {err}"
        ) from None
    if back != expr:
        raise ValueError(
            f"{kinetic.name}: {expr} does not read back from its text {text!r} (as {back}); "
            "write its numbers as exact rationals"
        )
    return text


def _read(text: str, params: Sequence[Parameter]) -> sp.Expr:
    """Parse ``text`` in ``p`` and ``params``, in the parameters' own symbols."""
    symbols = {prm.name: prm.symbol for prm in params}
    expr = parse_energy(text, list(symbols))
    return expr.xreplace(
        {sym: symbols[sym.name] for sym in expr.free_symbols if sym.name in symbols}
    )


def dump_spec(recipe: Any) -> str:
    """The spec file (TOML text) of a derivation, which :func:`load_spec` reads back and
    :func:`derive_spec` derives to the same module, byte for byte.

    ``recipe`` is a :class:`hamopt.recipe.Recipe` (``DerivedOptimizer.recipe``), a
    :class:`DerivedOptimizer` (its recipe is taken) or a :class:`Spec`.
    """
    recipe = getattr(recipe, "recipe", recipe)
    if recipe is None:
        raise ValueError("this derived optimizer records no recipe to write")
    kinetic = recipe.kinetic
    if not isinstance(kinetic, KineticEnergy):
        raise TypeError(f"the recipe's energy must be a KineticEnergy, got {_type(kinetic)}")
    out = [f"name = {_toml(check_class_name(recipe.name))}"]
    if getattr(recipe, "description", ""):
        out.append(f"description = {_toml(recipe.description)}")
    out.append(f"parameterisation = {_toml(recipe.parameterisation)}")
    out += ["", "[kinetic]", f"name = {_toml(kinetic.name)}"]
    out.append(f"energy = {_toml(energy_text(kinetic))}")
    out.append(f"coupling = {_toml(kinetic.coupling)}")
    if kinetic.coupling == "norm":
        out.append(f"scope = {_toml(kinetic.scope)}")
    given = kinetic._given_velocity  # the closed form the derivation used, if one was given
    if given is not None and kinetic.coupling == "particle":
        out.append(f"velocity = {_toml(energy_text(kinetic, given))}")
    if kinetic.params:
        out += ["", "[kinetic.params]"]
        out += [f"{_key(prm.name)} = {_param_entry(prm)}" for prm in kinetic.params]
    out += ["", "[scheme]", *_scheme_lines(recipe.scheme)]
    closure = getattr(recipe, "closures", None)
    closure = recipe.closure if closure is None else closure
    out += ["", "[closure]", _closure_line(closure)]
    out += ["", "[momentum]", f"form = {_toml(recipe.momentum)}", f"init = {_toml(recipe.init)}"]
    out += ["", "[defaults]"]
    if recipe.lr is not None:
        out.append(f"lr = {_toml(recipe.lr)}")
    if recipe.betas is not None:  # a spec that leaves them to the derivation
        out.append(f"betas = {_toml(list(recipe.betas))}")
    return "\n".join(out) + "\n"


def _param_entry(prm: Parameter) -> str:
    entry: dict[str, Any] = {}
    if prm.default is not None:
        entry["default"] = prm.default
    iv = prm.interval
    if iv.start.is_finite:
        entry["min"] = _exact(iv.start)
        if iv.left_open:
            entry["min_open"] = True
    if iv.end.is_finite:
        entry["max"] = _exact(iv.end)
        if iv.right_open:
            entry["max_open"] = True
    if prm.doc:
        entry["doc"] = prm.doc
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in entry.items()) + " }"


def _scheme_lines(scheme: Scheme | str) -> list[str]:
    if isinstance(scheme, str):
        return [f"name = {_toml(scheme)}"]
    if SCHEMES.get(scheme.name) == scheme:
        return [f"name = {_toml(scheme.name)}"]
    lines = [
        f"name = {_toml(scheme.name)}",
        f"order = {scheme.order}",
        f"rows = {_rows_toml(scheme.rows)}",
    ]
    if scheme.rotation:  # the rows a rotation moved: the order check's variables
        lines.append(f"rotation = {_rows_toml(scheme.rotation)}")
    if scheme.description:
        lines.append(f"description = {_toml(scheme.description)}")
    return lines


def _rows_toml(rows) -> str:
    """Scheme rows as a TOML list of ``[flow, fraction]`` pairs (the fraction as text)."""
    pairs = ", ".join(
        f"[{_toml(flow)}, {_toml(_EnergyPrinter().doprint(frac))}]" for flow, frac in rows
    )
    return f"[{pairs}]"


def _closure_line(closure: str | Sequence[str]) -> str:
    if isinstance(closure, str):
        return f"name = {_toml(closure)}"
    closure = tuple(closure)
    if not closure:
        return 'name = "none"'
    presets, _ = closure_catalogue()
    if len(closure) == 1 and closure[0] in presets:
        return f"name = {_toml(closure[0])}"
    return f"names = {_toml(list(closure))}"


def _exact(value: sp.Expr) -> int | float:
    return int(value) if value.is_integer else float(value)


def _key(name: str) -> str:
    bare = name.isascii() and name.replace("_", "a").replace("-", "a").isalnum()
    return name if bare else _toml(name)


def _toml(value: Any) -> str:
    """A TOML value: text (escaped as TOML's basic strings need), a bool, a number or a list."""
    if isinstance(value, str):
        escaped = []
        for ch in value:
            if ch in '"\\':
                escaped.append("\\" + ch)
            elif ch == "\n":
                escaped.append("\\n")
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                escaped.append(f"\\u{ord(ch):04x}")
            else:
                escaped.append(ch)
        return '"' + "".join(escaped) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            raise ValueError("a spec file holds no nan")
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {_type(value)}")


# -- typed access with messages ----------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Context:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> NoReturn:
        label = f"[{key}]" if key else "top level"
        raise SpecError(f"{self.where}: {label}: {problem}")

    def table(
        self,
        value: Any,
        key: str,
        allowed: set[str] | None,
        required: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a table, got {_type(value)}")
        for k in value:
            if not isinstance(k, str):
                self.fail(key, f"keys must be strings, got {k!r}")
        if allowed is not None:
            unknown = sorted(set(value) - allowed)
            if unknown:
                sub = f"{key}.{unknown[0]}" if key else unknown[0]
                self.fail(sub, f"unknown key; allowed here: {', '.join(sorted(allowed))}")
        for k in sorted(required):
            if k not in value:
                sub = f"{key}.{k}" if key else k
                self.fail(sub, "missing")
        return value

    def string(
        self, table: Mapping[str, Any], name: str, default: Any = ..., *, key_path: str = ""
    ) -> str:
        key = key_path or name
        if name not in table:
            if default is ...:
                self.fail(key, "missing")
            return default
        value = table[name]
        if not isinstance(value, str):
            self.fail(key, f"must be text, got {_type(value)}")
        return value

    def number(
        self,
        table: Mapping[str, Any],
        name: str,
        default: Any,
        *,
        key_path: str,
        exact: bool = False,
    ) -> Any:
        """The number at ``name``: a float, or (``exact``) an int where the file has one, as a
        constructor default keeps the type it was given (``m=2`` and ``m=2.0`` print apart)."""
        if name not in table:
            return default
        value = table[name]
        if not _is_number(value):
            self.fail(key_path, f"must be a number, got {_type(value)}")
        return value if exact else float(value)

    def choice(
        self,
        table: Mapping[str, Any],
        name: str,
        choices: Sequence[str],
        default: str,
        *,
        key_path: str = "",
    ) -> str:
        value = self.string(table, name, default, key_path=key_path)
        if value not in choices:
            self.fail(key_path or name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], name: str, default: bool, *, key_path: str) -> bool:
        if name not in table:
            return default
        value = table[name]
        if not isinstance(value, bool):
            self.fail(key_path, f"must be true or false, got {_type(value)}")
        return value


def _type(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:39] + "…"
    return f"{type(value).__name__} {shown}"


def _check_label(ctx, name: str, key: str, what: str) -> None:
    """A name the generated module writes into its docstrings: one line, no quotes
    (:func:`~hamopt.labels.check_label`), refused under its key."""
    try:
        check_label(name, what)
    except ValueError as err:
        ctx.fail(key, str(err))
