"""Derive-your-own: energy + scheme + closure → optimizer class, export, reference evaluator."""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp
import torch

import hamopt
from hamopt.derive import derive
from hamopt.kinetic import KineticEnergy, classical, relativistic, relativistic_norm
from hamopt.parameters import Parameter
from hamopt.rule.evaluate import run
from hamopt.symbols import p
from hamopt.symbols import s as S


def _quadratic_run(cls, steps=50, **kw):
    torch.manual_seed(1)
    target = torch.randn(7)
    w = torch.nn.Parameter(torch.zeros(7))
    opt = cls([w], **kw)
    for _ in range(steps):
        opt.zero_grad()
        ((w - target) ** 4).sum().backward()
        opt.step()
    return w.detach(), target


@pytest.mark.parametrize(
    ("energy", "scheme", "closure"),
    [
        (relativistic(), "euler", "adam"),
        (relativistic(), "leapfrog", "adam"),
        (classical(), "leapfrog", "none"),
        (relativistic_norm(), "euler", "none"),
        (relativistic(), "nag", "none"),
    ],
)
def test_torch_step_equals_numpy_reference(energy, scheme, closure):
    """The generated torch step and the NumPy evaluator of the same rule agree to 1e-10."""
    derived = derive(energy, scheme, closure, name="Mine")
    w, target = _quadratic_run(derived.cls, lr=0.05)
    rule = derived.spec.variants[0][1]
    hyper = {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "m": 1.0}
    hyper["c"] = 1.0
    ref = run(rule, np.zeros(7), lambda th: 4 * (th - target.numpy()) ** 3, hyper, 50)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_three_lines_from_an_expression():
    c = sp.Symbol("c", positive=True)
    opt = derive(c * sp.sqrt(p**2 + 1), "leapfrog", "adam", name="Soft", params=("c",))
    w, target = _quadratic_run(opt.cls, steps=300, lr=0.05, c=1.0)
    assert float((w - target).abs().max()) < 0.2
    assert "Soft" in opt.source and "import hamopt" not in opt.source


def test_a_parameter_without_a_default_is_required():
    """An energy parameter named without a value is torch's ``required``, as a missing ``lr``
    is: the signature says so, and leaving it out is a TypeError naming it."""
    c = sp.Symbol("c", positive=True)
    opt = derive(c * sp.sqrt(p**2 + 1), "euler", "adam", name="Soft", params=("c",))
    assert str(inspect.signature(opt.cls).parameters["c"]) == "c=required"
    with pytest.raises(TypeError, match="Soft: missing required argument c"):
        opt.cls([torch.zeros(2, requires_grad=True)])
    opt.cls([torch.zeros(2, requires_grad=True)], c=2.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown scheme 'verlet'"):
        derive(classical(), "verlet")
    with pytest.raises(ValueError, match="unknown closure 'lion'; choose a preset"):
        derive(classical(), "euler", "lion")
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        derive(classical(), name="my optimizer")
    with pytest.raises(ValueError, match="class name 'class' is a Python keyword"):
        derive(classical(), name="class")
    with pytest.raises(ValueError, match="would shadow the Python builtin zip"):
        derive(classical(), name="zip")
    # code generation takes each tensor's own norm: one over all parameters is refused, not
    # silently generated per tensor
    with pytest.raises(ValueError, match=r"scope='global' \(one norm over all parameters\) is"):
        derive(relativistic_norm(scope="global"), "leapfrog", "adam")


def test_implicit_friction_has_its_own_beta1():
    """Hamiltonian descent's friction is implicit: β1 = 1/(1 + rh), in (0, 1); at β1 = 0 the
    momentum is stopped before it moves anything (every step was zero, without a word). The
    exact-friction schemes keep β1 = e^{-rh} in [0, 1) (β1 = 0: the gradient's own step)."""
    implicit = derive(relativistic(), "hamiltonian_descent", "none", name="HD")
    assert "beta1 (default 0.9): momentum β1 = 1/(1 + rh)" in implicit.source
    w = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match=r"HD: beta1 must be in \(0, 1\), got 0.0"):
        implicit.cls([w], beta1=0.0)
    exact = derive(relativistic(), "leapfrog", "none", name="LF")
    assert "beta1 (default 0.9): momentum β1 = e^{-rh}" in exact.source
    exact.cls([w], beta1=0.0)


