"""The README's quickstart runs as written, and its gallery shows today's derivation."""

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_quickstart_trains_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", _section("Quickstart"), re.S)
    code = blocks[0]
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 10  # "ten lines"
    torch.manual_seed(0)
    namespace: dict = {}
    exec(code, namespace)
    assert "position update" in capsys.readouterr().out  # the printed rule
    model, x, y = namespace["model"], namespace["x"], namespace["y"]
    torch.manual_seed(0)  # the same model and data, untrained
    start = torch.nn.Linear(8, 1)
    with torch.no_grad():
        first = torch.nn.functional.mse_loss(start(x), y)
        last = torch.nn.functional.mse_loss(model(x), y)
        features = torch.cat([x, torch.ones(len(x), 1)], dim=1)
        best = torch.nn.functional.mse_loss(features @ torch.linalg.lstsq(features, y).solution, y)
    assert last - best < 0.5 * (first - best)  # more than half way to the least-squares optimum
    exported = (tmp_path / "myrad.py").read_text()
    assert "class MyRAD(GeneratedOptimizer)" in exported
    assert not re.search(r"^(import|from) hamopt", exported, re.M)  # standalone
    exec(blocks[1], namespace)  # the checks snippet
    assert "NAG fails" in blocks[1]


def test_gallery_rule_is_todays_derivation():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gallery", ROOT / "examples" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    block = README[README.index(gallery.BEGIN) : README.index(gallery.END)]
    assert gallery.rule_latex() in block
    png = re.search(r"!\[[^]]*\]\(([^)]+)\)", block).group(1)
    assert (ROOT / png).stat().st_size > 10_000


def _walkthrough() -> str:
    begin = README.index("<!-- derive-your-own: begin")
    return README[begin : README.index("<!-- derive-your-own: end -->")]


def test_walkthrough_rule_and_verdicts_are_todays(tmp_path, monkeypatch, capsys):
    """The README's derive → verify → compare walk-through shows what the commands give today:
    the same rule lines, and the same checks with the same verdicts."""
    from hamopt.cli import main

    block = _walkthrough()
    monkeypatch.chdir(tmp_path)
    args = ["--kinetic", "log(cosh(p))", "--scheme", "leapfrog", "--closure", "adam"]
    assert main(["derive", *args, "--name", "LogCosh", "--out", "logcosh.py"]) == 0
    rule = capsys.readouterr().out.split("\nwrote ")[0].strip()
    assert rule in block
    assert main(["verify", "logcosh.py"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| ")]

    def verdicts(lines):  # (check, verdict) of each row
        return [(ln.split(" | ")[0], ln.split(" | ")[-1]) for ln in lines]

    table = block[block.index("**2. Verify**") : block.index("**3. Compare**")]
    shown = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert verdicts(rows) == verdicts(shown)
    assert "| LogCosh |" in block and "| torch.Adam |" in block  # the comparison's rows


def test_identify_snippet_prints_what_its_comments_say(capsys):
    """The "Identify" section's code runs, and each print matches the comment beside it."""
    (code,) = re.findall(r"```python\n(.*?)```", _section("Identify"), re.S)
    exec(code, {})
    printed = capsys.readouterr().out.splitlines()
    promised = [ln.split("# ", 1)[1] for ln in code.splitlines() if ln.startswith("print(")]
    assert len(printed) == len(promised) == 3
    for out, comment in zip(printed, promised, strict=True):
        assert out.startswith(comment.rstrip(". ")), (out, comment)


def test_the_parsers_functions_are_the_ones_the_readme_and_the_help_list():
    """Every name the energy parser takes is in the README's sentence and in ``hamopt derive
    --help``, and neither lists one it refuses."""
    from hamopt.cli import build_parser
    from hamopt.parse import CONSTANTS, FUNCTIONS

    sentence = README[README.index("of text): `p`") : README.index("anything else raises")]
    subparsers = next(a for a in build_parser()._actions if a.choices and "derive" in a.choices)
    helped = subparsers.choices["derive"].format_help()
    helped = helped[helped.index("allowed are") : helped.index("Parameters are positive")]
    allowed = set(FUNCTIONS) | set(CONSTANTS)
    for text in (sentence, helped):
        listed = set(re.findall(r"[A-Za-z]+", text)) & (allowed | {"floor", "erf", "tan", "acos"})
        assert listed == allowed, text
