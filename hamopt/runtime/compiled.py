r"""The fused path on ``torch.compile``: where the C++ kernel does not fit (CUDA, DTensor, a
tensor with gaps, no C++ compiler) or ``HAMOPT_FUSED=compile`` is set, a rule's
``_fused_<rule>`` — its tensor equations with every number a tensor, one loop over the group's
tensors that dynamo unrolls — is compiled by inductor into one graph per group layout.

Static shapes on purpose: with dynamic ones inductor picks a loop's threading from the sizes of
the first compilation, and its disk cache then served a single-threaded loop, compiled for a
small model, to a large one (1.6x slower). Compilation fails before any tensor changes (no C++
compiler, an unsupported backend or tensor type, too many layouts): then warn once, run the same
function uncompiled and send this rule's later steps to the foreach or single-tensor path.
"""

import warnings

import torch

__all__ = ["Compiled"]

# inductor: no size checks on every call (dynamo's guards have checked the inputs); a tensor's
# loop runs on several threads from 16384 elements a thread (below, starting them costs more)
INDUCTOR = {"size_asserts": False, "cpp.min_chunk_size": 16384}


class Compiled:
    """The compiled fused functions of one optimizer class, made on first use, and the rules
    that could not be compiled here."""

    def __init__(self):
        self.functions = {}
        self.failed = set()

    def __call__(
        self, optimizer: str, rule: str, function, *args, inputs_checked=None, **kwargs
    ) -> None:
        """``function(*args, **kwargs)`` compiled (the same result uncompiled where it fails).
        ``inputs_checked``: called where compilation fails, before the rule is marked as failed;
        it raises where the inputs, not the compiler, are at fault (tensors of mismatched
        shapes), so that one bad call does not send the class's later steps off this path."""
        if rule not in self.functions:
            self.functions[rule] = torch.compile(
                function, fullgraph=True, dynamic=False, options=INDUCTOR
            )
        try:
            self.functions[rule](*args, **kwargs)
        except (
            torch._dynamo.exc.TorchDynamoException,
            torch._dynamo.exc.FailOnRecompileLimitHit,
        ) as error:
            if inputs_checked is not None:
                inputs_checked()
            self.failed.add(rule)
            cause = getattr(error, "inner_exception", None) or error  # the backend's own error
            reason = f"{type(cause).__name__}: {next(iter(str(cause).strip().splitlines()), '')}"
            warnings.warn(
                f"{optimizer}(fused=True): rule {rule} could not be compiled, so its steps take the foreach or single-tensor path instead ({reason})",
                RuntimeWarning,
                stacklevel=4,
            )
            function(*args, **kwargs)