def test_a_learning_rate_of_zero_is_taken_as_torch_takes_it():
    """torch.optim takes lr = 0 (a warm-up from 0 starts there): the step moves nothing, and
    the state advances."""
    derived = derive(relativistic(), "leapfrog", "adam")
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = derived.cls([w], lr=0.0)
    (w**2).sum().backward()
    opt.step()
    assert torch.equal(w.detach(), torch.tensor([1.0, -2.0])) and opt.state[w]["step"] == 1
    with pytest.raises(ValueError, match=r"lr must be in \[0, inf\), got -0.1"):
        derived.cls([w], lr=-0.1)


def test_export_names_a_path_it_cannot_write(tmp_path):
    derived = derive(classical(), name="Mine")
    with pytest.raises(ValueError, match=r"is a folder; give the module's file, e.g. .*mine\.py"):
        derived.export(tmp_path)
    with pytest.raises(ValueError, match=r"the folder of .* does not exist"):
        derived.export(tmp_path / "missing" / "mine.py")
    assert derived.export(tmp_path / "mine.py").is_file()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("step", "uses step for the step counter t"),
        ("grad", "uses grad for the gradient"),
        ("torch", "uses torch for the torch module"),
        ("x", "a loop variable of the foreach path"),
        ("lambda", "lambda is a Python keyword"),
        ("lr", "already uses lr"),
        ("exp_avg", "already uses exp_avg"),
        ("abs", "shadow a Python builtin"),
        ("state_dtype", "option for the dtype the state is kept in"),
        # the derivation's own symbols: a parameter v was taken for the momentum
        ("v", "the derivation uses v for the momentum in machine-learning variables"),
        ("g", "uses g for the gradient"),
        ("alpha", "uses alpha for the learning rate"),
        ("u", "uses u for the momentum in units of the mass"),
        ("y", "uses y for the second moment"),
    ],
)
def test_energy_parameter_may_not_shadow_generated_names(name, why):
    # a parameter called ``step`` would silently replace the step counter in the generated code
    mass = Parameter(name, 1.0, sp.Interval.open(0, sp.oo))
    energy = KineticEnergy(sp.sqrt(p**2 + mass.symbol**2), (mass,), name="shadow")
    with pytest.raises(ValueError, match=f"energy parameter '{name}' is reserved: .*{why}"):
        derive(energy, "euler", "adam")


@pytest.mark.parametrize(
    "name", ["math", "os", "ctypes", "hashlib", "HAMOPT_SPEC", "GeneratedOptimizer", "Rule"]
)
def test_the_class_name_may_not_shadow_a_name_of_its_module(name):
    """A class called ``math`` or ``os`` would replace the module the generated code or its
    inlined runtime reads (the optimizer failed at construction or at its first step)."""
    with pytest.raises(ValueError, match=f"optimizer name '{name}': .*binds"):
        derive(relativistic(), "euler", "adam", name=name)


def test_exported_module_trains_without_hamopt(tmp_path):
    path = derive(relativistic(), "leapfrog", "adam", name="ExportedRAD").export(
        tmp_path / "exported_rad.py"
    )
    script = textwrap.dedent(f"""
        import importlib.util, sys
        sys.modules["hamopt"] = None  # hamopt must not be importable
        try:
            import hamopt
        except ImportError:
            pass
        else:
            raise SystemExit("hamopt was importable")
        spec = importlib.util.spec_from_file_location("exported_rad", {str(path)!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        import torch
        torch.manual_seed(0)
        net = torch.nn.Linear(4, 1)
        x, y = torch.randn(64, 4), torch.randn(64, 1)
        opt = mod.ExportedRAD(net.parameters(), lr=0.05)
        first = None
        for _ in range(200):
            opt.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            first = first if first is not None else loss.item()
            loss.backward()
            opt.step()
        assert loss.item() < 0.8 * first, (first, loss.item())
        print("trained", first, loss.item())
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "trained" in out.stdout


def test_package_exports_derive():
    assert hamopt.derive is derive


def test_derived_class_compiles_and_is_loaded_once():
    """``derive(...).cls`` is importable by name (torch.compile reads a traced function's globals
    through its module) and the same source gives the same class; a compiled step of it equals
    the eager one."""
    derived = derive(hamopt.kinetic.relativistic(), "euler", "adam", name="CompiledRAD")
    assert derived.cls is derived.cls
    runs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(6, dtype=torch.float64))
        opt = derived.cls([p], lr=0.01)
        step = torch.compile(opt.step, backend="eager") if compiled else opt.step
        for t in range(3):
            p.grad = p.detach() ** 3 + t
            step()
        runs.append(p.detach().clone())
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-12, atol=0)


def test_the_heaviside_step_of_a_kinked_energy_prints_as_h_not_theta():
    """The derivative of Max(|p| - 1/2, 0) holds the Heaviside step, which SymPy prints θ(x):
    the parameters' letter. The rule prints it H(x), in LaTeX and in Markdown."""
    from hamopt.kinetic import KineticEnergy

    energy = KineticEnergy(sp.Max(sp.Abs(p) - sp.Rational(1, 2), 0) + p**2 / 4, name="kinked")
    derived = derive(energy, scheme="euler", closure="none")
    for text in (derived.latex(), derived.markdown()):
        assert r"H{\left(\left|{v}\right| - \frac{1}{2} \right)}" in text
        assert r"\theta{\left(" not in text and r"\theta\left(" not in text


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: derive(classical(), scheme=123), TypeError, "scheme must be a Scheme or its name"),
        (lambda: derive(classical(), closure=5), TypeError, "closure must be a preset's name"),
        (
            lambda: derive(classical(), closure="second_moment,bias_correction"),
            ValueError,
            r"is one string: give the names as a list, \['second_moment', 'bias_correction'\]",
        ),
        (
            lambda: KineticEnergy(p**2, "k", name="x"),
            TypeError,
            r"params must be a list of Parameters or names, got str 'k': give a list, \['k'\]",
        ),
    ],
)
def test_arguments_of_the_wrong_kind_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_default_lr_reads_as_a_round_number():
    """lr = 1e-3 · 1/(1 - β1) is 0.01 at β1 = 0.9, not the float 0.010000000000000002."""
    derived = derive(classical(), scheme="euler", closure="none")
    assert repr(inspect.signature(derived.cls).parameters["lr"].default) == "0.01"


