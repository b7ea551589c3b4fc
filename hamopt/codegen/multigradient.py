r"""Generation of a standalone optimizer module for a scheme with several kicks per step.

A one-gradient scheme (Euler, leapfrog) becomes an :class:`~hamopt.rule.update_rule.UpdateRule`
and goes through :mod:`hamopt.codegen.module`. A scheme with several kicks K — Yoshida's
triple jump takes three — needs the gradient at intermediate positions, so its optimizer walks
the scheme's rows itself and re-evaluates the loss at every kick through ``step(closure)``, as
``torch.optim.LBFGS`` does. The generated module holds

* ``_ROWS`` — the scheme table: ``(sub-flow, fraction of h)`` per row, the fraction as a float
  with its exact value in a comment;
* ``_velocity(momentum, *, <energy parameters>)`` — :math:`\nabla T(p)` printed from SymPy,
  one line per equation, with the equation in a comment;
* ``_check_arguments`` — the constructor's checks (``TypeError`` for a wrong type,
  ``ValueError`` out of range, both naming the argument), run again by ``add_param_group`` and
  ``load_state_dict``;
* the ``torch.optim.Optimizer`` subclass, whose only state per parameter is the physical
  momentum ``momentum`` (:math:`p`), and whose ``step(closure)`` applies, for every row,

  ==== ========================================================================
  D    :math:`p \leftarrow \beta^f p \;(= e^{-r f h} p)`
  F    :math:`\theta \leftarrow \theta + f h\, \nabla T(p)`
  K    ``closure()``, then :math:`p \leftarrow p - f h\,(g + \lambda\theta)`
  ==== ========================================================================

  with ``lr`` :math:`= h`, ``beta`` :math:`= \beta = e^{-rh}` (the momentum's decay over a
  whole step), ``weight_decay`` :math:`= \lambda` and :math:`f` the row's fraction.

The module imports only ``math`` and ``torch``. Generation is deterministic: the same inputs
give byte-identical source.
"""

from __future__ import annotations

import ast
import keyword
import re
import string
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

#: Names the generated module binds where an energy parameter is a local variable
#: (``_velocity``'s arguments) or a group key: an energy parameter may not take them.
BOUND_NAMES = frozenset({"momentum", "norm", "lr", "beta", "weight_decay", "maximize"})

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
    return "_REQUIRED" if hp.default is REQUIRED else repr(hp.default)


def _check_function(name: str, hyperparameters: Sequence[Hyperparameter]) -> str:
    arguments = [hp.name for hp in hyperparameters] + ["maximize"]
    lines = [
        f"def _check_arguments({', '.join(arguments)}):",
        '    """Raise TypeError (a wrong type) or ValueError (out of range) naming the argument."""',
    ]
    for hp in hyperparameters:
        n = hp.name
        if hp.default is REQUIRED:
            lines.append(f"    if {n} is _REQUIRED:")
            lines.append(f'        raise TypeError("{name}: missing required argument {n}")')
        lines.append(f"    if isinstance({n}, bool) or not isinstance({n}, (int, float)):")
        lines.append(
            f'        raise TypeError(f"{name}: {n} must be a real number, got {{{n}!r}}")'
        )
        lines.append(f"    if not {_inside(n, hp.intervals[0])}:  # NaN is in no interval")
        lines.append(
            f'        raise ValueError(f"{name}: {n} must be in {hp.range_text()}, got {{{n}!r}}")'
        )
    lines.append("    if not isinstance(maximize, bool):")
    lines.append(
        f'        raise TypeError(f"{name}: maximize must be True or False, got {{maximize!r}}")'
    )
    return "\n".join(lines)


