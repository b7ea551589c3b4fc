r"""Spec files: a derivation written down as TOML, reproducible and safe to share.

A spec file records everything :func:`hamopt.derive` needs — the kinetic energy (as text, read
by the safe parser :func:`hamopt.parse.parse_energy`, never evaluated), its parameters with
defaults and valid intervals, the splitting scheme (by name or as a table) and the closure —
so a derivation can be committed beside a paper and re-run by anyone:

.. code-block:: toml

    name = "MyRAD"
    description = "Relativistic energy, leapfrog, Adam closure"

    [kinetic]
    energy = "c*sqrt(p**2 + m**2*c**2)"
    coupling = "particle"          # or "norm", then scope = "tensor" | "global"

    [kinetic.params]
    m = { default = 1.0, min = 0, min_open = true, doc = "mass" }
    c = { default = 1.0, min = 0, min_open = true }

    [scheme]
    name = "leapfrog"              # or rows = [["D", "1/2"], ["F", "1/2"], ...] and order = 2

    [closure]
    name = "adam"                  # "none" | "adam"

Keys
----
top level
    ``name`` (required; the class name, an identifier), ``description`` (optional text),
    ``kinetic``, ``scheme``, ``closure`` (tables; ``scheme = "leapfrog"`` and
    ``closure = "adam"`` are accepted as short forms), ``defaults`` (optional table:
    ``lr`` and ``betas = [β1, β2]``, the constructor defaults of the generated class).
``[kinetic]``
    ``energy`` (required text), ``name`` (optional; default: the spec's name in lower case),
    ``coupling`` (``"particle"``, the default, or ``"norm"``), ``scope`` (``"tensor"``, the
    default, or ``"global"``; only with ``coupling = "norm"``), ``params`` (table).
``[kinetic.params]``
    one entry per parameter: a table with ``default`` (number, optional), ``min`` / ``max``
    (numbers, optional: unbounded), ``min_open`` / ``max_open`` (booleans, default false;
    an infinite end is always open) and ``doc`` (text); or a bare number, short for a
    positive parameter with that default.
``[scheme]``
    either ``name`` (one of :data:`hamopt.schemes.SCHEMES`), or ``rows`` (a list of
    ``[flow, fraction]`` pairs; a fraction is a number or text such as ``"1/2"`` or
    ``"1/(2 - cbrt(2))"``, read by :func:`hamopt.parse.parse_constant`) with ``order`` and
    optional ``name`` and ``description``.
``[closure]``
    ``name``: one of :data:`hamopt.derive.CLOSURES`.

Every problem — unknown or missing keys, wrong types, bad intervals, unknown schemes or
closures, an energy the parser or the kinetic-energy validation rejects — raises
:class:`ValueError` naming the file and the key.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import sympy as sp

from hamopt.derive import CLOSURES, DerivedOptimizer, check_parameter_name, derive
from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameters import Parameter
from hamopt.parse import ParseError, parse_constant, parse_energy, validate_param_name
from hamopt.schemes import SCHEMES, Scheme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Spec", "SpecError", "derive_spec", "load_spec", "spec_from_dict"]

#: Largest spec file read, in bytes.
MAX_FILE_BYTES = 1_000_000


_TOP_KEYS = {"name", "description", "kinetic", "scheme", "closure", "defaults"}
_KINETIC_KEYS = {"energy", "name", "coupling", "scope", "params"}
_PARAM_KEYS = {"default", "min", "max", "min_open", "max_open", "doc"}
_SCHEME_KEYS = {"name", "rows", "order", "description"}
_CLOSURE_KEYS = {"name"}
_DEFAULTS_KEYS = {"lr", "betas"}


class SpecError(ValueError):
    """A spec that cannot be read; the message names the file and the key."""


@dataclass
class Spec:
    """A derivation read from a spec file (or a dict)."""

    name: str
    kinetic: KineticEnergy
    scheme: Scheme
    closure: str
    description: str = ""
    source: Path | None = None
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    energy_text: str = field(default="", repr=False)


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{where}: invalid TOML: {err}") from None
    return spec_from_dict(data, source=path)


def spec_from_dict(data: Mapping[str, Any], source: str | Path | None = None) -> Spec:
    """Validate ``data`` (the parsed TOML) and build the :class:`Spec`."""
    src = None if source is None else Path(source)
    ctx = _Context("<spec>" if src is None else str(src))
    table = ctx.table(data, "", _TOP_KEYS, required={"name", "kinetic", "scheme", "closure"})
    name = ctx.string(table, "name")
    if not name.isidentifier() or name.startswith("_"):
        ctx.fail("name", f"must be a Python identifier not starting with '_', got {name!r}")
    description = ctx.string(table, "description", "")
    lr, betas = _defaults(ctx, table.get("defaults"))
    kinetic, energy_text = _kinetic(ctx, table["kinetic"], name)
    scheme = _scheme(ctx, table["scheme"])
    closure = _closure(ctx, table["closure"])
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
    )


def derive_spec(spec: Spec) -> DerivedOptimizer:
    """Derive the optimizer that ``spec`` describes."""
    return derive(
        spec.kinetic, spec.scheme, spec.closure, name=spec.name, lr=spec.lr, betas=spec.betas
    )


# -- sections ----------------------------------------------------------------------------------
def _kinetic(ctx: _Context, value: Any, spec_name: str) -> tuple[KineticEnergy, str]:
    table = ctx.table(value, "kinetic", _KINETIC_KEYS, required={"energy"})
    text = ctx.string(table, "energy", key_path="kinetic.energy")
    ename = ctx.string(table, "name", spec_name.lower(), key_path="kinetic.name")
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
    try:
        kinetic = KineticEnergy(expr, params, name=ename, coupling=coupling, scope=scope)
    except (ValueError, TypeError) as err:
        ctx.fail("kinetic.energy", f"rejected as a kinetic energy: {err}")
    return kinetic, text


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
            check_parameter_name(pname)
        except ValueError as err:
            ctx.fail(key, str(err))
        if _is_number(entry):
            entry = {"default": entry, "min": 0, "min_open": True}
        sub = ctx.table(entry, key, _PARAM_KEYS)
        default = ctx.number(sub, "default", None, key_path=f"{key}.default")
        lo = ctx.number(sub, "min", -math.inf, key_path=f"{key}.min")
        hi = ctx.number(sub, "max", math.inf, key_path=f"{key}.max")
        lo_open = ctx.boolean(sub, "min_open", False, key_path=f"{key}.min_open")
        hi_open = ctx.boolean(sub, "max_open", False, key_path=f"{key}.max_open")
        doc = ctx.string(sub, "doc", "", key_path=f"{key}.doc")
        if math.isnan(lo) or math.isnan(hi):
            ctx.fail(key, "interval ends must be numbers, not nan")
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
    desc = ctx.string(table, "description", "", key_path="scheme.description")
    rows_value = table["rows"]
    if not isinstance(rows_value, list) or not rows_value:
        ctx.fail("scheme.rows", "must be a non-empty list of [flow, fraction] pairs")
    if len(rows_value) > 200:
        ctx.fail("scheme.rows", f"has {len(rows_value)} rows (at most 200)")
    rows = []
    for i, row in enumerate(rows_value):
        key = f"scheme.rows[{i}]"
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
    try:
        return Scheme(sname, rows, order, desc)
    except (ValueError, TypeError) as err:
        ctx.fail("scheme", str(err))


def _closure(ctx: _Context, value: Any) -> str:
    if isinstance(value, str):
        value = {"name": value}
    table = ctx.table(value, "closure", _CLOSURE_KEYS, required={"name"})
    cname = ctx.string(table, "name", key_path="closure.name")
    if cname not in CLOSURES:
        ctx.fail("closure.name", f"unknown closure {cname!r}; choose from {list(CLOSURES)}")
    return cname


def _defaults(ctx: _Context, value: Any) -> tuple[float, tuple[float, float]]:
    if value is None:
        return 1e-3, (0.9, 0.999)
    table = ctx.table(value, "defaults", _DEFAULTS_KEYS)
    lr = ctx.number(table, "lr", 1e-3, key_path="defaults.lr")
    if not 0 < lr < math.inf:
        ctx.fail("defaults.lr", f"must be positive and finite, got {lr!r}")
    betas = table.get("betas", [0.9, 0.999])
    if not isinstance(betas, list) or len(betas) != 2 or not all(_is_number(b) for b in betas):
        ctx.fail("defaults.betas", f"must be a list of two numbers, got {betas!r}")
    if not all(0 <= b < 1 for b in betas):
        ctx.fail("defaults.betas", f"each beta must be in [0, 1), got {betas!r}")
    return lr, (float(betas[0]), float(betas[1]))


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

    def number(self, table: Mapping[str, Any], name: str, default: Any, *, key_path: str) -> Any:
        if name not in table:
            return default
        value = table[name]
        if not _is_number(value):
            self.fail(key_path, f"must be a number, got {_type(value)}")
        return float(value)

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
