r"""Generation of an optimizer module for a scheme with several kicks per step.

A one-gradient scheme (Euler, leapfrog) becomes an :class:`~hamopt.rule.update_rule.UpdateRule`
and goes through :mod:`hamopt.codegen.module`. A scheme with several kicks K needs the gradient
at intermediate positions (Yoshida's triple jump has three kicks). Its optimizer therefore
walks the scheme's rows itself and evaluates the loss again at every kick through
``step(closure)``, as ``torch.optim.LBFGS`` does. The generated module holds what is specific
to the derivation:

* ``_ROWS`` — the scheme table: ``(sub-flow, fraction of h)`` per row, the fraction as a float
  with its exact value in a comment;
* ``_velocity(momentum, *, <energy parameters>)`` — :math:`\nabla T(p)` printed from SymPy,
  one line per equation, with the equation in a comment;
* the class. Its docstring holds the derivation. It holds its arguments as a table
  (``ARGUMENTS``, the runtime's ``real`` rows with their ranges), ``SCHEME``, ``ROWS``, and the
  equations of the sub-flows on one param group, which the step applies row by row:

  ==== ========================================================================
  D    :math:`p \leftarrow \beta^f p \;(= e^{-r f h} p)`
  F    :math:`\theta \leftarrow \theta + f h\, \nabla T(p)`
  K    ``closure()``, then :math:`p \leftarrow p - f h\,(g + \lambda\theta)`
  ==== ========================================================================

  Here ``lr`` :math:`= h`, ``beta1`` :math:`= \beta = e^{-rh}` (the momentum's decay over a
  whole step), ``weight_decay`` :math:`= \lambda`, and :math:`f` is the row's fraction.

The class derives from :class:`hamopt.runtime.GeneratedMultiGradientOptimizer`. That base walks
the rows, calls the closure at each kick, and does the rest: it checks the arguments,
``load_state_dict``, and the gradients at every kick (``nonfinite``). The module imports the
runtime. For an exported module, :func:`hamopt.codegen.inline.standalone` inlines the runtime,
so the module needs only torch. Generation is deterministic: the same inputs give
byte-identical source.
"""

from __future__ import annotations

import ast
import keyword
import re
import textwrap
from collections.abc import Iterator, Sequence

import sympy as sp

from hamopt.codegen.module import HEADER
from hamopt.codegen.printer import TensorPrinter
from hamopt.kinetic.energy import KineticEnergy
from hamopt.rule.hyperparameter import REQUIRED, Hyperparameter
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import Norm
from hamopt.symbols import p as P

__all__ = [
    "BOUND_NAMES",
    "FLOW_NAMES",
    "fraction_text",
    "generate_multigradient_module",
    "kicks",
    "velocity_equations",
]

#: Names an energy parameter may not take: it is an argument of ``_velocity`` beside its locals
#: and the modules it reads, and a key of each param group beside the others.
BOUND_NAMES = frozenset(
    {"momentum", "norm", "math", "torch"}
    | {"params", "lr", "beta1", "weight_decay", "maximize", "nonfinite"}
)

#: Names of the sub-flows, for comments and docstrings.
FLOW_NAMES = {"D": "dissipation", "K": "kick", "F": "drift"}

_NORM = sp.Symbol("norm", nonnegative=True)


def kicks(scheme: Scheme) -> int:
    """Number of kicks K of ``scheme``: gradient evaluations (closure calls) per step.

    >>> from hamopt.schemes import leapfrog, yoshida
    >>> kicks(yoshida), kicks(leapfrog)
    (3, 1)
    """
    return sum(1 for flow, _ in scheme.rows if flow == "K")


def fraction_text(fraction: sp.Expr) -> str:
    """A fraction of ``h`` as readable exact text.

    >>> fraction_text(1 / (2 - sp.cbrt(2)) / 2 - sp.cbrt(2) / (2 - sp.cbrt(2)) / 2)
    '(1 - 2**(1/3))/(2*(2 - 2**(1/3)))'
    """
    return sp.sstr(sp.together(fraction))


