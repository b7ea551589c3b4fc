"""The family fit: each library velocity recovered with its parameters, ties to the simpler."""

import numpy as np
import pytest

from hamopt.inverse.families import FAMILIES, fit

P = np.concatenate([-np.geomspace(1e-9, 1e3, 97)[::-1], np.geomspace(1e-9, 1e3, 97)])


@pytest.mark.parametrize(
    ("family", "amplitude", "params"),
    [
        ("classical", 2.0, {}),
        ("massless", 0.5, {}),
        ("adam", 1.0, {"epsilon": 1e-6}),
        ("relativistic", 3.0, {"b": 0.01}),
        ("power", 1.0, {"k": 0.5}),
        ("log_cosh", 1.0, {"beta": 4.0}),
        ("huber", 2.0, {"delta": 0.1}),
    ],
)
def test_each_family_is_recovered(family, amplitude, params):
    fam = next(f for f in FAMILIES if f.name == family)
    best = fit(P, fam.velocity(P, amplitude, *params.values()))[0]
    assert best.family == family
    assert best.residual <= 1e-10
    assert best.amplitude == pytest.approx(amplitude, rel=1e-8)
    for name, value in params.items():
        assert best.params[name] == pytest.approx(value, rel=1e-6)


def test_too_few_samples():
    with pytest.raises(ValueError, match="at least 4 samples"):
        fit(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
