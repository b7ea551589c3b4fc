"""Smoke run of ``papers/rad/reproduce.py`` (about 10–15 s on 2 cores, one subprocess).

It must exit 0, write its figures, leave the committed README alone, and its claims table
must show the claims that hold at any length holding: RAD → Adam, both speed limits, DLPF ≡
SGD-momentum, the symplectic contrast, and RAD's switch from Adam's step to the ζ-dominated one
(a property of the ζ schedule, measured here on 2 epochs). The RL rows' verdicts depend on long
runs (2 seeds × 1,500 DQN steps or one seed × 600 TD3 steps decide nothing), so their presence,
their pairing and their recorded budgets are checked; the ε–ζ row must carry the derived
correspondence ζ = b₂ε².
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "rad"
FIGURES = (
    "speed_limit.png",
    "symplectic_contrast.png",
    "cartpole_dqn.png",
    "td3_mujoco.png",
    "adam_then_symplectic.png",
    "epsilon_zeta.png",
)
MUST_HOLD = (
    "RAD → Adam",
    "Speed limit of the exact relativistic dynamics",
    "RAD keeps a speed limit",
    "DLPF (dissipative leapfrog) is SGD with momentum",
    "Conformal symplectic schemes",
    "RAD behaves like Adam early in training",
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
    assert len(table) == 10
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


def test_td3_rows_are_paired_and_budgeted(smoke):
    _, out, _ = smoke
    table = rows((out / "claims.md").read_text())
    td3 = {k: c for k, c in table.items() if k.startswith("RL, the paper's setting: TD3")}
    assert sorted(k.rsplit(", ", 1)[1] for k in td3) == [
        "area under the learning curve",
        "final return",
    ]
    for how, measured, verdict in td3.values():
        assert verdict in ("yes", "partly", "no")
        assert "1 seeds × 2 optimizers × 600 environment steps" in how
        assert "paired difference RAD − Adam" in measured and "(seeds 0)" in measured
    logs = sorted(p.name for p in (out / "td3" / "HalfCheetah-v5").glob("*.jsonl"))
    assert logs == ["Adam-seed0.jsonl", "RAD-seed0.jsonl"]


def test_epsilon_row_carries_the_correspondence(smoke):
    _, out, _ = smoke
    table = rows((out / "claims.md").read_text())
    (how, measured, verdict) = next(c for k, c in table.items() if "larger ε" in k)
    assert "ζ = b_2*varepsilon**2" in how
    assert "2*s*varepsilon" in how and "(s - varepsilon)**2" in how
    assert "digits MLP" in measured and "CartPole-v1 DQN" in measured
    assert verdict in ("yes", "partly", "no")