def test_an_energy_with_clip_steps_on_every_path():
    """The velocity of clip(p, −2, 2)²/2 + 2 max(|p| − 2, 0) holds a Piecewise of conditions
    whose first value is SymPy's false: each path's code writes it in its own language (the
    fused path's torch, printed in the kernel's order, wrote C++'s false, a NameError), and
    every path takes the same steps."""
    from hamopt.parse import parse_energy

    text = "clip(p, -2, 2)**2/2 + 2*Max(Abs(p) - 2, 0)"
    derived = derive(KineticEnergy(parse_energy(text), name="c"), "leapfrog", "adam", name="Clip")
    assert "False" in derived.source
    _every_path_steps_alike(derived.cls)


def test_every_switch_reads_one_momentum_in_units_of_the_mass():
    """clip(p, −1, 1)²/2 + max(|p| − 1, 0) has its kinks at |p| = 1, where Adam's first step
    puts |m̂|/(√ŷ + ε) (1 − ε/|g|: 1 within float32's rounding for |g| near 1). The rule
    names u = v̂/(√ŷ + ε) once and every switch of the step reads it; printed out in full,
    each switch divided by the mass in its own order, one term's switch read u = 1 and the
    next's 1 − 2⁻²⁴, and the kernel-order paths moved 1e-2 away from the plain ones in five
    steps."""
    from hamopt.closures.draft import MASS_UNITS
    from hamopt.parse import parse_energy

    text = "clip(p, -1, 1)**2/2 + Max(Abs(p) - 1, 0)"
    derived = derive(KineticEnergy(parse_energy(text), name="c"), "leapfrog", "adam", name="Kink")
    *_, u, final = derived.spec.variants[0][1].assignments
    assert u.target == MASS_UNITS and final.expr.free_symbols & u.expr.free_symbols == set()
    _every_path_steps_alike(derived.cls)


@pytest.mark.parametrize("text", ["log(cosh(p))", "p*atan(p) - log(1 + p**2)/2"])
def test_a_norm_coupled_energy_whose_velocity_is_0_over_0_at_rest_derives(text):
    """log cosh ‖p‖ moves p by tanh(‖p‖)·p/‖p‖, 0/0 at p = 0 as written, its limit p there
    (the factor tends to 1). The velocity takes that limit where ‖p‖ = 0, so the energy derives
    (it was refused: "nan at p = 0"); a step from rest moves nothing and is finite, and the
    paths take the same steps."""
    from hamopt.parse import parse_energy

    energy = KineticEnergy(parse_energy(text), name="radial", coupling="norm")
    assert energy.velocity_expr.subs(S, 0) == 1
    cls = derive(energy, "leapfrog", "none", name="Radial").cls
    w = torch.nn.Parameter(torch.ones(5))
    w.grad = torch.zeros(5)
    cls([w], lr=0.1).step()
    assert torch.equal(w.detach(), torch.ones(5))
    _every_path_steps_alike(cls, {k: kw for k, kw in PATHS.items() if "state_dtype" not in kw})


