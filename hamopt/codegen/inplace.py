r"""In-place evaluation of a rule's tensor equations, as torch.optim's own optimizers are written.

An equation ``target ← expr`` printed as it stands (``exp_avg.copy_(beta1*exp_avg +
grad*(1 - beta1))``) allocates a full-size tensor for every operation. :func:`plan_rule` rewrites
each tensor equation into a chain of calls on one tensor, the way torch writes Adam
(``exp_avg.lerp_(grad, 1 - beta1)``, ``exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 -
beta2)``, ``param.addcdiv_(exp_avg, denom, value=-step_size)``): a :class:`Plan` whose
:class:`Call` nodes :mod:`hamopt.codegen.inplace_printer` prints for one tensor (method calls,
``x.add_(y)``) and for lists (``torch._foreach_add_(xs, ys)``). Both paths print the same plan,
so they take the same steps in the same order.

A chain starts at one tensor, its *base*, and each :class:`Call` updates the result of the one
before; a printer writes a call in place (``x.mul_(c)``) when its base may be overwritten, and
out of place (``x.mul(c)``, a new tensor that the rest of the chain then overwrites) when not.
A base may be overwritten when it is

* the equation's own target, a buffer or the parameter (never the gradient, which may be the
  user's ``.grad``);
* an intermediate computed into a tensor of its own and read here for the last time (Lion's
  ``update.sign_()``);
* a tensor made earlier in the same chain.

Rewrite rules, on an expression after :func:`~hamopt.codegen.numerics.finite_form` (``c``: a
factor without tensors, a number or a per-tensor list; ``X``, ``Y``, ``D``: tensor expressions;
``T``: the base):

I1. ``T ← c1·T + c2·Y`` with ``c1 + c2 = 1`` and ``Y`` a tensor name → ``T.lerp_(Y, c2)``.
I2. ``X + Σ terms``: a chain from ``X``, one call per term: ``c`` → ``add_(c)``;
    ``c·Y`` → ``add_(Y, alpha=c)`` (``sub_(Y)`` for ``c = -1``; ``add_(Y·c)`` where ``c``
    varies per tensor: ``_foreach_add_`` takes one ``alpha``); ``c·X·Y`` → ``addcmul_(X, Y,
    value=c)`` (``c·Y²`` → ``addcmul_(Y, Y, value=c)``); ``c·X/D`` → ``addcdiv_(X, D,
    value=c)``; larger products become one operand of these.
I3. ``X·Y·…/(D·…)·c`` → ``mul_(Y)``, ``div_(D)``, then ``mul_(c)`` (``neg_()`` for
    ``c = -1``).
I4. ``X**½``, ``X**-½``, ``X**-1``, ``X**2``, ``X**c`` → ``sqrt_()``, ``rsqrt_()``,
    ``reciprocal_()``, ``square_()``, ``pow_(c)``; ``f(X)`` → ``f_()`` for ``abs``,
    ``sign``, ``exp``, ``log``, ``log1p``, ``expm1`` and the trigonometric and hyperbolic
    functions.
I5. ``max(X, Y, c)`` → ``maximum`` with ``Y`` (``clamp_min_(Y)`` on one tensor,
    ``_foreach_maximum_`` on lists), ``clamp_min_(c)``; ``min`` alike.
I6. Which term (factor, argument) a chain starts from, among those of the parameter's shape:
    the one holding the base ``T`` when the target is updated in place, else one whose chain
    starts at a tensor that may be overwritten, else one that needs a tensor of its own anyway
    (``sqrt(y) + eps`` starts at ``sqrt(y)``), else a name (``grad + μ·b`` →
    ``grad.add(b, alpha=μ)``, one new tensor), else a term that I2 adds in one call; a divisor
    last (``reciprocal`` first).
I7. The target: a buffer or the parameter that ``expr`` reads once, on the chain (I6), is the
    base: the chain updates it in place (mode ``"update"``). One that ``expr`` does not read
    is first overwritten with the chain's starting tensor, ``T.copy_(X).div_(D)`` (also
    ``"update"``). Otherwise the value is computed apart and copied in (``"copy"``: ``T.copy_(
    …)``). An intermediate is bound to the chain's result (``"bind"``); bound to a buffer or
    the parameter itself, to a copy (``clone``) that keeps the value it has at that point.
I8. A divisor with one tensor term, ``X/(k·T + e)`` (``k``, ``e`` without tensors, ``k`` not
    0) → ``(1/k)·X/(T + e/k)``: the factor ``1/k`` joins the call's number (the ``value=`` of
    ``addcdiv_``), which saves the pass ``mul_(k)`` over the divisor. Adam's
    ``m/(sqrt(y)/sqrt(b2) + eps)`` becomes ``sqrt(b2)·m/(sqrt(y) + eps·sqrt(b2))``, one pass
    fewer than torch's own ``exp_avg_sq.sqrt().div_(sqrt(b2)).add_(eps)``.
I9. Terms of a sum that differ only in their factors without tensors are one term,
    ``c1·X + c2·X`` → ``(c1 + c2)·X``: leapfrog's two half-kicks read the velocity at the same
    point, and |p|³'s position update ``c1·m|m| + c2·m|m|`` is one ``addcmul_``, not two.

Everything else — a ``Piecewise`` (``torch.where``), a reduction over a whole tensor, a power
with a tensor exponent, a function without an in-place form, an expression that is one number
per tensor (0-d, from a reduction) — is one :class:`Opaque` operand that the out-of-place
printers print, so an expression that no rule fits is printed as before.

Autograd (``differentiable=True`` runs the single-tensor path with autograd on): an in-place
call on a tensor that autograd saved for the backward of an earlier call breaks that backward.
The calls whose backward reads their own *result* are :data:`SAVES_RESULT` (``sqrt``, ``exp``…);
the one-tensor printer writes the call after one of them on the runtime's ``before`` of it (the
tensor itself, or under autograd a copy: torch's differentiable Adam likewise divides
``exp_avg_sq.sqrt()`` into a new tensor before ``.add_(eps)``), and a target is updated in
place only if such a call is the chain's last. Every other in-place call torch differentiates
by itself (it keeps the tensor's old value where the backward needs it). A buffer that an
equation reads where autograd keeps it and that a later one overwrites is read through
``before`` as well (``_kept`` in :mod:`hamopt.codegen.module`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from hamopt.codegen.numerics import expm1, finite_form, log1p
from hamopt.rule.reductions import ReductionBase
from hamopt.rule.update_rule import Assign, UpdateRule, grad, param

__all__ = [
    "SAVES_RESULT",
    "Call",
    "Leaf",
    "Opaque",
    "Plan",
    "chain",
    "full_size",
    "plan_rule",
    "planned_form",
    "reads_full",
]

_HALF = sp.Rational(1, 2)

#: Calls whose backward reads their result: nothing may overwrite it under autograd.
SAVES_RESULT = frozenset({"sqrt", "rsqrt", "reciprocal", "exp", "expm1", "tan", "tanh"})

_ELEMENTARY = (sp.sin, sp.cos, sp.tan, sp.asin, sp.acos, sp.atan)
_ELEMENTARY += (sp.sinh, sp.cosh, sp.tanh, sp.asinh, sp.acosh, sp.atanh)

#: SymPy functions → the torch function with an in-place form of the same name (I4).
UNARY = {sp.Abs: "abs", sp.sign: "sign", sp.exp: "exp", sp.log: "log", log1p: "log1p"}
UNARY |= {expm1: "expm1", **{f: f.__name__ for f in _ELEMENTARY}}


@dataclass(frozen=True)
class Leaf:
    """A tensor by its symbol; ``owned``: it may be overwritten (see the module docstring);
    ``saved``: autograd saved it as a result (an intermediate ending in :data:`SAVES_RESULT`)."""

    symbol: sp.Symbol
    owned: bool = False
    saved: bool = False


@dataclass(frozen=True)
class Opaque:
    """A sub-expression printed out of place by :mod:`hamopt.codegen.printer` (a new tensor)."""

    expr: sp.Expr


@dataclass(frozen=True)
class Call:
    """``base.op(*tensors, scalar)``, in place where the printer may (``op`` is the torch name
    without ``_``: ``add``, ``addcdiv``, ``lerp``, ``sqrt``…). ``scalar``: the number
    (``alpha=`` of ``add``/``sub``, ``value=`` of ``addcmul``/``addcdiv``, the weight of
    ``lerp``, the operand of ``mul``/``add``/``clamp_min``/``pow`` without tensors)."""

    op: str
    base: Node
    tensors: tuple[Node, ...] = ()
    scalar: sp.Expr | None = None


Node = Leaf | Opaque | Call


@dataclass(frozen=True)
class Plan:
    """How a tensor equation of the rule is written: ``mode`` ``"update"`` (``node`` updates
    the target's own tensor), ``"copy"`` (``target.copy_(node)``) or ``"bind"`` (``target =
    node``)."""

    assignment: Assign
    node: Node
    mode: str


def chain(node: Node) -> tuple[Node, list[Call]]:
    """A chain's base and its calls, first to last."""
    calls = []
    while isinstance(node, Call):
        calls.append(node)
        node = node.base
    return node, calls[::-1]


