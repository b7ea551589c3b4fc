r"""Hamiltonian descent's first explicit method, derived by hamopt and written from the paper.

Maddison, Paulin, Teh, O'Donoghue, Doucet, *Hamiltonian Descent Methods* (arXiv 1809.05042),
first explicit method, with step :math:`\epsilon`, friction :math:`\gamma` and
:math:`\delta = (1 + \gamma\epsilon)^{-1}`:

.. math::

    p_{k+1} = \delta p_k - \epsilon\delta\nabla f(x_k), \qquad
    x_{k+1} = x_k + \epsilon\nabla k(p_{k+1}).

:func:`derived` derives it with hamopt — the scheme ``hamiltonian_descent`` (K·I·F: kick,
implicit friction, drift) in the physical parameterisation, ``lr`` = ε and ``beta1`` = δ — and
:func:`paper_rule` is the method as the paper writes it, in NumPy: the test oracle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["ENERGIES", "derived", "paper_rule", "run"]

#: The kinetic energies compared, by name: (hamopt constructor, NumPy ∇k).
ENERGIES: dict[str, tuple[Callable, Callable[[np.ndarray], np.ndarray]]] = {}


def _energies():
    from hamopt import kinetic

    return {
        # k(p) = (3/4)|p|^{4/3}: matched to f = x⁴/4 (the paper's example)
        "power 4/3": (
            lambda: kinetic.power(a=4 / 3),
            lambda p: np.sign(p) * np.abs(p) ** (1 / 3),
        ),
        "classical": (lambda: kinetic.classical(), lambda p: p),
        "relativistic": (lambda: kinetic.relativistic(), lambda p: p / np.sqrt(p * p + 1)),
    }


ENERGIES.update(_energies())


@functools.cache
def derived(name: str) -> type[torch.optim.Optimizer]:
    """The generated optimizer class of energy ``name`` × the first explicit method."""
    from hamopt import derive

    make, _ = ENERGIES[name]
    opt = derive(
        make(), "hamiltonian_descent", parameterisation="physical", name="HamiltonianDescent"
    )
    return opt.cls


def run(
    name: str, grad: Callable, x0: np.ndarray, eps: float, gamma: float, steps: int
) -> np.ndarray:
    """x_k (k = 1 … steps) of the generated optimizer (float64) from x0 at p0 = 0; after a
    divergence (a gradient that is no longer finite, which the optimizer refuses) the rest of
    the rows are ``inf``."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = derived(name)([x], lr=eps, beta1=1 / (1 + gamma * eps))
    out = np.full((steps, x.numel()), np.inf)
    for k in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):
            x.grad = torch.as_tensor(grad(x.detach().numpy()))
        try:
            opt.step()
        except ValueError as error:  # the non-finite-gradient check: diverged
            if "non-finite gradient" not in str(error):
                raise
            break
        out[k] = x.detach().numpy()
    return out


def paper_rule(
    velocity: Callable, grad: Callable, x0: np.ndarray, eps: float, gamma: float, steps: int
) -> np.ndarray:
    """The first explicit method as the paper writes it (module docstring), from p0 = 0."""
    delta = 1 / (1 + gamma * eps)
    x, p = np.array(x0, dtype=float), np.zeros_like(x0, dtype=float)
    out = np.empty((steps, x.size))
    for k in range(steps):
        p = delta * p - eps * delta * grad(x)
        x = x + eps * velocity(p)
        out[k] = x
    return out
