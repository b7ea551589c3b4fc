"""Smoke run of ``papers/adam/reproduce.py`` (the scaffold: ``conftest.py``).

The smoke run takes about 15 s. Verdicts that depend on the run's length (the effective-step
bounds, the digits comparison) are only required to be present.
"""

import pytest

PAPER = "adam"
FIGURES = ("bias_correction.png", "effective_step.png", "adamax_limit.png", "digits.png")
CLAIMS = 11
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


def test_smoke_run(smoke):
    smoke.check(FIGURES, CLAIMS)


@pytest.mark.parametrize("claim", MUST_HOLD)
def test_claims_that_must_hold_hold(smoke, claim):
    assert smoke.verdict(claim) == "yes"
