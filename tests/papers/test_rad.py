"""Smoke run of ``papers/rad/reproduce.py`` (about 10–15 s on 2 cores, one subprocess).

It must exit 0, write its three figures, leave the committed README alone, and its claims
table must show the claims that hold at any length holding: RAD → Adam, both speed limits,
DLPF ≡ SGD-momentum and the symplectic contrast. The RL row's verdict depends on a long run
(2 seeds × 1,500 steps decide nothing), so only its presence and its recorded budget are
checked.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "rad"
FIGURES = ("speed_limit.png", "symplectic_contrast.png", "cartpole_dqn.png")
MUST_HOLD = (
    "RAD → Adam",
    "Speed limit of the exact relativistic dynamics",
    "RAD keeps a speed limit",
    "DLPF (dissipative leapfrog) is SGD with momentum",
    "Conformal symplectic schemes",
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
    out = tmp_path_factory.mktemp("rad")
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
    assert len(table) == 6
    for prefix in MUST_HOLD:
        matches = [cells for claim, cells in table.items() if claim.startswith(prefix)]
        assert len(matches) == 1, prefix
        assert matches[0][2] == "yes", f"{prefix}: {matches[0][1]}"


def test_rl_row_records_its_budget(smoke):
    _, out, _ = smoke
    table = rows((out / "claims.md").read_text())
    (how, measured, verdict) = next(c for k, c in table.items() if k.startswith("RL:"))
    assert verdict in ("yes", "partly", "no")
    assert "2 seeds × 4 optimizers × 1,500 environment steps" in how
    assert "s wall time" in how
    assert "RAD" in measured and "Adam" in measured
