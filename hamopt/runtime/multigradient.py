r"""The base class of a generated optimizer that takes several gradients per step.

A scheme with several kicks K (Yoshida's triple jump has three) reads the gradient at each
kick's own position, so its optimizer evaluates the loss again there through ``step(closure)``,
as ``torch.optim.LBFGS`` does. The generated class holds its scheme as a table, ``ROWS``: one
``(sub-flow, fraction f of the step)`` per row, applied top to bottom. It also holds ``SCHEME``
(the scheme's name), ``ARGUMENTS``, and the equations of the sub-flows on one param group, with
``h = lr`` and ``β₁ = beta1``:

========================  =======================================================================
``_dissipate(group, f)``  D: :math:`p \leftarrow \beta_1^f p`
``_drift(group, f)``      F: :math:`\theta \leftarrow \theta + f h\, \nabla T(p)`
``_kick(group, f)``       K: :math:`p \leftarrow p - f h\,(g + \lambda\theta)`, where g is the
                          gradient that the closure left
========================  =======================================================================

:class:`GeneratedMultiGradientOptimizer` walks the rows and calls the closure before each kick.
It is a :class:`~hamopt.runtime.optimizer.GeneratedOptimizer` and keeps that class's checks: the
argument table, each parameter in one group only, and ``load_state_dict``. It also checks the
gradients (:mod:`~hamopt.runtime.nonfinite`), here at every kick. A step applies in full or not at
all. A NaN or ±Inf gradient at any kick raises (``nonfinite="raise"``) or skips the step
(``"skip"``), and either way every parameter and momentum goes back to its value before the step.
To make that possible the step keeps a copy of them, which ``"ignore"`` does without.
"""

from typing import ClassVar

import torch

from hamopt.runtime.nonfinite import passes
from hamopt.runtime.optimizer import GeneratedOptimizer

__all__ = ["GeneratedMultiGradientOptimizer"]


class GeneratedMultiGradientOptimizer(GeneratedOptimizer):
    """A generated optimizer whose step walks its scheme's rows and calls ``closure`` at each
    kick.

    Keyword-only options:

    * ``maximize`` (default False): maximize the objective instead of minimizing it;
    * ``nonfinite`` (default "raise"): what to do with a NaN or ±Inf gradient at any kick.
      "raise" raises ValueError and "skip" skips the step; in both cases the parameters and
      momenta go back to their values before the step. "ignore" applies the gradient unchecked.

    A parameter's only state is its momentum p. It exists from the parameter's first gradient
    on, and is float32 for a half-precision parameter. A parameter that has no gradient at a
    kick gets no kick. Complex parameters are refused.
    """

    OPTION_NAMES: ClassVar[tuple[str, ...]] = ("maximize", "nonfinite")
    #: The scheme's name, and its rows: ``(sub-flow "D", "F" or "K", fraction of the step)``.
    SCHEME: ClassVar[str] = ""
    ROWS: ClassVar[tuple[tuple[str, float], ...]] = ()

    # -- the generated class's sub-flows, on one param group ---------------------------------
    def _dissipate(self, group: dict, fraction: float) -> None:
        """D: the momenta decay by β₁^f."""
        raise NotImplementedError

    def _drift(self, group: dict, fraction: float) -> None:
        """F: the parameters move by f h ∇T(p)."""
        raise NotImplementedError

    def _kick(self, group: dict, fraction: float) -> None:
        """K: the momenta take -f h (g + λθ), g the gradient the closure left."""
        raise NotImplementedError

    # -- what GeneratedOptimizer asks of its class -------------------------------------------
    def _rule(self, group: dict) -> str:
        """One rule for every group: the scheme."""
        return self.SCHEME

    def _keeps(self, rule: str, group: dict, p: torch.Tensor) -> tuple[str, ...]:
        """A parameter keeps its momentum and no step count."""
        return ("momentum",)

    def _check_new_group(self, group: dict) -> None:
        """The checks of every generated optimizer, and no complex parameter."""
        super()._check_new_group(group)
        params = group.get("params")
        if isinstance(params, list) and any(torch.is_tensor(p) and p.is_complex() for p in params):
            raise TypeError(f"{type(self).__name__}: complex parameters are not supported")

    # -- the step ----------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """One step of the scheme, which applies its rows top to bottom. ``closure`` is
        required.

        ``closure`` evaluates the model again at the current parameters: it zeroes the
        gradients, computes the loss, calls ``backward()`` and returns the loss. The step calls
        it under ``torch.enable_grad()`` once per kick, and checks every gradient before the
        kick changes anything. Returns the loss of the first call (at the first kick's
        position). Where the closure raises at a later kick, the rows already applied are
        undone before the exception goes on (unless every group has ``nonfinite="ignore"``,
        which keeps no copy of the step's start): a step applies in full or not at all."""
        name, kicks = type(self).__name__, sum(flow == "K" for flow, _ in self.ROWS)
        if closure is None:
            s = "s" if kicks != 1 else ""
            raise ValueError(
                f"{name} takes {kicks} gradient{s} per step (the {self.SCHEME} scheme has {kicks} kick{s}): call step(closure) with a closure that zeroes the gradients, computes the loss, calls backward() and returns the loss, as for torch.optim.LBFGS"
            )
        if not callable(closure):
            raise TypeError(f"{name}: closure must be callable, got {type(closure).__name__}")
        for index, group in enumerate(self.param_groups):  # set since the constructor's checks
            try:
                self._check_options(group)
            except TypeError as error:
                raise TypeError(f"{error} (param group {index})") from None
        flows = {"D": self._dissipate, "F": self._drift, "K": self._kick}
        before = self._snapshot()
        loss, first = None, True
        for flow, fraction in self.ROWS:
            if flow == "K":
                try:
                    with torch.enable_grad():
                        value = closure()
                except BaseException:  # the closure failed part-way through the step
                    self._restore(before)
                    raise
                if first:
                    loss, first = value, False
                if not self._gradients_fit(before):
                    return loss
            for group in self.param_groups:
                flows[flow](group, fraction)
        return loss

    def _gradients_fit(self, before: dict | None) -> bool:
        """Check every gradient the closure left, at a kick: True to go on. If a gradient is
        bad, first restore ``before`` (:meth:`_snapshot`), then return False to skip the step or
        raise ValueError (:mod:`~hamopt.runtime.nonfinite`)."""
        try:
            if passes(self):  # one read on the host per kick
                return True
        except ValueError:
            self._restore(before)
            raise
        self._restore(before)
        return False

    def _snapshot(self) -> dict | None:
        """Each parameter and its momentum (None where it has none yet) as they are before the
        step, for :meth:`_restore`. Returns None where every group has nonfinite="ignore"."""
        if all(group["nonfinite"] == "ignore" for group in self.param_groups):
            return None
        saved = {}
        for group in self.param_groups:
            for p in group["params"]:
                momentum = self.state[p].get("momentum") if p in self.state else None
                saved[p] = (p.detach().clone(), None if momentum is None else momentum.clone())
        return saved

    def _restore(self, saved: dict | None) -> None:
        """Put back what :meth:`_snapshot` saved, and drop any momentum the step created."""
        for p, (value, momentum) in (saved or {}).items():
            p.copy_(value)
            if momentum is not None:
                self.state[p]["momentum"].copy_(momentum)
            elif p in self.state:
                del self.state[p]
