r"""Printers of an in-place :class:`~hamopt.codegen.inplace.Plan`: on one tensor, on lists.

* :func:`single_statement` — one line, a chain of method calls, each in place where its base
  may be overwritten (``exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)``), else
  out of place (``exp_avg_sq.sqrt()``); a tensor made in the chain
  dies with the statement. A call in place on the result of a call in
  :data:`~hamopt.codegen.inplace.SAVES_RESULT` takes it through the runtime's ``before``
  (itself, or under autograd — ``differentiable=True`` — a copy, so that the saved result
  stays as it was): ``before(exp_avg_sq.sqrt()).add_(math.sqrt(bias_correction2)*eps)``.
* :class:`ForeachWriter` — the same calls as ``torch._foreach_<op>_`` statements on lists (one
  a line: they return None); a chain that needs a list of its own gets a name from its role in
  the call that reads it (``denoms`` for the divisor of ``addcdiv``), deleted after the line
  that reads it last; a call that makes a new list from one read there for the last time runs
  in place on it instead (:func:`freed`). The foreach path never runs under autograd, so
  every call after the first that makes a new list is in place.

Both print the same calls in the same order: the two paths compute the same numbers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Mapping

import sympy as sp
import torch

from hamopt.codegen.inplace import SAVES_RESULT, Call, Leaf, Node, Opaque, Plan
from hamopt.codegen.names import FOREACH_COPY, first_free
from hamopt.codegen.printer import ForeachUnsupported, TensorPrinter

__all__ = ["ForeachWriter", "aliased", "freed", "single_statement"]

#: The keyword of a call's number beside tensors (the others take it positionally): on one
#: tensor, on lists (``torch._foreach_addcdiv_`` takes its numbers as the fourth argument).
_KEYWORD = {"add": "alpha", "sub": "alpha", "addcmul": "value", "addcdiv": "value"}
_FOREACH_KEYWORD = {"add": "alpha", "sub": "alpha"}
#: One tensor: in-place methods whose name is not ``<op>_`` (torch.maximum has no method
#: ``maximum_``; ``clamp_min_`` with a tensor is the same elementwise maximum, NaN included).
_SINGLE_INPLACE = {"maximum": "clamp_min_", "minimum": "clamp_max_"}
#: Lists: the unary calls with a ``torch._foreach_*`` form.
_FOREACH_UNARY = frozenset(
    {"sqrt", "rsqrt", "reciprocal", "neg", "abs", "sign", "exp", "log", "log1p", "expm1"}
    | {"sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh"}
)
_UNARY = _FOREACH_UNARY | {"square", "asinh", "acosh", "atanh"}
#: The role of a call's tensor operands: the name of a list made for one (ForeachWriter).
_ROLES = {"addcdiv": ("terms", "denoms"), "div": ("denoms",), "mul": ("factors",)}
_ROLES |= {"addcmul": ("factors", "factors"), "lerp": ("ends",), "copy": ("sources",)}
_ROLES |= {"maximum": ("bounds",), "minimum": ("bounds",)}


def single_statement(plan: Plan, printer: TensorPrinter, target: str) -> str:
    """The plan's equation on one tensor, the target named ``target``."""
    code, _ = _single(plan.node, printer)
    if plan.mode == "update":
        return code
    if plan.mode == "copy":
        return f"{target}.copy_({code})"
    return f"{target} = {code}"


def _single(node: Node, printer: TensorPrinter) -> tuple[str, str]:
    """Source of ``node`` on one tensor, and what a call may do to its value: ``"own"``
    overwrite it, ``"kept"`` overwrite it through ``before`` (autograd saved it), ``"read"``
    only read it (a call on it is out of place)."""
    if isinstance(node, Leaf):
        return printer.formed(node.symbol), (
            ("kept" if node.saved else "own") if node.owned else "read"
        )
    if isinstance(node, Opaque):  # a new tensor, or one of the rule's (a Python conditional)
        return printer.formed(node.expr), "read"
    base, state = _single(node.base, printer)
    args = [_single(t, printer)[0] for t in node.tensors]
    args += _scalar_args(node, printer.formed, _KEYWORD)
    if node.op == "clone":
        method = "clone"
    elif node.op == "copy" or state != "read":
        method = _SINGLE_INPLACE.get(node.op, node.op + "_")
        base = f"before({base})" if state == "kept" else _receiver(base)
    else:
        method, base = node.op, _receiver(base)
    return f"{base}.{method}({', '.join(args)})", "kept" if node.op in SAVES_RESULT else "own"


