"""Spec files: the example loads, derives and trains; every bad spec names its key and file."""

import textwrap
from pathlib import Path

import pytest
import sympy as sp
import torch

from hamopt.kinetic import relativistic
from hamopt.schemes import leapfrog
from hamopt.specfile import Spec, SpecError, derive_spec, load_spec, spec_from_dict

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "myrad.toml"

GOOD = """
name = "MyRAD"
description = "Relativistic energy, leapfrog, Adam closure"

[kinetic]
energy = "c*sqrt(p**2 + m**2*c**2)"
coupling = "particle"

[kinetic.params]
m = { default = 1.0, min = 0, min_open = true }
c = { default = 1.0, min = 0, min_open = true }

[scheme]
name = "leapfrog"

[closure]
name = "adam"
"""


def _write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_example_loads():
    spec = load_spec(EXAMPLE)
    assert isinstance(spec, Spec)
    assert spec.name == "MyRAD"
    assert spec.closure == "adam"
    assert spec.scheme == leapfrog
    assert spec.source == EXAMPLE
    assert spec.kinetic.expr == relativistic().expr
    assert [prm.name for prm in spec.kinetic.params] == ["m", "c"]
    assert all(prm.interval == sp.Interval.open(0, sp.oo) for prm in spec.kinetic.params)


def test_example_derives_and_trains():
    opt = derive_spec(load_spec(EXAMPLE))
    assert "MyRAD" in opt.source
    cls = opt.cls
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    optimizer = cls(net.parameters(), lr=5e-2, m=1.0, c=1.0)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert all(torch.isfinite(q).all() for q in net.parameters())


def test_spec_from_dict_and_short_forms():
    spec = spec_from_dict(
        {
            "name": "Plain",
            "kinetic": {"energy": "p**2/(2*m)", "params": {"m": 2.0}},
            "scheme": "euler",
            "closure": "none",
        }
    )
    assert spec.source is None
    assert spec.kinetic.params[0].default == 2.0
    assert spec.scheme.name == "euler"


def test_scheme_as_rows_with_text_fractions(tmp_path):
    text = GOOD.replace(
        '[scheme]\nname = "leapfrog"',
        '[scheme]\nname = "lf"\norder = 2\n'
        'rows = [["D", "1/2"], ["F", 0.5], ["K", 1], ["F", "1/2"], ["D", "1/2"]]',
    )
    spec = load_spec(_write(tmp_path, text))
    assert spec.scheme.rows == leapfrog.rows
    assert spec.scheme.order == 2


def test_norm_coupled(tmp_path):
    text = GOOD.replace('coupling = "particle"', 'coupling = "norm"\nscope = "global"')
    spec = load_spec(_write(tmp_path, text))
    assert (spec.kinetic.coupling, spec.kinetic.scope) == ("norm", "global")


