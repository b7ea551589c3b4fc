r"""Lion-K derived by hamopt, the constraint set from K's convex conjugate, and the runs.

Lion-K (Chen, Liu, Liang, Liu, *Lion Secretly Solves Constrained Optimization, As Lyapunov
Predicts*, ICLR 2024) with decoupled weight decay λ:

.. math::

    c = \beta_1 m + (1-\beta_1) g,\quad
    x \leftarrow x(1 - \epsilon\lambda) - \epsilon\nabla K(c),\quad
    m \leftarrow \beta_2 m + (1-\beta_2) g.

hamopt derives it for any kinetic energy :math:`K` (:func:`derived`): the conformal Euler
scheme with the closures ``lookahead`` (Lion's interpolated read of the momentum) and
``decoupled_weight_decay``; :math:`K = |p|` is Lion itself.

The paper's reading: Lion-K minimises :math:`f(x) + K^*(\lambda x)/\lambda`; where
:math:`K^*` is infinite, that is a constraint. For an even convex per-particle :math:`K`,
:math:`K^*(y) = \sup_p (py - K(p))` is finite exactly on :math:`|y| \le K'(\infty)` (the
asymptotic slope), so the constraint set is the box :math:`\|x\|_\infty \le K'(\infty)/\lambda`;
inside it :math:`K^*(y) = y\,p^* - K(p^*)` with :math:`K'(p^*) = y` (:func:`conjugate`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

__all__ = ["Conjugate", "conjugate", "derived", "run"]


@functools.cache
def derived(name: str) -> type[torch.optim.Optimizer]:
    """The generated Lion-K class of the library energy ``name`` (``"massless"``: Lion)."""
    from hamopt import derive, kinetic

    energy = getattr(kinetic, name)()
    opt = derive(energy, "euler", closure=["lookahead", "decoupled_weight_decay"], name="LionK")
    return opt.cls


@dataclass(frozen=True)
class Conjugate:
    r""":math:`K^*` of a per-particle energy: its domain :math:`|y| \le` ``bound`` and its
    value there (``value``, in ``y``; 0 for a positively homogeneous :math:`K`)."""

    energy: str
    bound: sp.Expr
    value: sp.Expr
    y: sp.Symbol

    def numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        fn = sp.lambdify(self.y, self.value, "numpy")
        return lambda y: np.broadcast_to(np.asarray(fn(y), dtype=float), np.shape(y))


def conjugate(name: str) -> Conjugate:
    """:math:`K^*` of the library energy ``name`` at its default parameters, symbolically."""
    from hamopt import kinetic

    energy = getattr(kinetic, name)()
    values = {prm.symbol: sp.nsimplify(prm.default) for prm in energy.params}
    k = energy.expr.xreplace(values)
    p = energy.p
    x, y = sp.Symbol("x", positive=True), sp.Symbol("y", real=True)
    slope = sp.diff(k.xreplace({p: x}), x)
    bound = sp.limit(slope, x, sp.oo)
    if sp.simplify(k.xreplace({p: 2 * x}) - 2 * k.xreplace({p: x})) == 0:  # homogeneous: indicator
        return Conjugate(name, bound, sp.Integer(0), y)
    z = sp.Symbol("z", positive=True)  # y > 0 first; K* is even
    roots = [r for r in sp.solve(sp.Eq(slope, z), x) if r.is_positive is not False]
    if not roots:
        raise ValueError(f"SymPy cannot invert K' of {name}")
    value = sp.simplify(z * roots[0] - k.xreplace({p: roots[0]}))
    return Conjugate(name, bound, value.xreplace({z: sp.Abs(y)}), y)


def run(
    name: str,
    grad: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lrs: np.ndarray,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.99),
) -> np.ndarray:
    """x_k of the generated Lion-K from x0 with the step sizes ``lrs`` (one per step)."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = derived(name)([x], lr=float(lrs[0]), betas=betas, weight_decay=weight_decay)
    out = np.empty((lrs.size, x.numel()))
    for k, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = float(lr)
        x.grad = torch.as_tensor(grad(x.detach().numpy()))
        opt.step()
        out[k] = x.detach().numpy()
    return out
