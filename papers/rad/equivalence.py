r"""DLPF is SGD with momentum at learning rate lr·(1+β1)/2 (MATH.md §5), symbolically and numerically.

**Symbolic.** :func:`hamopt.variables.change_of_variables` turns the classical energy
:math:`T = p^2/2m` under conformal Euler and under the leapfrog's first-same-as-last rewrite
(both with the EMA momentum and first-gradient init) into
:math:`\Delta\theta = -\alpha_{\mathrm{E}}\,v` and :math:`\Delta\theta = -\alpha_{\mathrm{LF}}\,v`;
:func:`hamopt.variables.match` solves for the step sizes in the physical variables
:math:`(h, m, \beta_1)` and proves each identity. Their ratio is
:math:`\alpha_{\mathrm{LF}}/\alpha_{\mathrm{E}} = (1+\beta_1)/2`: the same physical system,
integrated by the leapfrog, is SGD with momentum whose learning rate is scaled by
:math:`(1+\beta_1)/2`, the momentum recursion being the same. The zoo's DLPF rule
(:func:`hamopt.zoo.classical.dlpf`) is checked to be that step.

**Numeric.** The generated ``hamopt.optim.DLPF(lr, momentum=μ)`` against
``torch.optim.SGD(lr·(1+μ)/2, momentum=μ, dampening=μ)`` — torch's SGD in EMA form (dampening
μ), whose first step sets the buffer to the gradient as DLPF does — and against the generated
``hamopt.optim.SGD`` with the same arguments: the largest relative parameter difference over
every step of a float64 MLP run. For contrast, torch's *undampened* SGD at the equivalent rate
lr·(1+μ)(1−μ)/2 is not the same trajectory: its first-gradient init puts the buffer at
:math:`g` where the sum form of DLPF's EMA would be :math:`g/(1-\mu)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch

__all__ = [
    "NumericEquivalence",
    "SymbolicEquivalence",
    "numeric_equivalence",
    "symbolic_equivalence",
]


@dataclass(frozen=True)
class SymbolicEquivalence:
    euler_lr: sp.Expr  # α_E(h, m, β1)
    leapfrog_lr: sp.Expr  # α_LF(h, m, β1)
    ratio: sp.Expr  # α_LF / α_E, simplified
    ratio_residual: sp.Expr  # ratio − (1 + β1)/2
    zoo_residual: sp.Expr  # the zoo's DLPF Δθ − (−lr (1 + μ)/2 · v)

    @property
    def holds(self) -> bool:
        return self.ratio_residual == 0 and self.zoo_residual == 0


def symbolic_equivalence() -> SymbolicEquivalence:
    """The symbolic check of the module docstring."""
    from hamopt.kinetic import classical
    from hamopt.rule.update_rule import param
    from hamopt.schemes import euler, leapfrog
    from hamopt.variables import Momentum, beta1, change_of_variables, match, v
    from hamopt.zoo.classical import MU, dlpf
    from hamopt.zoo.common import LR

    momentum = Momentum("ema", "grad")
    e = change_of_variables(classical(), euler, momentum)
    lf = change_of_variables(classical(), leapfrog, momentum)
    alpha_e = match(e.displacement, -LR * v, [LR])[LR]
    alpha_lf = match(lf.displacement, -LR * v, [LR])[LR]
    ratio = sp.simplify(alpha_lf / alpha_e)
    rule = dict(dlpf().variants)["True"]
    final = [a for a in rule.assignments if a.target == param][-1]
    buffer = next(b.symbol for b in rule.buffers if b.name == "momentum_buffer")
    decay = {s: 0 for s in final.expr.free_symbols if s.name == "weight_decay"}
    zoo_delta = (final.expr - param).xreplace(decay)
    expected = -LR * (1 + MU) / 2 * buffer
    return SymbolicEquivalence(
        alpha_e,
        alpha_lf,
        ratio,
        sp.simplify(ratio - (1 + beta1) / 2),
        sp.simplify(zoo_delta - expected),
    )


@dataclass(frozen=True)
class NumericEquivalence:
    steps: int
    torch_gap: float  # DLPF vs torch SGD(lr(1+μ)/2, μ, dampening μ)
    zoo_gap: float  # DLPF vs hamopt SGD, same arguments
    undampened_gap: float  # DLPF vs torch SGD(lr(1+μ)(1−μ)/2, μ): not the same trajectory
    moved: float  # how far the run went: max|θ_T − θ_0| / max|θ_0|


def _trajectory(make_opt, steps: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)
    ).double()
    x = torch.randn(128, 8, generator=gen, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True))
    opt = make_opt(net.parameters())
    out = [torch.cat([p.detach().flatten() for p in net.parameters()])]
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        out.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    return out


def _gap(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max() / x.abs().max()) for x, y in zip(a, b, strict=True))


def numeric_equivalence(
    steps: int = 500, lr: float = 0.05, momentum: float = 0.9
) -> NumericEquivalence:
    """The numeric check of the module docstring."""
    from hamopt.optim import DLPF, SGD

    rate = lr * (1 + momentum) / 2
    dlpf = _trajectory(lambda p: DLPF(p, lr=lr, momentum=momentum), steps)
    ref = _trajectory(
        lambda p: torch.optim.SGD(p, lr=rate, momentum=momentum, dampening=momentum), steps
    )
    zoo = _trajectory(lambda p: SGD(p, lr=rate, momentum=momentum, dampening=momentum), steps)
    plain = _trajectory(
        lambda p: torch.optim.SGD(p, lr=rate * (1 - momentum), momentum=momentum), steps
    )
    moved = float((dlpf[-1] - dlpf[0]).abs().max() / dlpf[0].abs().max())
    return NumericEquivalence(steps, _gap(dlpf, ref), _gap(dlpf, zoo), _gap(dlpf, plain), moved)
