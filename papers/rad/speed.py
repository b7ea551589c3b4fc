r"""The speed limit under exploding gradients: exact dynamics, RAD's derived bound, SGD's none.

**Exact relativistic dynamics.** A drift :math:`q \leftarrow q + t\nabla T(p)` with
:math:`T = \sum_i c\sqrt{p_i^2 + m^2c^2}` moves every coordinate by less than :math:`t\,c`:
:func:`hamopt.checks.speed_limit` measures it under gradients of :math:`10^6 … 10^{12}`.

**RAD.** With the second-moment closure the step is (step-size form, ``hamopt.optim.RAD``)

.. math:: |\Delta\theta_t| = \frac{\alpha\sqrt{b_2}}{b_1}\frac{|v_t|}{\sqrt{\delta^2 y_t + \zeta}}
          \le \frac{\alpha}{\delta}\,\frac{\sqrt{b_2}}{b_1}\frac{|v_t|}{\sqrt{y_t}},

with :math:`v_t = (1-\beta_1)\sum_{k<t}\beta_1^k g_{t-k}` and
:math:`y_t = (1-\beta_2)\sum_{k<t}\beta_2^k g_{t-k}^2`. Cauchy–Schwarz on
:math:`\beta_1^k g = (\beta_1^k\beta_2^{-k/2})(\beta_2^{k/2} g)` gives, with
:math:`\gamma = \beta_1^2/\beta_2 < 1`,

.. math:: |\Delta\theta_t| \le \frac{\alpha}{\delta} B_t, \qquad
          B_t = \frac{1-\beta_1}{1-\beta_1^t}\sqrt{\frac{1-\beta_2^t}{1-\beta_2}}
                \sqrt{\frac{1-\gamma^t}{1-\gamma}}
          \;\le\; C = \frac{1-\beta_1}{\sqrt{(1-\beta_2)(1-\gamma)}},

whatever the gradients. :math:`B_t \le C` because
:math:`(1-\beta_1^t)^2 - (1-\beta_2^t)(1-\gamma^t) = (\beta_2^t - \beta_1^t)^2/\beta_2^t \ge 0`
(checked symbolically below). The bound is attained at step :math:`T` by the stream
:math:`g_t \propto (\beta_1/\beta_2)^{T-t}` — a gradient that *grows* by :math:`\beta_2/\beta_1`
per step, i.e. an exploding gradient. SGD with momentum has no such bound: its step grows in
proportion to the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

__all__ = ["BoundDerivation", "SpeedRuns", "derive_bound", "exact_dynamics", "measure", "streams"]


@dataclass(frozen=True)
class BoundDerivation:
    """The symbolic bound and the checks behind it."""

    B_t: sp.Expr  # in beta1, beta2, t
    C: sp.Expr  # sup_t B_t = lim_{t→∞} B_t
    geometric_residual: sp.Expr  # Σ_{k<t} γ^k − (1−γ^t)/(1−γ), simplified
    limit_residual: sp.Expr  # lim_{t→∞} B_t − C, at the given betas
    gap: sp.Expr  # (1−β1^t)² − (1−β2^t)(1−γ^t), factored: ≥ 0 ⇔ B_t ≤ C
    gap_is_square: bool
    beta1: float
    beta2: float

    def B(self, t: np.ndarray) -> np.ndarray:
        """:math:`B_t` at the derivation's betas, for integer steps ``t``."""
        b1, b2 = sp.symbols("beta1 beta2", positive=True)
        f = sp.lambdify(
            sp.Symbol("t", positive=True), self.B_t.subs({b1: self.beta1, b2: self.beta2})
        )
        return np.array([f(float(x)) for x in np.atleast_1d(t)])

    @property
    def C_exact(self) -> sp.Expr:
        """:math:`C` at the derivation's betas, as an exact number."""
        b1, b2 = sp.symbols("beta1 beta2", positive=True)
        at = {b1: sp.nsimplify(self.beta1), b2: sp.nsimplify(self.beta2)}
        return sp.radsimp(sp.simplify(self.C.subs(at)))

    @property
    def C_value(self) -> float:
        b1, b2 = sp.symbols("beta1 beta2", positive=True)
        return float(self.C.subs({b1: self.beta1, b2: self.beta2}))


