"""Smoke run of ``papers/radam/reproduce.py`` (the scaffold: ``conftest.py``).

The smoke run takes about 20 s. The warm-up-free training verdict depends on the run's length
and is only required to be present; the first-order variance approximation must come out
"partly" at any size (it is off by more than 100 % at t = 5 and within 10 % by t = 50).
"""

import pytest

PAPER = "radam"
FIGURES = ("variance.png", "rectifier.png", "lr_robustness.png")
CLAIMS = 9
#: Claims (by the start of their text) that hold whatever the run's size.
MUST_HOLD = (
    "ρ_t = ρ_∞ - 2tβ2^t/(1-β2^t) is the length",
    "ρ_∞ = 2/(1-β2) - 1",
    "r_t = sqrt((ρ_t-4)(ρ_t-2)ρ_∞",
    "the variance of the adaptive learning rate ψ_t = sqrt(1/v̂_t) diverges",
    "Var[ψ] decreases monotonically",
    "ψ_t² is approximately scaled-inv-χ²",
    "rectification starts once the variance is tractable",
)
APPROXIMATION = "first-order approximation Var[ψ_t]"


def test_smoke_run(smoke):
    smoke.check(FIGURES, CLAIMS)


@pytest.mark.parametrize("claim", MUST_HOLD)
def test_claims_that_must_hold_hold(smoke, claim):
    assert smoke.verdict(claim) == "yes"


def test_first_order_approximation_holds_only_partly(smoke):
    assert smoke.verdict(APPROXIMATION) == "partly"
