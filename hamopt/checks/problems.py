r"""Test potentials :math:`U(q)` for the numeric checks, as functions of a 1-D tensor."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["linear", "random_quadratic", "rosenbrock"]

Potential = Callable[[torch.Tensor], torch.Tensor]


def random_quadratic(n: int, seed: int = 0, condition: float = 10.0) -> Potential:
    r"""Random positive-definite quadratic :math:`U(q) = \tfrac12 q^\top A q`, eigenvalues
    spread geometrically over :math:`[1, \text{condition}]`; minimum 0 at :math:`q = 0`.

    >>> U = random_quadratic(3)
    >>> float(U(torch.zeros(3, dtype=torch.float64)))
    0.0
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if condition < 1:
        raise ValueError(f"condition must be >= 1, got {condition}")
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = torch.logspace(
        0, torch.log10(torch.tensor(float(condition))).item(), n, dtype=torch.float64
    )
    matrix = basis @ torch.diag(eig) @ basis.T

    def U(q: torch.Tensor) -> torch.Tensor:
        return 0.5 * q @ (matrix.to(q.dtype) @ q)

    U.matrix = matrix  # type: ignore[attr-defined]
    return U


def rosenbrock(b: float = 100.0) -> Potential:
    r"""Chained Rosenbrock :math:`U(q) = \sum_i (1 - q_i)^2 + b\,(q_{i+1} - q_i^2)^2`; minimum
    0 at :math:`q = (1, …, 1)`."""

    def U(q: torch.Tensor) -> torch.Tensor:
        return ((1 - q[:-1]) ** 2 + b * (q[1:] - q[:-1] ** 2) ** 2).sum()

    return U


def linear(weights: torch.Tensor) -> Potential:
    r""":math:`U(q) = w\cdot q`: a constant gradient ``w`` (exploding when ``w`` is large)."""

    def U(q: torch.Tensor) -> torch.Tensor:
        return weights.to(q.dtype) @ q

    return U