#: The paths a derived class steps on, by label (a rule with a reduction takes no state_dtype).
PATHS = {
    "default": {},
    "single-tensor": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    "fused, strided": {"fused": True},  # a parameter with gaps: torch.compile's step
    "bfloat16 state": {"state_dtype": torch.bfloat16, "foreach": False},
}


def _every_path_steps_alike(cls: type, paths: dict = PATHS) -> None:
    """Five steps on (w − target)² from a seeded start, on each of ``paths``, move ``w`` and
    agree with the single-tensor path's to 1e-6 (bfloat16 state: 1e-2)."""
    torch.manual_seed(0)
    start, target = torch.randn(2, 37, dtype=torch.float32)
    runs = {}
    for label, kw in paths.items():
        data = start.clone()
        if label == "fused, strided":
            data = torch.zeros(2 * 37, dtype=torch.float32)[::2].copy_(start)
        w = torch.nn.Parameter(data)
        opt = cls([w], lr=0.05, **kw)
        for _ in range(5):
            opt.zero_grad()
            ((w - target) ** 2).sum().backward()
            opt.step()
        runs[label] = w.detach()
    assert not runs["fused, strided"].is_contiguous()
    assert not torch.equal(runs["single-tensor"], start)
    for label, w in runs.items():
        tolerance = 1e-2 if label == "bfloat16 state" else 1e-6
        torch.testing.assert_close(w, runs["single-tensor"], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("closure", "cycled"), [("none", None), ("adam", "betas")])
def test_a_derived_optimizer_under_one_cycle(closure, cycled):
    """torch's OneCycleLR cycles lr on any derived optimizer, and β₁ through ``betas`` where
    the rule has two; a rule with one β (``beta1``) needs ``cycle_momentum=False``, as the
    README says, and torch refuses it otherwise with a ValueError."""
    cls = derive(relativistic(), "euler", closure, name="OneCycle").cls
    w = torch.nn.Parameter(torch.zeros(3))
    optimizer = cls([w], lr=0.01)
    if cycled is None:
        assert "beta1" in optimizer.defaults
        with pytest.raises(ValueError, match="cycle_momentum"):
            torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=10, cycle_momentum=cycled is not None
    )
    lrs, betas = [], []
    for _ in range(9):
        w.grad = torch.ones(3)
        optimizer.step()
        schedule.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        betas.append(optimizer.param_groups[0].get("betas", (None,))[0])
    assert max(lrs) == pytest.approx(0.1, rel=0.05) and lrs[-1] < 1e-3
    assert torch.isfinite(w).all() and (w < 0).all()
    if cycled:
        assert min(betas) < 0.9 and betas[-1] == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("closure", "unread", "taken"),
    [
        ("none", "betas[1] = 0.7", "beta1"),
        (["no_momentum", "second_moment"], "betas[0] = 0.5", "beta2"),
    ],
    ids=["no-second-moment", "no-momentum"],
)
def test_a_given_beta_the_rule_does_not_read_is_named(closure, unread, taken):
    """betas=(0.5, 0.7) for a rule with one β: the other changes nothing, and a warning says
    so (a spec file's [defaults] betas would claim it); the class takes the one it reads."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = derive(relativistic(), "euler", closure, betas=(0.5, 0.7), name="OneBeta")
    assert [str(w.message).split(" changes")[0] for w in caught] == [unread]
    assert opt.cls([torch.nn.Parameter(torch.zeros(2))], lr=0.1).defaults[taken] in (0.5, 0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at their defaults, or both read: no warning
        derive(relativistic(), "euler", closure, name="OneBeta")
        derive(relativistic(), "euler", "adam", betas=(0.5, 0.7), name="TwoBetas")
        # the defaults given back, as a spec that --spec-out wrote gives them: no warning
        derive(relativistic(), "euler", closure, betas=(0.9, 0.999), name="OneBeta")


def test_params_of_an_energy_that_has_its_own_are_refused():
    """``params`` declares the parameters of a SymPy expression; beside a KineticEnergy (which
    has its own) it was ignored without a word."""
    with pytest.raises(TypeError, match=r"the KineticEnergy 'relativistic' has its own \(m, c\)"):
        derive(relativistic(), params=("m",))


def test_a_declared_parameter_the_energy_does_not_use_is_named():
    """Before, the rule's unused hyperparameter surfaced as 'a closure has nothing to act on'."""
    with pytest.raises(ValueError, match=r"parameter\(s\) \['zz'\] do not appear in the energy"):
        derive(sp.log(sp.cosh(p)), params=("zz",))


