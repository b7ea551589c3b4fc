"""The runnable scripts: a derivation per energy, a derivation per zoo member, and the demo."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args, tmp_path, timeout=240):
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, timeout=timeout
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize("energy", ["relativistic", "relativistic_norm"])
def test_energy_derivation_script(energy, tmp_path):
    stdout = _run(
        [str(ROOT / "derivations" / f"{energy}.py"), "--quick", "--out", str(tmp_path)], tmp_path
    )
    assert "\\begin{aligned}" in stdout
    png = tmp_path / f"{energy}.png"
    assert png.stat().st_size > 10_000


def test_zoo_derivation_script(tmp_path):
    stdout = _run([str(ROOT / "derivations" / "zoo" / "rad.py"), "--out", str(tmp_path)], tmp_path)
    assert "lr = c \\delta h" in stdout and "def _single_tensor_order2_fixed" in stdout
    assert (tmp_path / "RAD.md").exists()


def test_demo_runs_the_main_job(tmp_path):
    stdout = _run(["-m", "hamopt.demo", "--out", str(tmp_path), "--steps", "30"], tmp_path)
    for name in ("derivation.md", "energy_drift.png", "demo_rad.py", "training.png", "checks.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "NAG contrast fails as it must: True" in stdout
