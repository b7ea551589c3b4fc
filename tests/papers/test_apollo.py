"""Smoke run of ``papers/apollo/reproduce.py`` (about 10–20 s on 2 cores, one subprocess).

It must exit 0, write its two figures, leave the committed README alone, and its claims table
must show the weak secant equation and the positive mass holding (they hold at every step, so a
short run decides them). The cost and convergence verdicts depend on timings and long runs and
are only checked to be present.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "apollo"
FIGURES = ("secant_mass.png", "convergence.png")
MUST_HOLD = (
    "The diagonal curvature update satisfies the weak secant equation",
    "The rectified absolute value keeps the mass",
)
PNG = b"\x89PNG\r\n\x1a\n"


def rows(table: str) -> dict[str, list[str]]:
    """Claim → its other cells, from the Markdown table (escaped pipes kept inside cells)."""
    out = {}
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith(("| claim |", "|---")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4:
            out[cells[0]] = cells[1:]
    return out


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("apollo")
    readme = (FOLDER / "README.md").read_bytes()
    result = subprocess.run(
        [sys.executable, str(FOLDER / "reproduce.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    return result, out, readme


def test_exits_zero_and_writes_figures(smoke):
    result, out, _ = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG), name
        assert len(data) > 10_000, f"{name} is suspiciously small ({len(data)} bytes)"


def test_readme_left_alone(smoke):
    _, _, before = smoke
    assert (FOLDER / "README.md").read_bytes() == before


def test_claims_that_must_hold_hold(smoke):
    result, out, _ = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    table = rows((out / "claims.md").read_text())
    assert len(table) == 4
    for prefix in MUST_HOLD:
        matches = [cells for claim, cells in table.items() if claim.startswith(prefix)]
        assert len(matches) == 1, prefix
        assert matches[0][2] == "yes", f"{prefix}: {matches[0][1]}"
    assert all(cells[2] in ("yes", "partly", "no") for cells in table.values())
