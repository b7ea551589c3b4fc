"""Where a benchmark's Markdown table goes (written to ``--out`` and printed), and the machine
it was measured on."""

from __future__ import annotations

import platform
from pathlib import Path

#: The vector extensions the generated kernels use when the compiler is given them
#: (``-march=native``): AVX-512 for the 8-bit format's code search, VBMI for its decoding.
VECTOR_FLAGS = (("avx512f", "AVX-512"), ("avx512vbmi", "VBMI"), ("avx2", "AVX2"))


def machine() -> str:
    """The CPU's model name and the vector extensions among :data:`VECTOR_FLAGS` it has
    (Linux's ``/proc/cpuinfo``; elsewhere what :mod:`platform` says): a kernel's speed, the
    8-bit state's above all, depends on them."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    name = fields.get("model name", platform.machine())
    flags = set(fields.get("flags", "").split())
    have = [label for flag, label in VECTOR_FLAGS if flag in flags]
    return f"{name} ({platform.machine()}, {', '.join(have) or 'no AVX2'})"


def threads() -> str:
    """torch's thread count, as a table says it: "1 thread", "2 threads"."""
    import torch

    n = torch.get_num_threads()
    return f"{n} thread{'s' if n != 1 else ''}"


def write(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` (making its folder), print it and say where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
