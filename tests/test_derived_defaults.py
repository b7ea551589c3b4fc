"""The derived-defaults benchmark in its smoke mode (the full table: benchmarks/results)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_mode_trains_at_the_derived_defaults(tmp_path):
    out = tmp_path / "derived_defaults.md"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "derived_defaults.py"), "--smoke", "--out", out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| log-cosh")]
    assert len(rows) == 4  # euler, leapfrog × none, adam
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        accuracy, control = float(cells[5]), float(cells[6])
        assert accuracy >= control - 5, row


def test_recorded_table_meets_the_acceptance():
    """The committed full run: every derived optimizer within 5 points of its control."""
    text = (ROOT / "benchmarks" / "results" / "derived_defaults.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 44  # 11 energies or more × 2 schemes × 2 closures
    assert all(line.rstrip().endswith("| yes |") for line in rows)
