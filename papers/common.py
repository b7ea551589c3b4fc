"""What every ``papers/<name>/reproduce.py`` shares: its command line, the claim table, the README.

A reproduction checks a paper's claims one by one. Each check returns a :class:`Claim`: the
claim as the paper states it, how the toolkit checks it, the number it measured with the
tolerance it used, and the verdict (``True``, ``False`` or ``"partly"``). :func:`write_readme`
writes the table between two markers in the folder's ``README.md`` (the prose around it is
kept), so that the committed table is always the output of the committed code.

Modes (:func:`parse_args`): the default run (≤ 5 minutes on 2 CPU cores), ``--full`` (the
longer version) and ``--smoke`` (≤ 30 s, used by the test suite; it writes to ``--out`` and
never touches the committed README unless ``--readme`` is given).
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "BEGIN",
    "END",
    "Claim",
    "Run",
    "claims_table",
    "figure",
    "parse_args",
    "report",
    "seed_everything",
    "write_readme",
]

BEGIN = "<!-- claims: begin (written by reproduce.py; do not edit by hand) -->"
END = "<!-- claims: end -->"

Verdict = bool | str  # True, False or "partly"


@dataclass(frozen=True)
class Claim:
    """One row of a reproduction table."""

    claim: str
    how: str
    measured: str
    holds: Verdict

    def __post_init__(self) -> None:
        if self.holds not in (True, False, "partly"):
            raise ValueError(f"holds must be True, False or 'partly', got {self.holds!r}")

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "no", "partly": "partly"}[self.holds]


@dataclass(frozen=True)
class Run:
    """The mode a script runs in and where it writes."""

    mode: str  # "smoke", "default" or "full"
    out: Path
    readme: Path | None  # README.md whose table is rewritten, or None
    seed: int
    started: float = field(default_factory=time.perf_counter)  # perf_counter at the start

    @property
    def elapsed(self) -> float:
        """Seconds of wall time since the run started."""
        return time.perf_counter() - self.started

    @property
    def smoke(self) -> bool:
        return self.mode == "smoke"

    @property
    def full(self) -> bool:
        return self.mode == "full"


def parse_args(argv: Sequence[str] | None, folder: Path, description: str) -> Run:
    """``--full`` / ``--smoke``, ``--out DIR`` (figures), ``--seed``, ``--readme`` / ``--no-readme``.

    By default figures go to ``folder`` and the table to ``folder/README.md``; ``--smoke``
    writes to ``--out`` (required) and leaves the README alone unless ``--readme`` is given.
    """
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the longer version")
    mode.add_argument("--smoke", action="store_true", help="a ≤ 30 s run for the test suite")
    parser.add_argument("--out", type=Path, default=None, help="folder for figures")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    readme = parser.add_mutually_exclusive_group()
    readme.add_argument("--readme", action="store_true", help="rewrite the README table")
    readme.add_argument("--no-readme", action="store_true", help="leave the README alone")
    args = parser.parse_args(argv)
    name = "full" if args.full else "smoke" if args.smoke else "default"
    if args.smoke and args.out is None:
        parser.error("--smoke needs --out DIR (the committed figures are not overwritten)")
    out = args.out if args.out is not None else folder
    out.mkdir(parents=True, exist_ok=True)
    write = args.readme or not (args.no_readme or args.smoke)
    return Run(name, out, folder / "README.md" if write else None, args.seed)


def begin(argv: Sequence[str] | None, folder: Path, description: str) -> Run:
    """The start of every ``reproduce.py``: :func:`parse_args`, one torch thread (the problems
    are small, and runs that share the machine do not oversubscribe it) and
    :func:`seed_everything` with the run's seed."""
    run = parse_args(argv, folder, description)
    torch.set_num_threads(1)
    seed_everything(run.seed)
    return run


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def claims_table(claims: Sequence[Claim]) -> str:
    """Markdown table ``claim | how the toolkit checks it | measured result | holds?``."""
    rows = ["| claim | how the toolkit checks it | measured result | holds? |", "|---|---|---|---|"]
    for c in claims:
        cells = [c.claim, c.how, c.measured, c.verdict]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def write_readme(run: Run, claims: Sequence[Claim], extra: str = "") -> str:
    """The table (plus ``extra`` Markdown and the run's mode and machine) between the markers.

    Returns the block; writes it into ``run.readme`` when set (the README must hold the markers).
    """
    footer = (
        f"Mode `{run.mode}`, seed {run.seed}; written {time.strftime('%Y-%m-%d')} "
        f"on {platform.machine()} ({torch.get_num_threads()} torch threads), "
        f"torch {torch.__version__}."
    )
    block = "\n\n".join(x for x in (claims_table(claims), extra.strip(), footer) if x)
    block = f"{BEGIN}\n{block}\n{END}"
    if run.readme is not None:
        text = run.readme.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(text):
            raise ValueError(f"{run.readme} has no claims markers ({BEGIN!r} … {END!r})")
        run.readme.write_text(pattern.sub(lambda _: block, text))
    return block


@contextmanager
def figure(path: Path, size: tuple[float, float]) -> Iterator:
    """A matplotlib ``Figure`` of ``size`` inches on the Agg canvas (no display needed); on
    leaving the block it is laid out tight and saved to ``path`` at 110 dpi."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    yield fig
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(run: Run, claims: Sequence[Claim], extra: str = "") -> int:
    """The end of every ``reproduce.py``: :func:`write_readme`, the table also as
    ``OUT/claims.md`` when no README is written, the block printed; returns the exit status."""
    block = write_readme(run, claims, extra)
    if run.readme is None:
        (run.out / "claims.md").write_text(block + "\n")
    print(block)
    return 0
