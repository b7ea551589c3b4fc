r"""Kinetic energies :math:`T(p)` as SymPy objects.

A kinetic energy is either

* **per particle**, :math:`T(p) = \sum_i \tau(p_i)`, given by the one-coordinate expression
  :math:`\tau(p)`; its velocity is :math:`\nabla T(p)_i = \tau'(p_i)`; or
* **norm-coupled** over a group of particles, :math:`T(p) = f(\lVert p \rVert)`, given by
  :math:`f` written in ``p`` (standing for the norm). With :math:`F(s) = f(\sqrt{s})` its
  velocity is :math:`\nabla T(p) = 2F'(\lVert p \rVert^2)\, p`. The group's *scope* — each
  parameter tensor, or all parameters together — is recorded for code generation.

Every energy is validated on construction (see :mod:`hamopt.kinetic.validation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import sympy as sp
import torch
from sympy.logic.boolalg import ITE, Boolean
from sympy.printing.pytorch import TorchPrinter

from hamopt.labels import check_label
from hamopt.parameters import Parameter, positive, unused_parameters
from hamopt.symbols import RESERVED_SYMBOLS, Norm, s
from hamopt.symbols import p as P

__all__ = ["KineticEnergy", "lambdify_numpy"]

Coupling = Literal["particle", "norm"]
Scope = Literal["tensor", "global"]


class KineticEnergy:
    r"""A kinetic energy :math:`T(p)` with named parameters and its velocity :math:`\nabla T`.

    Parameters
    ----------
    expr
        SymPy expression in the momentum symbol ``p`` and the declared parameters. For
        ``coupling="norm"``, ``p`` stands for the group norm :math:`\lVert p \rVert`.
    params
        The declared parameters: :class:`~hamopt.parameters.Parameter` objects, or names
        (then positive, without default).
    name
        A short name used in provenance and messages.
    coupling
        ``"particle"`` (sum over coordinates) or ``"norm"`` (a function of the group norm).
    scope
        For norm-coupled energies, the group: ``"tensor"`` (each parameter tensor, as the
        RAD repository's RGD does) or ``"global"`` (all parameters, as in França et al.).
    velocity
        Optional closed form of :math:`\tau'(p)` (or :math:`2F'(s)` for norm coupling, in the
        symbol ``s``). It is *checked* against the derivative, never trusted.
    validate
        Run the validation of :mod:`hamopt.kinetic.validation` (default ``True``).

    Examples
    --------
    >>> import sympy as sp
    >>> from hamopt.symbols import p
    >>> m = sp.Symbol("m", positive=True)
    >>> T = KineticEnergy(p**2 / (2 * m), ["m"], name="classical")
    >>> T.velocity_expr
    p/m
    """

    def __init__(
        self,
        expr: sp.Expr,
        params: Iterable[Parameter | str] = (),
        *,
        name: str = "custom",
        coupling: Coupling = "particle",
        scope: Scope = "tensor",
        velocity: sp.Expr | None = None,
        validate: bool = True,
    ) -> None:
        if isinstance(expr, str):
            raise TypeError(
                "kinetic energy must be a SymPy expression, got a string; "
                "text energies go through hamopt's safe parser"
            )
        if not isinstance(expr, sp.Expr):
            raise TypeError(f"kinetic energy must be a SymPy expression, got {type(expr).__name__}")
        if coupling not in ("particle", "norm"):
            raise ValueError(f"coupling must be 'particle' or 'norm', got {coupling!r}")
        if scope not in ("tensor", "global"):
            raise ValueError(f"scope must be 'tensor' or 'global', got {scope!r}")
        if isinstance(params, Parameter | str) or not isinstance(params, Iterable):
            one = getattr(params, "name", params)
            raise TypeError(
                f"params must be a list of Parameters or names, got {type(params).__name__} "
                f"{one!r}: give a list, [{one!r}], for one"
            )
        self.params: tuple[Parameter, ...] = tuple(
            prm if isinstance(prm, Parameter) else positive(str(prm)) for prm in params
        )
        names = [prm.name for prm in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names repeat: {names}")
        if "p" in names:
            raise ValueError("'p' is the momentum and cannot be a parameter name")
        owned = sorted(set(names) & RESERVED_SYMBOLS)
        if owned:
            raise ValueError(
                f"parameter name(s) {owned} are reserved: q, h, r, t and s are symbols of the "
                "Hamiltonian system (position, step, friction, time, the velocity's argument)"
            )
        self.name = check_label(name, "kinetic energy name")
        self.coupling: Coupling = coupling
        self.scope: Scope = scope
        canon = {"p": P, **{prm.name: prm.symbol for prm in self.params}}
        self.expr: sp.Expr = _canonical(expr, canon)
        self._given_velocity = None if velocity is None else _canonical(velocity, {**canon, "s": s})
        if validate:
            read = [self.expr] if velocity is None else [self.expr, self._given_velocity]
            unused = unused_parameters(read, [prm.name for prm in self.params])
            if unused:
                raise ValueError(
                    f"{self.name}: parameter(s) {unused} do not appear in the energy T(p) = "
                    f"{self.expr}; declare only the energy's own symbols"
                )
            from hamopt.kinetic.validation import validate_kinetic

            validate_kinetic(self)

    # -- symbols and values ------------------------------------------------------------------
    @property
    def p(self) -> sp.Symbol:
        """The momentum symbol."""
        return P

    @property
    def symbols(self) -> dict[str, sp.Symbol]:
        """Parameter symbols by name."""
        return {prm.name: prm.symbol for prm in self.params}

    def values(self, overrides: Mapping[str, float] | None = None) -> dict[sp.Symbol, float]:
        """Validated numeric values of every parameter, defaults filled in."""
        overrides = dict(overrides or {})
        unknown = set(overrides) - {prm.name for prm in self.params}
        if unknown:
            raise ValueError(f"{self.name} has no parameter(s) {sorted(unknown)}")
        out = {}
        for prm in self.params:
            if prm.name in overrides:
                out[prm.symbol] = prm.validate(overrides[prm.name])
            elif prm.default is not None:
                out[prm.symbol] = prm.default
            else:
                raise ValueError(
                    f"parameter {prm.name} of {self.name} has no default; give a value"
                )
        return out

    # -- velocity ------------------------------------------------------------------------------
    @property
    def radial(self) -> sp.Expr:
        r"""For norm coupling, :math:`F(s) = f(\sqrt{s})` with :math:`s = \lVert p \rVert^2`."""
        if self.coupling != "norm":
            raise ValueError(f"{self.name} is per particle; it has no radial form")
        return self.expr.xreplace({P: sp.sqrt(s)})

    @property
    def velocity_expr(self) -> sp.Expr:
        r"""Per particle: :math:`\tau'(p)`. Norm-coupled: the factor :math:`2F'(s)`, so that
        :math:`\nabla T(p) = 2F'(\lVert p \rVert^2)\,p`."""
        if not hasattr(self, "_velocity"):
            from hamopt.kinetic.validation import choose_velocity

            self._velocity = choose_velocity(self)
        return self._velocity

    def energy(self, ps: Sequence[sp.Expr], norm_sq: sp.Expr | None = None) -> sp.Expr:
        """:math:`T` of the momenta ``ps`` (explicit coordinates)."""
        if self.coupling == "particle":
            return sp.Add(*[self.expr.xreplace({P: pi}) for pi in ps])
        ns = sum(pi**2 for pi in ps) if norm_sq is None else norm_sq
        return self.radial.xreplace({s: ns})

    def velocity(self, ps: Sequence[sp.Expr], norm_sq: sp.Expr | None = None) -> list[sp.Expr]:
        r""":math:`\nabla T` at the momenta ``ps``.

        For norm coupling the squared norm is :math:`\sum_i p_i^2` unless ``norm_sq`` says
        otherwise (e.g. ``Norm(p)**2`` when one coordinate stands for a group).
        """
        v = self.velocity_expr
        if self.coupling == "particle":
            return [v.xreplace({P: pi}) for pi in ps]
        ns = sum(pi**2 for pi in ps) if norm_sq is None else norm_sq
        factor = v.xreplace({s: ns})
        return [factor * pi for pi in ps]

    def representative_velocity(self, p: sp.Expr) -> sp.Expr:
        r"""Velocity of one coordinate ``p`` standing for its group: :math:`\tau'(p)`, or
        :math:`2F'(\lVert p \rVert^2)\,p` with the norm kept as :class:`~hamopt.symbols.Norm`."""
        if self.coupling == "particle":
            return self.velocity([p])[0]
        return self.velocity([p], norm_sq=Norm(p) ** 2)[0]

    # -- numeric -------------------------------------------------------------------------------
    def numpy_functions(
        self, overrides: Mapping[str, float] | None = None
    ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
        """``(tau, tau')`` (or ``(F, 2F')`` for norm coupling) as NumPy functions."""
        vals = {k: sp.Float(v) for k, v in self.values(overrides).items()}
        arg = P if self.coupling == "particle" else s
        base = self.expr if self.coupling == "particle" else self.radial
        return (
            _vectorised(lambdify_numpy(arg, base.xreplace(vals))),
            _vectorised(lambdify_numpy(arg, self.velocity_expr.xreplace(vals))),
        )

    def torch_functions(
        self, overrides: Mapping[str, float] | None = None
    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        r"""``(T, ∇T)`` on a 1-D tensor of momenta (one group), differentiable by autograd."""
        vals = {k: sp.Float(v) for k, v in self.values(overrides).items()}
        if self.coupling == "particle":
            tau = _torch_lambdify(P, self.expr.xreplace(vals))
            dtau = _torch_lambdify(P, self.velocity_expr.xreplace(vals))
            return (lambda p: tau(p).sum()), dtau
        big_f = _torch_lambdify(s, self.radial.xreplace(vals))
        factor = _torch_lambdify(s, self.velocity_expr.xreplace(vals))

        def energy(p: torch.Tensor) -> torch.Tensor:
            return big_f((p * p).sum())

        def velocity(p: torch.Tensor) -> torch.Tensor:
            return factor((p * p).sum()) * p

        return energy, velocity

    # -- display -------------------------------------------------------------------------------
    def latex(self) -> str:
        r"""LaTeX of :math:`T(p)`."""
        if self.coupling == "particle":
            return r"T(p) = \sum_i " + sp.latex(self.expr.xreplace({P: sp.Symbol("p_i")}))
        return "T(p) = " + sp.latex(self.expr.xreplace({P: Norm(P)}))

    def __repr__(self) -> str:
        group = "" if self.coupling == "particle" else f", norm-coupled over each {self.scope}"
        return f"KineticEnergy({self.name}: {self.expr}{group})"


def _canonical(expr: sp.Expr, canon: Mapping[str, sp.Symbol]) -> sp.Expr:
    """Replace symbols by the canonical symbols of the same name (with their assumptions)."""
    return expr.xreplace({sym: canon[sym.name] for sym in expr.free_symbols if sym.name in canon})


def lambdify_numpy(args, expr: sp.Expr) -> Callable:
    """``sp.lambdify(args, expr, "numpy")`` for an energy's expressions, whose Heaviside steps
    (the derivative of a Max or Min) it can evaluate: each step as a Piecewise, and each ITE
    condition (if-then-else, which SymPy writes for a Max or Min of three or more compared with
    0) as And, Or and Not. NumPy's select gives an ITE numbers, which the condition around it
    cannot take ("invalid entry 0 in condlist")."""

    def as_logic(e: ITE) -> Boolean:
        test, then, otherwise = e.args
        return sp.Or(sp.And(test, then), sp.And(sp.Not(test), otherwise))

    expr = expr.replace(sp.Heaviside, lambda *a: sp.Heaviside(*a).rewrite(sp.Piecewise))
    return sp.lambdify(args, expr.replace(lambda e: isinstance(e, ITE), as_logic), "numpy")


def _vectorised(fn: Callable) -> Callable[[np.ndarray], np.ndarray]:
    def call(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.asarray(fn(x), dtype=float), x.shape)

    return call


def _torch_lambdify(arg: sp.Symbol, expr: sp.Expr) -> Callable[[torch.Tensor], torch.Tensor]:
    fn = sp.lambdify(
        arg, expr, modules=[{"_heaviside": _heaviside}, torch], printer=_TorchPrinter()
    )

    def call(x: torch.Tensor) -> torch.Tensor:
        out = fn(x)
        return out if isinstance(out, torch.Tensor) else torch.full_like(x, float(out))

    return call


class _TorchPrinter(TorchPrinter):
    """SymPy's torch printer, with Min/Max as elementwise ``torch.minimum``/``torch.maximum``
    (it prints ``torch.min(1.0, p)``, which torch refuses) and the Heaviside step H(x) (the
    derivative of a Max or Min) as :func:`_heaviside` (it prints ``torch.heaviside`` with a
    number, which torch refuses, and which autograd cannot differentiate); a number becomes a
    float64 0-d tensor, which takes the other argument's dtype."""

    def _print_Heaviside(self, expr: sp.Expr) -> str:
        at_zero = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        return f"_heaviside({self._print(expr.args[0])}, {self._print(at_zero)})"

    def _print_Min(self, expr: sp.Expr) -> str:
        return self._fold("torch.minimum", expr.args)

    def _print_Max(self, expr: sp.Expr) -> str:
        return self._fold("torch.maximum", expr.args)

    def _fold(self, fn: str, args) -> str:
        def one(a):
            text = self._print(a)
            return f"torch.tensor({text}, dtype=torch.float64)" if a.is_number else text

        out = one(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {one(a)})"
        return out


def _heaviside(x: torch.Tensor, at_zero: float) -> torch.Tensor:
    """H(x): 0 below 0, 1 above, ``at_zero`` at 0, in ``x``'s dtype; differentiable, with
    derivative 0 (``torch.heaviside`` has none, and autograd differentiates the checks' maps)."""
    if not isinstance(x, torch.Tensor):
        x = torch.tensor(float(x), dtype=torch.float64)
    one, zero, middle = (torch.full_like(x, v) for v in (1.0, 0.0, float(at_zero)))
    return torch.where(x > 0, one, torch.where(x < 0, zero, middle))