def velocity_equations(kinetic: KineticEnergy) -> tuple[sp.Expr, list[tuple[sp.Symbol, sp.Expr]]]:
    r""":math:`\nabla T(p)` as an expression in ``p`` (and ``norm`` = :math:`\lVert p\rVert`
    over the tensor for a norm-coupled energy) and the energy's parameter symbols, with the
    common sub-expressions it repeats as ``(name, expression)`` equations.

    Raises ``ValueError`` for a norm-coupled energy over all parameters (``scope="global"``):
    its group is the whole model, which a per-tensor drift cannot see.
    """
    if kinetic.coupling == "norm":
        if kinetic.scope != "tensor":
            raise ValueError(
                f"the {kinetic.name} energy is norm-coupled over all parameters "
                "(scope='global'); a multi-gradient optimizer supports per-tensor norms only"
            )
        velocity = kinetic.representative_velocity(P).replace(Norm, lambda arg: _norm(arg))
    else:
        velocity = kinetic.velocity_expr
    allowed = {P, _NORM} | {prm.symbol for prm in kinetic.params}
    extra = sorted(map(str, velocity.free_symbols - allowed))
    if extra:
        raise ValueError(f"the velocity of {kinetic.name} depends on undeclared symbols {extra}")
    taken = {prm.name for prm in kinetic.params} | BOUND_NAMES
    common, (velocity,) = sp.cse(velocity, symbols=_fresh("common", taken), order="canonical")
    return velocity, list(common)


def _norm(arg: sp.Expr) -> sp.Expr:
    if arg != P:
        raise ValueError(f"internal: the velocity takes the norm of {arg}, not of p")
    return _NORM


def _fresh(stem: str, taken: set[str]) -> Iterator[sp.Symbol]:
    """``stem0, stem1, …`` skipping names in ``taken``."""
    k = 0
    while True:
        if f"{stem}{k}" not in taken:
            yield sp.Symbol(f"{stem}{k}", real=True)
        k += 1


# -- pieces of the module ------------------------------------------------------------------------
def _rows_table(scheme: Scheme) -> str:
    lines = [
        f"#: The {scheme.name} scheme, applied top to bottom: (sub-flow, fraction of the step h).",
        "_ROWS = (",
    ]
    for flow, frac in scheme.rows:
        lines.append(
            f'    ("{flow}", {float(frac)!r}),  # {FLOW_NAMES[flow]}, {fraction_text(frac)}'
        )
    lines.append(")")
    return "\n".join(lines)


def _velocity_function(kinetic: KineticEnergy) -> str:
    velocity, common = velocity_equations(kinetic)
    names = {P: "momentum", _NORM: "norm"} | {prm.symbol: prm.name for prm in kinetic.params}
    tensors = {P, _NORM} | {sym for sym, _ in common}
    printer = TensorPrinter(names, lambda e: bool(e.free_symbols & tensors))
    args = ["momentum"] + (["*", *(prm.name for prm in kinetic.params)] if kinetic.params else [])
    show = {P: sp.Symbol("p"), _NORM: sp.Symbol("‖p‖")}
    what = "elementwise" if kinetic.coupling == "particle" else "‖p‖ the norm over the tensor"
    lines = [
        f"def _velocity({', '.join(args)}):",
        f'    """∇T(p) of the {kinetic.name} energy, {what}:',
        "",
        f"    T(p) = {_energy_text(kinetic)}",
        '    """',
    ]
    if _NORM in velocity.free_symbols or any(_NORM in e.free_symbols for _, e in common):
        lines.append("    norm = torch.linalg.vector_norm(momentum)  # ‖p‖")
    for sym, expr in common:
        lines.append(f"    {sym.name} = {_code(printer, expr)}  # {sp.sstr(expr.xreplace(show))}")
    lines.append(f"    # ∇T(p) = {sp.sstr(velocity.xreplace(show))}")
    lines.append(f"    return {_code(printer, velocity)}")
    return "\n".join(lines)


def _code(printer: TensorPrinter, expr: sp.Expr) -> str:
    """Python source of ``expr``, spaced as by hand: ``a * b`` and ``a**2`` (simple operands
    hug ``**``), not SymPy's ``a*b``."""
    code = ast.unparse(ast.parse(printer.doprint(expr), mode="eval"))
    return _SIMPLE_POWER.sub(r"\1**\2", code)


_SIMPLE = r"(?:[A-Za-z_][\w.]*|\d+(?:\.\d+)?)"
_SIMPLE_POWER = re.compile(rf"(?<![\w.])({_SIMPLE}) \*\* ({_SIMPLE})(?![\w.(\[])")


def _energy_text(kinetic: KineticEnergy) -> str:
    if kinetic.coupling == "particle":
        return f"Σ {sp.sstr(kinetic.expr)}"
    return sp.sstr(kinetic.expr.xreplace({P: sp.Symbol("‖p‖")}))


