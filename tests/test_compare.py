"""hamopt compare: tasks, the seeds × lr grid, the best lr, the interval, the report and the CLI."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import scipy.stats
import torch

import hamopt
import hamopt.optim
from hamopt.cli import main
from hamopt.compare import TASKS, compare, parse_lr_grid, table, write
from hamopt.compare.stats import interval, score
from hamopt.compare.tasks import logistic, train_digits, train_rosenbrock
from hamopt.compare.training import Trace, step

SPEC = """\
name = "{name}"

[kinetic]
energy = "p**2/(2*m)"

[kinetic.params]
m = 1.0

[scheme]
name = "leapfrog"

[closure]
name = "none"
"""


def _rows(markdown: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``markdown``, split into cells."""
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


# -- statistics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_interval_is_the_student_t_interval_of_scipy(n):
    values = np.random.default_rng(n).normal(3.0, 2.0, n)
    low, high = scipy.stats.t.interval(
        0.95, df=n - 1, loc=values.mean(), scale=scipy.stats.sem(values)
    )
    iv = interval(values)
    assert iv.n == n
    assert iv.mean == pytest.approx(values.mean(), rel=1e-12)
    assert iv.low == pytest.approx(low, rel=1e-12)
    assert iv.high == pytest.approx(high, rel=1e-12)


def test_interval_of_one_value_or_a_non_finite_one_has_no_width():
    assert math.isnan(interval([0.5]).half)
    assert math.isnan(interval([1.0, math.inf]).half)
    assert interval([0.5]).format() == "0.5"
    with pytest.raises(ValueError, match="no values"):
        interval([])
    with pytest.raises(ValueError, match="level"):
        interval([1.0, 2.0], level=1.5)


def test_score_orients_the_mean_and_disqualifies_divergence():
    assert score([0.9, 0.7], higher_is_better=True) == pytest.approx(0.8)
    assert score([0.9, 0.7], higher_is_better=False) == pytest.approx(-0.8)
    assert score([0.1, math.inf], higher_is_better=False) == -math.inf
    assert score([0.1, math.nan], higher_is_better=True) == -math.inf


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no learning rate"),
        ("1e-3,x", "not a number"),
        ("0", "positive"),
        ("1,1", "twice"),
        ("1e-3,,1e-2", "an empty entry in '1e-3,,1e-2'"),
        ("1e-3,", "an empty entry"),
    ],
)
def test_parse_lr_grid_refuses_bad_grids(text, error):
    with pytest.raises(ValueError, match=error):
        parse_lr_grid(text)


# -- training -----------------------------------------------------------------------------------


def test_rosenbrock_runs_depend_on_the_seed_only():
    one = train_rosenbrock(torch.optim.Adam, 1e-2, seed=3, steps=20)
    again = train_rosenbrock(torch.optim.Adam, 1e-2, seed=3, steps=20)
    other = train_rosenbrock(torch.optim.Adam, 1e-2, seed=4, steps=20)
    np.testing.assert_array_equal(one.y, again.y)
    assert one.y[0] != other.y[0]  # another start
    assert one.final == one.y[-1] < one.y[0]
    assert not one.diverged


@pytest.mark.parametrize("cls", [torch.optim.SGD, hamopt.optim.SGD])
def test_a_diverging_run_stops_and_is_marked(cls):
    # hamopt's SGD refuses the non-finite gradient (ValueError); torch's steps into NaN.
    trace = train_rosenbrock(cls, 1.0, seed=0, steps=50)
    assert trace.diverged
    assert trace.final == math.inf
    assert np.isnan(trace.y[-1])


def test_step_calls_the_closure_for_an_optimizer_that_requires_it():
    x = torch.nn.Parameter(torch.tensor([1.5, -0.5], dtype=torch.float64))
    opt = torch.optim.LBFGS([x], lr=1.0)  # step() without a closure raises
    first = step(opt, [x], lambda: (x**2).sum())
    assert first == pytest.approx(2.5)
    assert float((x.detach() ** 2).sum()) < 1e-10


def test_step_refuses_an_optimizer_that_never_calls_the_closure():
    class Lazy(torch.optim.SGD):
        def step(self, closure=None):
            return None

    x = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="never called the closure"):
        step(Lazy([x], lr=0.1), [x], lambda: (x**2).sum())


def test_digits_logreg_trains_above_chance():
    trace = train_digits(logistic, torch.optim.Adam, 1e-2, 0, epochs=2)
    assert trace.x.tolist() == [0.0, 1.0, 2.0]
    assert trace.y[2] < trace.y[0]
    assert 0.5 < trace.final <= 1.0  # ten classes: chance is 0.1


