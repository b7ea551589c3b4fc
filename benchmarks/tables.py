"""Where a benchmark's Markdown table goes: written to ``--out`` and printed."""

from __future__ import annotations

from pathlib import Path


def write(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` (making its folder), print it and say where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