# (change to GOOD: old, new) or a whole text; the key the message must name.
BAD = [
    (
        "missing [kinetic]",
        lambda t: t.split("[kinetic]")[0] + "[scheme]" + t.split("[scheme]")[1],
        "[kinetic]",
    ),
    ("missing name", lambda t: t.replace('name = "MyRAD"', ""), "[name]"),
    ("unknown top key", lambda t: "colour = 1\n" + t, "[colour]"),
    (
        "unknown kinetic key",
        lambda t: t.replace('coupling = "particle"', "couplin = 1"),
        "[kinetic.couplin]",
    ),
    (
        "unknown param key",
        lambda t: t.replace("min_open = true }\nc", "min_opn = true }\nc"),
        "[kinetic.params.m.min_opn]",
    ),
    (
        "bad interval",
        lambda t: t.replace(
            "m = { default = 1.0, min = 0,", "m = { default = 1.0, min = 2, max = 1,"
        ),
        "[kinetic.params.m]",
    ),
    (
        "default outside interval",
        lambda t: t.replace("m = { default = 1.0,", "m = { default = -1.0,"),
        "[kinetic.params.m.default]",
    ),
    ("unknown scheme", lambda t: t.replace('name = "leapfrog"', 'name = "rk4"'), "[scheme.name]"),
    ("unknown closure", lambda t: t.replace('name = "adam"', 'name = "lion"'), "[closure.name]"),
    (
        "hostile energy",
        lambda t: t.replace('"c*sqrt(p**2 + m**2*c**2)"', "\"__import__('os').system('x')\""),
        "[kinetic.energy]",
    ),
    (
        "attribute energy",
        lambda t: t.replace('"c*sqrt(p**2 + m**2*c**2)"', '"p.__class__"'),
        "[kinetic.energy]",
    ),
    (
        "undeclared symbol",
        lambda t: t.replace('"c*sqrt(p**2 + m**2*c**2)"', '"q*c*sqrt(p**2 + m**2*c**2)"'),
        "[kinetic.energy]",
    ),
    (
        "not convex",
        lambda t: t.replace('"c*sqrt(p**2 + m**2*c**2)"', '"-p**2"'),
        "[kinetic.energy]",
    ),
    (
        "energy wrong type",
        lambda t: t.replace('"c*sqrt(p**2 + m**2*c**2)"', "3"),
        "[kinetic.energy]",
    ),
    ("name wrong type", lambda t: t.replace('name = "MyRAD"', "name = 3"), "[name]"),
    ("name not identifier", lambda t: t.replace('name = "MyRAD"', 'name = "My RAD"'), "[name]"),
    (
        "default wrong type",
        lambda t: t.replace("m = { default = 1.0,", 'm = { default = "1",'),
        "[kinetic.params.m.default]",
    ),
    (
        "min_open wrong type",
        lambda t: t.replace("min_open = true }\nc", "min_open = 1 }\nc"),
        "[kinetic.params.m.min_open]",
    ),
    (
        "kinetic not a table",
        lambda t: t.split("[kinetic]")[0] + 'kinetic = "p**2"\n[scheme]' + t.split("[scheme]")[1],
        "[kinetic]",
    ),
    (
        "reserved param name",
        lambda t: t.replace("m = {", "lr = {").replace("m**2", "lr**2"),
        "[kinetic.params.lr]",
    ),
    (
        "system symbol as param",
        lambda t: t.replace("m = {", "h = {").replace("m**2", "h**2"),
        "[kinetic.params.h]",
    ),
    (
        "scope without norm",
        lambda t: t.replace('coupling = "particle"', 'scope = "global"'),
        "[kinetic.scope]",
    ),
    (
        "bad coupling",
        lambda t: t.replace('coupling = "particle"', 'coupling = "pair"'),
        "[kinetic.coupling]",
    ),
    (
        "rows without order",
        lambda t: t.replace('name = "leapfrog"', 'rows = [["D", 1], ["F", 1], ["K", 1]]'),
        "[scheme.order]",
    ),
    (
        "inconsistent rows",
        lambda t: t.replace(
            'name = "leapfrog"', 'rows = [["D", 1], ["F", "1/2"], ["K", 1]]\norder = 1'
        ),
        "[scheme]",
    ),
    (
        "hostile fraction",
        lambda t: t.replace(
            'name = "leapfrog"',
            'rows = [["D", "__import__(\'os\')"], ["F", 1], ["K", 1]]\norder = 1',
        ),
        "[scheme.rows[0]]",
    ),
    (
        "order wrong type",
        lambda t: t.replace(
            'name = "leapfrog"', 'rows = [["D", 1], ["F", 1], ["K", 1]]\norder = "1"'
        ),
        "[scheme.order]",
    ),
    (
        "named scheme with rows-only key",
        lambda t: t.replace('name = "leapfrog"', 'name = "leapfrog"\norder = 2'),
        "[scheme.order]",
    ),
    (
        "unknown closure key",
        lambda t: t.replace('name = "adam"', 'name = "adam"\nbeta = 1'),
        "[closure.beta]",
    ),
    ("invalid TOML", lambda t: t + "\n[kinetic\n", "invalid TOML"),
]


@pytest.mark.parametrize(("label", "edit", "key"), BAD, ids=[b[0] for b in BAD])
def test_bad_spec_names_key_and_file(tmp_path, label, edit, key):
    path = _write(tmp_path, edit(GOOD), name="bad_spec.toml")
    with pytest.raises(ValueError) as info:
        load_spec(path)
    assert isinstance(info.value, SpecError)
    assert key in str(info.value)
    assert "bad_spec.toml" in str(info.value)


def test_good_template_loads(tmp_path):
    assert load_spec(_write(tmp_path, GOOD)).name == "MyRAD"


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.toml"):
        load_spec(tmp_path / "nope.toml")


def test_dict_errors_name_the_spec():
    with pytest.raises(ValueError, match=r"<spec>: \[kinetic\]: missing"):
        spec_from_dict({"name": "X", "scheme": "euler", "closure": "none"})
