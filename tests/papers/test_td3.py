"""TD3 of ``papers/rad/td3.py`` and its log reader ``papers/rad/td3_logs.py``.

A pair of runs must differ only in the optimizer: with the same seed, two runs are identical
up to the first update, and a run repeated with the same seed and optimizer is bit-identical.
Logs are complete or ignored, and runs of different setups never pair.
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gymnasium.envs.mujoco", reason="needs gymnasium[mujoco]")

FOLDER = Path(__file__).resolve().parents[2] / "papers" / "rad"
sys.path.insert(0, str(FOLDER))

import td3  # noqa: E402
import td3_logs  # noqa: E402

TINY = td3.TD3Config(steps=400, start_steps=256, eval_every=128, eval_episodes=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("td3")
    first = {name: td3.train(name, 3, TINY, out) for name in ("Adam", "RAD")}
    again = td3.train("RAD", 3, TINY, out=None)
    return out, first, again


def test_same_seed_same_run_until_the_first_update(runs):
    _, first, _ = runs
    before = [r for r in first["Adam"] if r["step"] <= TINY.start_steps]
    assert before, "no evaluation before the first update"
    for a, b in zip(before, first["RAD"], strict=False):
        assert a["return"] == b["return"]
    after = [(a, b) for a, b in zip(first["Adam"], first["RAD"], strict=True)]
    assert after[-1][0]["return"] != after[-1][1]["return"], "the optimizer changed nothing"


def test_repeat_is_bit_identical(runs):
    _, first, again = runs
    assert [r["return"] for r in again] == [r["return"] for r in first["RAD"]]


def test_logs_pair_up(runs):
    out, first, _ = runs
    pairs = td3_logs.pairs(out, TINY.env)
    assert pairs.seeds == [3]
    assert pairs.steps.tolist() == [128, 256, 384, 400]
    assert pairs.final("RAD")[0] == first["RAD"][-1]["return"]
    returns = np.array([r["return"] for r in first["Adam"]])
    x = np.array([0, 128, 256, 384, 400])
    y = np.concatenate([returns[:1], returns])
    expected = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / 400)
    assert pairs.area("Adam")[0] == pytest.approx(expected, rel=1e-12)


def test_incomplete_or_mismatched_logs(runs, tmp_path):
    out, _, _ = runs
    folder = tmp_path / TINY.env
    folder.mkdir()
    for name in ("Adam", "RAD"):
        (folder / f"{name}-seed3.jsonl").write_text(
            (out / TINY.env / f"{name}-seed3.jsonl").read_text()
        )
    lines = (folder / "RAD-seed3.jsonl").read_text().splitlines()
    (folder / "RAD-seed3.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # interrupted run
    assert td3_logs.pairs(tmp_path, TINY.env) is None
    head = json.loads(lines[0])
    head["config"]["lr"] = 1e-3
    (folder / "RAD-seed3.jsonl").write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match="differ in setup"):
        td3_logs.pairs(tmp_path, TINY.env)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(steps=0), "steps must be >= 1"),
        (dict(start_steps=400), "start_steps must lie in"),
        (dict(start_steps=100), "at least batch_size"),
        (dict(gamma=1.0), "0 < gamma < 1"),
    ],
)
def test_bad_config(change, message):
    with pytest.raises(ValueError, match=message):
        replace(TINY, **change)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer 'SGD'"):
        td3.train("SGD", 0, TINY)
