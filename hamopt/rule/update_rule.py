r"""The update rule: the hand-off between the symbolic and the numeric half.

An :class:`UpdateRule` holds everything downstream code needs and nothing else:

* the hyperparameters (constructor arguments with defaults and valid ranges);
* the state buffers with their initial values (zeros, or the first gradient), and scalar
  state (one number per parameter, e.g. NAdam's product of momentum factors);
* an ordered list of assignments ``target = expression`` per step, on the symbols
  ``param`` (:math:`\theta`), ``grad`` (:math:`g`), ``step`` (:math:`t`, counted from 1), the
  buffers, hyperparameters and named intermediates;
* the provenance: kinetic energy, scheme, closures, and the reference it reproduces.

LaTeX, the NumPy reference evaluator and the torch code generator read only this object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from hamopt.rule.hyperparameter import Hyperparameter
from hamopt.rule.reductions import REDUCTIONS

__all__ = ["Assign", "Buffer", "Provenance", "UpdateRule", "grad", "param", "step"]

#: The parameter tensor :math:`\theta`.
param = sp.Symbol("param", real=True)
#: The gradient :math:`g` (after maximize's sign flip).
grad = sp.Symbol("grad", real=True)
#: The step count :math:`t = 1, 2, …`.
step = sp.Symbol("step", positive=True, integer=True)

LATEX = {param: r"\theta", grad: "g", step: "t"}
#: LaTeX for the conventional hyperparameter and intermediate names.
LATEX_BY_NAME = {
    "lr": r"\alpha",
    "weight_decay": r"\lambda",
    "eps": r"\epsilon",
    "momentum": r"\mu",
    "dampening": "d",
    "delta": r"\delta",
    "zeta": r"\zeta",
    "zeta_t": r"\zeta_t",
    "bias_correction1": "b_1",
    "bias_correction2": "b_2",
    "step_size": r"\alpha_t",
    "beta1": r"\beta_1",
    "beta2": r"\beta_2",
}


@dataclass(frozen=True)
class Buffer:
    """A piece of per-parameter optimizer state.

    ``shape="tensor"`` (default): a tensor of the shape of the parameter; ``init`` is
    ``"zeros"``, or ``"grad"`` (first-gradient init: at step 1 the buffer's own assignment is
    replaced by ``buffer = grad``, as ``torch.optim.SGD`` does).

    ``shape="scalar"``: one number per parameter (NAdam's product of momentum factors), held as
    a 0-d tensor that starts at ``initial``; it is assigned among the step's scalars.
    """

    name: str
    symbol: sp.Symbol
    init: str = "zeros"
    latex: str = ""
    doc: str = ""
    shape: str = "tensor"
    initial: float = 0.0

    def __post_init__(self) -> None:
        if self.init not in ("zeros", "grad"):
            raise ValueError(
                f"buffer {self.name}: init must be 'zeros' or 'grad', got {self.init!r}"
            )
        if not self.name.isidentifier():
            raise ValueError(f"buffer name {self.name!r} is not an identifier")
        if self.shape not in ("tensor", "scalar"):
            raise ValueError(
                f"buffer {self.name}: shape must be 'tensor' or 'scalar', got {self.shape!r}"
            )
        if self.shape == "scalar" and self.init != "zeros":
            raise ValueError(
                f"buffer {self.name}: a scalar state starts at `initial`, not {self.init!r}"
            )
        if self.shape == "tensor" and self.initial != 0:
            raise ValueError(f"buffer {self.name}: a tensor buffer starts at zeros or the gradient")


@dataclass(frozen=True)
class Assign:
    """``target = expr``; ``doc`` says which equation it is."""

    target: sp.Symbol
    expr: sp.Expr
    doc: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a rule comes from."""

    kinetic: str = ""
    scheme: str = ""
    closures: tuple[str, ...] = ()
    reference: str = ""
    notes: tuple[str, ...] = ()
    derivation: str = ""  # Markdown: physical step map and change of variables (not in lines())

    def lines(self) -> list[str]:
        out = []
        if self.kinetic:
            out.append(f"kinetic energy: {self.kinetic}")
        if self.scheme:
            out.append(f"scheme: {self.scheme}")
        if self.closures:
            out.append("closures: " + "; ".join(self.closures))
        if self.reference:
            out.append(f"reference: {self.reference}")
        out.extend(self.notes)
        return out


@dataclass(frozen=True)
class UpdateRule:
    """An optimizer's per-step rule.

    Parameters
    ----------
    name
        Variant name, an identifier (``"order1"``).
    hyperparameters
        Symbols the rule may use besides tensors and ``step``, by constructor argument.
    buffers
        The state tensors.
    assignments
        The per-step program, in order.
    provenance
        Energy, scheme, closures, reference.
    latex_names
        LaTeX for symbols (``exp_avg`` → ``v``).
    """

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    buffers: tuple[Buffer, ...]
    assignments: tuple[Assign, ...]
    provenance: Provenance = field(default_factory=Provenance)
    latex_names: Mapping[sp.Symbol, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"rule name {self.name!r} is not an identifier")
        known = {param, grad, step}
        known |= {b.symbol for b in self.buffers}
        for hp in self.hyperparameters:
            known |= set(hp.symbols)
        targets = set()
        for a in self.assignments:
            unknown = a.expr.free_symbols - known - targets
            if unknown:
                raise ValueError(
                    f"rule {self.name}: assignment to {a.target} uses undefined symbol(s) "
                    f"{sorted(map(str, unknown))}"
                )
            if not a.target.name.isidentifier():
                raise ValueError(f"rule {self.name}: target {a.target} is not an identifier")
            if a.target in {step} or any(a.target in hp.symbols for hp in self.hyperparameters):
                raise ValueError(f"rule {self.name}: cannot assign to {a.target}")
            targets.add(a.target)
        if not any(a.target == param for a in self.assignments):
            raise ValueError(f"rule {self.name} never updates param")
        for b in self.scalar_state:
            updates = [a for a in self.assignments if a.target == b.symbol]
            if not updates or any(self.is_tensor(a.expr) for a in updates):
                raise ValueError(
                    f"rule {self.name}: scalar state {b.name} must be assigned from scalars"
                )

    # -- classification ----------------------------------------------------------------------
    @property
    def tensor_symbols(self) -> frozenset[sp.Symbol]:
        """Symbols holding tensors: param, grad, buffers, and targets computed from them."""
        out = {param, grad} | {b.symbol for b in self.buffers if b.shape == "tensor"}
        for a in self.assignments:
            if a.expr.free_symbols & out or a.expr.has(*REDUCTIONS):
                out.add(a.target)
        return frozenset(out)

    def is_tensor(self, expr: sp.Expr) -> bool:
        return bool(expr.free_symbols & self.tensor_symbols) or expr.has(*REDUCTIONS)

    @property
    def elementwise(self) -> bool:
        """No reduction over a whole tensor (a norm, a sum): each element's update reads that
        element only (one sweep of the kernel; its buffers may be kept in ``state_dtype``)."""
        return not any(a.expr.has(*REDUCTIONS) for a in self.assignments)

    def idle_at_zero(self, assignment) -> sp.Symbol | None:
        """The hyperparameter at whose zero ``assignment`` changes nothing, where it changes the
        gradient (coupled weight decay g ← g + λθ at λ = 0), else None.

        The generated code skips such an equation when its hyperparameter is 0, as torch.optim
        skips a zero weight decay: evaluated, θ·0 would turn an infinite parameter's gradient
        into NaN.
        """
        if assignment.target != grad:
            return None
        for symbol in self.scalar_symbols:
            if (
                symbol in assignment.expr.free_symbols
                and sp.simplify(assignment.expr.subs(symbol, 0) - grad) == 0
            ):
                return symbol
        return None

    @property
    def scalar_symbols(self) -> tuple[sp.Symbol, ...]:
        """Hyperparameter symbols in argument order."""
        return tuple(s for hp in self.hyperparameters for s in hp.symbols)

    @property
    def scalar_state(self) -> tuple[Buffer, ...]:
        """The buffers that hold one number per parameter (``shape="scalar"``)."""
        return tuple(b for b in self.buffers if b.shape == "scalar")

    def buffer(self, symbol: sp.Symbol) -> Buffer | None:
        return next((b for b in self.buffers if b.symbol == symbol), None)

    # -- rendering -----------------------------------------------------------------------------
    def _latex_names(self) -> dict[sp.Symbol, str]:
        names = dict(LATEX)
        for a in self.assignments:
            for sym in a.expr.free_symbols | {a.target}:
                if sym.name in LATEX_BY_NAME:
                    names.setdefault(sym, LATEX_BY_NAME[sym.name])
        names.update(self.latex_names)
        for b in self.buffers:
            if b.latex:
                names[b.symbol] = b.latex
        symbols = {s for a in self.assignments for s in a.expr.free_symbols | {a.target}}
        return _distinct(names, symbols)

    def latex(self) -> str:
        r"""The rule as an ``aligned`` block, one line per assignment (first-gradient buffers
        note their step-1 value)."""
        names = self._latex_names()
        lines = []
        for a in self.assignments:
            lhs = sp.latex(a.target, symbol_names=names)
            rhs = _latex(a.expr, names)
            buf = self.buffer(a.target)
            if buf is not None and buf.init == "grad":
                rhs += r" \quad (t = 1\text{: } %s)" % sp.latex(grad, symbol_names=names)
            lines.append(f"{lhs} &\\leftarrow {rhs}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def markdown(self) -> str:
        """Provenance, then one numbered equation per assignment."""
        names = self._latex_names()
        out = [f"**{self.name}**", ""]
        out += [f"- {line}" for line in self.provenance.lines()]
        out.append("")
        for i, a in enumerate(self.assignments, 1):
            doc = f" — {a.doc}" if a.doc else ""
            lhs = sp.latex(a.target, symbol_names=names)
            rhs = _latex(a.expr, names)
            out.append(f"{i}. ${lhs} \\leftarrow {rhs}${doc}")
        return "\n".join(out)

    def replace(self, **changes: object) -> UpdateRule:
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)


_STEP = sp.Function("H")  # the Heaviside step as printed: SymPy writes θ, the parameters' letter


def _distinct(names: dict[sp.Symbol, str], symbols: set[sp.Symbol]) -> dict[sp.Symbol, str]:
    r"""``names`` with every symbol of ``symbols`` printed apart: where two print alike, the
    one given a name (a closure's quantity, such as the look-ahead :math:`c`) is drawn with a
    tilde, and the one printed as its own name (an energy's parameter :math:`c`) keeps it
    (Lion-K on the relativistic energy read :math:`c\alpha c/\sqrt{\dots}`: a step that looked
    constant)."""
    printed = {sym: names.get(sym, sp.latex(sym)) for sym in symbols}
    taken = set(printed.values())
    out = dict(names)
    for sym in sorted(symbols, key=lambda x: x.name):
        shown = printed[sym]
        rivals = [o for o in symbols if o != sym and printed[o] == shown]
        own_name = sym not in names  # printed as itself: an energy's parameter keeps it
        first_named = all(o in names for o in rivals) and all(sym.name < o.name for o in rivals)
        if not rivals or own_name or first_named:
            continue
        new = rf"\tilde{{{shown}}}"
        while new in taken:
            new += "'"
        out[sym], printed[sym] = new, new
        taken.add(new)
    return out


def _latex(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """LaTeX of a rule's right-hand side: the Heaviside step (the derivative of a Max or Min)
    as H(x), not SymPy's θ(x), which reads as the parameters θ."""
    return sp.latex(expr.replace(sp.Heaviside, lambda x, *_: _STEP(x)), symbol_names=names)
