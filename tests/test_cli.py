"""The ``hamopt`` command line, run as ``python -m hamopt`` (or ``main`` in this process) from
an empty folder: what it writes, where, and how it refuses bad input."""

import hashlib
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from hamopt.cli import build_parser, join_negative_values, main
from hamopt.zoo import ZOO

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["derive", "verify", "zoo", "plot", "bench", "identify"]


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


def test_derive_latex_writes_under_hamopt_out(tmp_path):
    stdout = _ok(
        _hamopt(["derive", "--kinetic", "p**2/(2*m)", "--params", "m", "--latex"], tmp_path)
    )
    assert "\\begin{aligned}" in stdout or "\\leftarrow" in stdout
    assert [f.relative_to(tmp_path).as_posix() for f in _files(tmp_path)] == [
        "hamopt-out/derived.py"
    ]


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
        ["derive", "--kinetic", "p**2/2", "--out", "module.txt"],  # not importable
        # a spec file under a module's name: with --out x.py, the spec would overwrite it
        ["derive", "--kinetic", "p**2/2", "--out", "x.py", "--spec-out", "x.py"],
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


def test_plot_takes_zoo_torch_spec_and_module_into_hamopt_out(tmp_path):
    from hamopt.specfile import derive_spec, load_spec

    derive_spec(load_spec(ROOT / "examples" / "myrad.toml")).export(tmp_path / "mine.py")
    refs = ["RAD", "torch.Adam", str(ROOT / "examples" / "myrad.toml"), "mine.py"]
    stdout = _ok(_hamopt(["plot", *refs, "--problem", "quadratic", "--steps", "50"], tmp_path))
    png = tmp_path / "hamopt-out" / "trajectories_quadratic.png"
    assert str(png.relative_to(tmp_path)) in stdout and png.stat().st_size > 10_000
    assert sorted(f.name for f in tmp_path.iterdir()) == ["hamopt-out", "mine.py"]


def test_bench_quick_writes_under_hamopt_out(tmp_path):
    """``hamopt bench`` from another folder writes there, not into the tracked results."""
    tracked = sorted((ROOT / "benchmarks" / "results").glob("*"))
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in tracked}
    args = [
        "bench",
        "--sizes",
        "10000",
        "--steps",
        "5",
        "--only",
        r"Adam$|^hamopt RAD( \(defaults\)|\(fused=True\))$",
    ]
    stdout = _ok(_hamopt(args, tmp_path, timeout=300))
    out = tmp_path / "hamopt-out" / "bench" / "step_time.md"
    text = out.read_text()
    rows = {line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ")}
    assert {"torch.optim.Adam", "torch.optim.Adam(fused=True)", "hamopt RAD (defaults)"} <= rows
    assert "hamopt RAD(fused=True)" in rows and "hamopt AdamW(fused=True)" not in rows
    assert out.with_suffix(".png").is_file()
    assert str(out) in stdout
    after = sorted((ROOT / "benchmarks" / "results").glob("*"))
    assert after == tracked
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in after} == before


def _files(folder):
    return sorted(f for f in Path(folder).rglob("*") if f.is_file())


def _main(args, capsys):
    """``main(args)`` in this process: (exit status, stdout, stderr)."""
    status = main(args)
    out = capsys.readouterr()
    return status, out.out, out.err


# -- command-line edges ------------------------------------------------------------------------
def test_negative_energy_is_a_value_refused_as_not_convex(tmp_path, monkeypatch, capsys):
    """``--kinetic '-p**2'`` reaches energy validation (not argparse) in both spellings."""
    monkeypatch.chdir(tmp_path)
    for args in (["--kinetic", "-p**2"], ["--kinetic=-p**2"]):
        status, _, err = _main(["derive", *args], capsys)
        assert status == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hamopt derive: error: --kinetic:")
        assert "not convex" in lines[0]
    assert _files(tmp_path) == []


def test_a_value_that_starts_with_a_minus_is_taken_as_the_value(capsys):
    """A velocity ``-p`` and a grid ``-1e-3`` reach their own checks, which name the problem,
    where argparse alone said "expected one argument"."""
    assert main(["identify", "--velocity", "-p"]) == 1
    assert "velocity -p is not monotone" in capsys.readouterr().out
    assert main(["compare", "Adam", "--task", "rosenbrock", "--lr-grid", "-1e-3"]) == 2
    assert (
        "--lr-grid: learning rates must be positive and finite, got -1e-3"
        in capsys.readouterr().err
    )


