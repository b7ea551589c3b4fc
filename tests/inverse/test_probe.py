"""identify_optimizer: the velocity map of an optimizer class, and the library energy it is.

The issue's catalogue: lion_pytorch.Lion → |p|, torch.optim.Adam → Adam's energy (ε = 1e-8),
rad.optim.RAD → relativistic, torch.optim.SGD(momentum=0.9) → classical; the zoo's own
members; an optimizer that couples coordinates is reported, not fitted.
"""

import re

import pytest
import torch

from hamopt.inverse import identify_optimizer


def test_torch_adam_is_adams_energy():
    probe = identify_optimizer(torch.optim.Adam)
    assert probe.elementwise
    assert probe.match.family == "adam"
    assert probe.match.amplitude == pytest.approx(1.0, rel=1e-9)
    assert probe.match.params["epsilon"] == pytest.approx(1e-8, rel=1e-6)


def test_torch_sgd_momentum_is_classical():
    probe = identify_optimizer(torch.optim.SGD, momentum=0.9)
    assert probe.match.family == "classical"
    assert probe.match.amplitude == pytest.approx(1.0, rel=1e-12)


def test_rad_is_relativistic():
    rad = pytest.importorskip("rad.optim", reason="pytorch-rad is a test-only reference")
    probe = identify_optimizer(rad.RAD)
    assert probe.match.family == "relativistic"
    # δ = 1: c = 1; b = √(ζ/(1 − β2)) at the first step, ζ = 1e-16
    assert probe.match.amplitude == pytest.approx(1.0, rel=1e-9)
    assert probe.match.params["b"] == pytest.approx((1e-16 / 1e-3) ** 0.5, rel=1e-6)


def test_lion_is_massless():
    lion = pytest.importorskip("lion_pytorch", reason="lion-pytorch is a test-only reference")
    probe = identify_optimizer(lion.Lion)
    assert probe.match.family == "massless"
    assert probe.match.amplitude == pytest.approx(1.0, rel=1e-12)


def test_zoo_members():
    from hamopt.optim import RAD, Adam, Lion

    assert identify_optimizer(Adam).match.family == "adam"
    assert identify_optimizer(Lion).match.family == "massless"
    assert identify_optimizer(RAD, delta=2.0).match.family == "relativistic"
    assert identify_optimizer(RAD, delta=2.0).match.amplitude == pytest.approx(0.5, rel=1e-9)


def test_coupled_rule_is_not_fitted():
    from hamopt.optim import RGD

    assert identify_optimizer(RGD).match.family == "classical"  # δ = 0: gradient descent
    probe = identify_optimizer(RGD, delta=1.0)  # v = p/√(δ²‖p‖² + 1): the norm couples
    assert not probe.elementwise
    assert probe.fits == () and probe.match is None
    assert "couples coordinates" in probe.summary()


class _Map(torch.optim.Optimizer):
    """θ ← θ − lr·map(g): a first step from any map."""

    map = staticmethod(torch.square)

    def __init__(self, params, lr=1e-3):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for q in group["params"]:
                q.sub_(group["lr"] * self.map(q.grad))


def test_no_library_energy():
    """θ ← θ − lr·g³/(1 + g²): odd and increasing but not in the library."""
    Cubic = type("Cubic", (_Map,), {"map": staticmethod(lambda g: g**3 / (1 + g * g))})
    probe = identify_optimizer(Cubic)
    assert probe.match is None and probe.refusal == ""
    assert probe.summary().startswith(f"{__name__}.Cubic")
    assert "no library energy (closest:" in probe.summary()


@pytest.mark.parametrize(
    ("cls", "kwargs", "reason"),
    [
        (type("Even", (_Map,), {"map": staticmethod(torch.square)}), {}, "not odd: v"),
        (type("Wave", (_Map,), {"map": staticmethod(torch.sin)}), {}, "decreasing: v"),
        (torch.optim.Adam, {"maximize": True}, "decreasing: .* maximize=True steps uphill"),
    ],
)
def test_a_map_that_is_no_velocity_is_refused(cls, kwargs, reason):
    """An even map (g²), one that turns back (sin g), a step uphill: no convex even energy has
    such a velocity, and the probe says why instead of naming the closest family (it fitted
    Adam's energy to maximize=True with ε = 6e21)."""
    probe = identify_optimizer(cls, **kwargs)
    assert probe.fits == () and probe.match is None
    assert re.search(f"not the velocity of a kinetic energy: {reason}", probe.summary())
    if cls is torch.optim.Adam:
        from hamopt.cli import main

        assert (
            main(["identify", "--optimizer", "torch.optim.Adam", "--option", "maximize=True"]) == 1
        )


def test_bad_input():
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer subclass"):
        identify_optimizer(object)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        identify_optimizer(torch.optim.Adam, lr=0.0)


def test_an_optimizer_whose_step_needs_a_closure_is_refused_by_name():
    """LBFGS re-evaluates the loss: no map of one gradient to identify, and the error says so
    (not torch's "missing 1 required positional argument")."""
    with pytest.raises(ValueError, match=r"LBFGS's step needs a closure"):
        identify_optimizer(torch.optim.LBFGS, lr=1.0)


def test_an_optimizer_whose_first_step_is_zero_is_refused_by_that_reason():
    """A step that never moves the parameter left the fit without samples ("need at least 4
    samples with p ≠ 0 and v ≠ 0"): the probe now says the step is zero, and where."""

    class Still(torch.optim.SGD):
        def step(self, closure=None):
            return None

    probe = identify_optimizer(Still)
    assert re.match(r"its first step is zero at (\d+) of \1 gradients from -1e\+04", probe.refusal)
    assert probe.fits == ()
