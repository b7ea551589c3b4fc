r"""Derive your own optimizer: energy + scheme + closure → a torch optimizer class.

.. code-block:: python

    import hamopt
    opt = hamopt.derive(hamopt.kinetic.relativistic(), scheme="leapfrog", closure="adam")
    net_opt = opt.cls(model.parameters(), lr=1e-3)   # a torch.optim.Optimizer
    opt.export("myrad.py")                            # standalone module: torch and math only

The optimizer keeps the *physical* parameterisation: ``lr`` is the step ``h``,
``betas[0]`` is :math:`\beta_1 = e^{-rh}`, and the energy's own parameters (``m``, ``c``, …)
are constructor arguments with their defaults and ranges. The zoo (:mod:`hamopt.zoo`) shows
how to rename them to a reference's hyperparameters with :func:`hamopt.variables.match`.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from hamopt.closures import bias_correction, compose, coupled_weight_decay, second_moment
from hamopt.closures.draft import start
from hamopt.codegen.module import generate_module
from hamopt.codegen.names import clash
from hamopt.kinetic.energy import KineticEnergy
from hamopt.rule.hyperparameter import Hyperparameter, pair, real
from hamopt.rule.spec import OptimizerSpec
from hamopt.rule.update_rule import Provenance
from hamopt.schemes import SCHEMES
from hamopt.schemes.scheme import Scheme
from hamopt.symbols import h as H
from hamopt.variables import Momentum, beta1, change_of_variables

__all__ = ["CLOSURES", "DerivedOptimizer", "check_parameter_name", "derive"]

#: The closures :func:`derive` knows by name.
CLOSURES = ("none", "adam")

_LR = sp.Symbol("lr", real=True)
_B1 = sp.Symbol("beta1", real=True)
_B2 = sp.Symbol("beta2", real=True)
_WD = sp.Symbol("weight_decay", real=True)
_UNIT = sp.Interval.Ropen(0, 1)

#: Names the derived optimizer gives its own arguments and the closures' quantities.
OWN_NAMES = frozenset(
    {"lr", "betas", "beta1", "beta2", "weight_decay"}
    | {"exp_avg", "exp_avg_sq", "bias_correction1", "bias_correction2"}
    | {"exp_avgs", "exp_avg_sqs", "bias_correction1_list", "bias_correction2_list"}
)


def check_parameter_name(name: str) -> None:
    """Raise ``ValueError`` if an energy parameter may not be called ``name``.

    The parameter becomes an argument of the derived optimizer, so it may not take the name of
    another argument (``lr``, ``betas``, ``weight_decay``), of a closure's quantity
    (``exp_avg``…) or of anything the generated code binds (``step``, ``grad``, ``torch``…;
    :mod:`hamopt.codegen.names`).

    >>> check_parameter_name("step")
    Traceback (most recent call last):
    ...
    ValueError: energy parameter 'step' is reserved: the generated code uses step for the step counter t
    """
    why = clash(name, OWN_NAMES)
    if why is not None:
        raise ValueError(f"energy parameter {name!r} is reserved: {why}")


@dataclass(frozen=True)
class DerivedOptimizer:
    """A derived optimizer: its spec, generated source, and class."""

    spec: OptimizerSpec
    source: str

    @property
    def cls(self) -> type:
        """The ``torch.optim.Optimizer`` subclass, built from :attr:`source`."""
        module = types.ModuleType(f"hamopt_derived_{self.spec.name.lower()}")
        exec(compile(self.source, f"<hamopt derived {self.spec.name}>", "exec"), module.__dict__)
        return getattr(module, self.spec.name)

    def export(self, path: str | Path) -> Path:
        """Write the standalone module to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.source)
        return path

    def markdown(self) -> str:
        return "\n\n".join(rule.markdown() for _, rule in self.spec.variants)

    def latex(self) -> str:
        return "\n\n".join(rule.latex() for _, rule in self.spec.variants)


def derive(
    kinetic: KineticEnergy | sp.Expr,
    scheme: Scheme | str = "euler",
    closure: str = "none",
    *,
    name: str = "Derived",
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    params: tuple = (),
) -> DerivedOptimizer:
    """Derive an optimizer from ``kinetic`` × ``scheme`` with ``closure``.

    Parameters
    ----------
    kinetic
        A :class:`KineticEnergy`, or a SymPy expression in ``p`` (then ``params`` declares its
        parameters, as for :class:`KineticEnergy`).
    scheme
        A :class:`Scheme` with one kick, or its name (``"euler"``, ``"leapfrog"``, ``"nag"``…).
    closure
        ``"none"`` (the momentum is the particle's: a deterministic, constant-mass rule) or
        ``"adam"`` (second moment replaces :math:`v^2`, estimator bias correction).
    name
        The class name (an identifier).
    lr, betas
        Defaults of the step :math:`h` and of :math:`(\\beta_1, \\beta_2)`.
    """
    if not isinstance(kinetic, KineticEnergy):
        kinetic = KineticEnergy(kinetic, params, name=name.lower())
    for prm in kinetic.params:
        check_parameter_name(prm.name)
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; choose from {sorted(SCHEMES)}")
        scheme = SCHEMES[scheme]
    if closure not in CLOSURES:
        raise ValueError(f"unknown closure {closure!r}; choose from {list(CLOSURES)}")
    if not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    step = change_of_variables(kinetic, scheme, Momentum("ema", "zeros"))
    energy = {prm.symbol: sp.Symbol(prm.name, real=True) for prm in kinetic.params}
    delta = step.delta.xreplace({H: _LR, **energy})
    hps: list[Hyperparameter] = [
        real(
            "lr",
            lr,
            sp.Interval.open(0, sp.oo),
            "step h of the conformal Hamiltonian flow",
            symbol=_LR,
        ),
        pair("betas", betas, (_B1, _B2), (_UNIT, _UNIT), "(β1 = e^{-rh}, β2 of the closure)"),
    ]
    for prm in kinetic.params:
        hps.append(
            real(
                prm.name, prm.default, prm.interval, prm.doc or prm.name, symbol=energy[prm.symbol]
            )
        )
    hps.append(real("weight_decay", 0.0, sp.Interval(0, sp.oo), "weight decay λ", symbol=_WD))
    provenance = Provenance(
        kinetic=f"{kinetic.name}: T(p) = {sp.sstr(kinetic.expr)}",
        scheme=f"{step.scheme.name}, order {scheme.order}",
        closures=(f"momentum: {step.momentum.describe()}", "β1 = e^(-rh), lr = h"),
        reference="hamopt.derive",
    )
    draft = start(step, delta.xreplace({beta1: _B1}), hps, beta=_B1)
    closures = [coupled_weight_decay(_WD)]
    if closure == "adam":
        closures += [second_moment(_B2), bias_correction()]
    rule = compose(draft, closures).rule(closure if closure != "none" else "plain", provenance)
    spec = OptimizerSpec(
        name,
        tuple(hps),
        (("True", rule),),
        summary=f"{name}: derived from the {kinetic.name} energy by {scheme.name}"
        + ("" if closure == "none" else f" with the {closure} closure")
        + ".",
        reference="",
    )
    return DerivedOptimizer(spec, generate_module(spec, command="hamopt.derive(...)"))
