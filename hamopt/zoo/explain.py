"""The derivation of a zoo member, from energy to torch code, as Markdown.

``python -m hamopt.zoo.explain NAME`` prints it; the scripts in ``derivations/zoo/`` call
:func:`explain` for one member each.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from hamopt.codegen.module import generate_module

__all__ = ["explain"]


def explain(name: str) -> str:
    """Markdown: for every variant, the physical step map, the change of variables, the
    closures, the update rule, and the generated single-tensor function."""
    from hamopt.zoo import ZOO

    if name not in ZOO:
        raise ValueError(f"unknown zoo member {name!r}; choose from {sorted(ZOO)}")
    spec = ZOO[name][1]()
    source = generate_module(spec)
    out = [f"# {spec.name}", "", spec.summary, ""]
    if spec.reference:
        out += [f"Reference: `{spec.reference}`", ""]
    seen = set()
    for cond, rule in spec.variants:
        out += [f"## Variant `{rule.name}` (when `{cond}`)", ""]
        if rule.provenance.derivation and rule.provenance.derivation not in seen:
            seen.add(rule.provenance.derivation)
            out += ["### From the energy to the step", "", rule.provenance.derivation, ""]
        out += ["### Update rule", "", rule.markdown(), ""]
        match = re.search(
            rf"^def _single_tensor_{rule.name}\(.*?(?=^\S)", source, flags=re.S | re.M
        )
        if match:
            out += ["### Generated torch code", "", "```python", match.group(0).rstrip(), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from hamopt.zoo import ZOO

    parser = argparse.ArgumentParser(prog="python -m hamopt.zoo.explain", description=__doc__)
    parser.add_argument("name", choices=sorted(ZOO))
    parser.add_argument("--out", type=Path, help="also write NAME.md into this folder")
    args = parser.parse_args(argv)
    text = explain(args.name)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{args.name}.md"
        path.write_text(text + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
