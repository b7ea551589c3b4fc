r"""The step-dependent scalars on a number or a tensor: ``scalar.sqrt(x)`` is ``math.sqrt`` on a
float and ``torch.sqrt`` on a tensor.

Eager, a rule's ``_scalars_<rule>`` reads the step count as a Python number and computes its
scalars (:math:`1 - \beta_2^t`, :math:`\sqrt{1 - \beta_2^t}`…) in double precision, as
torch.optim does. Under ``torch.compile`` the step count stays a tensor, so that one graph
serves every step: the same function then computes with torch, in the graph. A ``Piecewise``
prints as ``scalar.where(condition, lambda: a, lambda: b)``: a number takes its branch only, a
tensor condition evaluates both (a branch outside its domain is NaN there) and picks one.
"""

import math

import torch

__all__ = ["scalar"]


def _both(name: str, torch_name: str | None = None):
    on_number, on_tensor = getattr(math, name), getattr(torch, torch_name or name)

    def function(*args):
        if any(isinstance(a, torch.Tensor) for a in args):
            return on_tensor(
                *(
                    torch.as_tensor(a, dtype=torch.float64)
                    if not isinstance(a, torch.Tensor)
                    else a
                    for a in args
                )
            )
        try:
            return on_number(*args)
        except (ValueError, OverflowError):  # outside the domain: NaN, as torch gives
            return math.nan

    function.__name__ = name
    function.__doc__ = f"math.{name} on numbers, torch.{torch_name or name} on tensors."
    return function


def _fold(on_tensors, on_numbers, args, dtype):
    """``on_numbers(args)`` on numbers; ``on_tensors`` folded over them where one is a tensor."""
    if not any(isinstance(a, torch.Tensor) for a in args):
        return on_numbers(args)
    out = torch.as_tensor(args[0], dtype=dtype)
    for a in args[1:]:
        out = on_tensors(out, torch.as_tensor(a, dtype=dtype))
    return out


class scalar:
    """math's functions on numbers, torch's on tensors; ``where``, ``maximum``, ``minimum``,
    ``logical_*`` for the expressions a Python number would write with ``if``, ``max``, ``and``."""

    sqrt = staticmethod(_both("sqrt"))
    exp = staticmethod(_both("exp"))
    expm1 = staticmethod(_both("expm1"))
    log = staticmethod(_both("log"))
    log1p = staticmethod(_both("log1p"))
    log2 = staticmethod(_both("log2"))
    log10 = staticmethod(_both("log10"))
    sin = staticmethod(_both("sin"))
    cos = staticmethod(_both("cos"))
    tan = staticmethod(_both("tan"))
    asin = staticmethod(_both("asin"))
    acos = staticmethod(_both("acos"))
    atan = staticmethod(_both("atan"))
    atan2 = staticmethod(_both("atan2"))
    sinh = staticmethod(_both("sinh"))
    cosh = staticmethod(_both("cosh"))
    tanh = staticmethod(_both("tanh"))
    asinh = staticmethod(_both("asinh"))
    acosh = staticmethod(_both("acosh"))
    atanh = staticmethod(_both("atanh"))
    erf = staticmethod(_both("erf"))
    erfc = staticmethod(_both("erfc"))
    floor = staticmethod(_both("floor"))
    ceil = staticmethod(_both("ceil"))

    @staticmethod
    def where(condition, a, b):
        """``a() if condition else b()``; on a tensor condition ``torch.where`` of both."""
        if isinstance(condition, torch.Tensor):
            return torch.where(
                condition,
                torch.as_tensor(a(), dtype=torch.float64),
                torch.as_tensor(b(), dtype=torch.float64),
            )
        return a() if condition else b()

    @staticmethod
    def maximum(*args):
        return _fold(torch.maximum, max, args, torch.float64)

    @staticmethod
    def minimum(*args):
        return _fold(torch.minimum, min, args, torch.float64)

    @staticmethod
    def logical_and(*args):
        return _fold(torch.logical_and, all, args, None)

    @staticmethod
    def logical_or(*args):
        return _fold(torch.logical_or, any, args, None)

    @staticmethod
    def logical_not(a):
        return torch.logical_not(a) if isinstance(a, torch.Tensor) else not a

    @staticmethod
    def value(state: torch.Tensor):
        """A scalar state's value: its number (eager), or the tensor itself (compiling)."""
        return state if torch.compiler.is_compiling() else state.item()
