r"""Energy dissipation of generated optimizers, with the closure off (constant mass).

On a convex quadratic with full-batch gradients, the conformal Hamiltonian energy
:math:`H = U(\theta) + T(p)` computed from the optimizer's state — with the momentum
:math:`p = -h\,s\,\beta_1 v` recovered through the derived change of variables — decays along
the run. It is not required to drop at every step (it rises near turning points, MATH.md §6):
the test asserts that the maximum of H - (min U + T(0)) over successive windows of 25 steps
never increases, and that it ends a thousand times below the first window's maximum.
"""

import itertools
import math

import pytest
import torch

import hamopt.optim as zoo
from hamopt.checks.problems import random_quadratic


def _energies(opt_cls, kinetic, steps=600, floor=0.0, **kwargs):
    """H_k - (min U + T(0)) along the run; ``floor`` is T(0)."""
    U = random_quadratic(10, seed=3, condition=20.0)
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(10))
    opt = opt_cls([w], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        U(w).backward()
        opt.step()
        with torch.no_grad():
            out.append(float(U(w) + kinetic(opt.state[w]["momentum_buffer"])) - floor)
    return out


def _assert_dissipates(H):
    windows = [max(H[i : i + 25]) for i in range(0, len(H), 25)]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(windows))
    assert H[-1] < 1e-3 * windows[0]


@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_classical_sgd_momentum(momentum):
    """SGD heavy ball, sum form: lr = h²/m (m = 1), p = -h μ b, T = ‖p‖²/2."""
    lr = 0.02
    h = math.sqrt(lr)

    def kinetic(b):
        p = -h * momentum * b
        return 0.5 * float(p @ p)

    _assert_dissipates(_energies(zoo.SGD, kinetic, lr=lr, momentum=momentum))


@pytest.mark.parametrize("order", [1, 2])
def test_relativistic_rgd(order):
    """RGD, EMA form: lr = h²/(m(1-μ)), δ = h/(mc(1-μ)) with m = 1; p = -h μ v/(1-μ),
    T = c√(‖p‖² + m²c²)."""
    lr, mu, delta = 0.05, 0.8, 0.5
    h = math.sqrt(lr * (1 - mu))
    c = h / (delta * (1 - mu))

    def kinetic(v):
        p = -h * mu * v / (1 - mu)
        return c * math.sqrt(float(p @ p) + c**2)

    H = _energies(zoo.RGD, kinetic, floor=c**2, lr=lr, momentum=mu, delta=delta, order=order)
    _assert_dissipates(H)


def test_energy_check_can_fail():
    """The same measure on a diverging run (lr too large) does not pass."""
    lr = 2.5

    def kinetic(b):
        p = -math.sqrt(lr) * 0.9 * b
        return 0.5 * float(p @ p)

    with pytest.raises(AssertionError):
        _assert_dissipates(_energies(zoo.SGD, kinetic, steps=60, lr=lr, momentum=0.9))
