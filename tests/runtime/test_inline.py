"""An exported module: the runtime inlined, torch only, the same optimizer."""

import importlib
import inspect
import subprocess
import sys

import pytest
import torch

import hamopt.optim as zoo
from hamopt.codegen.inline import bound_names, standalone


def test_standalone_module_needs_no_hamopt_and_steps_as_the_zoo(tmp_path):
    source = inspect.getsource(importlib.import_module(zoo.RGD.__module__))
    path = tmp_path / "rgd_export.py"
    path.write_text(standalone(source))
    child = (
        "import importlib.util, sys, torch\n"
        f"spec = importlib.util.spec_from_file_location('rgd_export', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "p = torch.nn.Parameter(torch.linspace(-1, 1, 7, dtype=torch.float64))\n"
        "opt = m.RGD([p], lr=0.1, momentum=0.9, delta=1.0, weight_decay=0.01)\n"
        "for _ in range(5):\n"
        "    p.grad = p.detach() ** 3\n"
        "    opt.step()\n"
        "assert not [k for k in sys.modules if k.startswith('hamopt')]\n"
        "print(repr(p.detach().tolist()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    p = torch.nn.Parameter(torch.linspace(-1, 1, 7, dtype=torch.float64))
    opt = zoo.RGD([p], lr=0.1, momentum=0.9, delta=1.0, weight_decay=0.01)
    for _ in range(5):
        p.grad = p.detach() ** 3
        opt.step()
    assert eval(out.stdout.strip()) == p.detach().tolist()


def test_a_module_without_the_runtime_import_is_refused():
    with pytest.raises(ValueError, match=r"does not import hamopt\.runtime"):
        standalone("import torch\n")


def test_the_multigradient_base_is_inlined_only_where_it_is_imported():
    """A one-gradient module does not carry the multi-gradient base (``hamopt.runtime.ON_DEMAND``);
    the Yoshida export's fresh-interpreter run is in ``tests/test_multigradient.py``."""
    source = inspect.getsource(importlib.import_module(zoo.RGD.__module__))
    assert "class GeneratedMultiGradientOptimizer" not in standalone(source)
    own = "from hamopt.runtime import GeneratedMultiGradientOptimizer, real\n"
    assert "class GeneratedMultiGradientOptimizer(GeneratedOptimizer)" in standalone(own)


def test_no_two_runtime_modules_define_the_same_name():
    """An exported module inlines the runtime's modules into one namespace, where a second
    definition of a name would silently replace the first (one module's ``_OPERATOR`` calling
    another's operator): each name is bound once in the standalone form of a module that
    imports the whole runtime, the multi-gradient base included."""
    own = "from hamopt.runtime import GeneratedMultiGradientOptimizer, real\n"
    twice = [name for name, count in bound_names(standalone(own)).items() if count > 1]
    assert twice == []
