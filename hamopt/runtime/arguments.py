r"""Constructor arguments as a table: each :class:`Argument` knows its default, its valid values
and the rule symbols it provides, and :func:`check_arguments` refuses anything else before an
optimizer exists, naming the argument (a wrong type: ``TypeError``; a value out of range:
``ValueError``). The same check runs on every param group added later and every loaded group.

An interval is written as in mathematics, ``"[0, 1)"``, ``"(0, inf)"``; a real value outside it,
NaN, or ±inf where the interval is open at infinity is refused. ``lr`` may also be a 1-element
tensor, as torch.optim allows (a scheduler may then change it in place without recompiling a
compiled step).
"""

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import torch

from hamopt.runtime.nonfinite import POLICIES

__all__ = [
    "OPTIONS",
    "REQUIRED",
    "STATE_DTYPES",
    "Argument",
    "check_arguments",
    "choice",
    "fixed",
    "flag",
    "pair",
    "real",
]


class _Required:
    """torch.optim's ``required``: the argument has no default (a param group may bring it)."""

    def __repr__(self) -> str:
        return "required"


#: The default of an argument without one.
REQUIRED = _Required()


@dataclass(frozen=True)
class Argument:
    """One constructor argument after ``params``.

    ``kind``: ``"real"`` (``intervals[0]``), ``"pair"`` (one interval per component),
    ``"flag"`` (True or False), ``"choice"`` (one of ``choices``), ``"fixed"`` (accepted for
    drop-in compatibility at its default only). ``symbols``: the names the rule's equations give
    its value (``betas`` → ``beta1, beta2``). ``optional``: None is allowed too (it selects a
    rule). ``tensor``: a 1-element tensor is allowed too."""

    name: str
    default: object
    kind: str = "real"
    intervals: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    choices: tuple = ()
    optional: bool = False
    tensor: bool = False

    def check(self, optimizer: str, value: object) -> None:
        """Raise TypeError or ValueError naming this argument if ``value`` is not valid."""
        n = self.name
        if value is REQUIRED:
            raise TypeError(f"{optimizer}: missing required argument {n}")
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise TypeError(f"{optimizer}: {n} must be True or False, got {value!r}")
        elif self.kind == "choice":
            if value not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ValueError(f"{optimizer}: {n} must be one of {allowed}, got {value!r}")
        elif self.kind == "fixed":
            same = (
                value is self.default
                if self.default is None or isinstance(self.default, bool)
                else value == self.default
            )
            if not same:
                raise ValueError(
                    f"{n}={value!r} is not supported by the derived {optimizer}; "
                    f"only {n}={self.default!r}"
                )
        elif self.kind == "pair":
            if not _pair(value, len(self.intervals)):
                raise TypeError(
                    f"{optimizer}: {n} must be a pair of numbers, got {type(value).__name__} {value!r}"
                )
            for i, (item, interval) in enumerate(zip(value, self.intervals, strict=True)):
                _check_real(optimizer, f"{n}[{i}]", item, interval, tensor=False)
        elif not (self.optional and value is None):
            _check_real(optimizer, n, value, self.intervals[0], tensor=self.tensor)

    def values(self, value: object) -> dict[str, object]:
        """The rule's symbols and their values: ``betas=(0.9, 0.99)`` → beta1, beta2."""
        if self.kind == "pair":
            return dict(zip(self.symbols, value, strict=True))
        return {s: value for s in self.symbols}


def _pair(value: object, n: int) -> bool:
    """``value`` holds ``n`` items as torch reads a pair (``betas[0]``, ``betas[1]``): a tuple or
    list, or any sized iterable that is not text or a tensor (a NumPy array, a config
    library's list type)."""
    if isinstance(value, (str, bytes, torch.Tensor)):
        return False
    try:
        return len(value) == n and len(list(value)) == n
    except TypeError:  # no len() or not iterable
        return False


def _check_real(optimizer: str, name: str, value: object, interval: str, tensor: bool) -> None:
    if isinstance(value, torch.Tensor):
        if not tensor:
            raise ValueError(f"{optimizer}: {name} as a Tensor is not supported; give a number")
        if value.numel() != 1 or not value.is_floating_point():
            raise ValueError(
                f"{optimizer}: Tensor {name} must be 1-element and floating point, got shape {tuple(value.shape)} of {value.dtype}"
            )
        value = value.item()
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's too
        raise TypeError(f"{optimizer}: {name} must be a real number, got {value!r}")
    if not _inside(value, interval):
        raise ValueError(f"{optimizer}: {name} must be in {interval}, got {value!r}")


