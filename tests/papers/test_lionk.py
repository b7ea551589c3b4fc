"""Smoke run of ``papers/lionk/reproduce.py``: it exits 0, writes its figure, leaves the
committed README alone, and every claim holds (each holds at any run length: the derived Lion
is bit-equal to lion_pytorch, the excess contracts at every step, and both runs reach the
constrained solution within the smoke run's 4,000 steps)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "lionk"


def test_smoke_run(tmp_path):
    before = (FOLDER / "README.md").read_bytes()
    result = subprocess.run(
        [sys.executable, str(FOLDER / "reproduce.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (FOLDER / "README.md").read_bytes() == before
    data = (tmp_path / "constraint.png").read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
    rows = [ln for ln in (tmp_path / "claims.md").read_text().splitlines() if ln.startswith("| ")]
    verdicts = [ln.rsplit(" | ", 1)[1].strip(" |") for ln in rows[1:]]
    assert verdicts == ["yes", "yes", "yes"], rows
    assert "K*(y) = 0 there" in rows[2] and "K*(y) = " in rows[3]
