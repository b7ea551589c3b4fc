r"""Tensor sub-expressions that one equation reads more than once, computed once.

A derived rule may repeat a sub-expression: the relativistic energy with a diagonal mass reads
:math:`\sqrt{y} + \epsilon` four times in its position update,

.. math::

    \Delta\theta = -\frac{\alpha c}{2}\left(\frac{v/(\sqrt{y} + \epsilon)}
    {\sqrt{v^2/(\sqrt{y} + \epsilon)^2 + m^2c^2}} + \dots\right).

Printed as it stands, the single-tensor and foreach paths compute each copy anew, a pass over
memory each. :func:`computed_once` binds each repeated one to an intermediate of its own,
written before the equation as one would write it by hand
(``common = exp_avg_sq.sqrt().add_(eps)``), and the equation reads the intermediate:

* SymPy's ``cse`` finds the candidates (sub-products and sub-sums included), each
  intermediate after those it reads;
* within one equation only: between two equations a buffer may change;
* only what costs a pass of its own (:func:`passes`) and is read at least twice: a number times
  one tensor (``δ²·y``) stays where it is, since the planner folds the number into a call
  (``alpha=``, ``value=``) at no cost; of a divisor its base is bound (the equation divides by
  it, one call);
* a reduction read more than once by an equation (a norm-coupled energy reads
  :math:`\lVert v\rVert` in each switch and each term of its step) is bound first, to a name
  from its record and its argument (``exp_avg_norm = whole(torch.linalg.vector_norm(exp_avg))``):
  one pass over the tensor, and every read is the same number.

The expressions are taken in the planner's form first (:func:`planned_form
<hamopt.codegen.inplace.planned_form>`: the numerical rewrites, then rule I8), so that the
repeats are found in what is printed and the numerical rewrites see each expression whole. A
rule without repeats (every rule of the zoo but RGD's leapfrog one, which reads its norm twice)
is returned as it is. The C++ kernel and the fused path take the rule as derived: the C++
compiler and inductor share repeated sub-expressions themselves. A switch on one number per
tensor is taken on the numbers that multiply the tensor (:func:`_switches_on_numbers`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import sympy as sp

from hamopt.codegen.inplace import full_size, planned_form, reads_full
from hamopt.codegen.names import GENERATED_NAMES, first_free, plural, rule_names
from hamopt.rule.reductions import REDUCTIONS
from hamopt.rule.update_rule import Assign, UpdateRule

__all__ = ["computed_once", "passes", "reductions_once"]

#: The name of an intermediate made here (``common``, ``common_2``, …).
NAME = "common"


def passes(expr: sp.Expr, is_tensor: Callable[[sp.Expr], bool]) -> int:
    """About how many passes over memory the in-place planner takes to compute ``expr``: one
    per call on a tensor (a power, a function, a sum or product of two tensors, a number added
    to a tensor), none for a number that multiplies a tensor (it joins a call's ``alpha=`` or
    ``value=``) and none for a tensor by its name."""
    if expr.is_Symbol or not is_tensor(expr):
        return 0
    inner = sum(passes(arg, is_tensor) for arg in expr.args if isinstance(arg, sp.Expr))
    tensors = sum(1 for arg in expr.args if is_tensor(arg))
    if isinstance(expr, sp.Mul):
        return inner + tensors - 1
    if isinstance(expr, sp.Add):
        return inner + tensors - 1 + (tensors < len(expr.args))
    return inner + 1


def computed_once(rule: UpdateRule) -> UpdateRule:
    """``rule`` with each reduction, then each tensor sub-expression, that an equation reads
    more than once bound to an intermediate before it (``exp_avg_norm``; ``common``,
    ``common_2``, …), where that saves a pass; ``rule`` itself where no equation repeats one."""
    taken = _taken(rule)
    rule = _switches_on_numbers(_reductions_once(rule, taken))
    assignments, changed = [], False
    for a in rule.assignments:
        if not rule.is_tensor(a.expr) or a.expr.has(*REDUCTIONS):
            assignments.append(a)
            continue
        common, expr = _shared(planned_form(a.expr, rule.is_tensor), rule, taken)
        if common:
            changed = True
            what = _what(a)
            assignments += [Assign(s, e, f"read more than once by the {what}") for s, e in common]
            a = Assign(a.target, expr, a.doc)
        assignments.append(a)
    return rule.replace(assignments=tuple(assignments)) if changed else rule


def reductions_once(rule: UpdateRule) -> UpdateRule:
    """``rule`` with each reduction that an equation reads more than once bound to an
    intermediate before it (the fused path's graph, where inductor fuses the rest)."""
    return _reductions_once(rule, _taken(rule))


def _taken(rule: UpdateRule) -> set[str]:
    """The names a new intermediate of ``rule`` must not take (nor their plurals)."""
    taken = set(GENERATED_NAMES) | {s.name for s in rule.scalar_symbols}
    for name in rule_names(rule).values():
        taken |= {name, plural(name)}
    return taken


def _reductions_once(rule: UpdateRule, taken: set[str]) -> UpdateRule:
    """``rule`` with each reduction that an equation reads more than once bound to an
    intermediate before it, named after the reduction and its argument (``exp_avg_norm``: its
    record's ``value_name``), an inner one before those that read it."""
    names = rule_names(rule)
    assignments, changed = [], False
    for a in rule.assignments:
        reads = Counter(n for n in sp.postorder_traversal(a.expr) if isinstance(n, REDUCTIONS))
        expr, bound = a.expr, {}  # a reduction as written → its intermediate
        for node, count in reads.items():  # inner ones first: an outer one reads their names
            if count < 2:
                continue
            read = node.xreplace(bound)
            argument = read.args[0]
            base = f"{names[argument]}_{read.value_name}" if argument in names else read.value_name
            symbol = sp.Symbol(_free(taken, base), real=True)
            taken |= {symbol.name, plural(symbol.name)}
            assignments.append(Assign(symbol, read, f"read {count} times by the {_what(a)}"))
            expr, bound[node] = expr.xreplace({read: symbol}), symbol
        if bound:
            changed = True
            a = Assign(a.target, expr, a.doc)
        assignments.append(a)
    return rule.replace(assignments=tuple(assignments)) if changed else rule


def _switches_on_numbers(rule: UpdateRule) -> UpdateRule:
    r"""``rule`` with each switch (``Piecewise``) whose conditions read no full-size tensor
    (``‖v‖ = 0``: one condition per tensor) and whose branches are numbers times one tensor
    expression, the same in every branch, written as that tensor times a switch of numbers:
    :math:`\begin{cases}-\alpha v/2 & \lVert v\rVert = 0\\ -\alpha v
    \tanh\lVert v\rVert/(2\lVert v\rVert) & \text{else}\end{cases} = v\cdot
    \begin{cases}-\alpha/2 & \dots\end{cases}`. ``torch.where`` computes both branches: on
    the tensor, a pass and a full-size temporary each; on the numbers, nothing of the tensor's
    size. Terms that then read the same tensor are collected (one pass for the sum)."""
    full = full_size(rule)
    assignments, changed = [], False
    for a in rule.assignments:
        expr, tensors = a.expr, []
        for node in [n for n in sp.postorder_traversal(a.expr) if isinstance(n, sp.Piecewise)]:
            if any(reads_full(c, full) for _, c in node.args):
                continue
            parts = [e.as_independent(*full, as_Add=False) for e, _ in node.args]
            tensor = parts[0][1]
            if tensor == 1 or any(t != tensor for _, t in parts):
                continue
            numbers = sp.Piecewise(
                *((n, c) for (n, _), (_, c) in zip(parts, node.args, strict=True))
            )
            expr, tensors = expr.xreplace({node: tensor * numbers}), [*tensors, tensor]
        if tensors:
            expr, changed = sp.collect(expr, tensors), True
            a = Assign(a.target, expr, a.doc)
        if reads_full(a.expr, full):
            full.add(a.target)
        assignments.append(a)
    return rule.replace(assignments=tuple(assignments)) if changed else rule


def _what(a: Assign) -> str:
    """The equation ``a`` in words, for the comment of an intermediate it reads."""
    return a.doc.split(":")[0] or f"update of {a.target.name}"


def _shared(
    expr: sp.Expr, rule: UpdateRule, taken: set[str]
) -> tuple[list[tuple[sp.Symbol, sp.Expr]], sp.Expr]:
    """The intermediates of ``expr`` (symbol, expression), each after those it reads, and
    ``expr`` reading them.

    SymPy's ``cse`` finds the repeated sub-expressions, sub-products and sub-sums included;
    of what it finds, one is kept where it is a tensor expression that costs a pass
    (:func:`passes`), its factors without tensors left to the equation (``c·v/(2x)`` keeps
    ``v/x``: the numbers join a call there) and of a divisor its base (``1/x`` keeps ``x``:
    the equation divides by it, one call, where a reciprocal first would be one more), holds
    no reduction, and is read at least twice; the others are put back where they were read."""
    found, (reduced,) = sp.cse(expr, order="none")
    made: dict[sp.Symbol, sp.Expr] = {}
    back: dict[sp.Symbol, sp.Expr] = {}  # a found one that is not kept → what it stands for

    def is_tensor(e: sp.Expr) -> bool:
        return rule.is_tensor(e) or bool(e.free_symbols & made.keys())

    for symbol, body in found:
        body = body.xreplace(back)
        if not isinstance(body, sp.Expr):  # a condition of a Piecewise
            back[symbol] = body
            continue
        numbers, tensors = body.as_independent(*rule.tensor_symbols, *made, as_Add=False)
        power = 1
        if tensors.is_Pow and tensors.exp.is_negative:  # a divisor: its base is bound
            tensors, power = tensors.base, tensors.exp
        if not is_tensor(tensors) or passes(tensors, is_tensor) == 0 or tensors.has(*REDUCTIONS):
            back[symbol] = body
            continue
        made[symbol] = tensors
        back[symbol] = numbers * symbol**power
    reduced = reduced.xreplace(back)
    while True:  # one read only: put back
        reads = Counter(
            s for body in (*made.values(), reduced) for s in _occurrences(body, made.keys())
        )
        once = next((s for s in made if reads[s] < 2), None)
        if once is None:
            break
        body = made.pop(once)
        made = {s: b.xreplace({once: body}) for s, b in made.items()}
        reduced = reduced.xreplace({once: body})
    names = {}
    for symbol in made:
        names[symbol] = sp.Symbol(_free(taken), real=True)
        taken |= {names[symbol].name, plural(names[symbol].name)}
    ordered = [(names[s], body.xreplace(names)) for s, body in made.items()]
    return ordered, reduced.xreplace(names)


def _occurrences(expr: sp.Expr, symbols) -> list[sp.Symbol]:
    """Each place in ``expr``'s tree where one of ``symbols`` is read."""
    return [node for node in sp.preorder_traversal(expr) if node in symbols]


def _free(taken: set[str], base: str = NAME) -> str:
    """The first of ``base``, ``base_2``, … (``common``, …) that no symbol, list or generated
    name takes."""
    return first_free(base, lambda name: name in taken or plural(name) in taken)