def plan_rule(rule: UpdateRule, per_tensor: frozenset[sp.Symbol]) -> dict[int, Plan]:
    """Every tensor equation of ``rule`` (by its index in ``rule.assignments``) as a plan.

    ``per_tensor``: the scalars that are one number per tensor (lists on the foreach path),
    which ``torch._foreach_add_`` takes as no ``alpha``."""
    return _Planner(rule, per_tensor).plans


def full_size(rule: UpdateRule) -> set[sp.Symbol]:
    """The symbols of ``rule`` that hold a tensor of the parameter's shape before its first
    equation: the parameter, the gradient and the tensor buffers (an equation's target joins
    them where :func:`reads_full` says its expression does)."""
    return {param, grad} | {b.symbol for b in rule.buffers if b.shape == "tensor"}


def reads_full(expr: sp.Expr, full: set[sp.Symbol]) -> bool:
    """Whether ``expr`` has the shape of the parameter (not one number per tensor): it reads a
    symbol of ``full`` outside every reduction."""
    if isinstance(expr, ReductionBase):
        return False
    if isinstance(expr, sp.Symbol):
        return expr in full
    return any(reads_full(arg, full) for arg in expr.args)


class _Planner:
    def __init__(self, rule: UpdateRule, per_tensor: frozenset[sp.Symbol]):
        self.rule, self.per_tensor = rule, per_tensor
        self.full = full_size(rule)
        self.owned: set[sp.Symbol] = set()  # intermediates in a tensor of their own
        self.saved: set[sp.Symbol] = set()  # ... whose last call saved its result
        self.plans: dict[int, Plan] = {}
        exprs = {
            k: planned_form(a.expr, rule.is_tensor)
            for k, a in enumerate(rule.assignments)
            if rule.is_tensor(a.expr)
        }
        single_reads = _single_reads(rule, exprs)
        for k, expr in exprs.items():
            a = rule.assignments[k]
            self.consumable = {s for s, at in single_reads if at == k and s in self.owned}
            plan = self._plan(a, expr)
            self.plans[k] = plan
            self._record(a, expr, plan)

    # -- targets (I7) --------------------------------------------------------------------------
    def _plan(self, a: Assign, expr: sp.Expr) -> Plan:
        target = a.target
        if not self._writable(target):
            node = self.build(expr)
            if isinstance(node, Leaf) and self._writable(node.symbol):
                node = Call("clone", node)  # it keeps this value when that tensor changes
            return Plan(a, node, "bind")
        if not self.is_full(expr):
            return Plan(a, Opaque(expr), "copy")
        if _count(expr, target) == 1:
            node = self.build(expr, start=target)
            base, calls = chain(node)
            if base == Leaf(target, owned=True) and _result_kept(calls):
                return Plan(a, node, "update")
        node = self.build(expr)
        if target not in expr.free_symbols:
            base, calls = chain(node)
            if isinstance(base, Leaf) and not base.owned and calls:
                into = Call("copy", Leaf(target, owned=True), (base,))
                node = _rebase(node, into)
                if _result_kept(chain(node)[1]):
                    return Plan(a, node, "update")
                node = self.build(expr)
        return Plan(a, node, "copy")

    def _writable(self, symbol: sp.Symbol) -> bool:
        return symbol == param or self.rule.buffer(symbol) is not None

    def _record(self, a: Assign, expr: sp.Expr, plan: Plan) -> None:
        """What later equations may assume of this one's target."""
        target = a.target
        if self.is_full(expr):
            self.full.add(target)
        self.owned.discard(target)
        self.saved.discard(target)
        fresh = plan.mode == "bind" and not isinstance(plan.node, Leaf)
        if fresh and self.rule.idle_at_zero(a) is None:
            self.owned.add(target)
            _, calls = chain(plan.node)
            if not calls or calls[-1].op in SAVES_RESULT:
                self.saved.add(target)

    # -- shapes ----------------------------------------------------------------------------------
    def is_full(self, expr: sp.Expr) -> bool:
        """Whether ``expr`` has the shape of the parameter (:func:`reads_full`)."""
        return reads_full(expr, self.full)

    def is_tensor(self, expr: sp.Expr) -> bool:
        return self.rule.is_tensor(expr)

    def varies(self, c: sp.Expr) -> bool:
        return bool(c.free_symbols & self.per_tensor)

    # -- expressions (I1–I6) -----------------------------------------------------------------
    def build(self, expr: sp.Expr, start: sp.Symbol | None = None) -> Node:
        """A node computing ``expr``; with ``start``, a chain from that target (I7)."""
        if not self.is_full(expr):
            return Opaque(expr)
        if isinstance(expr, sp.Symbol):
            owned = expr == start or expr in self.consumable
            return Leaf(expr, owned, owned and expr != start and expr in self.saved)
        if isinstance(expr, sp.Add):
            return self._add(expr, start)
        if isinstance(expr, sp.Mul):
            return self._mul(expr, start)
        if isinstance(expr, sp.Pow) and not self.is_tensor(expr.exp):
            return self._pow(expr, start)
        if isinstance(expr, (sp.Max, sp.Min)):
            return self._extremum(expr, start)
        name = next((n for f, n in UNARY.items() if isinstance(expr, f)), None)
        if name is not None and len(expr.args) == 1:
            return Call(name, self.build(expr.args[0], start))
        return Opaque(expr)

    def _first(
        self, parts: list[sp.Expr], start: sp.Symbol | None, cost: Callable[[int], int]
    ) -> int:
        """The index of the full-size part a chain starts from (I6): the one holding ``start``,
        else the one of least ``cost(i)``."""
        full = [i for i, e in enumerate(parts) if self.is_full(e)]
        held = [i for i in full if start is not None and start in parts[i].free_symbols]
        return held[0] if held else min(full, key=cost)

    def _overwritable(self, expr: sp.Expr) -> bool:
        """Whether the chain of ``expr`` starts at a tensor that may be overwritten."""
        base, _ = chain(self.build(expr))
        return isinstance(base, Leaf) and base.owned

    def _add(self, expr: sp.Add, start: sp.Symbol | None) -> Node:
        constant = sp.Add(*(t for t in expr.args if not self.is_tensor(t)))
        terms = [t for t in expr.args if self.is_tensor(t)]
        lerp = self._lerp(terms, start) if constant == 0 else None
        if lerp is not None:
            return lerp
        first = self._first(terms, start, lambda i: self._term_cost(terms[i]))
        node = self.build(terms[first], start)
        for term in terms[:first] + terms[first + 1 :]:
            node = self._add_term(node, term)
        return node if constant == 0 else Call("add", node, (), constant)

    def _lerp(self, terms: list[sp.Expr], start: sp.Symbol | None) -> Node | None:
        """I1: ``c1·X + c2·Y`` with ``c1 + c2 = 1``, ``Y`` a name → ``X.lerp(Y, c2)``."""
        if len(terms) != 2:
            return None
        split = [self._split(t) for t in terms]
        if any(len(num) != 1 or den for _, num, den in split):
            return None
        (c1, (x1,), _), (c2, (x2,), _) = split
        if sp.expand(c1 + c2 - 1) != 0 or not (self.is_full(x1) and self.is_full(x2)):
            return None
        order = [(x1, x2, c2), (x2, x1, c1)]
        if start is not None:
            order = [o for o in order if start in o[0].free_symbols]
        else:
            order.sort(key=lambda o: 0 if chain(self.build(o[0]))[0] != Leaf(o[0]) else 1)
        for x, y, weight in order:
            if isinstance(y, sp.Symbol):
                return Call("lerp", self.build(x, start), (self.build(y),), weight)
        return None

    def _split(self, term: sp.Expr) -> tuple[sp.Expr, list[sp.Expr], list[sp.Expr]]:
        """``term = c·N1·…/(D1·…)``: its factor without tensors, tensor numerators and
        denominators."""
        c, num, den = [], [], []
        for f in sp.Mul.make_args(term):
            if not self.is_tensor(f):
                c.append(f)
            elif f.is_Pow and not self.is_tensor(f.exp) and f.exp.is_negative:
                den.append(sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        return sp.Mul(*c), num, den

    def _term_cost(self, term: sp.Expr) -> int:
        """0: a term whose chain starts at a tensor that may be overwritten; 1: one that needs a
        tensor of its own anyway (``sqrt(y)``); 2: a name; 3: a term one call of I2 adds without
        a tensor of its own (``c·X``, ``c·X·Y``, ``c·X/D``)."""
        if self._overwritable(term):
            return 0
        if isinstance(term, sp.Symbol):
            return 2
        c, num, den = self._factors(term)
        names = all(isinstance(f, sp.Symbol) and self.is_full(f) for f in num + den)
        one_call = (len(num), len(den)) in {(2, 0), (1, 1)} or (
            (len(num), len(den)) == (1, 0) and not (self.varies(c) and c != -1)
        )
        return 3 if names and one_call else 1

    def _factors(self, term: sp.Expr) -> tuple[sp.Expr, list[sp.Expr], list[sp.Expr]]:
        """:meth:`_split`, with ``c·Y²`` as ``c·Y·Y``."""
        c, num, den = self._split(term)
        if len(num) == 1 and not den and num[0].is_Pow and num[0].exp == 2:
            num = [num[0].base, num[0].base]
        return c, num, den

    def _add_term(self, node: Node, term: sp.Expr) -> Node:
        """I2: one more term added to the chain ``node``."""
        c, num, den = self._factors(term)
        full = all(self.is_full(f) for f in num + den)
        if full and len(num) == 2 and not den:
            return Call("addcmul", node, tuple(map(self.build, num)), c)
        if full and len(num) == 1 and len(den) == 1:
            return Call("addcdiv", node, (self.build(num[0]), self.build(den[0])), c)
        if full and len(num) >= 1 and den:
            rest = self.build(sp.Mul(*num) / sp.Mul(*den[1:]))
            return Call("addcdiv", node, (rest, self.build(den[0])), c)
        if full and len(num) > 2 and not den:
            return Call("addcmul", node, (self.build(sp.Mul(*num[:-1])), self.build(num[-1])), c)
        if not self.is_full(term):  # one number per tensor: computed apart
            return Call("add", node, (Opaque(term),))
        operand = self.build(sp.Mul(*num) / sp.Mul(*den))
        if c == -1:
            return Call("sub", node, (operand,))
        if self.varies(c):  # torch._foreach_add_ takes one alpha for all tensors
            return Call("add", node, (self._scaled(operand, c),))
        return Call("add", node, (operand,), None if c == 1 else c)

    def _scaled(self, node: Node, c: sp.Expr) -> Node:
        return Call("neg", node) if c == -1 else Call("mul", node, (), c)

    def _mul(self, expr: sp.Mul, start: sp.Symbol | None) -> Node:
        """I3: a chain from one factor, times and over the others, then the number."""
        c, num, den = self._split(expr)
        factors = num + den

        def cost(i: int) -> int:  # overwritable, needing a tensor anyway, a name, a divisor
            if i >= len(num):
                return 4
            if self._overwritable(factors[i]):
                return 0
            return 2 if isinstance(factors[i], sp.Symbol) else 1

        first = self._first(factors, start, cost)
        node = self._factor(factors[first], first >= len(num), start)
        for i, f in enumerate(factors):
            if i != first:
                node = Call("div" if i >= len(num) else "mul", node, (self.build(f),))
        return node if c == 1 else self._scaled(node, c)

    def _factor(self, f: sp.Expr, denominator: bool, start: sp.Symbol | None) -> Node:
        node = self.build(f, start)
        return Call("reciprocal", node) if denominator else node

    def _pow(self, expr: sp.Pow, start: sp.Symbol | None) -> Node:
        base, e = expr.args
        node = self.build(base, start)
        named = {
            _HALF: "sqrt",
            -_HALF: "rsqrt",
            sp.Integer(-1): "reciprocal",
            sp.Integer(2): "square",
        }
        if e in named:
            return Call(named[e], node)
        return Call("pow", node, (), e)

    def _extremum(self, expr: sp.Expr, start: sp.Symbol | None) -> Node:
        """I5."""
        bigger = isinstance(expr, sp.Max)
        tensors = [a for a in expr.args if self.is_tensor(a)]
        numbers = [a for a in expr.args if not self.is_tensor(a)]

        def cost(i: int) -> int:
            if self._overwritable(tensors[i]):
                return 0
            return 2 if isinstance(tensors[i], sp.Symbol) else 1

        first = self._first(tensors, start, cost)
        node = self.build(tensors[first], start)
        for t in tensors[:first] + tensors[first + 1 :]:
            node = Call("maximum" if bigger else "minimum", node, (self.build(t),))
        if numbers:
            bound = sp.Max(*numbers) if bigger else sp.Min(*numbers)
            node = Call("clamp_min" if bigger else "clamp_max", node, (), bound)
        return node


def planned_form(expr: sp.Expr, is_tensor: Callable[[sp.Expr], bool]) -> sp.Expr:
    """``expr`` as the planner takes it: after the numerical rewrites
    (:func:`~hamopt.codegen.numerics.finite_form`), then rules I8 and I9."""
    return _like_terms_combined(_scaled_divisors(finite_form(expr), is_tensor), is_tensor)


def _like_terms_combined(expr: sp.Expr, is_tensor: Callable[[sp.Expr], bool]) -> sp.Expr:
    """I9: the terms of a sum that differ only in their factors without tensors as one term,
    ``c1·X + c2·X`` → ``(c1 + c2)·X`` (``c1 + c2`` factored): one call on ``X`` where there
    were two (leapfrog's two half-kicks read the velocity at the same point)."""

    def combined(add: sp.Add) -> sp.Expr:
        groups: dict[sp.Expr, list[sp.Expr]] = {}
        for term in add.args:
            factors = sp.Mul.make_args(term)
            tensor = sp.Mul(*(f for f in factors if is_tensor(f)))
            groups.setdefault(tensor, []).append(sp.Mul(*(f for f in factors if not is_tensor(f))))
        if len(groups) == len(add.args):
            return add
        return sp.Add(
            *(sp.factor(sp.Add(*c)) * t if t != 1 else sp.Add(*c) for t, c in groups.items())
        )

    return expr.replace(lambda e: isinstance(e, sp.Add) and is_tensor(e), combined)


def _scaled_divisors(expr: sp.Expr, is_tensor: Callable[[sp.Expr], bool]) -> sp.Expr:
    """I8: every divisor ``(k·T + e)**-1`` of ``expr`` as ``k**-1·(T + e/k)**-1``."""

    def scaled(power: sp.Pow) -> sp.Expr:
        tensor = [t for t in power.base.args if is_tensor(t)]
        constant = sp.Add(*(t for t in power.base.args if not is_tensor(t)))
        if len(tensor) != 1 or constant == 0:
            return power
        k = sp.Mul(*(f for f in sp.Mul.make_args(tensor[0]) if not is_tensor(f)))
        if k == 1 or k.is_zero is not False:
            return power
        return (tensor[0] / k + constant / k) ** power.exp / k**-power.exp

    return expr.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp == -1 and isinstance(e.base, sp.Add), scaled
    )