def _inside(name: str, interval: sp.Interval) -> str:
    """Python test that ``name`` lies in ``interval`` (an infinite end is open)."""

    def end(value: sp.Expr) -> str:
        return (
            "math.inf" if value == sp.oo else "-math.inf" if value == -sp.oo else repr(float(value))
        )

    left = "<" if interval.left_open or interval.start == -sp.oo else "<="
    right = "<" if interval.right_open or interval.end == sp.oo else "<="
    return f"{end(interval.start)} {left} {name} {right} {end(interval.end)}"


def _class_docstring(
    name: str,
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
            f"    {hp.name} (default {_default_text(hp).replace('_REQUIRED', 'required')}): "
            f"{hp.doc}"
            for hp in hyperparameters
        ),
        "    maximize (default False): maximize the objective instead of minimizing it",
    ]
    return 'r"""' + "\n".join(parts).rstrip().replace('"""', "'''") + '\n"""'


_CLASS = string.Template('''class $name(Optimizer):
    $docstring

    $init
        _check_arguments($arguments, maximize)
        $defaults
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        """torch's add_param_group once the group's hyperparameters (its own, else the defaults)
        pass the constructor's checks; complex parameters are refused."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"$name: a param group must be a dict, got {type(param_group).__name__}"
            )
        _check_arguments(
            **{name: param_group.get(name, self.defaults[name]) for name in _ARGUMENTS}
        )
        params = param_group.get("params", [])
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        if any(torch.is_tensor(p) and p.is_complex() for p in params):
            raise TypeError("$name: complex parameters are not supported")
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict):
        """torch's load_state_dict once ``state_dict`` is known to fit (else ValueError, and
        nothing changes): as many groups of as many parameters, valid hyperparameters, and per
        parameter only the buffer ``momentum``, shaped like the parameter."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"$name: the state has {len(saved_groups)} param groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        params = {}
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            missing = [name for name in _ARGUMENTS if name not in saved]
            if missing:
                raise ValueError(f"$name: param group {k} of the state lacks {missing}")
            _check_arguments(**{name: saved[name] for name in _ARGUMENTS})
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"$name: param group {k} of the state has {len(saved['params'])} "
                    f"parameters, the optimizer's {len(group['params'])}"
                )
            params.update(zip(saved["params"], group["params"], strict=True))
        for key, state in state_dict["state"].items():
            if key not in params:
                raise ValueError(f"$name: the state holds an unknown parameter {key!r}")
            if set(state) != {"momentum"}:
                raise ValueError(
                    f"$name: parameter {key!r} has state {sorted(state)}, not ['momentum']"
                )
            shape, expected = tuple(state["momentum"].shape), tuple(params[key].shape)
            if shape != expected:
                raise ValueError(
                    f"$name: the momentum of parameter {key!r} has shape {shape}, "
                    f"the parameter {expected}"
                )
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure=None):
        """One step of the $scheme scheme; ``closure`` is required.

        ``closure`` re-evaluates the model at the current parameters: it zeroes the gradients,
        computes the loss, calls ``backward()`` and returns the loss. It is called once per kick,
        $kicks time$plural per step, under ``torch.enable_grad()``. Returns the loss of its first call
        (at the position of the first kick)."""
        if closure is None:
            raise ValueError(
                "$name takes $kicks gradient$plural per step (the $scheme scheme has "
                "$kicks kick$plural): call step(closure) with a closure that zeroes the gradients, "
                "computes the loss, calls backward() and returns the loss, as for "
                "torch.optim.LBFGS"
            )
        if not callable(closure):
            raise TypeError(f"$name: closure must be callable, got {type(closure).__name__}")
        loss = None
        for flow, fraction in _ROWS:
            if flow == "K":
                with torch.enable_grad():
                    value = closure()
                if loss is None:
                    loss = value  # step returns the first evaluation's loss
                self._check_gradients()
            for group in self.param_groups:
                if flow == "D":
                    self._dissipate(group, group["beta"] ** fraction)
                elif flow == "F":
                    self._drift(group, fraction * group["lr"])
                else:
                    self._kick(group, fraction * group["lr"])
        return loss

    def _check_gradients(self):
        """Before a kick changes anything: no sparse gradient."""
        for k, group in enumerate(self.param_groups):
            for i, param in enumerate(group["params"]):
                if param.grad is not None and param.grad.is_sparse:
                    raise ValueError(
                        f"$name does not support sparse gradients "
                        f"(param group {k}, parameter {i})"
                    )

    def _dissipate(self, group, decay):
        """D for a fraction f of the step: p ← β^f p (decay = β^f = exp(-r f h))."""
        for param in group["params"]:
            if param in self.state:  # it has had a gradient
                self.state[param]["momentum"].mul_(decay)

    def _drift(self, group, t):
        """F for time t: θ ← θ + t ∇T(p)."""
        for param in group["params"]:
            if param in self.state:  # it has had a gradient
                momentum = self.state[param]["momentum"]
                param.add_(_velocity(momentum$energy), alpha=t)

    def _kick(self, group, t):
        """K for time t: p ← p - t (g + λθ), g the gradient the closure left in ``.grad``."""
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = param.grad if not group["maximize"] else -param.grad
            if group["weight_decay"] != 0:
                grad = grad.add(param, alpha=group["weight_decay"])
            state = self.state[param]
            if "momentum" not in state:
                state["momentum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["momentum"].add_(grad, alpha=-t)''')


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
        Constructor arguments in order: ``lr`` (:math:`h`), ``beta`` (:math:`e^{-rh}`), the
        energy's parameters (named as in ``kinetic``) and ``weight_decay`` (:math:`\lambda`);
        ``maximize`` is added as a keyword-only flag.
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
    count = kicks(scheme)
    if count == 0:
        raise ValueError(f"scheme {scheme.name} has no kick: it never reads a gradient")
    names = [hp.name for hp in hyperparameters]
    required = {"lr", "beta", "weight_decay"} | {prm.name for prm in kinetic.params}
    if set(names) != required or len(names) != len(required):
        raise ValueError(f"hyperparameters must be {sorted(required)} once each, got {names}")
    if any(hp.kind != "real" or hp.is_pair or hp.optional for hp in hyperparameters):
        raise ValueError("every hyperparameter of a multi-gradient optimizer is one real number")
    body = _CLASS.substitute(
        name=name,
        docstring=textwrap.indent(
            _class_docstring(name, summary, scheme, hyperparameters, latex, provenance), "    "
        ).lstrip(),
        init=_wrapped(
            "def __init__(",
            [
                "self",
                "params",
                *(f"{hp.name}={_default_text(hp)}" for hp in hyperparameters),
                "*",
                "maximize=False",
            ],
            "):",
            4,
        ),
        arguments=", ".join(names),
        defaults=_wrapped("defaults = dict(", [f"{a}={a}" for a in [*names, "maximize"]], ")", 8),
        scheme=scheme.name,
        kicks=count,
        plural="s" if count != 1 else "",
        energy="".join(f', {prm.name}=group["{prm.name}"]' for prm in kinetic.params),
    )
    tables = "\n".join(
        [
            _rows_table(scheme),
            "#: Constructor arguments, as they are stored in each param group.",
            "_ARGUMENTS = (" + ", ".join(f'"{a}"' for a in [*names, "maximize"]) + ")",
        ]
        + (
            ["_REQUIRED = object()"]
            if any(hp.default is REQUIRED for hp in hyperparameters)
            else []
        )
    )
    module_doc = (
        f'"""{name}: {summary}\n\nDerived and generated by hamopt; see the class docstring."""'
    )
    head = HEADER.format(command=command) + module_doc
    imports = "import math\n\nimport torch\nfrom torch.optim.optimizer import Optimizer"
    parts = [
        head + "\n\n" + imports,
        f'__all__ = ["{name}"]',
        tables,
        _check_function(name, hyperparameters),
        _velocity_function(kinetic),
        body,
    ]
    return "\n\n\n".join(parts) + "\n"
