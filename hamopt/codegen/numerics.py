r"""Numerical rewriting of an update rule's expressions before they are printed as code.

A derived rule is exact mathematics: SymPy may write :math:`\sqrt{|v|}` as ``Abs(sqrt(v))``, the
sign of :math:`v` as ``v/Abs(v)``, or :math:`\log\cosh x` as it stands. Printed literally those
forms go wrong in floating point where the rule itself is finite: ``sqrt`` of a negative number
is NaN, :math:`0/0` is NaN, :math:`1 + x` rounds to 1 for :math:`|x|` below the machine
epsilon. :func:`finite_form` rewrites them into equal expressions that floating point
evaluates well. Every printer of generated code applies it first: the single-tensor and
foreach paths, the fused path for ``torch.compile`` (:mod:`hamopt.codegen.printer`,
:mod:`hamopt.codegen.fused`) and the C++ kernel (:mod:`hamopt.codegen.kernel`), and so does
the NumPy reference evaluator (:mod:`hamopt.rule.evaluate`); the symbolic rule, its LaTeX and
the exact oracle (:mod:`hamopt.rule.oracle`) keep the derived form.

Each rewrite is an identity for real arguments (``b``, ``u``, ``x`` real, exponents real), and
says what goes wrong in floating point as written:

R1. ``Abs(b**e)`` → ``Abs(b)**e`` for a non-integer e:
    :math:`|b^e| = |e^{e\log b}| = e^{e\log|b|} = |b|^e` (principal branch); ``b**e`` is NaN
    for :math:`b < 0`.
R2. ``b**m * Abs(b)**k`` → ``sign(b)**m * Abs(b)**(m + k)`` for an integer m > 0 and k < 0:
    :math:`b^m = \operatorname{sign}(b)^m|b|^m`; as written :math:`b^m` overflows first, and
    at :math:`b = 0` it is :math:`0/0` (where a derived rule guards with a ``Piecewise``, whose
    both branches ``torch.where`` evaluates). A sum factor whose terms divide by ``Abs(b)``
    receives ``b**m`` first (distributivity): :math:`1/|b|` overflows for subnormal ``b``.
R3. ``log(b**e)`` → ``e*log(b)`` for a non-integer e: :math:`\log b^e = e\log b` for
    :math:`b > 0`; :math:`b^e` over- or underflows, or rounds to 1 (for :math:`b < 0` both
    forms are NaN in floating point, as a non-integer power of a negative number is).
R4. ``log(cosh(x))`` → :class:`LogCosh`: ``log1p(2 sinh(x/2)**2)`` for :math:`|x| < 1`, else
    ``|x| - log 2 + log1p(exp(-2|x|))``, from :math:`\cosh x = 1 + 2\sinh^2(x/2)
    = e^{|x|}(1 + e^{-2|x|})/2`; ``cosh(x)`` rounds to 1 below :math:`|x| = 10^{-8}` and
    overflows from :math:`|x| = 710`.
R5. ``c*cosh(x) - c`` → ``2*c*sinh(x/2)**2``: the same identity; the difference cancels.
R6. ``c*exp(x) - c`` → ``c*expm1(x)``: the difference cancels (R5 and R6 for a number ``c``
    or any factor, such as the sign in :math:`\operatorname{sign}(v)(e^{|v|} - 1)`).
R7. ``log(1 + x)``, also ``log((a + x)/a)`` → ``log1p(x)`` (``log1p(x/a)``): ``1 + x``
    rounds to 1 below :math:`|x| = 10^{-16}`.
R8. ``sinh(x)**k * cosh(x)**-k`` → ``tanh(x)**k``: as written :math:`\infty/\infty` from
    :math:`|x| = 710`.
R9. ``c*log1p(u) - c*u`` → ``-c*XMinusLog1p(u)`` (:class:`XMinusLog1p`): the series
    :math:`u - \log(1 + u) = \sum_{k\ge2} (-1)^k u^k/k` to :math:`u^7` for
    :math:`|u| < 10^{-3}`, else as written; as written it cancels to :math:`u^2/2`, which is
    lost entirely below :math:`|u| = 10^{-8}`.
R10. ``c*sqrt(A) - c*B`` → ``c*(A - B**2)/(sqrt(A) + B)`` for :math:`B \ge 0` where
    ``A - B**2`` expanded is shorter than ``A``: :math:`\sqrt A - B = (A - B^2)/(\sqrt A + B)`;
    as written it cancels where :math:`A \approx B^2` (:math:`\sqrt{1 + p^2} - 1`).
R11. A small sum with fractions among its terms, some of whose monomials cancel over the
    common denominator → that one fraction, without them (``s - s/(1 + x)`` →
    ``s*x/(1 + x)``): :math:`a/b + c/d = (ad + cb)/(bd)`; as written the terms cancel in
    floating point (:math:`1 - 1/(1 + x)` is 0 below :math:`|x| = 10^{-16}`).

The rewrites keep oddness exactly: an odd rule of :math:`v` (every rule of an even energy) stays
odd under IEEE rounding, which is symmetric (``sign``, ``Abs``, products and quotients negate
exactly). A rule none of them matches is returned as the same object, so the generated code of
such a rule (every optimizer of the zoo) is unchanged.

Left as they are: an overflow that the rule's value shares (``sinh`` of a large argument);
overflow of a square under a root (:math:`\sqrt{v^2 + c}` for :math:`|v| > 10^{154}` in
float64); underflow of high powers of tiny numbers inside a rule (:math:`v^{11}` at
:math:`|v| = 10^{-31}`); cancellation that no rule above recognises.

>>> import sympy as sp
>>> v = sp.Symbol("v", real=True)
>>> finite_form(v / sp.Abs(sp.sqrt(v)))
sqrt(Abs(v))*sign(v)
>>> finite_form(sp.log(1 + v**2))
log1p(v**2)
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

__all__ = ["LogCosh", "NumericFormBase", "XMinusLog1p", "expm1", "finite_form", "log1p"]


class NumericFormBase(sp.Function):
    """A function that printers print as :meth:`evaluated`, a form accurate in floating point.

    The symbolic rule never holds one: only :func:`finite_form` introduces them, just before
    printing. (SymPy dispatches a subclass of ``Function`` to a printing method of its own name
    or of a base named ``…Base``: hence the name.)"""

    def evaluated(self) -> sp.Expr:
        raise NotImplementedError


class XMinusLog1p(NumericFormBase):
    r""":math:`u - \log(1 + u)` (for :math:`u > -1`), computed without cancellation near 0.

    Printed as the alternating series :math:`\sum_{k=2}^{7} (-1)^k u^k/k` (Horner form;
    truncation error below :math:`10^{-18}` relative) where :math:`|u| < 10^{-3}`, else as
    :math:`u - \operatorname{log1p}(u)` (which loses at most :math:`2/|u| \le 2000` ulp).
    """

    @classmethod
    def eval(cls, u):
        return sp.S.Zero if u == 0 else None

    def evaluated(self) -> sp.Piecewise:
        u = self.args[0]
        horner = sp.Rational(1, 7)
        for k in (6, 5, 4, 3, 2):  # 1/2 - u(1/3 - u(1/4 - ...))
            horner = sp.Rational(1, k) - u * horner
        return sp.Piecewise((u**2 * horner, sp.Abs(u) < sp.Rational(1, 1000)), (u - log1p(u), True))


class LogCosh(NumericFormBase):
    r""":math:`\log\cosh x`, without cancellation near 0 and without overflow for large x.

    Printed as :math:`\operatorname{log1p}(2\sinh^2(x/2))` where :math:`|x| < 1` (as
    :math:`\cosh x = 1 + 2\sinh^2(x/2)`; ``cosh(x)`` rounds to 1 below :math:`|x| = 10^{-8}`),
    else as :math:`|x| - \log 2 + \operatorname{log1p}(e^{-2|x|})` (as
    :math:`\cosh x = e^{|x|}(1 + e^{-2|x|})/2`; ``cosh(x)`` overflows from :math:`|x| = 710`).
    """

    @classmethod
    def eval(cls, x):
        return sp.S.Zero if x == 0 else None

    def evaluated(self) -> sp.Piecewise:
        x = self.args[0]
        small = log1p(2 * sp.sinh(x / 2) ** 2)
        large = sp.Abs(x) - sp.log(2) + log1p(sp.exp(-2 * sp.Abs(x)))
        return sp.Piecewise((small, sp.Abs(x) < 1), (large, True))


#: Rewriting stops after this many passes (each pass rewrites bottom-up once).
_PASSES = 8


def finite_form(expr: sp.Basic) -> sp.Basic:
    """``expr`` with the rewrites R1–R11 of this module applied until none matches.

    Returns ``expr`` itself (the same object) when no rewrite matches.
    """
    out = _rewritten(expr)
    return expr if out == expr else out


@functools.lru_cache(maxsize=4096)  # every printer of a rule rewrites the same expressions
def _rewritten(expr: sp.Basic) -> sp.Basic:
    for _ in range(_PASSES):
        out = _pass(expr)
        if out is expr:
            return expr
        expr = out
    return expr


def _pass(expr: sp.Basic) -> sp.Basic:
    """One bottom-up pass: the arguments first, then the node."""
    if not expr.args or isinstance(expr, (sp.Symbol, sp.Number)):
        return expr
    args = tuple(_pass(a) for a in expr.args)
    node = expr if all(a is b for a, b in zip(args, expr.args, strict=True)) else expr.func(*args)
    if not isinstance(node, sp.Expr):
        return node
    for rule in _RULES:
        out = rule(node)
        if out is not None:
            return out
    return node


# -- the rules: each returns the rewritten node, or None where it does not apply ------------------
def _abs_of_power(node: sp.Expr) -> sp.Expr | None:
    """R1: ``Abs(b**e)`` → ``Abs(b)**e`` for real b and a real non-integer e."""
    if not isinstance(node, sp.Abs) or not isinstance(node.args[0], sp.Pow):
        return None
    base, e = node.args[0].args
    if base.is_extended_real and e.is_extended_real and e.is_integer is not True:
        return sp.Pow(sp.Abs(base), e)
    return None


def _powers_over_abs(node: sp.Expr) -> sp.Expr | None:
    """R2: ``b**m * Abs(b)**k`` → ``sign(b)**m * Abs(b)**(m+k)`` (m > 0 integer, k < 0); an
    ``Add`` factor whose terms divide by ``Abs(b)`` first receives ``b**m``."""
    if not isinstance(node, sp.Mul):
        return None
    powers: dict[sp.Expr, sp.Expr] = {}  # b -> m, for factors b**m with m a positive integer
    over_abs: dict[sp.Expr, sp.Expr] = {}  # b -> k, for factors Abs(b)**k with k < 0
    for f in node.args:
        base, e = f.as_base_exp()
        if isinstance(base, sp.Abs) and e.is_negative:
            over_abs[base.args[0]] = e
        elif e.is_integer and e.is_positive and base.is_extended_real and not base.is_Number:
            powers[base] = e
    for b, m in powers.items():
        if b in over_abs:
            k = over_abs[b]
            rest = [f for f in node.args if f not in (b**m, sp.Abs(b) ** k)]
            return sp.Mul(*rest, sp.sign(b) ** (m % 2), sp.Abs(b) ** (m + k))
        for f in node.args:  # b**m * (A + B/|b|) → (b**m A + b**m B/|b|), then R2 per term
            if isinstance(f, sp.Add) and any(_divides_by_abs(t, b) for t in f.args):
                rest = [g for g in node.args if g is not f and g != b**m]
                return sp.Mul(*rest, sp.Add(*(b**m * t for t in f.args)))
    return None


def _divides_by_abs(term: sp.Expr, b: sp.Expr) -> bool:
    return any(
        isinstance(base, sp.Abs) and base.args[0] == b and e.is_negative
        for base, e in (f.as_base_exp() for f in sp.Mul.make_args(term))
    )


def _log_of_power(node: sp.Expr) -> sp.Expr | None:
    """R3: ``log(b**e)`` → ``e*log(b)`` for a non-integer e (or a positive b)."""
    if not isinstance(node, sp.log) or not isinstance(node.args[0], sp.Pow):
        return None
    base, e = node.args[0].args
    if base is sp.E or not e.is_extended_real:
        return None
    if e.is_integer is not True or base.is_positive:
        return e * sp.log(base)
    return None


def _log_cosh(node: sp.Expr) -> sp.Expr | None:
    """R4: ``log(cosh(x))`` → ``LogCosh(x)``."""
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.cosh):
        return LogCosh(node.args[0].args[0])
    return None


def _minus_constant(node: sp.Expr) -> sp.Expr | None:
    """R5 and R6: ``c*cosh(x) - c`` → ``2c sinh(x/2)**2``; ``c*exp(x) - c`` → ``c expm1(x)``,
    for a number ``c`` or any factor (``sign(v)·exp(|v|) − sign(v)``, the velocity of
    :math:`e^{|p|} - 1 - |p|`), also where the terms of one factor share its constant
    (leapfrog's :math:`-\tfrac12 s e^{\beta|v|} - \tfrac12 s e^{|v|} + s`)."""
    if not isinstance(node, sp.Add):
        return None
    terms = [t.as_coeff_Mul() for t in node.args]  # (its number, the rest)
    found = {}  # a factor → the indices of its terms q·factor·f(x), f = exp or cosh
    for i, (_, rest) in enumerate(terms):
        factors = rest.args if rest.is_Mul else (rest,)
        functions = [f for f in factors if isinstance(f, (sp.cosh, sp.exp))]
        if len(functions) == 1:
            factor = sp.Mul(*(g for g in factors if g is not functions[0]))
            found.setdefault(factor, []).append((i, functions[0]))
    for factor, group in found.items():
        total = sum((terms[i][0] for i, _ in group), sp.Integer(0))
        constant = next(
            (j for j, (q, rest) in enumerate(terms) if rest == factor and q == -total), None
        )
        if constant is None or total == 0:
            continue
        new = [
            terms[i][0]
            * factor
            * (2 * sp.sinh(f.args[0] / 2) ** 2 if isinstance(f, sp.cosh) else expm1(f.args[0]))
            for i, f in group
        ]
        skipped = {i for i, _ in group} | {constant}
        return sp.Add(*(t for k, t in enumerate(node.args) if k not in skipped), *new)
    return None


def _log_one_plus(node: sp.Expr) -> sp.Expr | None:
    """R7: ``log(1 + x)`` → ``log1p(x)``, also for ``log((a + x)/a)`` written as a product."""
    if not isinstance(node, sp.log):
        return None
    arg = node.args[0]
    if isinstance(arg, sp.Add) and sp.S.One in arg.args:
        return log1p(arg - 1)
    if isinstance(arg, sp.Mul):
        for f in arg.args:
            if isinstance(f, sp.Add):
                scale = arg / f
                for t in f.args:
                    if sp.cancel(t * scale) == 1:
                        return log1p(sp.Add(*(u * scale for u in f.args if u is not t)))
    return None


def _sinh_over_cosh(node: sp.Expr) -> sp.Expr | None:
    """R8: ``sinh(x)**k * cosh(x)**-k`` → ``tanh(x)**k``."""
    if not isinstance(node, sp.Mul):
        return None
    factors = [f.as_base_exp() for f in node.args]
    for base, e in factors:
        if isinstance(base, sp.sinh):
            x = base.args[0]
            if (sp.cosh(x), -e) in factors:
                rest = [f for f in node.args if f not in (base**e, sp.cosh(x) ** -e)]
                return sp.Mul(*rest, sp.tanh(x) ** e)
    return None


def _minus_log1p(node: sp.Expr) -> sp.Expr | None:
    """R9: ``c*log1p(u) - c*u`` → ``-c*XMinusLog1p(u)``."""
    if not isinstance(node, sp.Add):
        return None
    for term in node.args:
        logs = [f for f in sp.Mul.make_args(term) if isinstance(f, log1p)]
        if len(logs) != 1:
            continue
        u = logs[0].args[0]
        c = term / logs[0]
        for other in node.args:
            if other is not term and sp.expand(other + c * u) == 0:
                rest = [t for t in node.args if t is not term and t is not other]
                return sp.Add(*rest, -c * XMinusLog1p(u))
    return None


def _root_minus(node: sp.Expr) -> sp.Expr | None:
    """R10: ``c*sqrt(A) - c*B`` → ``c*(A - B**2)/(sqrt(A) + B)`` where B >= 0 and A - B**2,
    expanded, has fewer terms than A (part of A cancels)."""
    if not isinstance(node, sp.Add):
        return None
    for term in node.args:
        roots = [f for f in sp.Mul.make_args(term) if f.is_Pow and f.exp == sp.S.Half]
        if len(roots) != 1:
            continue
        a = roots[0].base
        c = term / roots[0]
        for other in node.args:
            if other is term:
                continue
            b = sp.cancel(-other / c)
            if not b.is_nonnegative or b.has(sp.Pow(a, sp.S.Half)):
                continue
            x = sp.expand(a - b**2)
            if len(sp.Add.make_args(x)) < len(sp.Add.make_args(sp.expand(a))):
                rest = [t for t in node.args if t is not term and t is not other]
                return sp.Add(*rest, c * x / (sp.sqrt(a) + b))
    return None


def _cancelled_sum(node: sp.Expr) -> sp.Expr | None:
    """R11: a sum whose terms cancel over a common denominator, as one fraction without them.

    Only for a small sum (``_SUM_OPS`` operations at most) with a fraction among its terms.
    Over the common denominator each term's numerator is expanded into monomials; where a
    monomial of some term is absent from their sum, it cancelled exactly, which floating point
    would do only approximately (catastrophically where what is left is small): then the sum is
    written as that one fraction. A term without a denominator none of whose monomials
    cancelled stays outside it: θ + a/b + c/d, where only a/b and c/d cancel, is
    θ + (ad + cb)/(bd), not (θbd + ad + cb)/(bd), which rounds θ through the fraction and moves
    it where the step is 0."""
    if not isinstance(node, sp.Add) or sp.count_ops(node) > _SUM_OPS:
        return None
    if all(sp.fraction(t)[1] == 1 for t in node.args):
        return None
    rational, back = _opaque(node)  # a rational function of symbols
    den = sp.fraction(sp.together(rational))[1]
    terms = sp.Add.make_args(rational)
    parts = [sp.expand(sp.cancel(t * den)) for t in terms]
    monomials = [{m.as_coeff_Mul()[1] for m in sp.Add.make_args(part)} for part in parts]
    after = {m.as_coeff_Mul()[1] for m in sp.Add.make_args(sp.Add(*parts))}
    cancelled = set().union(*monomials) - after
    if not cancelled:
        return None
    apart = [  # terms without a denominator that take no part in the cancellation
        k for k, t in enumerate(terms) if sp.fraction(t)[1] == 1 and not monomials[k] & cancelled
    ]
    num = sp.Add(*(part for k, part in enumerate(parts) if k not in apart))
    kept = sp.Add(*(terms[k] for k in apart))
    return (kept + sp.factor_terms(num) / den).xreplace(back)


def _opaque(expr: sp.Expr) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]]:
    """``expr`` as a rational function: every sub-expression other than a sum, a product, an
    integer power, a symbol or a number stands as a new symbol; and the map back."""
    back: dict[sp.Symbol, sp.Expr] = {}
    names: dict[sp.Expr, sp.Symbol] = {}

    def walk(e: sp.Expr) -> sp.Expr:
        if e.is_Symbol or e.is_Number:
            return e
        if isinstance(e, (sp.Add, sp.Mul)):
            return e.func(*(walk(a) for a in e.args))
        if isinstance(e, sp.Pow) and e.exp.is_Integer:
            return sp.Pow(walk(e.base), e.exp)
        if e not in names:
            names[e] = sp.Dummy(real=True)
            back[names[e]] = e
        return names[e]

    return walk(expr), back


#: The largest sum (in SymPy operations) that R11 puts over a common denominator.
_SUM_OPS = 40


_RULES = (
    _abs_of_power,
    _powers_over_abs,
    _log_of_power,
    _log_cosh,
    _minus_constant,
    _log_one_plus,
    _sinh_over_cosh,
    _minus_log1p,
    _root_minus,
    _cancelled_sum,
)
