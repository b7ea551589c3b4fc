"""Smoke run of ``papers/rad/reproduce.py`` (the scaffold: ``conftest.py``; 20–30 s).

The claims that hold at any length must hold: RAD → Adam, both speed limits, DLPF ≡
SGD-momentum, the symplectic contrast, and RAD's switch from Adam's step to the ζ-dominated
one (a property of the ζ schedule, measured here on 2 epochs). The RL rows' verdicts depend on
long runs (2 seeds × 1,500 DQN steps or one seed × 600 TD3 steps decide nothing), so their
presence, their pairing and their recorded budgets are checked; the ε–ζ row must carry the
derived correspondence ζ = b₂ε².
"""

import pytest

PAPER = "rad"
FIGURES = (
    "speed_limit.png",
    "symplectic_contrast.png",
    "cartpole_dqn.png",
    "td3_mujoco.png",
    "adam_then_symplectic.png",
    "epsilon_zeta.png",
)
CLAIMS = 10
MUST_HOLD = (
    "RAD → Adam",
    "Speed limit of the exact relativistic dynamics",
    "RAD keeps a speed limit",
    "DLPF (dissipative leapfrog) is SGD with momentum",
    "Conformal symplectic schemes",
    "RAD behaves like Adam early in training",
)


def test_smoke_run(smoke):
    smoke.check(FIGURES, CLAIMS)


@pytest.mark.parametrize("claim", MUST_HOLD)
def test_claims_that_must_hold_hold(smoke, claim):
    assert smoke.verdict(claim) == "yes", smoke.row(claim)[1]


def test_rl_row_records_its_budget(smoke):
    how, measured, _ = smoke.row("RL: ")
    assert "2 seeds × 4 optimizers × 1,500 environment steps" in how
    assert "s wall time" in how
    assert "RAD" in measured and "Adam" in measured


def test_td3_rows_are_paired_and_budgeted(smoke):
    td3 = {k: c for k, c in smoke.claims().items() if k.startswith("RL, the paper's setting: TD3")}
    assert sorted(k.rsplit(", ", 1)[1] for k in td3) == [
        "area under the learning curve",
        "final return",
    ]
    for how, measured, _ in td3.values():
        assert "1 seeds × 2 optimizers × 600 environment steps" in how
        assert "paired difference RAD − Adam" in measured and "(seeds 0)" in measured
    logs = sorted(p.name for p in (smoke.out / "td3" / "HalfCheetah-v5").glob("*.jsonl"))
    assert logs == ["Adam-seed0.jsonl", "RAD-seed0.jsonl"]


def test_epsilon_row_carries_the_correspondence(smoke):
    how, measured, _ = smoke.row("A moderately larger ε improves Adam")
    assert "ζ = b_2*varepsilon**2" in how
    assert "2*s*varepsilon" in how and "(s - varepsilon)**2" in how
    assert "digits MLP" in measured and "CartPole-v1 DQN" in measured
