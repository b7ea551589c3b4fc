r"""Order of accuracy of a one-step method, measured against a tight reference solution.

Integrate the conformal Hamiltonian system to a fixed time :math:`T` with steps
:math:`h_j = T/N_j`, :math:`N_j` doubling, and fit the global error

.. math::

    e(h) = \max_i \lvert (q_N, p_N)_i - (q(T), p(T))_i \rvert \approx C h^{k},
    \qquad \log e = k \log h + \log C

by least squares. The method passes when the fitted slope :math:`k` is within 0.1 of its
declared order (0.3 for order 4 and above, where the asymptotic regime is shorter), and fails
when it is not — unless the theory does not apply: an order-:math:`k` method needs
:math:`T \in C^{k+1}`, and a slope off the order on an energy with a kink (at :math:`p = 0`:
:math:`|p|`, :math:`|p|^{3/2}`; or where a ``Max``, ``Min`` or ``clip`` switches; see
:func:`~hamopt.checks.smoothness.smooth`) is reported as undetermined, with the reason. A
slope within the tolerance passes whatever the smoothness: the verdict judges the measured
figure.

The reference :math:`(q(T), p(T))` is ``scipy.integrate.solve_ivp`` (DOP853) at
``rtol = atol = 1e-13``; its own error is estimated against a solve at ``1e-12`` and every
measured error must stay 10 times above it, otherwise the fit is refused (verdict
undetermined).

A rotation of a scheme (:meth:`~hamopt.schemes.scheme.Scheme.rotated`, such as the
first-same-as-last :data:`~hamopt.schemes.leapfrog_fsal`, the leapfrog seen from the half step)
is :math:`R = P \circ S \circ P^{-1}`; iterated from the same :math:`(q_0, p_0)` it measures
order 1 in the raw variables, and its order lives in the rotated ones. The check measures
:math:`P^{-1} \circ R^N \circ P = S^N`, as :func:`~hamopt.checks.integrate.trajectory` iterates
every rotation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from hamopt.checks.integrate import (
    OneStepMethod,
    Potential,
    _as_tensor,
    _check_finite,
    anharmonic,
    check_step,
    method_named,
    numeric_system,
    reference_state,
    trajectory,
)
from hamopt.checks.report import CheckResult
from hamopt.checks.smoothness import smooth
from hamopt.kinetic.energy import KineticEnergy

__all__ = [
    "DEFAULT_P0",
    "DEFAULT_Q0",
    "default_steps",
    "fit_slope",
    "order_of_accuracy",
    "rounding_floor",
]

#: Default initial state of the accuracy checks (three particles, on :func:`anharmonic`).
DEFAULT_Q0 = (1.0, -0.5, 0.8)
DEFAULT_P0 = (0.5, 1.0, -0.7)
#: The reference tolerance, and the looser one its error is estimated against.
REFERENCE_TOL = 1e-13
_CHECK_TOL = 1e-12
#: Every measured error must exceed the reference's error estimate by this factor.
FLOOR_FACTOR = 10.0
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def default_steps(order: int) -> tuple[int, ...]:
    r"""Doubling step counts that reach the asymptotic regime on the default problem with
    :math:`T = 1` while keeping every error far above the reference's (~1e-13):
    ``(64 … 1024)`` for order 1, ``(32 … 512)`` for order 2, ``(16 … 256)`` beyond."""
    first = 64 if order <= 1 else 32 if order == 2 else 16
    return tuple(first * 2**j for j in range(5))


def _step_counts(order: int, steps, final_time: float) -> tuple[int, ...]:
    """``steps`` (default :func:`default_steps`) as ints, each checked with its step
    ``final_time / n`` (:func:`~hamopt.checks.integrate.check_step`): whole numbers, at least
    two different ones (a slope needs two step sizes)."""
    if steps is None:
        counts = default_steps(order)
    else:
        steps = tuple(steps)
        if not all(
            (isinstance(n, numbers.Integral) and not isinstance(n, bool))
            or (isinstance(n, float) and n.is_integer())
            for n in steps
        ):
            raise ValueError(f"steps must be whole numbers of steps, got {list(steps)!r}")
        counts = tuple(int(n) for n in steps)
        if len(set(counts)) < 2:
            raise ValueError(
                f"steps must hold at least two different step counts (a slope needs two "
                f"step sizes), got {list(counts)!r}"
            )
    for n in counts:
        check_step(final_time / max(n, 1), n)
    return counts


def _check_tolerance(tolerance: float | None) -> None:
    if tolerance is not None and not (
        isinstance(tolerance, numbers.Real) and 0 < tolerance < math.inf
    ):
        raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}")


def rounding_floor(scale: float, steps: Sequence[int]) -> float:
    r"""The error float64 rounding alone can leave after the longest run:
    :math:`\varepsilon \cdot \text{scale} \cdot \max N` (a rounding of the state's size at
    each step, added up). An error below a few of it measures rounding, not the scheme (at a
    short ``final_time`` the errors of every step count are 1e-15, and their slope any
    number)."""
    return float(np.finfo(float).eps * scale * max(steps))


def tolerance_for(order: int) -> float:
    """The allowed distance of the fitted slope from the declared order: 0.1, or 0.3 for
    order >= 4."""
    return 0.3 if order >= 4 else 0.1


def fit_slope(h: Sequence[float], errors: Sequence[float]) -> float:
    r"""Least-squares slope :math:`k` of :math:`\log e = k \log h + c`."""
    x, y = np.log(np.asarray(h, dtype=float)), np.log(np.asarray(errors, dtype=float))
    if x.size < 2:
        raise ValueError("need at least two step sizes to fit a slope")
    return float(np.polyfit(x, y, 1)[0])


def _setup(
    kinetic: KineticEnergy,
    potential: Potential | Callable[[torch.Tensor], torch.Tensor] | None,
    q0: Sequence[float] | torch.Tensor | None,
    p0: Sequence[float] | torch.Tensor | None,
    friction: float,
    values: Mapping[str, float] | None,
):
    q0 = _as_tensor(DEFAULT_Q0 if q0 is None else q0)
    p0 = _as_tensor(DEFAULT_P0 if p0 is None else p0, q0.numel())
    if potential is None:
        potential = anharmonic(q0.numel())
    return numeric_system(kinetic, potential, friction, values), q0, p0


def _reference(system, q0, p0, final_time):
    """Tight reference state and an estimate of its error (against a looser solve)."""
    q_ref, p_ref = reference_state(
        system, q0, p0, final_time, rtol=REFERENCE_TOL, atol=REFERENCE_TOL
    )
    q_chk, p_chk = reference_state(system, q0, p0, final_time, rtol=_CHECK_TOL, atol=_CHECK_TOL)
    floor = float(torch.cat([q_ref - q_chk, p_ref - p_chk]).abs().max())
    return q_ref, p_ref, floor


def _verdict(
    name: str,
    subject: str,
    h: np.ndarray,
    errors: np.ndarray,
    order: int,
    floor: float,
    tolerance: float | None,
    extra: dict,
    smoothness: Callable[[int], tuple[bool | None, str]] | None = None,
) -> CheckResult:
    """The verdict on a fitted slope.

    ``"pass"`` when the slope is within the tolerance of ``order``. ``"undetermined"`` when no
    slope can be trusted (an error within :data:`FLOOR_FACTOR` of the reference's, or an error
    that is 0), when the slope misses while the local slopes still drift by more than the
    tolerance and the last is within it of ``order`` (the steps are too coarse to be
    asymptotic), or when the slope misses and ``smoothness(order + 1)`` says the energy is not
    :math:`C^{\text{order}+1}` at :math:`p = 0` (the order theory does not apply). Otherwise
    ``"fail"``.
    """
    tol = tolerance_for(order) if tolerance is None else float(tolerance)
    above_floor = bool(np.all(errors > FLOOR_FACTOR * floor))
    if np.all(errors > 0) and np.all(np.isfinite(errors)):
        slope = fit_slope(h, errors)
        local = np.log(errors[:-1] / errors[1:]) / np.log(h[:-1] / h[1:])
    else:  # an exact (or overflowed) result: no slope to fit
        slope, local = float("nan"), np.full(max(errors.size - 1, 0), np.nan)
    details = {
        "h": h.tolist(),
        "errors": errors.tolist(),
        "local_slopes": local.tolist(),
        "declared_order": order,
        "reference_error_estimate": floor,
        "errors_above_reference": above_floor,
        **extra,
    }
    args = (name, subject, slope, f"{order} ± {tol:g}")
    if not above_floor:
        details["reason"] = (
            f"an error is within {FLOOR_FACTOR:g}x of the reference's error estimate or float64 "
            f"rounding over the steps, {floor:.2g}: use larger steps or a longer final time"
        )
        return CheckResult.undetermined(*args, details["reason"], details)
    if not np.isfinite(slope):
        details["reason"] = "an error is 0 or not finite: no slope to fit"
        return CheckResult.undetermined(*args, details["reason"], details)
    if abs(slope - order) <= tol:
        return CheckResult(*args, True, details)
    if np.ptp(local) > tol and abs(local[-1] - order) <= tol:
        slopes = ", ".join(f"{x:.3g}" for x in local)
        details["reason"] = (
            f"not yet asymptotic: the local slopes {slopes} still drift, and the last is within "
            f"{tol:g} of order {order}; use more steps (smaller h)"
        )
        return CheckResult.undetermined(*args, details["reason"], details)
    if smoothness is not None:
        smooth, why = smoothness(order + 1)
        details["smooth_enough"], details["smoothness"] = smooth, why or "smooth enough"
        if smooth is False:
            needs = f"C{str(order + 1).translate(_SUPERSCRIPT)}"
            details["reason"] = f"not applicable: {why}; order {order} needs T ∈ {needs}"
            return CheckResult.undetermined(*args, details["reason"], details)
    return CheckResult(*args, False, details)


def order_of_accuracy(
    kinetic: KineticEnergy,
    scheme: OneStepMethod | str,
    potential: Potential | Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    q0: Sequence[float] | torch.Tensor | None = None,
    p0: Sequence[float] | torch.Tensor | None = None,
    friction: float = 0.5,
    final_time: float = 1.0,
    steps: Sequence[int] | None = None,
    values: Mapping[str, float] | None = None,
    tolerance: float | None = None,
) -> CheckResult:
    r"""Fitted order of the global error of ``scheme`` at a fixed time, against its declared
    order.

    Parameters
    ----------
    kinetic
        The kinetic energy :math:`T(p)`.
    scheme
        A :class:`~hamopt.schemes.scheme.Scheme` or a
        :class:`~hamopt.checks.integrate.Stepper` (``name``, ``order``, ``step``).
    potential
        :math:`U(q)`: a :class:`~hamopt.checks.integrate.Potential` or a callable on 1-D
        tensors (gradient by autograd). Default :func:`~hamopt.checks.integrate.anharmonic` on
        as many particles as ``q0`` has (3 by default).
    q0, p0
        Initial state; default :data:`DEFAULT_Q0`, :data:`DEFAULT_P0`.
    friction
        :math:`r \ge 0`.
    final_time
        :math:`T`.
    steps
        Step counts :math:`N_j` (so :math:`h_j = T/N_j`); default :func:`default_steps`.
    values
        Parameter values of the kinetic energy.
    tolerance
        Allowed :math:`\lvert k - \text{order}\rvert`; default :func:`tolerance_for`.

    Returns
    -------
    CheckResult
        ``value`` is the fitted slope; ``details`` holds ``h``, ``errors``, ``local_slopes``
        and the reference's error estimate. The verdict is ``"undetermined"`` (with
        ``details['reason']``) when the errors reach the reference's, or when the slope misses
        the order on an energy that is not :math:`C^{\text{order}+1}` at :math:`p = 0`.
    """
    scheme = method_named(scheme)
    system, q0, p0 = _setup(kinetic, potential, q0, p0, friction, values)
    steps = _step_counts(scheme.order, steps, final_time)
    _check_tolerance(tolerance)
    q_ref, p_ref, floor = _reference(system, q0, p0, final_time)
    scale = float(torch.cat([q0, p0, q_ref, p_ref]).abs().max())
    floor = max(floor, rounding_floor(scale, steps))
    errors = []
    for n_steps in steps:
        qs, ps = trajectory(system, scheme, q0, p0, final_time / n_steps, n_steps)
        _check_finite(f"{kinetic.name} × {scheme.name}", qs, ps)
        errors.append(float(torch.cat([qs[-1] - q_ref, ps[-1] - p_ref]).abs().max()))
    h = final_time / np.asarray(steps, dtype=float)
    return _verdict(
        "order of accuracy",
        f"{kinetic.name} × {scheme.name}",
        h,
        np.asarray(errors),
        scheme.order,
        floor,
        tolerance,
        {"steps": list(steps), "final_time": final_time, "friction": friction},
        lambda degree: smooth(kinetic, degree, values),
    )