def test_negative_values_are_joined_unless_the_next_word_is_an_option():
    assert join_negative_values(["derive", "--kinetic", "-p**2", "--scheme", "euler"]) == [
        "derive",
        "--kinetic=-p**2",
        "--scheme",
        "euler",
    ]
    missing = ["derive", "--kinetic", "--scheme", "euler"]
    assert join_negative_values(missing) == missing  # an option, not an energy
    with pytest.raises(SystemExit) as exit_:
        main(missing)
    assert exit_.value.code == 2


@pytest.mark.parametrize("name", ["class", "match", "torch", "list", "My RAD", "_Hidden"])
def test_bad_class_name_is_refused_and_nothing_written(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = _main(["derive", "--kinetic", "p**2/2", "--name", name], capsys)
    assert status == 2 and err.startswith("hamopt derive: error: --name:"), err
    assert repr(name) in err
    assert _files(tmp_path) == []


def test_a_target_that_cannot_be_written_writes_nothing(tmp_path, monkeypatch, capsys):
    """Both targets are checked before either is written: a spec file under a folder that is
    a file, a module inside the installed package, a folder given as the module."""
    import hamopt

    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").write_text("")
    package = Path(hamopt.__file__).parent
    for args, message in (
        (
            ["--out", "m.py", "--spec-out", "plain/m.toml"],
            "--spec-out: cannot make the folder plain",
        ),
        (["--out", str(package / "optim" / "mine.py")], "--out: .* is inside the hamopt package"),
        (["--out", "folder.py"], "--out: folder.py is a folder; give a file name"),
    ):
        (tmp_path / "folder.py").mkdir(exist_ok=True)
        status, _, err = _main(["derive", "--kinetic", "p**2/2", *args], capsys)
        assert status == 2 and re.search(message, err), (args, err)
        assert sorted(f.name for f in tmp_path.iterdir()) == ["folder.py", "plain"], args
    assert not (package / "optim" / "mine.py").exists()


def test_a_target_in_the_package_is_refused_before_the_derivation_runs(monkeypatch, capsys):
    """``derive --out`` inside the installed package (or a folder given as the module) is
    refused before the derivation, which took seconds to minutes first."""
    import hamopt
    import hamopt.specfile

    def derivation_ran(spec):
        raise AssertionError("the derivation ran")

    monkeypatch.setattr(hamopt.specfile, "derive_spec", derivation_ran)
    package = Path(hamopt.__file__).parent
    for out in (package / "optim" / "adam.py", package / "mine.py"):
        status, _, err = _main(["derive", "--kinetic", "p**2/2", "--out", str(out)], capsys)
        assert status == 2 and "is inside the hamopt package" in err, err
    status, _, err = _main(
        ["derive", "--kinetic", "p**2/2", "--spec-out", str(package / "my.toml")], capsys
    )
    assert status == 2 and "--spec-out: " in err and "inside the hamopt package" in err, err


@pytest.mark.parametrize(
    "command",
    [
        ["plot", "SGD", "--steps", "2"],
        ["compare", "SGD", "--task", "rosenbrock", "--steps", "2", "--lr-grid", "0.1"],
    ],
    ids=["plot", "compare"],
)
def test_a_folder_that_cannot_be_written_is_refused_before_anything_runs(
    tmp_path, monkeypatch, capsys, command
):
    """plot and compare write into a folder: one inside the installed package, or a file
    given as the folder, is refused (exit 2, no traceback) before any optimizer runs, as
    derive refuses its targets; nothing is written."""
    import hamopt

    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").write_text("")
    package = Path(hamopt.__file__).parent
    before = sorted(p.name for p in package.iterdir())
    ran = []
    monkeypatch.setattr("hamopt.plot.plot_trajectories", lambda *a, **k: ran.append(a))
    monkeypatch.setattr("hamopt.compare.compare", lambda *a, **k: ran.append(a))
    for out, message in ((str(package), "is inside the hamopt package"), ("plain", "is a file")):
        status, _, err = _main([*command, "--out", out], capsys)
        assert status == 2 and message in err and "Traceback" not in err, (out, err)
    assert not ran and sorted(p.name for p in package.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_a_warning_is_the_commands_line_not_the_librarys(tmp_path, monkeypatch, capsys):
    """A velocity that jumps where Adam's first step reads it: derive warns as the command
    (``hamopt derive: warning: …``), not with the file, line and category of the library."""
    monkeypatch.chdir(tmp_path)
    args = ["derive", "--kinetic", "Max(abs(p), p**2)", "--closure", "adam", "--name", "Jumpy"]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as a plain interpreter shows them
        status, _, err = _main(args, capsys)
    assert status == 0 and "hamopt derive: warning: jumpy: the velocity jumps" in err
    assert "UserWarning" not in err and ".py:" not in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # python -W error: the warning is the command's error
        status, _, err = _main(args, capsys)
    assert status == 2 and "hamopt derive: error: jumpy: the velocity jumps" in err


def test_plot_refuses_an_optimizer_given_twice_as_compare_does(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = _main(["plot", "SGD", "RAD", "SGD", "--steps", "2"], capsys)
    assert status == 2 and "optimizer(s) given twice: SGD" in err
    assert _files(tmp_path) == []


def test_an_optimizer_torch_refuses_on_a_task_is_an_error_not_a_traceback(
    tmp_path, monkeypatch, capsys
):
    """torch.SparseAdam takes only sparse gradients: compare says which optimizer cannot run
    on which task, with torch's reason (exit 2), as plot does."""
    monkeypatch.chdir(tmp_path)
    args = ["compare", "torch.SparseAdam", "--task", "rosenbrock", "--steps", "2"]
    status, _, err = _main([*args, "--lr-grid", "0.1"], capsys)
    assert status == 2 and "Traceback" not in err
    assert "SparseAdam cannot run on rosenbrock" in err and "dense gradients" in err


def test_unused_parameter_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = _main(["derive", "--kinetic", "p**2/(2*m)", "--params", "m,c"], capsys)
    assert status == 2
    assert "parameter c does not appear in the energy" in err
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("k=1,k=2", "--params: k is declared twice"),
        ("k,", "--params: an empty name in 'k,'"),
        ("k,,m", "--params: an empty name in 'k,,m'"),
    ],
)
def test_a_params_list_is_checked_as_written(params, message, tmp_path, monkeypatch, capsys):
    """A name given twice or an empty name is the --params flag's error, not the energy's."""
    monkeypatch.chdir(tmp_path)
    args = ["derive", "--kinetic", "log(cosh(k*p))/k", "--params", params]
    status, _, err = _main(args, capsys)
    assert status == 2 and message in err
    assert _files(tmp_path) == []


def test_closure_names_are_checked_and_listed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = _main(["derive", "--kinetic", "p**2/2", "--closure", "adam,lion"], capsys)
    assert status == 2 and "--closure" in err
    assert "second_moment" in err and "diagonal_mass" in err  # the valid names are listed
    assert _files(tmp_path) == []


def test_spec_with_other_options_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = str(ROOT / "examples" / "myrad.toml")
    status, _, err = _main(["derive", "--spec", spec, "--name", "Other"], capsys)
    assert status == 2 and "--name" in err
    assert _files(tmp_path) == []


def test_every_option_and_spec_out_round_trip(tmp_path, monkeypatch, capsys):
    """Options → module and spec file; the spec file derives the same module byte for byte."""
    monkeypatch.chdir(tmp_path)
    args = ["derive", "--kinetic", "log(cosh(k*p))/k", "--params", "k=2.0", "--scheme", "leapfrog"]
    args += ["--closure", "second_moment,bias_correction", "--momentum", "sum", "--init", "grad"]
    args += ["--parameterisation", "physical", "--lr", "0.05", "--name", "LogCosh"]
    status, out, err = _main([*args, "--spec-out", "logcosh.toml"], capsys)
    assert status == 0, err
    assert "wrote hamopt-out/logcosh.py" in out and "wrote logcosh.toml" in out
    first = (tmp_path / "hamopt-out" / "logcosh.py").read_text()
    from hamopt.specfile import load_spec

    spec = load_spec("logcosh.toml")
    assert spec.closure == ("second_moment", "bias_correction")
    assert (spec.momentum, spec.init, spec.parameterisation, spec.lr) == (
        "sum",
        "grad",
        "physical",
        0.05,
    )
    status, _, err = _main(["derive", "--spec", "logcosh.toml", "--out", "again.py"], capsys)
    assert status == 0, err
    assert (tmp_path / "again.py").read_text() == first


def test_default_outputs_are_under_hamopt_out_and_ignored():
    """derive, plot, bench and the demo write under ./hamopt-out/ unless told otherwise, and
    git ignores that folder."""
    from hamopt import demo

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    assert sub["plot"].get_default("out") == Path("hamopt-out")
    assert sub["bench"].get_default("out") == Path("hamopt-out/bench")
    assert demo.DEFAULT_OUT.parts[0] == "hamopt-out"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "hamopt-out/" in ignored


def test_bench_out_is_a_folder_or_a_table(tmp_path, monkeypatch):
    """``--out DIR`` → DIR/step_time.md, ``--out FILE.md`` → FILE.md; never the script's
    default in benchmarks/results."""
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 0)
    monkeypatch.chdir(tmp_path)
    for given, table in (
        ([], tmp_path / "hamopt-out" / "bench" / "step_time.md"),
        (["--out", "res"], tmp_path / "res" / "step_time.md"),
        (["--out", "t.md"], tmp_path / "t.md"),
    ):
        assert main(["bench", *given]) == 0
        argv = calls.pop()
        assert argv[argv.index("--out") + 1] == str(table)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--sizes", "10", "--tensors", "3"], "--sizes 10 is not a multiple of --tensors 3"),
        (["--sizes", "ten"], "--sizes and --tensors take counts like 1M,10M"),
        (["--only", "("], "--only: not a regular expression"),
        (["--out", "x.txt"], "--out: give a folder or a Markdown file (.md), got 'x.txt'"),
    ],
)
def test_bench_refuses_bad_arguments_as_its_own(tmp_path, monkeypatch, capsys, given, message):
    """``hamopt bench``'s argument errors were the script's, printed under step_time.py's name
    and usage after it started; ``--sizes 10 --tensors 3`` timed 9 parameters under a heading
    of 10; ``--out x.txt`` made a folder x.txt/. Each is now hamopt's usage error (status 2),
    and the script does not run."""
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 0)
    monkeypatch.chdir(tmp_path)
    status, _, err = _main(["bench", *given], capsys)
    assert status == 2 and message in err and "step_time.py" not in err, err
    assert calls == [] and list(tmp_path.iterdir()) == []