HALF = sp.Rational(1, 2)


@pytest.mark.parametrize(
    ("condition", "function"),
    [(lambda q: (q < -1) | (q > 1), "logical_or"), (lambda q: (q > -1) & (q < 1), "logical_and")],
)
@pytest.mark.parametrize(
    "closure", [["no_momentum"], ["no_momentum", "diagonal_mass", "bias_correction"]]
)
def test_a_switch_on_two_tensor_conditions_runs_on_every_path(closure, condition, function):
    """Huber's energy typed as a Piecewise on two conditions switches on (v < -1) ∨ (v > 1),
    or (v > -1) ∧ (v < 1): the single-tensor and foreach paths printed Python's ``or`` of two
    tensors ("Boolean value of Tensor … is ambiguous"); they combine them with torch's
    logical functions, and every path gives the same step."""
    inside = condition(p)
    if function == "logical_or":
        energy = sp.Piecewise((sp.Abs(p) - HALF, inside), (p**2 / 2, True))
    else:
        energy = sp.Piecewise((p**2 / 2, inside), (sp.Abs(p) - HALF, True))
    derived = derive(KineticEnergy(energy, name="h"), "euler", closure=closure, name="H2")
    assert f"torch.{function}(" in derived.source
    assert " or (" not in derived.source and " and (" not in derived.source
    cls = derived.cls
    runs = []
    for path in (dict(foreach=False), dict(foreach=True), dict(fused=True)):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 0.5], dtype=torch.float32))
        opt = cls([w], **path)
        for g in ([0.5, -1.0, 0.0], [0.3, 0.0, 0.0]):
            w.grad = torch.tensor(g, dtype=torch.float32)
            opt.step()
        runs.append(w.detach().clone())
    assert torch.isfinite(runs[0]).all() and not torch.equal(runs[0][:2], torch.tensor([1.0, 2.0]))
    for other in runs[1:]:
        torch.testing.assert_close(other, runs[0], rtol=1e-6, atol=0)


def test_numpy_scalars_as_defaults_make_a_module_that_loads():
    """np.float64 defaults were printed as ``np.float64(0.01)`` into a module without ``np``
    (a NameError at ``.cls``), and np.float32 was refused as "not a positive finite number"."""
    derived = derive(
        relativistic(), "leapfrog", "adam", lr=np.float32(0.25), betas=(np.float64(0.8), 0.99)
    )
    assert "np." not in derived.source
    opt = derived.cls([torch.nn.Parameter(torch.zeros(2))])
    assert opt.defaults["lr"] == 0.25 and opt.defaults["betas"] == (0.8, 0.99)
    with pytest.raises(ValueError, match="lr must be a positive finite number or None, got True"):
        derive(relativistic(), lr=True)
    # betas as a NumPy array, as the generated classes take it (it was refused here)
    assert derive(relativistic(), betas=np.array([0.8, 0.99])).recipe.betas == (0.8, 0.99)
    with pytest.raises(ValueError, match="betas must be two numbers in"):
        derive(relativistic(), betas=np.array([[0.8, 0.99]]))


@pytest.mark.parametrize(("name", "read"), [("Ｍｙ", "My"), ("ﬁx", "fix"), ("ℌam", "Ham")])
def test_a_class_name_python_reads_as_another_is_refused(name, read):
    """Python normalises identifiers to NFKC: a class named Ｍｙ is defined as My, so ``.cls``
    raised AttributeError, and the command line wrote a module whose ``__all__`` named a class
    it does not define."""
    with pytest.raises(ValueError, match=rf"Python reads it as '{read}' .*use '{read}'"):
        derive(relativistic(), closure="adam", name=name)


@pytest.mark.parametrize("energy", ["p**2/1e-300", "p**2/1e-40", "Abs(p)/1e-39"])
def test_a_step_with_a_number_beyond_float32_is_refused(energy):
    """``p**2/1e-300`` passed the parser (its literals are small) and the step held 2e300:
    torch refused to convert it on the single-tensor and foreach paths (a RuntimeError deep in
    torch), the kernel stepped to -inf. The derivation now names the number."""
    from hamopt.parse import parse_energy

    for scheme in ("euler", "yoshida"):
        with pytest.raises(ValueError, match=r"beyond float32's range \(about 3\.4e\+38\)"):
            derive(parse_energy(energy), scheme)