def _count(expr: sp.Expr, symbol: sp.Symbol) -> int:
    return sum(1 for node in sp.preorder_traversal(expr) if node == symbol)


def _result_kept(calls: list[Call]) -> bool:
    """Whether the chain's result stays the target's tensor under autograd: no call but the
    last saves its result (the one-tensor printer writes the call after it on a copy)."""
    return not any(c.op in SAVES_RESULT for c in calls[:-1])


def _rebase(node: Node, base: Node) -> Node:
    """``node``'s chain on another base."""
    if not isinstance(node, Call):
        return base
    return Call(node.op, _rebase(node.base, base), node.tensors, node.scalar)


def _single_reads(rule: UpdateRule, exprs: Mapping[int, sp.Expr]) -> set[tuple[sp.Symbol, int]]:
    """``(s, k)``: the intermediate ``s`` is read once after its definition, by equation ``k``;
    there its tensor may be overwritten."""
    out, reads = set(), {}
    for k, a in enumerate(rule.assignments):
        for s in exprs[k].free_symbols & set(reads) if k in exprs else ():
            reads[s] += [k] * _count(exprs[k], s)
        if a.target != param and rule.buffer(a.target) is None:
            if len(reads.get(a.target, ())) == 1:
                out.add((a.target, reads[a.target][0]))
            reads[a.target] = []
    return out | {(s, ks[0]) for s, ks in reads.items() if len(ks) == 1}