# -- verify an exported module -----------------------------------------------------------------
PLAIN_SPEC = """
name = "Plain"

[kinetic]
energy = "p**2/2"

[scheme]
name = "euler"

[closure]
name = "none"
"""


def _derived_module(tmp_path, name="plain.py"):
    """A derived module that carries its spec (added here if this derive does not yet)."""
    from hamopt.specfile import derive_spec, dump_spec, spec_from_text

    derived = derive_spec(spec_from_text(PLAIN_SPEC))
    source = derived.source
    if "HAMOPT_SPEC" not in source:
        source += f"\nHAMOPT_SPEC = {dump_spec(derived.recipe)!r}\n"
    path = tmp_path / name
    path.write_text(source)
    return path, derived.source


def test_verify_module_runs_its_specs_physics_checks(tmp_path, capsys):
    path, _ = _derived_module(tmp_path)
    status, out, err = _main(["verify", str(path)], capsys)
    assert status == 0, out + err
    for needle in (
        "conformal symplecticity (symbolic, per sub-flow)",
        "order of accuracy",
        "energy law",
        "module is its derivation",
        "one torch.optim.Optimizer subclass",
        "trains a quadratic",
    ):
        assert needle in out, needle
    assert "FAIL" not in out and "physics checks need" not in out


def test_verify_edited_module_fails_regeneration(tmp_path, capsys):
    path, _ = _derived_module(tmp_path)
    text = path.read_text()
    assert text.count("param.copy_(") >= 1
    path.write_text(text.replace("param.copy_(", "param.copy_(0.5 * ", 1))
    status, out, _ = _main(["verify", str(path)], capsys)
    assert status == 1
    row = next(line for line in out.splitlines() if "module is its derivation" in line)
    assert row.endswith("| FAIL |")