def test_cartpole_dqn_runs_a_short_seeded_run():
    pytest.importorskip("gymnasium")
    task = TASKS["cartpole-dqn"]
    one = task.run(torch.optim.Adam, 1e-3, 0, 60)
    again = task.run(torch.optim.Adam, 1e-3, 0, 60)
    assert isinstance(one, Trace) and one.x.size == 50
    assert one.final == again.final >= 8  # CartPole pays 1 per step; no episode is shorter
    np.testing.assert_array_equal(one.y, again.y)


# -- comparison ---------------------------------------------------------------------------------


def test_compare_picks_the_best_mean_per_optimizer_in_the_task_direction():
    lrs = [1e-3, 1e-2, 3e-2]
    result = compare(
        ["torch.Adam", "RAD"], "rosenbrock", seeds=2, lrs=lrs, budget=30, progress=False
    )
    assert result.seeds == [0, 1] and result.lrs == lrs
    for entry in result.entries:
        means = {lr: entry.finals(lr).mean() for lr in lrs}
        assert result.best_lr(entry) == min(means, key=means.get)  # lower is better
        assert all(len(entry.traces[lr]) == 2 for lr in lrs)


def test_compare_never_picks_a_diverged_lr():
    result = compare(
        ["torch.SGD"], "rosenbrock", seeds=2, lrs=[1e-4, 1.0], budget=20, progress=False
    )
    entry = result.entries[0]
    assert entry.diverged(1.0) == 2
    assert result.best_lr(entry) == 1e-4


def test_compare_never_picks_a_diverged_lr_on_a_classification_task():
    """A diverged network still has a test accuracy (its NaN outputs pick class 0, about 0.1
    on digits), which could beat a slow lr's: the lr where it diverged ranks last anyway."""
    result = compare(
        ["torch.SGD"], "digits-logreg", seeds=1, lrs=[1e-6, 1e37], budget=1, progress=False
    )
    entry = result.entries[0]
    assert entry.diverged(1e37) == 1 and not entry.diverged(1e-6)
    assert entry.finals(1e37)[0] > entry.finals(1e-6)[0]  # what made it win before
    assert result.best_lr(entry) == 1e-6


@pytest.mark.parametrize("lrs", [[10.0], [1e-2, 10.0]])
def test_the_report_draws_runs_that_diverge(tmp_path, lrs):
    """SGD at lr = 10 on Rosenbrock diverges (its loss passes 1e300 on its way to inf): every
    file of the report is written, the diverged optimizer labelled so, where the plot crashed
    in matplotlib's log axis."""
    from hamopt.compare.report import _band

    result = compare(["torch.SGD"], "rosenbrock", seeds=2, lrs=lrs, budget=50, progress=False)
    assert result.entries[0].diverged(10.0) == 2
    paths = write(result, tmp_path / "out")
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    mean, low, high = _band(np.array([[1.0, 1e300, np.inf], [2.0, 1e300, np.inf]]), log=True)
    assert np.isfinite(mean[0]) and np.isnan([mean[1:], low[1:], high[1:]]).all()


def test_compare_restores_the_thread_count():
    before = torch.get_num_threads()
    compare(["torch.SGD"], "rosenbrock", seeds=1, lrs=[1e-3], budget=2, threads=1, progress=False)
    assert torch.get_num_threads() == before


def test_compare_tells_apart_two_files_that_define_one_name(tmp_path):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.toml").write_text(SPEC.format(name="Same"))
    refs = [str(tmp_path / "a.toml"), str(tmp_path / "b.toml")]
    result = compare(refs, "rosenbrock", seeds=1, lrs=[1e-3], budget=2, progress=False)
    assert [e.label for e in result.entries] == [f"Same ({ref})" for ref in refs]