def derive_bound(beta1: float = 0.9, beta2: float = 0.999) -> BoundDerivation:
    """Derive :math:`B_t` and :math:`C` (module docstring) and check the steps symbolically."""
    if not (0 <= beta1 < 1 and 0 < beta2 < 1 and beta1**2 < beta2):
        raise ValueError(
            f"need 0 <= beta1 < 1, 0 < beta2 < 1 and beta1² < beta2, got {beta1}, {beta2}"
        )
    b1, b2, t = sp.symbols("beta1 beta2 t", positive=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    gamma = b1**2 / b2
    geometric = sp.summation(gamma**k, (k, 0, t - 1))  # Cauchy–Schwarz's weight sum
    closed = (1 - gamma**t) / (1 - gamma)
    geometric_residual = (
        sp.simplify(geometric.args[-1][0] - closed)
        if isinstance(geometric, sp.Piecewise)
        else sp.simplify(geometric - closed)
    )
    B_t = (1 - b1) / (1 - b1**t) * sp.sqrt((1 - b2**t) / (1 - b2)) * sp.sqrt(closed)
    C = (1 - b1) / sp.sqrt((1 - b2) * (1 - gamma))
    at = {b1: sp.nsimplify(beta1), b2: sp.nsimplify(beta2)}
    limit_residual = sp.simplify(sp.limit(B_t.subs(at), t, sp.oo) - C.subs(at))
    a, b = sp.symbols("a b", positive=True)  # a = β1^t, b = β2^t, γ^t = a²/b
    gap = sp.factor((1 - a) ** 2 - (1 - b) * (1 - a**2 / b))
    square = sp.simplify(gap - (a - b) ** 2 / b) == 0
    return BoundDerivation(B_t, C, geometric_residual, limit_residual, gap, square, beta1, beta2)


def exact_dynamics(gradients: tuple[float, ...]):
    """:func:`hamopt.checks.speed_limit` for the relativistic energy (Euler, leapfrog) and the
    classical one (no bound), at each gradient scale."""
    from hamopt.checks import speed_limit
    from hamopt.kinetic import classical, relativistic
    from hamopt.schemes import euler, leapfrog

    out = []
    for g in gradients:
        for scheme in (euler, leapfrog):
            out.append(speed_limit(relativistic(), scheme, gradient=g))
        out.append(speed_limit(classical(), euler, gradient=g))
    return out


def streams(
    scale: float, steps: int, n: int, beta1: float, beta2: float, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Gradient streams (steps, n) in float64 whose largest entry is ``scale``.

    ``constant``: the same gradient every step; ``heavy-tailed``: Cauchy noise; ``exploding``:
    growing geometrically from 1 to ``scale``; ``spike``: small noise, then one gradient of
    ``scale`` at the last step (Adam's sparse case); ``worst case``:
    :math:`g_t \\propto (\\beta_1/\\beta_2)^{T-t}`, which attains :math:`B_T`.
    """
    gen = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    size = 0.5 + 0.5 * torch.rand(n, generator=gen, dtype=torch.float64)
    direction = sign * size / size.max()
    t = torch.arange(steps, dtype=torch.float64)[:, None]
    cauchy = torch.tan(torch.pi * (torch.rand(steps, n, generator=gen, dtype=torch.float64) - 0.5))
    spike = 1e-3 * torch.randn(steps, n, generator=gen, dtype=torch.float64)
    spike[-1] = scale * direction
    ratio = beta1 / beta2
    return {
        "constant": scale * direction.expand(steps, n).clone(),
        "heavy-tailed": scale * cauchy / cauchy.abs().max(),
        "exploding": scale ** ((t + 1) / steps) * direction,
        "spike": spike,
        "worst case": scale * ratio ** (steps - 1 - t) * direction,
    }


def _moves(make_opt, grads: torch.Tensor) -> torch.Tensor:
    """|Δθ| of every coordinate at every step (steps, n) when ``grads`` are fed to the
    optimizer."""
    p = torch.zeros(grads.shape[1], dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    out = torch.empty_like(grads)
    for k, g in enumerate(grads):
        before = p.detach().clone()
        p.grad = g.clone()
        opt.step()
        out[k] = (p.detach() - before).abs()
    return out


@dataclass(frozen=True)
class SpeedRuns:
    """``rad[(stream, scale, delta, order)]``: per-step |Δθ|/(α/δ); ``sgd[(stream, scale)]``:
    per-step |Δθ|/α for SGD with momentum."""

    rad: dict[tuple[str, float, float, int], np.ndarray]
    sgd: dict[tuple[str, float], np.ndarray]
    bound: np.ndarray  # B_t for t = 1 … steps
    steps: int
    lr: float

    def worst_over_bound(self) -> float:
        """max over runs and steps of (|Δθ_t|/(α/δ)) / B_t."""
        return max(float(np.max(r / self.bound)) for r in self.rad.values())

    def worst_case_attained(self) -> float:
        """min over the worst-case runs of (|Δθ_T|/(α/δ)) / B_T at the last step."""
        return min(
            float(r[-1] / self.bound[-1]) for key, r in self.rad.items() if key[0] == "worst case"
        )


def measure(
    scales: tuple[float, ...],
    steps: int,
    *,
    n: int = 256,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    deltas: tuple[float, ...] = (1.0, 5.0),
    momentum: float = 0.9,
    bound: BoundDerivation,
) -> SpeedRuns:
    """Feed every stream at every scale to the generated RAD (each δ, orders 1 and 2) and to
    the generated SGD with momentum."""
    from hamopt.optim import RAD, SGD

    # the rules are elementwise: every (scale, stream) pair gets its own n coordinates of one
    # tensor, and one run per optimizer setting serves them all
    keys, blocks = [], []
    for scale in scales:
        for name, grads in streams(scale, steps, n, *betas).items():
            keys.append((name, scale))
            blocks.append(grads)
    grads = torch.cat(blocks, 1)

    def per_block(moved: torch.Tensor) -> list[np.ndarray]:
        return [b.max(1).values.numpy() for b in moved.split(n, 1)]

    rad, sgd = {}, {}
    for delta in deltas:
        for order in (1, 2):
            moved = _moves(
                lambda p, d=delta, o=order: RAD(p, lr=lr, betas=betas, delta=d, order=o), grads
            )
            for key, m in zip(keys, per_block(moved), strict=True):
                rad[(*key, delta, order)] = m / (lr / delta)
    moved = _moves(lambda p: SGD(p, lr=lr, momentum=momentum), grads)
    for key, m in zip(keys, per_block(moved), strict=True):
        sgd[key] = m / lr
    return SpeedRuns(rad, sgd, bound.B(np.arange(1, steps + 1)), steps, lr)
