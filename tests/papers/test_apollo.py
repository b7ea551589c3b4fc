"""Smoke run of ``papers/apollo/reproduce.py`` (the scaffold: ``conftest.py``; about 10–20 s).

The weak secant equation and the positive mass hold at every step, so a short run decides
them. The cost and convergence verdicts depend on timings and long runs and are only checked
to be present.
"""

import pytest

PAPER = "apollo"
FIGURES = ("secant_mass.png", "convergence.png")
CLAIMS = 4
MUST_HOLD = (
    "The diagonal curvature update satisfies the weak secant equation",
    "The rectified absolute value keeps the mass",
)


def test_smoke_run(smoke):
    smoke.check(FIGURES, CLAIMS)


@pytest.mark.parametrize("claim", MUST_HOLD)
def test_claims_that_must_hold_hold(smoke, claim):
    assert smoke.verdict(claim) == "yes"
