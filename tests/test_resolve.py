"""hamopt.resolve: zoo names, torch.NAME, spec files and exported modules, and their errors."""

from __future__ import annotations

import sys

import pytest
import torch

import hamopt
import hamopt.optim
from hamopt.resolve import load_module, optimizer_classes, resolve_optimizer
from hamopt.zoo import ZOO

SPEC = """\
name = "{name}"
description = "classical energy, Euler, no closure"

[kinetic]
energy = "p**2/(2*m)"

[kinetic.params]
m = {{ default = 1.0, min = 0, min_open = true, doc = "mass" }}

[scheme]
name = "euler"

[closure]
name = "none"
"""


def _steps(cls: type) -> bool:
    """One step of ``cls`` at lr = 0.1 on a quadratic moves the parameter."""
    x = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = cls([x], lr=0.1)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (x**2).sum()
        loss.backward()
        return loss

    before = x.detach().clone()
    opt.step(closure)
    return not torch.equal(before, x.detach())


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_names_resolve_to_the_generated_classes(name):
    label, cls = resolve_optimizer(name)
    assert label == name
    assert cls is getattr(hamopt.optim, name)


@pytest.mark.parametrize(
    ("ref", "label", "cls"),
    [
        ("torch.Adam", "torch.Adam", torch.optim.Adam),
        ("torch.SGD", "torch.SGD", torch.optim.SGD),
        ("torch.optim.LBFGS", "torch.LBFGS", torch.optim.LBFGS),
    ],
)
def test_torch_names_resolve_to_torch_optim(ref, label, cls):
    assert resolve_optimizer(ref) == (label, cls)


def test_a_spec_file_resolves_to_its_derived_class(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(SPEC.format(name="SpecMine"))
    label, cls = resolve_optimizer(str(path))
    assert label == "SpecMine"
    assert cls.__name__ == "SpecMine"
    assert issubclass(cls, torch.optim.Optimizer)
    assert _steps(cls)


def test_an_exported_module_resolves_to_its_one_optimizer(tmp_path):
    path = hamopt.derive(hamopt.kinetic.classical(), name="Exported").export(tmp_path / "exp.py")
    label, cls = resolve_optimizer(str(path))
    assert label == "Exported"
    assert issubclass(cls, torch.optim.Optimizer)
    assert _steps(cls)


def test_load_module_leaves_nothing_in_sys_modules_and_keeps_same_stems_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.py").write_text("VALUE = 1\n")
    (tmp_path / "b" / "same.py").write_text("VALUE = 2\n")
    before = set(sys.modules)
    one, two = load_module(tmp_path / "a" / "same.py"), load_module(tmp_path / "b" / "same.py")
    assert (one.VALUE, two.VALUE) == (1, 2)
    assert one.__name__ != two.__name__
    assert set(sys.modules) == before


def test_optimizer_classes_ignores_imported_ones(tmp_path):
    path = tmp_path / "mixed.py"
    path.write_text(
        "import torch\nfrom torch.optim import Adam\nclass Mine(torch.optim.SGD):\n    pass\n"
    )
    assert [c.__name__ for c in optimizer_classes(load_module(path))] == ["Mine"]


# -- errors -------------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_accepted_forms():
    with pytest.raises(ValueError, match="unknown optimizer 'Nope'") as err:
        resolve_optimizer("Nope")
    for form in ("RAD", "torch.NAME", "FILE.toml", "FILE.py"):
        assert form in str(err.value)


def test_a_wrongly_cased_zoo_name_gets_a_hint():
    with pytest.raises(ValueError, match="did you mean RAdam"):
        resolve_optimizer("radam")


@pytest.mark.parametrize("ref", ["torch.Nope", "torch.Optimizer", "torch.lr_scheduler"])
def test_torch_names_that_are_not_optimizers_are_refused(ref):
    with pytest.raises(ValueError, match=r"torch\.optim has no optimizer"):
        resolve_optimizer(ref)


@pytest.mark.parametrize("ref", ["", "   ", None, 3])
def test_empty_or_non_text_references_are_refused(ref):
    with pytest.raises(ValueError, match="non-empty text"):
        resolve_optimizer(ref)


@pytest.mark.parametrize(("name", "what"), [("gone.toml", "spec file"), ("gone.py", "module")])
def test_missing_files_are_named(tmp_path, name, what):
    path = tmp_path / name
    with pytest.raises(ValueError, match=f"no such {what}: .*{name}"):
        resolve_optimizer(str(path))


def test_a_bad_spec_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.format(name="Bad").replace('name = "euler"', 'name = "nope"'))
    with pytest.raises(ValueError, match=r"bad\.toml.*scheme\.name"):
        resolve_optimizer(str(path))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("X = 1\n", r"found 0 \(none\)"),
        (
            "import torch\nclass A(torch.optim.SGD):\n    pass\n"
            "class B(torch.optim.SGD):\n    pass\n",
            r"found 2 \(A, B\)",
        ),
    ],
)
def test_a_module_needs_exactly_one_optimizer(tmp_path, text, found):
    path = tmp_path / "few.py"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"few\.py: .*exactly one .*{found}"):
        resolve_optimizer(str(path))


@pytest.mark.parametrize(
    ("text", "error"), [("raise RuntimeError('boom')\n", "boom"), ("def (:\n", "SyntaxError")]
)
def test_a_module_that_does_not_import_is_refused(tmp_path, text, error):
    path = tmp_path / "broken.py"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"broken\.py: cannot import it: .*{error}"):
        resolve_optimizer(str(path))
