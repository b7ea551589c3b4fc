r"""RAD → Adam at δ = 1 and small ζ, symbolically (the zoo's derived rules) and numerically.

The zoo's RAD (:func:`hamopt.zoo.relativistic.rad`, the rule the generated ``hamopt.optim.RAD``
runs) takes the step-size form of the bias correction,

.. math:: \theta \leftarrow \theta - \frac{\alpha\sqrt{b_2}}{b_1}\,
          \frac{v}{\sqrt{\delta^2 y + \zeta}}, \qquad b_i = 1 - \beta_i^t,

and the zoo's Adam (:func:`hamopt.zoo.adam.adam`, ``torch.optim.Adam``'s rule) the estimator
form :math:`\theta \leftarrow \theta - \alpha (v/b_1)/(\sqrt{y}/\sqrt{b_2} + \epsilon)`. The
checks here:

1. both rules update the moments identically (difference of the buffer assignments = 0);
2. for every δ > 0 and ζ ≥ 0, exactly,
   :math:`\Delta\theta_{\mathrm{RAD}} = -\tfrac{\alpha}{\delta}\,\hat v/\sqrt{\hat y + \zeta/(\delta^2 b_2)}`:
   RAD is Adam with ε *inside* the root, :math:`\epsilon_t^2 = \zeta/(\delta^2 b_2)`, and the
   step size α/δ;
3. at δ = 1, ζ = 0 the two steps are identical (difference simplifies to 0), orders 1 and 2;
   and :math:`\lim_{\zeta\to0^+}` of RAD's step is Adam's step with ε = 0;
4. numerically, the generated RAD(δ = 1, ζ) against ``torch.optim.Adam(eps=0)`` on a float64
   MLP: the largest relative parameter difference over every step of the run, for a sweep of ζ
   down to 0; and the two at their own defaults (RAD ζ = 1e-16, Adam ε = 1e-8), which differ
   by where ε sits (inside or outside the root).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch

__all__ = ["NumericReduction", "SymbolicReduction", "numeric_reduction", "symbolic_reduction"]

#: Symbols of the rules that stand for positive numbers (the checks need the signs).
_POSITIVE_NAMES = ("exp_avg_sq", "bias_correction1", "bias_correction2", "lr", "delta")


@dataclass(frozen=True)
class SymbolicReduction:
    """Results of the symbolic checks; each ``*_residual`` is the simplified difference."""

    buffers_residual: dict[str, sp.Expr]
    inside_root_residual: dict[int, sp.Expr]  # order -> RAD − "Adam with ε inside the root"
    adam_residual: dict[int, sp.Expr]  # order -> RAD(δ=1, ζ=0) − Adam(ε=0)
    limit_residual: dict[int, sp.Expr]  # order -> lim_{ζ→0+} RAD(δ=1) − Adam(ε=0)
    rad_delta: sp.Expr  # order-1 Δθ, for the report
    adam_delta: sp.Expr

    @property
    def holds(self) -> bool:
        groups = (
            self.buffers_residual,
            self.inside_root_residual,
            self.adam_residual,
            self.limit_residual,
        )
        return all(r == 0 for g in groups for r in g.values())


def _rule(spec, condition: str):
    rules = dict(spec.variants)
    if condition not in rules:
        raise ValueError(f"{spec.name} has no variant {condition!r}; it has {list(rules)}")
    return rules[condition]


def _program(rule) -> tuple[dict[str, sp.Expr], sp.Expr, dict[str, sp.Expr]]:
    r"""Walk ``rule``'s assignments in order, weight decay 0.

    Returns (buffer updates by name, :math:`\Delta\theta` with the step's scalars substituted
    except the bias corrections, and the bias corrections' definitions). Buffer symbols in
    :math:`\Delta\theta` stand for the buffers' *new* values, as in the program.
    """
    from hamopt.rule.update_rule import param

    positive = {}
    for a in rule.assignments:
        for s in a.expr.free_symbols | {a.target}:
            if s.name in _POSITIVE_NAMES:
                positive[s] = sp.Symbol(s.name, positive=True)
    zero = {s: 0 for a in rule.assignments for s in a.expr.free_symbols if s.name == "weight_decay"}
    buffers = {b.symbol for b in rule.buffers}
    env: dict[sp.Symbol, sp.Expr] = {}
    updates: dict[str, sp.Expr] = {}
    corrections: dict[str, sp.Expr] = {}
    theta: sp.Expr = param
    for a in rule.assignments:
        expr = a.expr.xreplace(zero).xreplace(env).xreplace({param: theta})
        if a.target == param:
            theta = expr
        elif a.target in buffers:
            updates[a.target.name] = expr.xreplace(positive)
        elif a.target.name.startswith("bias_correction"):
            corrections[a.target.name] = expr
        else:
            env[a.target] = expr
    return updates, sp.expand(theta - param).xreplace(positive), corrections


def symbolic_reduction() -> SymbolicReduction:
    """Run the symbolic checks 1–3 of the module docstring on the zoo's rules."""
    from hamopt.zoo.adam import adam
    from hamopt.zoo.relativistic import rad

    rad_spec, adam_spec = rad(), adam()
    adam_rule = _rule(adam_spec, 'not group["amsgrad"] and not group["decoupled_weight_decay"]')
    adam_updates, adam_delta, adam_bc = _program(adam_rule)
    eps = next(s for s in adam_delta.free_symbols if s.name == "eps")
    adam_eps0 = adam_delta.xreplace({eps: 0})
    buffers_residual: dict[str, sp.Expr] = {}
    inside, exact, limits = {}, {}, {}
    rad_delta1 = None
    for order in (1, 2):
        rule = _rule(rad_spec, f'group["order"] == {order} and group["zeta"] is not None')
        updates, delta, corrections = _program(rule)
        if rad_delta1 is None:
            rad_delta1 = delta
        for name in ("exp_avg", "exp_avg_sq"):
            key = f"order {order}: {name}"
            buffers_residual[key] = sp.simplify(updates[name] - adam_updates[name])
        for name, expr in corrections.items():  # same bias corrections in both rules
            buffers_residual[f"order {order}: {name}"] = sp.simplify(expr - adam_bc[name])
        sym = {s.name: s for s in delta.free_symbols}
        lr, dl, zeta = sym["lr"], sym["delta"], sym["zeta"]
        m, y = sym["exp_avg"], sym["exp_avg_sq"]
        b1, b2 = sym["bias_correction1"], sym["bias_correction2"]
        if order == 1:
            inside_root = -(lr / dl) * (m / b1) / sp.sqrt(y / b2 + zeta / (dl**2 * b2))
            inside[order] = sp.simplify(delta - inside_root)
        else:  # the order-2 rule averages two such steps, the second with ζ/β1²
            beta1 = sym["beta1"]
            a = -(lr / dl) * (m / b1) / sp.sqrt(y / b2 + zeta / (dl**2 * b2))
            b = -(lr / dl) * (m / b1) / sp.sqrt(y / b2 + zeta / (beta1**2 * dl**2 * b2))
            inside[order] = sp.simplify(delta - (a + b) / 2)
        at_adam = delta.xreplace({dl: 1})
        exact[order] = sp.simplify(at_adam.xreplace({zeta: 0}) - adam_eps0)
        limits[order] = sp.simplify(sp.limit(at_adam, zeta, 0, "+") - adam_eps0)
    return SymbolicReduction(buffers_residual, inside, exact, limits, rad_delta1, adam_delta)


@dataclass(frozen=True)
class NumericReduction:
    """Largest relative parameter difference over a run, per (order, ζ)."""

    steps: int
    gaps: dict[tuple[int, float], float]
    delta_gap: float  # RAD(δ = 2, ζ = 0) against Adam(lr/2, ε = 0)
    default_gap: float  # RAD at its defaults (ζ = 1e-16) against torch's Adam at its (ε = 1e-8)


def _mlp(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16), torch.nn.Tanh()
    )
    net.append(torch.nn.Linear(16, 1))
    net = net.double()
    x = torch.randn(128, 8, generator=gen, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True)) + 0.1 * torch.randn(128, 1, generator=gen).double()
    return net, x, y


