r"""A generated module made standalone: the runtime inlined, so that it needs only torch.

A generated module imports its base class and helpers from :mod:`hamopt.runtime`. An exported
module (``export(path)``, ``hamopt derive -o``) must run where hamopt is not installed, so
:func:`standalone` replaces that import with the runtime's own source: its modules in
dependency order (:data:`hamopt.runtime.MODULES`), each without its docstring and its imports of
the runtime, the standard-library and torch imports gathered at the top, and the C++ prelude,
which the package reads from ``prelude.h``, written into ``prelude()`` as a string. A module
of :data:`hamopt.runtime.ON_DEMAND` (the multi-gradient base) follows only where the source
imports one of its names. The result defines the same names as the runtime, so the generated
code runs unchanged.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

from hamopt.runtime import MODULES, ON_DEMAND
from hamopt.runtime.kernel import prelude

__all__ = ["bound_names", "name_clash", "runtime_names", "standalone"]

_IMPORT = re.compile(r"^from hamopt\.runtime import (\([^)]*\)|[^\n]+)\n", re.MULTILINE)


def standalone(source: str) -> str:
    """``source`` (a generated module) with :mod:`hamopt.runtime` inlined in place of its import.

    Raises ``ValueError`` if ``source`` does not import the runtime (it is not a generated
    module, or is standalone already)."""
    match = _IMPORT.search(source)
    if match is None:
        raise ValueError("the module does not import hamopt.runtime: nothing to inline")
    imported = set(re.findall(r"\w+", match.group(1)))
    extra = [m for m in ON_DEMAND if imported & set(_module(m).__all__)]
    imports, bodies = [], []
    for name in (*MODULES, *extra):
        module_imports, body = _parts(name)
        imports += [line for line in module_imports if line not in imports]
        bodies.append(
            f"# -- hamopt.runtime.{name} " + "-" * (72 - len(name)) + "\n" + body.strip("\n")
        )
    head, tail = source[: match.start()], source[match.end() :]
    first = re.search(r"^(import|from) ", head, re.MULTILINE)
    own = head[first.start() :].split("\n") if first else []
    imports += [line for line in own if line.strip() and line not in imports]
    stdlib = sorted((line for line in imports if not _is_torch(line)), key=_import_order)
    torch_ = sorted((line for line in imports if _is_torch(line)), key=_import_order)
    head = (head[: first.start()] if first else head).rstrip("\n")
    runtime = "\n\n\n".join(b.strip("\n") for b in bodies)
    return (
        f"{head}\n\n" + "\n".join(stdlib) + "\n\n" + "\n".join(torch_) + f"\n\n\n{runtime}\n{tail}"
    )


def bound_names(source: str) -> Counter:
    """How many times each name is bound at the top level of ``source``: by an import, a
    definition or an assignment."""
    names: Counter = Counter()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] += 1
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


@functools.cache
def runtime_names() -> frozenset[str]:
    """The names the runtime binds at the top level of a standalone module (:func:`standalone`):
    its modules' definitions, those of :data:`ON_DEMAND` included, and their imports."""
    names: set[str] = set()
    for name in (*MODULES, *ON_DEMAND):
        imports, body = _parts(name)
        names |= set(bound_names("\n".join([*imports, body])))
    return frozenset(names)


def name_clash(name: str, source: str | None = None) -> str | None:
    """Why ``name`` cannot name the class of a generated module (``source``, where given),
    or None: the class is bound at the module's top level, so no import or definition of the
    module, nor of the runtime its standalone form inlines (``math``, ``os``, ``Rule``…), may
    have its name."""
    if name in runtime_names():
        return f"{name!r} is a name the runtime binds (an exported module inlines it)"
    if source is not None and bound_names(source)[name] > 1:
        return f"the generated module binds {name!r} itself (an import or a definition)"
    return None


def _import_order(line: str) -> tuple[bool, str]:
    return line.startswith("from "), line


def _is_torch(line: str) -> bool:
    return line.split()[1].split(".")[0] == "torch"


def _module(name: str) -> ModuleType:
    """The runtime's module ``name``."""
    return importlib.import_module(f"hamopt.runtime.{name}")


def _parts(name: str) -> tuple[list[str], str]:
    """The module's imports (not of the runtime) and its body without docstring and imports."""
    path = Path(_module(name).__file__)
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    drop, imports = set(), []
    for node in tree.body:
        span = range(node.lineno - 1, node.end_lineno)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            drop.update(span)
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hamopt")):
                imports.append("\n".join(lines[i] for i in span))
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            drop.update(span)  # the module docstring
        elif isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "__all__" for t in node.targets
        ):
            drop.update(span)
        elif isinstance(node, ast.FunctionDef) and node.name == "prelude":
            drop.update(span)
            lines[node.lineno - 1] = _prelude_function()
            drop.discard(node.lineno - 1)
    body = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return imports, re.sub(r"\n{3,}", "\n\n\n", body)


def _prelude_function() -> str:
    text = prelude()
    if '"""' in text or "\\" in text:
        raise ValueError("internal: the C++ prelude cannot be written as a raw string")
    return f'def prelude() -> str:\n    """The C++ every kernel source starts with."""\n    return r"""{text}"""'
