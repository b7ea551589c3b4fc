r"""RAdam's :math:`\rho_t`, :math:`\rho_\infty` and :math:`r_t`, derived in SymPy and compared with
the zoo's RAdam rule (:func:`hamopt.zoo.radam.radam`).

* :math:`\rho_t` is the length :math:`f` of the simple moving average with the same centre of
  mass as the bias-corrected EMA (Liu et al.):

  .. math::  \sum_{i=1}^t \frac{(1-\beta_2)\beta_2^{t-i}}{1-\beta_2^t}\, i
             = \frac{1}{f}\sum_{i=t-f+1}^{t} i = t - \frac{f-1}{2}
             \;\Rightarrow\; f = \frac{2}{1-\beta_2} - 1 - \frac{2t\beta_2^t}{1-\beta_2^t}.

* :math:`\rho_\infty = \lim_{t\to\infty}\rho_t = 2/(1-\beta_2) - 1`.
* :math:`r_t = \sqrt{\mathrm{Var}[\psi_\infty]/\mathrm{Var}[\psi_t]}` with the first-order
  :math:`\mathrm{Var}[\psi] \approx \rho/(2(\rho-2)(\rho-4))` gives the rule's
  :math:`\sqrt{(\rho_t-4)(\rho_t-2)\rho_\infty/((\rho_\infty-4)(\rho_\infty-2)\rho_t)}`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from hamopt.rule.update_rule import UpdateRule, step

__all__ = ["Derivation", "derive"]


@dataclass(frozen=True)
class Derivation:
    """Each field: the difference to the rule's expression simplified to zero."""

    rho_t: bool  # centre-of-mass f(t, β2) = the rule's rho_t
    rho_inf: bool  # lim_{t→∞} rho_t = the rule's rho_inf
    rectifier: bool  # sqrt(V(ρ_∞)/V(ρ_t)) = the rule's r_t
    f: sp.Expr  # the derived SMA length


def _scalars(rule: UpdateRule) -> tuple[dict[str, sp.Expr], dict[str, sp.Expr]]:
    """The rule's scalar assignments by target name: as written, and with earlier ones inlined."""
    raw: dict[str, sp.Expr] = {}
    inlined: dict[str, sp.Expr] = {}
    subs: dict[sp.Symbol, sp.Expr] = {}
    for a in rule.assignments:
        if a.target in rule.tensor_symbols:
            continue
        raw[a.target.name] = a.expr
        inlined[a.target.name] = subs[a.target] = a.expr.xreplace(subs)
    return raw, inlined


def derive(rule: UpdateRule) -> Derivation:
    r"""Derive :math:`\rho_t`, :math:`\rho_\infty`, :math:`r_t` and compare with ``rule``."""
    raw, scalars = _scalars(rule)
    for name in ("rho_t", "rho_inf", "rectified_step_size", "step_size"):
        if name not in raw:
            raise ValueError(f"rule {rule.name} has no scalar {name}: is it RAdam's?")
    beta2 = next(s for s in scalars["rho_inf"].free_symbols if s.name == "beta2")
    t, i = sp.symbols("t i", integer=True, positive=True)
    b = sp.Symbol("beta2", positive=True)
    f = sp.Symbol("f", positive=True)
    rule_rho_t = scalars["rho_t"].xreplace({step: t, beta2: b})
    rule_rho_inf = scalars["rho_inf"].xreplace({beta2: b})

    centre = sp.summation((1 - b) * b ** (t - i) * i, (i, 1, t)) / (1 - b**t)
    length = sp.solve(sp.Eq(centre, t - (f - 1) / 2), f)[0]
    rho_t_ok = sp.simplify(length - rule_rho_t) == 0

    k = sp.Symbol("k", positive=True)  # β2 = 1/(1 + k) keeps 0 < β2 < 1 known to SymPy
    limit = sp.limit(rule_rho_t.xreplace({b: 1 / (1 + k)}), t, sp.oo)
    rho_inf_ok = sp.simplify(limit - rule_rho_inf.xreplace({b: 1 / (1 + k)})) == 0

    rho, rho_inf = sp.symbols("rho rho_inf", positive=True)

    def var(x: sp.Expr) -> sp.Expr:
        return x / (2 * (x - 2) * (x - 4))

    branch = next(expr for expr, cond in raw["rectified_step_size"].args if cond is not sp.true)
    size = next(s for s in branch.free_symbols if s.name == "step_size")
    names = {
        s: {"rho_t": rho, "rho_inf": rho_inf}[s.name]
        for s in branch.free_symbols
        if s.name in ("rho_t", "rho_inf")
    }
    rule_r2 = ((branch / size) ** 2).xreplace(names)
    rectifier_ok = sp.simplify(rule_r2 - var(rho_inf) / var(rho)) == 0
    return Derivation(bool(rho_t_ok), bool(rho_inf_ok), bool(rectifier_ok), sp.simplify(length))