def _scalar_args(
    node: Call, formed: Callable[[sp.Expr], str], keywords: Mapping[str, str]
) -> list[str]:
    """The call's number as an argument: none for a factor 1 beside tensors."""
    if node.scalar is None or (node.tensors and node.scalar == 1):
        return []
    keyword = keywords.get(node.op) if node.tensors else None
    return [f"{keyword}={formed(node.scalar)}" if keyword else formed(node.scalar)]


def freed(lines: list[str], names: list[str], consumable: Collection[str] = ()) -> list[str]:
    """``lines`` with each list of ``names`` deleted after the statement that reads it last,
    so that a step holds no list longer than it is read (``denoms`` of one ``addcdiv_`` is gone
    before the next call makes its own). A statement is a line without indentation and the
    indented lines under it (a loop, an ``if`` with its ``else``): a ``del`` never lands
    inside one; one right after another ``del`` joins it.

    A list of ``consumable`` (the step's own, which nothing else holds) whose last read makes
    a new list from it, ``x = torch._foreach_<op>(name, …)``, is that list instead: the call
    in place on it, ``torch._foreach_<op>_(name, …)``, then ``x = name``."""
    statements: list[list[str]] = []
    for line in lines:
        if statements and (line[:1].isspace() or line.startswith(("else:", "elif "))):
            statements[-1].append(line)
        else:
            statements.append([line])

    def reads(statement: list[str], name: str) -> bool:
        pattern = rf"\b{re.escape(name)}\b"
        return not statement[0].startswith("del ") and any(
            re.search(pattern, ln) for ln in statement
        )

    last = {}
    for name in names:
        at = [k for k, statement in enumerate(statements) if reads(statement, name)]
        if at:
            last[name] = at[-1]
    out: list[str] = []
    for k, statement in enumerate(statements):
        if statement[0].startswith("del ") and out and out[-1].startswith("del "):
            out[-1] += ", " + statement[0][4:]
            continue
        dead = [name for name in names if last.get(name) == k]
        mine = [name for name in dead if name in consumable]
        out += (_consumed(statement, mine[0]) if len(mine) == 1 else None) or statement
        if dead:
            out.append(f"del {', '.join(dead)}")
    return out


_MAKES = re.compile(r"(\w+) = torch\._foreach_(\w+)\((\w+)(, .*)?\)")
_ALIAS = re.compile(r"\s*(\w+) = (\w+)")


def aliased(lines: Iterable[str]) -> set[str]:
    """The names that a statement ``x = y`` among ``lines`` binds to one list, both x and y:
    neither is a step's own list to overwrite (y may be the user's gradients; x may be read
    after y's last read)."""
    return {name for line in lines if (m := _ALIAS.fullmatch(line)) for name in m.groups()}


def _consumed(statement: list[str], name: str) -> list[str] | None:
    """``x = torch._foreach_<op>(name, …)`` (one line; ``…`` does not read ``name``) as the
    call in place on ``name``, then ``x = name``; else None."""
    code, *comment = statement[0].split("  # ", 1)
    match = _MAKES.fullmatch(code) if len(statement) == 1 else None
    if match is None or match[3] != name or not hasattr(torch, f"_foreach_{match[2]}_"):
        return None
    target, op, rest = match[1], match[2], match[4] or ""
    if re.search(rf"\b{re.escape(name)}\b", rest):
        return None
    call = f"torch._foreach_{op}_({name}{rest})" + "".join(f"  # {c}" for c in comment)
    return [call, f"{target} = {name}"]