def test_verify_sees_a_statement_on_the_spec_constants_line(tmp_path, capsys):
    """The regeneration check dropped every line of the HAMOPT_SPEC statement, and with them
    a statement written after its closing quotes, which then passed unseen."""
    path, _ = _derived_module(tmp_path)
    text = path.read_text()
    start = text.index("HAMOPT_SPEC")
    end = text.index('"""', text.index('"""', start) + 3) + 3
    path.write_text(text[:end] + "; _tripled = 3" + text[end:])
    status, out, _ = _main(["verify", str(path)], capsys)
    assert status == 1
    row = next(line for line in out.splitlines() if "module is its derivation" in line)
    assert row.endswith("| FAIL |")


def test_verify_of_a_module_that_exits_on_import_fails(tmp_path, capsys):
    """sys.exit() on import is a SystemExit, which is no Exception: verify ended there with
    status 0 and no table. It is the imports check's finding, and the status is 1."""
    path, _ = _derived_module(tmp_path)
    path.write_text(path.read_text() + "\nimport sys\nsys.exit()\n")
    status, out, _ = _main(["verify", str(path)], capsys)
    assert status == 1
    assert "calls sys.exit(None) when it is imported" in out


def test_verify_hand_written_module_gets_smoke_checks_and_a_note(tmp_path, capsys):
    module = tmp_path / "handmade.py"
    module.write_text(
        textwrap.dedent(
            """
            import torch

            class Handmade(torch.optim.Optimizer):
                def __init__(self, params, lr=0.1):
                    super().__init__(params, {"lr": lr})

                @torch.no_grad()
                def step(self, closure=None):
                    for group in self.param_groups:
                        for p in group["params"]:
                            if p.grad is not None:
                                p.add_(p.grad, alpha=-group["lr"])
            """
        )
    )
    status, out, _ = _main(["verify", str(module)], capsys)
    assert status == 0, out
    assert "physics checks need the spec a module derived by hamopt carries" in out
    assert "energy law" not in out and "trains a quadratic" in out