def _inside(x: float, interval: str) -> bool:
    """``x`` in an interval written ``"[a, b)"``; NaN never, ±inf only at a closed infinite end."""
    left, right = interval[0], interval[-1]
    start, end = (_number(t) for t in interval[1:-1].split(","))
    if x != x or (x in (math.inf, -math.inf) and not (math.isfinite(start) and math.isfinite(end))):
        return False
    above = x > start if left == "(" else x >= start
    below = x < end if right == ")" else x <= end
    return (above or not math.isfinite(start)) and (below or not math.isfinite(end))


def _number(text: str) -> float:
    text = text.strip()
    if text in ("inf", "-inf"):
        return float(text)
    return float(Fraction(text)) if "/" in text else float(text)


def real(
    name: str,
    default: object,
    interval: str,
    symbol: str | None = None,
    optional: bool = False,
    tensor: bool = False,
) -> Argument:
    """A real argument (``lr``); ``optional``: None allowed; ``tensor``: a 1-element tensor allowed."""
    return Argument(
        name, default, "real", (interval,), (symbol or name,), optional=optional, tensor=tensor
    )


def pair(
    name: str, default: tuple, intervals: tuple[str, str], symbols: tuple[str, str]
) -> Argument:
    """A pair of reals (``betas``)."""
    return Argument(name, default, "pair", intervals, symbols)


def flag(name: str, default: bool) -> Argument:
    """True or False; selects a rule."""
    return Argument(name, default, "flag")


def choice(name: str, default: object, choices: tuple) -> Argument:
    """One of ``choices``; selects a rule."""
    return Argument(name, default, "choice", choices=choices)


def fixed(name: str, default: object) -> Argument:
    """An argument of the reference accepted at its default only."""
    return Argument(name, default, "fixed")


#: The options a generated optimizer takes (keyword-only, after its hyperparameters; all of
#: them, or those its class names in ``OPTION_NAMES``), with their defaults; a loaded param
#: group that lacks one gets the default. ``capturable`` and
#: ``differentiable`` are torch.optim's flags: ``differentiable=True`` runs the single-tensor
#: path with autograd on (a step is then a differentiable function of its inputs);
#: ``capturable=True`` is accepted where CUDA is (the step still reads its step counts on the host).
OPTIONS: dict[str, object] = {
    "maximize": False,
    "foreach": None,
    "nonfinite": "raise",
    "fused": None,
    "capturable": False,
    "differentiable": False,
    "state_dtype": None,
}

#: The values ``state_dtype`` takes: None (the parameter's type; float32 for half precision),
#: torch.float32, and the low-precision formats (:mod:`~hamopt.runtime.state_storage`).
STATE_DTYPES = (None, torch.float32, torch.bfloat16, torch.uint8)


def check_arguments(optimizer: str, arguments: tuple[Argument, ...], values: dict) -> None:
    """Every argument's value (``values[name]``) is valid, and the options ``values`` holds fit
    together (an optimizer may take only some of :data:`OPTIONS`: a multi-gradient one has no
    foreach or fused path)."""
    for argument in arguments:
        argument.check(optimizer, values[argument.name])
    for name in ("maximize", "capturable", "differentiable"):
        if name in values and not isinstance(values[name], bool):
            raise TypeError(f"{optimizer}: {name} must be True or False, got {values[name]!r}")
    for name in ("foreach", "fused"):
        if values.get(name) not in (None, True, False):
            raise TypeError(
                f"{optimizer}: {name} must be None, True or False, got {values[name]!r}"
            )
    if values.get("fused") and values.get("foreach"):
        raise ValueError(f"{optimizer}: fused=True and foreach=True exclude each other")
    if "nonfinite" in values and values["nonfinite"] not in POLICIES:
        raise ValueError(
            f"{optimizer}: nonfinite must be 'raise', 'skip' or 'ignore', got {values['nonfinite']!r}"
        )
    if values.get("differentiable") and (values.get("foreach") or values.get("fused")):
        raise ValueError(
            f"{optimizer}: differentiable=True runs on the single-tensor path; foreach=True and fused=True exclude it"
        )
    if "state_dtype" in values and values["state_dtype"] not in STATE_DTYPES:
        kind = ValueError if isinstance(values["state_dtype"], torch.dtype) else TypeError
        raise kind(
            f"{optimizer}: state_dtype must be None, torch.float32, torch.bfloat16 (stochastic rounding) or torch.uint8 (8-bit block-wise quantisation), got {values['state_dtype']!r}"
        )
    if values.get("state_dtype") in (torch.bfloat16, torch.uint8) and values.get("differentiable"):
        raise ValueError(
            f"{optimizer}: differentiable=True needs float32 state (autograd does not pass through rounding), got state_dtype={values['state_dtype']}"
        )
    if values.get("capturable") and not torch.cuda.is_available():
        raise ValueError(
            f"{optimizer}: capturable=True needs CUDA, which this machine does not have"
        )
