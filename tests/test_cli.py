"""The ``hamopt`` command line, run as ``python -m hamopt`` from an empty folder."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hamopt.cli import main
from hamopt.zoo import ZOO

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["derive", "verify", "zoo", "plot", "bench"]


def _hamopt(args, cwd, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "hamopt", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def _ok(out):
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_help_of_every_command(tmp_path, capsys):
    """``python -m hamopt --help`` lists the commands; each command's help has examples."""
    top = _ok(_hamopt(["--help"], tmp_path))
    for cmd in COMMANDS:
        assert cmd in top
    for cmd in COMMANDS:  # in this process: the same parser, without a fresh interpreter each
        with pytest.raises(SystemExit) as exit_:
            main([cmd, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "examples:" in text and f"hamopt {cmd}" in text, cmd


def test_zoo_lists_every_member(tmp_path):
    stdout = _ok(_hamopt(["zoo"], tmp_path))
    rows = {line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| ")}
    assert set(ZOO) <= rows
    assert "torch.optim.Adam" in stdout and "relativistic" in stdout


def test_derive_from_text_exports_a_standalone_module(tmp_path):
    stdout = _ok(
        _hamopt(
            [
                "derive",
                "--kinetic",
                "c*sqrt(p**2 + m**2*c**2)",
                "--params",
                "m=1.0,c=2.0",
                "--scheme",
                "leapfrog",
                "--closure",
                "adam",
                "--name",
                "MyRAD",
                "--out",
                "myrad.py",
            ],
            tmp_path,
        )
    )
    assert "leapfrog" in stdout and "myrad.py" in stdout
    module = tmp_path / "myrad.py"
    assert module.is_file()
    assert "c=2.0" in module.read_text().replace(" ", "")
    script = textwrap.dedent(
        """
        import sys
        sys.modules["hamopt"] = None  # the module must not need hamopt
        import torch
        import myrad
        torch.manual_seed(0)
        x, y = torch.randn(64, 3), torch.randn(64, 1)
        net = torch.nn.Linear(3, 1)
        opt = myrad.MyRAD(net.parameters(), lr=0.05)
        losses = []
        for _ in range(200):
            opt.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.8 * losses[0], (losses[0], losses[-1])
        print("trained", losses[0], losses[-1])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert out.returncode == 0 and "trained" in out.stdout, out.stderr[-2000:]

    report = _ok(_hamopt(["verify", "myrad.py"], tmp_path))
    assert "one torch.optim.Optimizer subclass" in report and "FAIL" not in report


def test_derive_latex(tmp_path):
    stdout = _ok(
        _hamopt(["derive", "--kinetic", "p**2/(2*m)", "--params", "m", "--latex"], tmp_path)
    )
    assert "\\begin{aligned}" in stdout or "\\leftarrow" in stdout
    assert (tmp_path / "derived.py").is_file()


@pytest.mark.parametrize(
    "kinetic",
    [
        "__import__('os').system('touch pwned')",
        "(lambda: 0)()",
    ],
)
def test_hostile_energy_is_refused(kinetic, tmp_path):
    out = _hamopt(["derive", "--kinetic", kinetic, "--out", "evil.py"], tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "error:" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_bad_input_exits_2_without_traceback(tmp_path):
    for args in (
        ["derive", "--kinetic", "p**2/(2*m)"],  # undeclared parameter
        ["derive", "--kinetic", "p**3"],  # not even
        ["verify", "NoSuchOptimizer"],
    ):
        out = _hamopt(args, tmp_path)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and "error:" in out.stderr, args
    assert list(tmp_path.iterdir()) == []


def test_verify_nag_fails_and_rad_passes(tmp_path):
    nag = _hamopt(["verify", "NAG"], tmp_path)
    assert nag.returncode == 1, nag.stdout + nag.stderr
    assert "classical × nag" in nag.stdout and "FAIL" in nag.stdout
    rad = _ok(_hamopt(["verify", "RAD"], tmp_path))
    assert "FAIL" not in rad
    for needle in ("relativistic × euler", "relativistic × leapfrog", "speed limit", "energy law"):
        assert needle in rad, needle
    assert "reduction RAD(δ=1, ζ=0) = Adam(ε=0)" in rad


def test_derive_and_verify_a_spec_file(tmp_path):
    spec = ROOT / "examples" / "myrad.toml"
    stdout = _ok(_hamopt(["derive", "--spec", str(spec), "--out", "fromspec.py"], tmp_path))
    assert "fromspec.py" in stdout and (tmp_path / "fromspec.py").is_file()
    report = _ok(_hamopt(["verify", str(spec)], tmp_path))
    assert "× leapfrog" in report and "FAIL" not in report


def test_plot_writes_a_png(tmp_path):
    stdout = _ok(
        _hamopt(["plot", "RAD", "torch.Adam", "--problem", "rosenbrock", "--steps", "50"], tmp_path)
    )
    png = tmp_path / "trajectories_rosenbrock.png"
    assert str(png.name) in stdout and png.stat().st_size > 10_000


def test_bench_quick(tmp_path):
    out = tmp_path / "results" / "step_time.md"
    args = [
        "bench",
        "--sizes",
        "10000",
        "--steps",
        "5",
        "--only",
        r"Adam$|^hamopt RAD(\(fused=True\))?$",
    ]
    stdout = _ok(_hamopt([*args, "--out", str(out)], tmp_path, timeout=300))
    text = out.read_text()
    rows = {line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ")}
    assert {"torch.optim.Adam", "torch.optim.Adam(fused=True)", "hamopt RAD"} <= rows
    assert "hamopt RAD(fused=True)" in rows and "hamopt AdamW(fused=True)" not in rows
    assert out.with_suffix(".png").is_file()
    assert str(out) in stdout
