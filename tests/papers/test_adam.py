"""Smoke run of ``papers/adam/reproduce.py``: it exits 0, writes its figures, leaves the committed
README alone, and the claims that must hold at any size hold.

The smoke run takes about 15 s. Verdicts that depend on the run's length (the effective-step
bounds, the digits comparison) are only required to be present.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "papers" / "adam"
FIGURES = ("bias_correction.png", "effective_step.png", "adamax_limit.png", "digits.png")
#: Claims (by the start of their text) that hold whatever the run's size.
MUST_HOLD = (
    "E[v_t] = E[g²](1-β2^t)",
    "the same identity, measured",
    "the first case is reached only under the most severe sparsity",
    "(toolkit, not in the paper) the exact worst case",
    "the step is invariant to a diagonal rescaling",
    "Adam is the p = 2 member",
    "AdaMax is the limit p → ∞",
)
CLAIMS = 11
ROW = re.compile(r"^\| (.+?) \| .* \| (yes|no|partly) \|$")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("adam")
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
