"""Dead parts of a rule: buffers and quantities computed but never read, arguments never used.

A closure that has nothing to act on leaves such parts behind — a second-moment buffer that
the step never reads, a bias correction that nothing divides by, a ``beta2`` that changes
nothing. :func:`dead_parts` finds them, so that derivations refuse them and a test holds the
zoo to the same standard.

What is read is found backwards from the parameter's update: an assignment is live when its
target is (the parameter, or a symbol a live assignment reads), until nothing changes. A
buffer's own update reads the buffer, but does not make it live.
"""

from __future__ import annotations

import sympy as sp

from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import UpdateRule, param

__all__ = ["dead_parts"]


def dead_parts(spec: OptimizerSpec, inert: tuple[str, ...] = ()) -> list[str]:
    """Sentences naming each dead buffer and unused argument of ``spec`` (empty: none).

    A buffer is read when an assignment other than its own update uses it, in some variant.
    A real argument is used when one of its symbols appears in some assignment of some
    variant, and a pair (``betas``) only when each of its symbols does; an integer, boolean or
    optional argument when a variant's condition or a constructor check names it. ``inert``
    lists arguments accepted for a reference's signature only (they are reported when they
    *are* used).
    """
    problems = []
    used: set[sp.Symbol] = set()
    for _, rule in spec.variants:
        read = _read(rule)
        used |= read
        buffers = {b.symbol for b in rule.buffers}
        which = f"rule {rule.name}" if len(spec.variants) > 1 else "the rule"
        for buf in rule.buffers:
            if buf.symbol not in read:
                problems.append(f"buffer {buf.name} of {which} is written but never read")
        for target in dict.fromkeys(a.target for a in rule.assignments):
            if target not in read and target not in buffers and target != param:
                problems.append(f"{target.name} of {which} is computed but never read")
    conditions = " ".join(cond for cond, _ in spec.variants) + " ".join(
        bad for bad, _ in spec.checks
    )
    for hp in spec.hyperparameters:
        alive = any(s in used for s in hp.symbols) or f'"{hp.name}"' in conditions
        if hp.name in inert:
            if alive:
                problems.append(f"argument {hp.name} is declared inert but is used")
        elif not alive:
            problems.append(f"argument {hp.name} is taken but changes nothing")
        elif len(hp.symbols) > 1:  # a pair: each of its numbers must be read
            problems += [
                f"argument {hp.name}: its {s} changes nothing" for s in hp.symbols if s not in used
            ]
    return problems


def _read(rule: UpdateRule) -> set[sp.Symbol]:
    """The symbols the parameter's update reads, through every assignment it depends on."""
    live = {param}
    read: set[sp.Symbol] = set()
    while True:
        grown = set(read)
        for a in rule.assignments:
            if a.target in live:
                own = {a.target} if a.target != param else set()
                grown |= a.expr.free_symbols - own  # a buffer's own update does not read it live
        if grown == read:
            return read
        read = grown
        live = {param} | read
