"""Regenerate the shipped optimizers: ``python -m hamopt.zoo.regenerate [--check] [NAME...]``.

Each module in ``hamopt/optim/`` is the output of :func:`hamopt.codegen.generate_module` on a
zoo derivation. ``--check`` writes nothing and exits 1 when a file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hamopt.codegen.module import generate_module

HERE = Path(__file__).resolve().parent.parent / "optim"
COMMAND = "python -m hamopt.zoo.regenerate"


def source(name: str) -> str:
    """Generated source of zoo member ``name``."""
    from hamopt.zoo import ZOO

    return generate_module(ZOO[name][1](), command=COMMAND)


def path(name: str) -> Path:
    from hamopt.zoo import ZOO

    return HERE / f"{ZOO[name][0]}.py"


def main(argv: list[str] | None = None) -> int:
    from hamopt.zoo import ZOO

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("names", nargs="*", help=f"zoo members (default: all of {sorted(ZOO)})")
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(ZOO))
    if unknown:
        parser.error(f"unknown optimizer(s) {unknown}; choose from {sorted(ZOO)}")
    stale = []
    for name in args.names or list(ZOO):
        text, target = source(name), path(name)
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
            continue
        target.write_text(text)
        print(f"wrote {target}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