def _wrapped(head: str, items: Sequence[str], tail: str, indent: int) -> str:
    """``head + items + tail`` on one line if it fits in 100 columns, else the items on their
    own line, else one per line (the layout of ``ruff format``); the first line unindented."""
    pad, width = " " * indent, 100
    line = head + ", ".join(items) + tail
    if indent + len(line) <= width:
        return line
    inner = ", ".join(items)
    if indent + 4 + len(inner) <= width:
        return f"{head}\n{pad}    {inner}\n{pad}{tail}"
    body = "".join(f"{pad}    {item},\n" for item in items)
    return f"{head}\n{body}{pad}{tail}"


def _default_text(hp: Hyperparameter) -> str:
    return "REQUIRED" if hp.default is REQUIRED else repr(hp.default)


def _class_docstring(
    summary: str,
    scheme: Scheme,
    hyperparameters: Sequence[Hyperparameter],
    latex: str,
    provenance: Sequence[str],
) -> str:
    n = kicks(scheme)
    parts = [
        summary,
        "",
        f"One step applies the {len(scheme.rows)} rows of the {scheme.name} scheme "
        f"(order {scheme.order}) to",
        "the parameters θ and their momenta p, h = lr:",
        "",
        ".. math::",
        "",
        *("    " + ln for ln in latex.splitlines()),
        "",
        *(f"* {ln}" for ln in provenance),
        "",
        f"``step(closure)`` needs a closure, as for ``torch.optim.LBFGS``: the scheme has {n} "
        f"kick{'s' if n != 1 else ''},",
        f"each at a new position, so the closure is called {n} time{'s' if n != 1 else ''} "
        "per step to re-evaluate the",
        "loss and its gradients there. A parameter whose gradient is None at a kick gets no kick",
        "(and no state until its first gradient).",
        "",
        "Arguments:",
        *(
            f"    {hp.name} (default {_default_text(hp).replace('REQUIRED', 'required')}): {hp.doc}"
            for hp in hyperparameters
        ),
        "    maximize, nonfinite (keyword-only): the runtime's options, documented with the",
        "        checks of every input in ``hamopt.runtime.GeneratedMultiGradientOptimizer``.",
    ]
    return 'r"""' + "\n".join(parts).rstrip().replace('"""', "'''") + '\n"""'


def _argument_table(hyperparameters: Sequence[Hyperparameter]) -> list[str]:
    """``ARGUMENTS = (...)``: one ``real`` row per hyperparameter, with its range."""
    rows = [
        f'        real("{hp.name}", {_default_text(hp)}, "{hp.range_text()}"),'
        for hp in hyperparameters
    ]
    return ["    ARGUMENTS = (", *rows, "    )"]


#: The sub-flows D, F and K on one param group: the step's equations. ``{drift}`` is the line
#: that moves a parameter by its velocity.
_SUB_FLOWS = '''    def _dissipate(self, group, fraction):
        """D: p ← β₁^f p (β₁^f = exp(-r f h)) for each parameter that has a momentum."""
        decay = group["beta1"] ** fraction
        for param in group["params"]:
            if param in self.state:  # it has had a gradient
                self.state[param]["momentum"].mul_(decay)

    def _drift(self, group, fraction):
        """F: θ ← θ + f h ∇T(p) for each parameter that has a momentum."""
        t = fraction * group["lr"]
        for param in group["params"]:
            if param in self.state:  # it has had a gradient
                momentum = self.state[param]["momentum"]
                {drift}

    def _kick(self, group, fraction):
        """K: p ← p - f h (g + λθ), g the gradient the closure left in ``.grad``."""
        t = fraction * group["lr"]
        for param in group["params"]:
            if param.grad is None:
                continue  # no kick, and no state until its first gradient
            grad = param.grad if not group["maximize"] else -param.grad
            if group["weight_decay"] != 0:
                grad = grad.add(param, alpha=group["weight_decay"])  # g + λθ
            state = self.state[param]
            if "momentum" not in state:
                state["momentum"] = self._initial("momentum", param)  # p = 0
            state["momentum"].add_(grad, alpha=-t)'''