def test_embedded_spec_is_read_without_running_the_file(tmp_path):
    from hamopt.verify import embedded_spec

    module = tmp_path / "trap.py"
    marker = tmp_path / "ran"
    module.write_text(f"open({str(marker)!r}, 'w').close()\nHAMOPT_SPEC = 'name = \"X\"'\n")
    assert embedded_spec(module) == 'name = "X"'
    assert not marker.exists()
    module.write_text("HAMOPT_SPEC = 3\n")
    with pytest.raises(ValueError, match="one string"):
        embedded_spec(module)
    module.write_text("x = 1\n")
    assert embedded_spec(module) is None


# -- plot step sizes for derived optimizers ----------------------------------------------------
def test_derived_optimizer_gets_a_step_size_that_works(tmp_path):
    """A derived class (even one named like a zoo member) keeps its defaults and gets the step
    size of the grid that ends lowest; with it, it descends on every problem but Rastrigin."""
    import math

    from hamopt.plot import trajectory
    from hamopt.problems2d import LR_GRID, PROBLEMS, known, options_for
    from hamopt.specfile import derive_spec, spec_from_text

    cls = derive_spec(spec_from_text(PLAIN_SPEC.replace('"Plain"', '"Adam"'))).cls
    assert not known("Adam", cls) and known("Adam", __import__("hamopt.optim").optim.Adam)
    for name, prob in PROBLEMS.items():
        options = options_for("Adam", prob, cls, steps=100)
        assert set(options) == {"lr"} and options["lr"] in LR_GRID
        _, losses = trajectory("Adam", prob, 100, cls=cls, options=options)
        assert all(math.isfinite(x) for x in losses), name
        if name != "rastrigin":
            assert losses[-1] < 0.5 * losses[0], name


def test_verify_module_whose_spec_does_not_derive_is_undetermined(tmp_path):
    """A spec this hamopt refuses to derive (a closure with nothing to act on) leaves the
    regeneration check undetermined, with the reason; it is not a fail."""
    from hamopt.specfile import spec_from_text
    from hamopt.verify import regeneration_check

    text = PLAIN_SPEC.replace('"p**2/2"', '"abs(p)"').replace('name = "none"', 'name = "adam"')
    module = tmp_path / "massless.py"
    module.write_text(f"HAMOPT_SPEC = {text!r}\n")
    result = regeneration_check(module, spec_from_text(text))
    assert result.verdict == "undetermined"
    assert "does not derive the spec" in result.reason and "nothing to act on" in result.reason


def test_a_yoshida_module_carries_its_spec_and_verifies(tmp_path, capsys):
    """Three gradients a step: the module holds HAMOPT_SPEC, verify runs its physics checks
    (order 4 measured) and trains through step(closure)."""
    out = tmp_path / "yoshi.py"
    args = ["--kinetic", "log(cosh(p))", "--scheme", "yoshida", "--name", "Yoshi", "--out", out]
    status, _, err = _main(["derive", *map(str, args)], capsys)
    assert status == 0, err
    assert "HAMOPT_SPEC = " in out.read_text()
    status, text, err = _main(["verify", str(out)], capsys)
    assert status == 0, text + err
    assert re.search(r"\| order of accuracy \| \w+ × yoshida \| 4(\.0\d*)? \|", text)
    assert "| module is its derivation (regenerated from its spec) |" in text


