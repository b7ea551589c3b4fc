"""The checks table is valid Markdown whatever the cells hold; three verdicts, one exit status."""

import re

import pytest

from hamopt.checks import CheckResult, exit_status, summary, table


def test_pipes_in_cells_are_escaped():
    res = CheckResult("speed limit", "relativistic, |∇U| = 1e6", 0.5, "|Δθ| <= h·c", True)
    rows = table([res, CheckResult("order", "euler", 1.0, "1 ± 0.1", False)]).splitlines()
    cells = [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows]
    assert all(len(c) == 5 for c in cells)
    assert cells[2][1].strip() == "relativistic, \\|∇U\\| = 1e6"
    assert [c[4].strip() for c in cells[2:]] == ["pass", "FAIL"]


def _three():
    return [
        CheckResult("a", "s", 0.0, "<= 1", True),
        CheckResult("b", "s", 2.0, "<= 1", False),
        CheckResult.undetermined("c", "s", 1.29, "2 ± 0.1", "not applicable: |p| has a kink"),
    ]


def test_three_verdicts_in_the_table():
    ok, bad, unknown = _three()
    assert [r.verdict for r in (ok, bad, unknown)] == ["pass", "fail", "undetermined"]
    assert [bool(r) for r in (ok, bad, unknown)] == [True, False, False]
    assert [r.passed for r in (ok, bad, unknown)] == [True, False, False]
    rows = table([ok, bad, unknown]).splitlines()[2:]
    cells = [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows]
    assert all(len(c) == 5 for c in cells)  # the reason's pipes are escaped too
    verdicts = [c[4].strip() for c in cells]
    assert verdicts == ["pass", "FAIL", "undetermined (not applicable: \\|p\\| has a kink)"]
    assert cells[2][2].strip() == "1.29"


def test_measured_text_overrides_the_number():
    res = CheckResult("law", "s", 1e-56, "= 0", True, measured="1e-56 at 20 random points")
    assert "| 1e-56 at 20 random points |" in res.row()
    assert CheckResult("law", "s", None, "= 0", True).measured_text == "proved"


def test_summary_and_exit_status():
    ok, bad, unknown = _three()
    assert summary([ok, bad, unknown]) == "3 checks: 1 pass, 1 fail, 1 undetermined"
    assert summary([ok, ok]) == "2 checks: 2 pass, 0 fail"
    assert exit_status([ok, unknown]) == 0  # undetermined does not fail the command
    assert exit_status([ok, bad, unknown]) == 1
    assert exit_status([]) == 0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"passed": True, "verdict": "fail"}, "contradicts"),
        ({"passed": False, "verdict": "maybe"}, "verdict must be"),
        ({"passed": False, "verdict": "undetermined"}, "needs a reason"),
    ],
)
def test_inconsistent_verdicts_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        CheckResult("x", "s", 1.0, "<= 1", **kw)