def _trajectory(make_opt, steps: int) -> list[list[torch.Tensor]]:
    net, x, y = _mlp()
    opt = make_opt(net.parameters())
    out = []
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        out.append([p.detach().clone() for p in net.parameters()])
    return out


def _max_gap(a: list[list[torch.Tensor]], b: list[list[torch.Tensor]]) -> float:
    """max over steps of max|a − b| / max|a|, over all the parameters together."""
    gaps = []
    for ra, rb in zip(a, b, strict=True):
        x, y = torch.cat([t.flatten() for t in ra]), torch.cat([t.flatten() for t in rb])
        gaps.append(float((x - y).abs().max() / x.abs().max()))
    return max(gaps)


def numeric_reduction(
    steps: int = 500, zetas: tuple[float, ...] = (1e-8, 1e-12, 1e-16, 0.0), lr: float = 1e-3
) -> NumericReduction:
    """The generated RAD(δ = 1, ζ) against ``torch.optim.Adam(eps=0)``, float64, every step."""
    from hamopt.optim import RAD

    adam = _trajectory(lambda p: torch.optim.Adam(p, lr=lr, eps=0.0), steps)
    gaps = {}
    for order in (1, 2):
        for zeta in zetas:
            rad = _trajectory(
                lambda p, o=order, z=zeta: RAD(p, lr=lr, delta=1.0, zeta=z, order=o), steps
            )
            gaps[(order, zeta)] = _max_gap(adam, rad)
    rad2 = _trajectory(lambda p: RAD(p, lr=2 * lr, delta=2.0, zeta=0.0), steps)
    default = _max_gap(
        _trajectory(lambda p: torch.optim.Adam(p, lr=lr), steps),
        _trajectory(lambda p: RAD(p, lr=lr), steps),
    )
    return NumericReduction(steps, gaps, _max_gap(adam, rad2), default)