def _receiver(code: str) -> str:
    """``code`` as the object of a method call: in parentheses unless a name or a call."""
    body = ast.parse(code, mode="eval").body
    return (
        code
        if isinstance(body, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))
        else f"({code})"
    )


class ForeachWriter:
    """Statements of plans on lists of tensors.

    ``names``: each symbol's list; ``formed(expr)`` → ``(source, kind)``, kind ``"T"`` (a list
    of tensors), ``"S"`` (a list of numbers, one per tensor) or ``"c"`` (one number), of a
    sub-expression the calls do not cover (:func:`~hamopt.codegen.printer.foreach_code`'s
    printer); ``reserved``: names a list made here may not take.
    """

    def __init__(
        self,
        names: Mapping[sp.Symbol, str],
        formed: Callable[[sp.Expr], tuple[str, str]],
        reserved: set[str],
    ):
        self.names, self.formed, self.reserved = names, formed, reserved

    def statements(self, plan: Plan) -> list[str]:
        """The plan's equation; raises ForeachUnsupported where a call has no list form."""
        self.lines: list[str] = []
        self.made: list[str] = []
        target = self.names[plan.assignment.target]
        if plan.mode == "update":
            self._list(plan.node, lambda: target)
        elif plan.mode == "copy":
            value, _ = self._list(plan.node, lambda: self._name("results"))
            self.lines.append(f"{FOREACH_COPY}({target}, {value})")
        else:
            value, _ = self._list(plan.node, lambda: target)
            if value != target:
                self.lines.append(f"{target} = {value}")
        made = [n for n in self.made if n != target]
        return freed(self.lines, made, consumable=set(made) - aliased(self.lines))

    def _name(self, role: str) -> str:
        name = first_free(role, lambda n: n in self.reserved or n in self.made)
        self.made.append(name)
        return name

    def _list(self, node: Node, name: Callable[[], str]) -> tuple[str, str]:
        """Source of ``node``'s list and what it is: ``"owned"`` (a name that may be
        overwritten), ``"read"`` (one that may not) or ``"new"`` (an expression making a list,
        which a call in place must name first); ``name()`` names the list the chain makes."""
        if isinstance(node, Leaf):
            return self.names[node.symbol], "owned" if node.owned else "read"
        if isinstance(node, Opaque):
            code, kind = self.formed(node.expr)
            if kind != "T":
                raise ValueError(f"internal: {node.expr} is not a tensor on the foreach path")
            return code, "new"
        if node.op == "copy":
            target = self.names[node.base.symbol]
            self.lines.append(f"{FOREACH_COPY}({target}, {self._operand(node, 0)})")
            return target, "owned"
        base, what = self._list(node.base, name)
        if node.op == "clone":
            return f"[x.clone() for x in {base}]", "new"
        if node.op in _UNARY and node.op not in _FOREACH_UNARY | {"square"}:
            raise ForeachUnsupported(f"no torch._foreach_{node.op}")
        if what == "new":
            made = name()
            self.lines.append(f"{made} = {base}")
            base, what = made, "owned"
        args = [base, *(self._operand(node, i) for i in range(len(node.tensors)))]
        if node.op == "square":
            args.append(base)
        args += _scalar_args(node, lambda c: self._number(node, c), _FOREACH_KEYWORD)
        op = "mul" if node.op == "square" else node.op
        if what == "owned":
            self.lines.append(f"torch._foreach_{op}_({', '.join(args)})")
            return base, "owned"
        return f"torch._foreach_{op}({', '.join(args)})", "new"

    def _operand(self, node: Call, i: int) -> str:
        role = _ROLES.get(node.op, ("terms",))[i]
        return self._list(node.tensors[i], lambda: self._name(role))[0]

    def _number(self, node: Call, c: sp.Expr) -> str:
        code, kind = self.formed(c)
        if kind == "S" and node.tensors and node.op in _FOREACH_KEYWORD:
            raise ValueError(f"internal: torch._foreach_{node.op}_ takes one alpha, not {c}")
        return code
