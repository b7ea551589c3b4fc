"""Honest verdicts: FAIL only when a measured figure violates its tolerance.

An identity SymPy leaves unreduced is decided at 50 digits (and says so); a check that does
not apply is undetermined with its reason; ``hamopt verify`` fails only on a failed check.
"""

import textwrap
import warnings

import pytest
import sympy as sp

from hamopt.checks import energy_law, numeric_symplecticity, order_of_accuracy
from hamopt.checks.problems import random_quadratic
from hamopt.cli import main
from hamopt.kinetic import KineticEnergy, massless
from hamopt.schemes import leapfrog, yoshida
from hamopt.symbols import p
from hamopt.system.hamiltonian import ConformalHamiltonian

LOG_COSH = KineticEnergy(sp.log(sp.cosh(p)), name="log-cosh")


def test_log_cosh_energy_law_passes_by_the_high_precision_fallback(monkeypatch):
    """Left unreduced by SymPy, the law is decided at 50 digits, and the row says so. Whether
    expand/cancel reduces log cosh's law depends on what SymPy's cache holds (it does in a
    fresh process, not after the energy's validation had run in an older version), so the
    cheap reduction is made to fail here."""
    import hamopt.checks.energy as module

    monkeypatch.setattr(module, "_is_zero", lambda expr: False)
    res = energy_law(LOG_COSH)
    assert res.verdict == "pass", res.row()
    assert res.details["law_method"].startswith("mpmath evaluation at 20 seeded random points")
    assert "(50 digits)" in res.details["law_method"]
    assert "at 20 random points (50 digits)" in res.measured_text  # the table says which
    assert res.measured_text != "proved"


@pytest.mark.parametrize("wrong", ["twice the friction", "off by 1e-30"])
def test_a_wrong_energy_law_still_fails(monkeypatch, wrong):
    """A deliberately wrong dH/dt: the fallback refutes it instead of passing it."""
    true_law = ConformalHamiltonian.energy_law

    def wrong_law(self):
        law = true_law(self)
        return 2 * law if wrong == "twice the friction" else law + sp.Float("1e-30", 50) * law

    monkeypatch.setattr(ConformalHamiltonian, "energy_law", wrong_law)
    res = energy_law(LOG_COSH)
    assert res.verdict == "fail" and not res.passed
    assert res.details["law_reduces_to_zero"] is False
    assert "at a random point (50 digits)" in res.measured_text


@pytest.mark.parametrize(
    ("energy", "why"),
    [
        (KineticEnergy(sp.Abs(p) ** 1.5, name="abs(p)**1.5"), "T'' is unbounded at p = 0"),
        (massless(), "T' jumps from -1 to 1 at p = 0"),
    ],
    ids=["abs(p)**1.5", "abs(p)"],
)
def test_order_on_an_energy_with_a_kink_is_undetermined(energy, why):
    res = order_of_accuracy(energy, leapfrog)
    assert abs(res.value - 2) > 0.1  # the slope misses the order …
    assert res.verdict == "undetermined" and not res.passed  # … where the theory does not apply
    assert res.reason == f"not applicable: {why}; order 2 needs T ∈ C³"
    assert res.details["smooth_enough"] is False


SPEC = """\
name = "Pow15"
[kinetic]
energy = "abs(p)**1.5"
[scheme]
name = "leapfrog"
[closure]
name = "none"
"""


def test_verify_exits_0_when_checks_only_pass_or_are_undetermined(tmp_path, capsys):
    spec = tmp_path / "pow15.toml"
    spec.write_text(textwrap.dedent(SPEC))
    status = main(["verify", str(spec)])
    out = capsys.readouterr().out
    assert "undetermined (not applicable: T'' is unbounded at p = 0" in out
    assert "FAIL" not in out
    assert "0 fail, 1 undetermined" in out
    assert status == 0


def test_a_jacobian_that_overflows_is_undetermined_not_failed():
    """exp(p²/2) under Yoshida's large kicks: J overflows float64, no figure to judge."""
    energy = KineticEnergy(sp.exp(p**2 / 2), name="exp")
    res = numeric_symplecticity(energy, yoshida, random_quadratic(20))
    assert res.verdict == "undetermined"
    assert "not finite in float64" in res.reason


def test_verify_gives_a_required_energy_parameter_a_value(tmp_path, capsys):
    """An exported module whose energy parameter has no default (required, as torch's lr is):
    the physics checks and the training check take the parameter's first sample (k = 1 on
    (0, ∞)), the command says so in a warning, and every check runs and passes."""
    from hamopt.derive import derive
    from hamopt.parameters import in_range
    from hamopt.parse import parse_energy

    k = in_range("k", None, sp.Interval.open(0, sp.oo))
    energy = KineticEnergy(parse_energy("log(cosh(k*p))/k", ["k"]), [k], name="kp")
    module = tmp_path / "k_param.py"
    derive(energy, "leapfrog", "adam", name="KP").export(module)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown whatever the run's -W says
        status = main(["verify", str(module)])
    captured = capsys.readouterr()
    assert "warning: kp: k has no default; the checks take k = 1" in captured.err
    assert "missing required argument" not in captured.out
    assert "KP, 10-d quadratic, 200 steps, lr = " in captured.out
    assert "9 checks: 9 pass, 0 fail" in captured.out
    assert status == 0


def test_a_speed_bound_sympy_cannot_find_is_an_undetermined_row_naming_the_error(monkeypatch):
    """Where SymPy's limit raises, the speed-limit row is not dropped without a word: it is
    undetermined, its reason naming the exception."""
    import hamopt.verify as verify

    def unsupported(kinetic):
        raise NotImplementedError("limit of this form")

    monkeypatch.setattr(verify, "speed_bound", unsupported)
    rows = verify.energy_checks(massless(), [leapfrog])
    speed = [r for r in rows if r.name == "speed limit"]
    assert len(speed) == 1 and speed[0].verdict == "undetermined", [r.row() for r in rows]
    assert "NotImplementedError: limit of this form" in speed[0].reason
