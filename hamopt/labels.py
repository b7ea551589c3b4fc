"""Names a user gives an energy or a scheme: shown in messages and written into the docstrings
of a generated module, so they are one line of text that cannot end a string literal; and the
names the generated code binds (a class, a parameter), Python identifiers that read as
themselves."""

from __future__ import annotations

import unicodedata

__all__ = ["check_label", "identifier_problem"]

#: Characters a label may not hold: they would close or escape the docstring it is written in.
_CLOSING = "\"'\\"


def check_label(name: object, what: str) -> str:
    """``name`` if it is a non-empty line of printable text without quotes or backslashes;
    else a :class:`TypeError` (not a string) or :class:`ValueError` naming ``what``."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string, got {type(name).__name__}")
    if not name.strip():
        raise ValueError(f"{what} must not be empty")
    bad = sorted({ch for ch in name if ch in _CLOSING or not ch.isprintable()})
    if bad:
        raise ValueError(
            f"{what} {name!r} holds {', '.join(repr(ch) for ch in bad)}: a name is one line of "
            "text without quotes or backslashes (it is written into the generated module's "
            "docstrings)"
        )
    return name


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be a name the generated code binds, or None: it must be a Python
    identifier that Python reads as itself. Python normalises identifiers to NFKC, so a class
    named ``Ｍｙ`` (full-width) is defined as ``My``, while ``__all__`` and ``getattr`` still
    look for ``Ｍｙ``."""
    if not name.isidentifier():
        return "it is not a Python identifier"
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        return f"Python reads it as {normal!r} (identifiers are NFKC-normalised); use {normal!r}"
    return None