def _class(
    name: str,
    kinetic: KineticEnergy,
    scheme: Scheme,
    hyperparameters: Sequence[Hyperparameter],
    docstring: str,
) -> str:
    arguments = [*(hp.name for hp in hyperparameters), "maximize", "nonfinite"]
    signature = [
        "self",
        "params",
        *(f"{hp.name}={_default_text(hp)}" for hp in hyperparameters),
        "*",
        "maximize=False",
        'nonfinite="raise"',
    ]
    energy = [f'{prm.name}=group["{prm.name}"]' for prm in kinetic.params]
    drift = f"param.add_(_velocity({', '.join(['momentum', *energy])}), alpha=t)"
    if 16 + len(drift) > 100:  # as ruff format would wrap it
        velocity = _wrapped("velocity = _velocity(", ["momentum", *energy], ")", 16)
        drift = f"{velocity}\n{' ' * 16}param.add_(velocity, alpha=t)"
    lines = [
        f"class {name}(GeneratedMultiGradientOptimizer):",
        textwrap.indent(docstring, "    "),
        "",
        *_argument_table(hyperparameters),
        f'    SCHEME = "{scheme.name}"',
        "    ROWS = _ROWS",
        "",
        "    " + _wrapped("def __init__(", signature, "):", 4),
        "        " + _wrapped("defaults = dict(", [f"{a}={a}" for a in arguments], ")", 8),
        "        super().__init__(params, defaults)",
        "",
        _SUB_FLOWS.replace("{drift}", drift),
    ]
    return "\n".join(lines)


def generate_multigradient_module(
    name: str,
    kinetic: KineticEnergy,
    scheme: Scheme,
    hyperparameters: Sequence[Hyperparameter],
    *,
    summary: str,
    latex: str,
    provenance: Sequence[str] = (),
    command: str = "hamopt.derive(...)",
) -> str:
    r"""Python source of a module holding the ``kinetic`` × ``scheme`` optimizer ``name``.

    Parameters
    ----------
    name
        The class name (an identifier that is no keyword).
    kinetic
        The kinetic energy; its velocity :math:`\nabla T(p)` is printed into ``_velocity``.
    scheme
        A scheme of D, K and F rows with at least one kick.
    hyperparameters
        Constructor arguments in order: ``lr`` (:math:`h`), ``beta1`` (:math:`e^{-rh}`), the
        energy's parameters (named as in ``kinetic``) and ``weight_decay`` (:math:`\lambda`);
        the runtime's options ``maximize`` and ``nonfinite`` follow, keyword-only.
    summary, latex, provenance
        The class docstring's first line, its equations (a LaTeX ``aligned`` block) and its
        provenance lines.
    command
        How to regenerate the module (in its header).
    """
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"name must be a Python identifier that is no keyword, got {name!r}")
    unsupported = sorted({flow for flow, _ in scheme.rows} - set(FLOW_NAMES))
    if unsupported:
        raise ValueError(
            f"scheme {scheme.name} has {unsupported} rows; a multi-gradient optimizer applies "
            "the exact sub-flows D, K and F only"
        )
    reserved = sorted({prm.name for prm in kinetic.params} & BOUND_NAMES)
    if reserved:
        raise ValueError(f"energy parameter(s) {reserved} would shadow the module's own names")
    if kicks(scheme) == 0:
        raise ValueError(f"scheme {scheme.name} has no kick: it never reads a gradient")
    names = [hp.name for hp in hyperparameters]
    required = {"lr", "beta1", "weight_decay"} | {prm.name for prm in kinetic.params}
    if set(names) != required or len(names) != len(required):
        raise ValueError(f"hyperparameters must be {sorted(required)} once each, got {names}")
    if any(hp.kind != "real" or hp.is_pair or hp.optional for hp in hyperparameters):
        raise ValueError("every hyperparameter of a multi-gradient optimizer is one real number")
    docstring = _class_docstring(summary, scheme, hyperparameters, latex, provenance)
    velocity = _velocity_function(kinetic)
    code = "\n\n\n".join(
        [
            _rows_table(scheme),
            velocity,
            _class(name, kinetic, scheme, hyperparameters, docstring),
        ]
    )
    runtime = ["REQUIRED"] if any(hp.default is REQUIRED for hp in hyperparameters) else []
    runtime += ["GeneratedMultiGradientOptimizer", "real"]
    imports = [  # the velocity is the only code that may call math or torch
        f"import {module}" for module in ("math", "torch") if re.search(rf"\b{module}\.", velocity)
    ]
    imports.append(f"from hamopt.runtime import {', '.join(runtime)}")
    module_doc = (
        f'"""{name}: {summary}\n\nDerived and generated by hamopt; see the class docstring."""'
    )
    head = "\n\n".join([HEADER.format(command=command) + module_doc, *imports])
    return f'{head}\n\n__all__ = ["{name}"]\n\n\n{code}\n'
