"""Smoke run of ``papers/lionk/reproduce.py`` (the scaffold: ``conftest.py``): every claim
holds at any run length — the derived Lion is bit-equal to lion_pytorch, the excess contracts
at every step, and both runs reach the constrained solution within the smoke run's 4,000
steps."""

import pytest

pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")

PAPER = "lionk"


def test_smoke_run(smoke):
    smoke.check(("constraint.png",), 3)
    assert [cells[2] for cells in smoke.claims().values()] == ["yes", "yes", "yes"]
    assert (
        "K*(y) = 0 there"
        in smoke.row(
            "Lion-K with weight decay λ solves min f(x) + K*(λx)/λ: iterates enter dom K*(λ·) and converge to the solution; K = ‖·‖₁"
        )[0]
    )