def test_identifys_derive_command_derives(capsys, tmp_path):
    """The derive command identify suggests runs; a parameter of --params that the velocity
    does not use is refused first, as derive refuses one the energy does not use (it was
    passed on, and derive refused the suggested command). The command keeps the parameter's
    value (it named the parameter alone, and derived at β = 1 where 3 was given)."""
    import shlex

    assert main(["identify", "--velocity", "tanh(beta*p)", "--params", "beta=3"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("derive"))
    command = shlex.split(line.removeprefix("derive").strip())
    assert command[:3] == ["hamopt", "derive", "--kinetic"]
    assert command[-2:] == ["--params", "beta=3"]
    assert main([*command[1:], "--out", str(tmp_path / "suggested.py")]) == 0
    assert "beta = { default = 3.0" in (tmp_path / "suggested.py").read_text()
    status, _, err = _main(["identify", "--velocity", "p", "--params", "beta"], capsys)
    assert status == 2 and "--params: parameter beta does not appear in the velocity" in err


def test_identify_velocity_and_optimizer(capsys):
    """``hamopt identify``: T and its library family from a velocity map, the energy of a torch
    class; a map that is no kinetic energy's velocity exits 1 with the reason; input errors 2."""
    assert main(["identify", "--velocity", "tanh(beta*p)", "--params", "beta"]) == 0
    out = capsys.readouterr().out
    assert "log(cosh(beta*p))/beta" in out and "library   log_cosh" in out
    assert "derive    hamopt derive --kinetic 'log(cosh(beta*p))/beta' --params beta" in out
    assert main(["identify", "--velocity", "p/sqrt(p**2 + 1)", "--norm"]) == 0
    out = capsys.readouterr().out
    assert "norm-coupled over each tensor" in out and "hamopt derive --kinetic" not in out
    assert main(["identify", "--optimizer", "torch.optim.SGD", "--option", "momentum=0.9"]) == 0
    assert "torch.optim.sgd.SGD: classical (a = 1;" in capsys.readouterr().out
    assert main(["identify", "--velocity", "p*exp(-p**2)"]) == 1
    assert "not the velocity of a kinetic energy: velocity p*exp(-p**2) is not monotone" in (
        capsys.readouterr().out
    )
    for args, message in (
        (["--velocity", "p", "--optimizer", "torch.optim.Adam"], "give either --velocity"),
        (["--optimizer", "Adamm"], "unknown optimizer 'Adamm'"),
        (["--optimizer", "missing.py"], "--optimizer: no such module: missing.py"),
        (["--optimizer", "torch.optim.Nope"], "cannot import torch.optim.Nope"),
        (["--optimizer", "torch.optim.Adam", "--option", "lr"], "expected NAME=VALUE"),
        (["--velocity", "p +"], "--velocity: syntax error"),
    ):
        assert main(["identify", *args]) == 2, args
        assert message in capsys.readouterr().err, args


def test_identify_takes_the_optimizers_compare_takes(capsys, tmp_path):
    """--optimizer took dotted paths only: ``my.py`` was read as module ``my``, attribute
    ``py``. It takes a zoo name, torch.NAME and an exported module too, as compare does."""
    module = tmp_path / "lc.py"
    assert main(["derive", "--kinetic", "log(cosh(p))", "--name", "LC", "--out", str(module)]) == 0
    capsys.readouterr()
    for ref, family in (("Adam", "adam"), ("torch.SGD", "classical"), (str(module), "log_cosh")):
        assert main(["identify", "--optimizer", ref]) == 0, ref
        assert f": {family} (" in capsys.readouterr().out, ref


@pytest.mark.parametrize("device", ["tpu", "CPU", "meta"])
def test_bench_refuses_a_device_it_cannot_time_in_one_line(device, capsys):
    """A device other than cpu or cuda reached torch inside the benchmark script: a traceback
    and status 1. It is a usage error, status 2, naming the choices."""
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--sizes", "10000", "--steps", "2", "--device", device])
    assert stop.value.code == 2
    assert f"invalid choice: '{device}' (choose from 'cpu', 'cuda')" in capsys.readouterr().err
