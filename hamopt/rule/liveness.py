"""Dead parts of a rule: buffers written but never read, arguments taken but never used.

A closure that has nothing to act on leaves such parts behind — a second-moment buffer that
the step never reads, a ``beta2`` that changes nothing. :func:`dead_parts` finds them, so that
derivations refuse them and a test holds the zoo to the same standard.
"""

from __future__ import annotations

from hamopt.rule.spec import OptimizerSpec

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
    for _, rule in spec.variants:
        for buf in rule.buffers:
            readers = [
                a for a in rule.assignments if a.target != buf.symbol and a.expr.has(buf.symbol)
            ]
            if not readers:
                problems.append(f"buffer {buf.name} of rule {rule.name} is written but never read")
    used = set()
    for _, rule in spec.variants:
        for a in rule.assignments:
            used |= a.expr.free_symbols
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
