"""The checks table is valid Markdown whatever the cells hold."""

import re

from hamopt.checks import CheckResult, table


def test_pipes_in_cells_are_escaped():
    res = CheckResult("speed limit", "relativistic, |∇U| = 1e6", 0.5, "|Δθ| <= h·c", True)
    rows = table([res, CheckResult("order", "euler", 1.0, "1 ± 0.1", False)]).splitlines()
    cells = [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows]
    assert all(len(c) == 5 for c in cells)
    assert cells[2][1].strip() == "relativistic, \\|∇U\\| = 1e6"
    assert [c[4].strip() for c in cells[2:]] == ["pass", "FAIL"]
