"""Write the README's walk-through "from an idea to a comparison" with the real outputs.

    python examples/derive_your_own.py      # ~1 min: rewrites the README block below

One new energy, log-cosh (velocity tanh p: classical for small momenta, bounded speed for large
ones), goes through the three commands a researcher types — ``hamopt derive`` (with
``--spec-out``), ``hamopt verify`` on the exported module, ``hamopt compare`` against the zoo's
Adam and torch's — each run as a subprocess in a scratch folder, its output pasted as printed.
The README block lies between :data:`BEGIN` and :data:`END`; ``tests/test_readme.py`` checks that
its rule and verdicts are what the commands give today.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from gallery import rewrite_readme_block  # the sibling script: python examples/...

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- derive-your-own: begin (written by examples/derive_your_own.py) -->"
END = "<!-- derive-your-own: end -->"

DERIVE = [
    "derive",
    "--kinetic",
    "log(cosh(p))",
    "--scheme",
    "leapfrog",
    "--closure",
    "adam",
    "--name",
    "LogCosh",
    "--out",
    "hamopt-out/logcosh.py",
    "--spec-out",
    "hamopt-out/logcosh.toml",
]
VERIFY = ["verify", "hamopt-out/logcosh.py"]
COMPARE = [
    "compare",
    "hamopt-out/logcosh.py",
    "Adam",
    "torch.Adam",
    "--task",
    "digits-mlp",
    "--seeds",
    "3",
    "--lr-grid",
    "1e-3,3e-3",
]


def hamopt(args: list[str], cwd: Path) -> tuple[int, str]:
    """``hamopt ARGS`` in ``cwd``: (exit status, stdout)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    run = subprocess.run(
        [sys.executable, "-m", "hamopt", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if run.returncode not in (0, 1):
        raise SystemExit(f"hamopt {' '.join(args)} failed:\n{run.stderr}")
    return run.returncode, run.stdout


def shell(args: list[str]) -> str:
    return "hamopt " + " ".join(f"'{a}'" if re.search(r"[ ()*]", a) else a for a in args)


def block() -> str:
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        _, derived = hamopt(DERIVE, cwd)
        spec = (cwd / "hamopt-out" / "logcosh.toml").read_text()
        status, verified = hamopt(VERIFY, cwd)
        hamopt(COMPARE, cwd)
        table = (cwd / "hamopt-out" / "compare" / "compare.md").read_text()
    rule = derived.split("\nwrote ")[0].strip()
    # the report's title becomes bold text, and its wall time (different each run) goes
    table = re.sub(r"^# (.*)$", r"**\1**", table.strip(), flags=re.M)
    table = "\n".join(ln for ln in table.splitlines() if not ln.startswith("Wall time"))
    verify_table = "\n".join(ln for ln in verified.splitlines() if ln.startswith("|"))
    return "\n".join(
        [
            BEGIN,
            f"**1. Derive.** `{shell(DERIVE)}` prints the rule (α = lr, v and y the moment "
            "buffers, b₁ and b₂ the bias corrections) and writes the module and its spec:",
            "",
            rule,
            "",
            "```toml",
            spec.strip(),
            "```",
            "",
            f"**2. Verify** the module — the physics of the derivation it carries — with "
            f"`{shell(VERIFY)}` (exit status {status}):",
            "",
            verify_table,
            "",
            f"**3. Compare** on a task, over seeds and an lr grid: `{shell(COMPARE)}` "
            "(`hamopt-out/compare/` also gets `curves.png` and `compare.json`):",
            "",
            table,
            END,
        ]
    )


def main() -> int:
    rewrite_readme_block(BEGIN, END, block)
    print(f"wrote the derive-your-own walk-through of {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
