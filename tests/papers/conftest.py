"""The scaffold every paper's smoke test shares.

A test module of this folder names its paper (``PAPER = "rad"``); the module-scoped ``smoke``
fixture runs ``papers/<PAPER>/reproduce.py --smoke --out DIR`` once in a subprocess and hands
the module a :class:`Smoke`: the run, its output folder, and the committed README as it was
before. :meth:`Smoke.check` asserts what every reproduction promises (exit 0, its figures
written, the committed README left alone, the claims table complete); :meth:`Smoke.verdict`
reads one claim's verdict; each module adds the claims that must hold at any run length.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
VERDICTS = ("yes", "partly", "no")


@dataclass(frozen=True)
class Smoke:
    folder: Path
    result: subprocess.CompletedProcess
    out: Path
    readme_before: bytes

    def claims(self) -> dict[str, list[str]]:
        """Claim → [how, measured, verdict], from the table the run printed (escaped pipes
        stay inside their cells)."""
        table = {}
        for line in self.result.stdout.splitlines():
            if not line.startswith("| ") or line.startswith(("| claim |", "|---")):
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 4:
                table[cells[0]] = cells[1:]
        return table

    def row(self, prefix: str) -> list[str]:
        """[how, measured, verdict] of the one claim that starts with ``prefix``."""
        found = [cells for claim, cells in self.claims().items() if claim.startswith(prefix)]
        assert len(found) == 1, f"{len(found)} claims start with {prefix!r}"
        return found[0]

    def verdict(self, prefix: str) -> str:
        return self.row(prefix)[2]

    def check(self, figures: tuple[str, ...], claims: int) -> None:
        """Exit 0; every figure a PNG of some size; the README untouched; ``claims`` rows, each
        with a verdict."""
        assert self.result.returncode == 0, self.result.stderr[-3000:]
        for name in figures:
            data = (self.out / name).read_bytes()
            assert data.startswith(PNG), name
            assert len(data) > 10_000, f"{name} is suspiciously small ({len(data)} bytes)"
        assert (self.folder / "README.md").read_bytes() == self.readme_before
        table = self.claims()
        assert len(table) == claims, sorted(table)
        assert all(cells[2] in VERDICTS for cells in table.values())


@pytest.fixture(scope="module")
def smoke(request, tmp_path_factory) -> Smoke:
    paper = request.module.PAPER
    folder = ROOT / "papers" / paper
    out = tmp_path_factory.mktemp(paper)
    before = (folder / "README.md").read_bytes()
    result = subprocess.run(
        [sys.executable, str(folder / "reproduce.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    return Smoke(folder, result, out, before)
