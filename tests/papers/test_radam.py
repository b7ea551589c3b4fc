"""Smoke run of ``papers/radam/reproduce.py``: it exits 0, writes its figures, leaves the committed
README alone, and the claims that must hold at any size hold.

The smoke run takes about 20 s. The warm-up-free training verdict depends on the run's length
and is only required to be present; the first-order variance approximation must come out
"partly" at any size (it is off by more than 100 % at t = 5 and within 10 % by t = 50).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "radam"
FIGURES = ("variance.png", "rectifier.png", "lr_robustness.png")
#: Claims (by the start of their text) that hold whatever the run's size.
MUST_HOLD = (
    "ρ_t = ρ_∞ - 2tβ2^t/(1-β2^t) is the length",
    "ρ_∞ = 2/(1-β2) - 1",
    "r_t = sqrt((ρ_t-4)(ρ_t-2)ρ_∞",
    "the variance of the adaptive learning rate ψ_t = sqrt(1/v̂_t) diverges",
    "Var[ψ] decreases monotonically",
    "ψ_t² is approximately scaled-inv-χ²",
    "rectification starts once the variance is tractable",
)
APPROXIMATION = "first-order approximation Var[ψ_t]"
CLAIMS = 9
ROW = re.compile(r"^\| (.+?) \| .* \| (yes|no|partly) \|$")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("radam")
    readme = (FOLDER / "README.md").read_text()
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "reproduce.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return proc, out, readme


def _verdicts(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_smoke_run_exits_zero(smoke):
    proc, _, _ = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_smoke_run_writes_its_figures(smoke):
    _, out, _ = smoke
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name


def test_smoke_run_leaves_the_committed_readme_alone(smoke):
    _, _, before = smoke
    assert (FOLDER / "README.md").read_text() == before


def test_every_claim_has_a_verdict(smoke):
    proc, _, _ = smoke
    assert len(_verdicts(proc.stdout)) == CLAIMS, proc.stdout[-3000:]


@pytest.mark.parametrize("claim", MUST_HOLD)
def test_claims_that_must_hold_hold(smoke, claim):
    proc, _, _ = smoke
    verdicts = _verdicts(proc.stdout)
    matches = [v for text, v in verdicts.items() if text.startswith(claim)]
    assert matches == ["yes"], f"{claim!r}: {matches} in {sorted(verdicts)}"


def test_first_order_approximation_holds_only_partly(smoke):
    proc, _, _ = smoke
    verdicts = _verdicts(proc.stdout)
    matches = [v for text, v in verdicts.items() if text.startswith(APPROXIMATION)]
    assert matches == ["partly"], matches