def test_one_optimizer_named_two_ways_is_given_twice(tmp_path, monkeypatch):
    """``a.toml`` and ``./a.toml`` (one file), ``torch.Adam`` and ``torch.optim.Adam`` (one
    class) were compared as two optimizers, each trained twice under two labels."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text(SPEC.format(name="Mine"))
    for refs in (["a.toml", "./a.toml"], ["a.toml", str(tmp_path / "a.toml")]):
        with pytest.raises(ValueError, match=r"given twice: a\.toml and .* name the same one"):
            compare(refs, "rosenbrock", seeds=1, lrs=[1e-3], budget=2, progress=False)
    with pytest.raises(ValueError, match=r"torch\.Adam and torch\.optim\.Adam name the same one"):
        compare(["torch.Adam", "torch.optim.Adam"], "rosenbrock", seeds=1, lrs=[1e-3], budget=2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"refs": ["RAD", "RAD"]}, "given twice: RAD"),
        ({"refs": []}, "no optimizer"),
        ({"refs": ["Nope"]}, "unknown optimizer 'Nope'"),
        ({"task": "mnist"}, "unknown task 'mnist'"),
        ({"seeds": 0}, "at least one seed"),
        ({"lrs": [1e-3, -1.0]}, "positive and finite"),
        ({"budget": 0}, "budget"),
    ],
)
def test_compare_refuses_bad_input(kwargs, error):
    args = {"refs": ["RAD"], "task": "rosenbrock", "seeds": 1, "lrs": [1e-3], "budget": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=error):
        compare(args.pop("refs"), args.pop("task"), progress=False, **args)


def test_compare_wants_a_list_of_references_not_one_text():
    with pytest.raises(TypeError, match="list of optimizer references"):
        compare("RAD", "rosenbrock", seeds=1, lrs=[1e-3], budget=2, progress=False)


def test_a_task_with_a_missing_package_says_which(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gymnasium" else real(name, *a),
    )
    with pytest.raises(ImportError, match="cartpole-dqn task needs gymnasium"):
        compare(["RAD"], "cartpole-dqn", seeds=1, lrs=[1e-3], budget=20, progress=False)


def test_report_table_and_json_agree_with_the_runs(tmp_path):
    result = compare(
        ["torch.Adam", "torch.SGD"],
        "rosenbrock",
        seeds=2,
        lrs=[1e-3, 1.0],
        budget=10,
        progress=False,
    )
    paths = write(result, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"compare.md", "curves.png", "compare.json"}
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    data = json.loads(paths["json"].read_text())
    rows = _rows(table(result))
    assert [r[0] for r in rows] == ["torch.Adam", "torch.SGD"]
    for row, entry, raw in zip(rows, result.entries, data["optimizers"], strict=True):
        best = result.best_lr(entry)
        assert float(row[1]) == raw["best_lr"] == best
        iv = interval(entry.finals(best))
        assert row[2] == iv.format()
        assert raw["final_at_best_lr"]["mean"] == pytest.approx(iv.mean)
        finals = [r["final"] for r in raw["runs"] if r["lr"] == best]
        assert finals == pytest.approx(entry.finals(best).tolist())
        assert row[3 + result.lrs.index(best)].startswith("**")
    sgd_at_1 = [r for r in data["optimizers"][1]["runs"] if r["lr"] == 1.0]
    assert all(r["final"] is None and r["diverged"] for r in sgd_at_1)  # inf is written null
    assert "2/2 diverged" in rows[1][4]


# -- command line -------------------------------------------------------------------------------


def test_cli_compare_writes_the_three_files_with_every_form_of_name(tmp_path, capsys):
    spec = tmp_path / "mine.toml"
    spec.write_text(SPEC.format(name="SpecLeap"))
    module = hamopt.derive(hamopt.kinetic.classical(), name="Exported").export(tmp_path / "exp.py")
    out = tmp_path / "result"
    argv = ["compare", "RAD", "torch.Adam", str(spec), str(module), "--task", "digits-logreg"]
    argv += ["--seeds", "2", "--lr-grid", "1e-2,3e-2", "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("compare.md", "curves.png", "compare.json"):
        assert (out / name).is_file()
    rows = _rows((out / "compare.md").read_text())
    assert [r[0] for r in rows] == ["RAD", "torch.Adam", "SpecLeap", "Exported"]
    assert _rows(printed) == rows
    assert all(len(r) == 5 for r in rows)  # optimizer, best lr, interval, two lrs
    for r in rows:
        assert re.fullmatch(r"[0-9.]+ ± [0-9.e-]+", r[2]), r[2]
    data = json.loads((out / "compare.json").read_text())
    assert data["task"] == "digits-logreg" and data["budget"] == 1 and data["seeds"] == [0, 1]
    assert "; 1 epoch per run;" in (out / "compare.md").read_text()


def test_cli_compare_writes_under_the_current_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "torch.SGD", "--task", "rosenbrock", "--seeds", "1"]
    assert main([*argv, "--lr-grid", "1e-3", "--steps", "3"]) == 0
    assert sorted(p.name for p in (tmp_path / "hamopt-out" / "compare").iterdir()) == [
        "compare.json",
        "compare.md",
        "curves.png",
    ]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--task", "digits-logreg", "--steps", "3"], "counts epochs: use --epochs"),
        (["--task", "rosenbrock", "--epochs", "3"], "counts steps: use --steps"),
        (["--lr-grid", "fast"], "--lr-grid: learning rate 'fast' is not a number"),
        (["--seeds", "0"], "at least one seed"),
    ],
)
def test_cli_compare_reports_bad_input_on_stderr(tmp_path, capsys, extra, error):
    argv = ["compare", "torch.SGD", "--out", str(tmp_path), "--task", "rosenbrock", *extra]
    assert main(argv) == 2
    assert error in capsys.readouterr().err
    assert not (tmp_path / "compare.md").exists()


def test_cli_compare_names_an_unknown_optimizer(tmp_path, capsys):
    assert main(["compare", "Nope", "--task", "rosenbrock", "--out", str(tmp_path)]) == 2
    assert "unknown optimizer 'Nope'" in capsys.readouterr().err
