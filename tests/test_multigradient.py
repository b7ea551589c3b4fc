"""Multi-gradient schemes (Yoshida-4, …): optimizers that re-evaluate the gradient at each kick."""

import ast
import copy
import dataclasses
import math
import subprocess
import sys
import types

import numpy as np
import pytest
import sympy as sp
import torch

import hamopt
from hamopt.checks.integrate import anharmonic, numeric_system, reference_state
from hamopt.checks.order import (
    DEFAULT_P0,
    DEFAULT_Q0,
    FLOOR_FACTOR,
    default_steps,
    fit_slope,
    tolerance_for,
)
from hamopt.checks.problems import random_quadratic
from hamopt.kinetic import classical, relativistic, relativistic_norm
from hamopt.multigradient import derive_multigradient
from hamopt.parameters import positive
from hamopt.recipe import Recipe
from hamopt.schemes import compose, leapfrog, yoshida
from hamopt.stepmap import StepMap
from hamopt.symbols import Norm
from hamopt.symbols import h as H
from hamopt.symbols import p as P
from hamopt.symbols import r as R
from hamopt.system import ConformalHamiltonian, GradU

#: Two leapfrogs of h/2: a second-order scheme with two kicks.
DOUBLE_LEAPFROG = compose(
    "double_leapfrog", [(leapfrog, sp.Rational(1, 2))] * 2, order=2, description="two half steps"
)
ENERGIES = {
    "classical": (classical, {"m": 1.5}),
    "relativistic": (relativistic, {"m": 1.0, "c": 0.7}),
    "relativistic_norm": (relativistic_norm, {"m": 1.0, "c": 0.7}),
}
Q0 = torch.tensor([0.4, -0.3, 0.2], dtype=torch.float64)
P0 = torch.tensor([0.5, 1.0, -0.7], dtype=torch.float64)


@pytest.fixture(scope="module")
def derived():
    """``derived(energy name, scheme)``: each derivation once per module."""
    cache = {}

    def get(energy, scheme=yoshida):
        key = (energy, scheme.name)
        if key not in cache:
            cache[key] = derive_multigradient(ENERGIES[energy][0](), scheme, name="Yoshida4")
        return cache[key]

    return get


# -- the symbolic step map, evaluated numerically -------------------------------------------------
POTENTIALS = {"quadratic": lambda: random_quadratic(3, seed=0), "anharmonic": lambda: anharmonic(3)}


def _gradient(potential):
    """:math:`\\nabla U` of a test potential on a float64 NumPy vector, without autograd."""
    if hasattr(potential, "matrix"):  # random_quadratic: U = q·Aq/2
        matrix = potential.matrix.numpy()
        return lambda q: matrix @ q
    return lambda q: potential.gradient(torch.from_numpy(q)).numpy()


def _stepmap_trajectory(energy, values, scheme, potential, h, r, steps):
    """Iterate the symbolic :class:`StepMap` (one coordinate standing for each, generic
    :math:`\\nabla U`), one lambdified stage at a time, on float64 NumPy vectors."""
    stepmap = StepMap(ConformalHamiltonian(energy), scheme)
    q_sym, p_sym = stepmap.system.q[0], stepmap.system.p[0]
    numbers = {H: h, R: r, **{sym: values[sym.name] for sym in energy.values()}}
    grad_u, norm = sp.Function("grad_u"), sp.Function("norm")
    functions = {"grad_u": _gradient(potential), "norm": np.linalg.norm}
    stages = []
    for stage in stepmap.stages:
        (expr,) = stage.exprs
        expr = expr.xreplace(numbers).replace(GradU, grad_u).replace(Norm, norm)
        args = sorted(expr.free_symbols, key=str)
        fn = sp.lambdify(args, expr, modules=[functions, "numpy"])
        stages.append((stage.flow, stage.targets[0], args, fn))
    values_of = {q_sym: Q0.numpy().copy(), p_sym: P0.numpy().copy()}
    out = []
    for _ in range(steps):
        q, p = q_sym, p_sym
        for flow, target, args, fn in stages:
            values_of[target] = np.broadcast_to(fn(*(values_of[a] for a in args)), (3,)).copy()
            q, p = (target, p) if flow == "F" else (q, target)
        values_of[q_sym], values_of[p_sym] = values_of[q], values_of[p]
        out.append((torch.from_numpy(values_of[q].copy()), torch.from_numpy(values_of[p].copy())))
    return out


def _closure(optimizer, param, potential):
    def closure():
        optimizer.zero_grad()
        loss = potential(param)
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("scheme", [yoshida, DOUBLE_LEAPFROG], ids=lambda s: s.name)
@pytest.mark.parametrize("potential", list(POTENTIALS))
@pytest.mark.parametrize("energy", list(ENERGIES))
def test_optimizer_follows_the_symbolic_step_map(derived, energy, potential, scheme):
    """Five steps of the generated optimizer = five steps of StepMap, to 1e-12 (float64)."""
    make, values = ENERGIES[energy]
    U = POTENTIALS[potential]()
    h, r, steps = 0.3, 0.5, 5
    expected = _stepmap_trajectory(make(), values, scheme, U, h, r, steps)
    param = torch.nn.Parameter(Q0.clone())
    opt = derived(energy, scheme).cls([param], lr=h, beta1=math.exp(-r * h), **values)
    opt.state[param]["momentum"] = P0.clone()
    closure = _closure(opt, param, U)
    for q, p in expected:
        opt.step(closure)
        assert float((param.detach() - q).abs().max()) <= 1e-12
        assert float((opt.state[param]["momentum"] - p).abs().max()) <= 1e-12
    assert float((param.detach() - Q0).abs().max()) > 0.1  # it moved: the check has teeth


@pytest.mark.parametrize("energy", ["classical", "relativistic"])
def test_global_error_has_slope_four(derived, energy):
    """Against solve_ivp (DOP853, rtol = atol = 1e-13) at T = 1: slope 4 ± 0.3 in log h."""
    make, values = ENERGIES[energy]
    potential, friction, final_time = anharmonic(3), 0.5, 1.0
    q0, p0 = torch.tensor(DEFAULT_Q0), torch.tensor(DEFAULT_P0)
    system = numeric_system(make(), potential, friction, values)
    q_ref, p_ref = reference_state(system, q0, p0, final_time, rtol=1e-13, atol=1e-13)
    q_chk, p_chk = reference_state(system, q0, p0, final_time, rtol=1e-12, atol=1e-12)
    floor = float(torch.cat([q_ref - q_chk, p_ref - p_chk]).abs().max())
    cls, errors, steps = derived(energy).cls, [], default_steps(4)
    for n in steps:
        param = torch.nn.Parameter(q0.clone())
        h = final_time / n
        opt = cls([param], lr=h, beta1=math.exp(-friction * h), **values)
        opt.state[param]["momentum"] = p0.clone()
        closure = _closure(opt, param, potential)
        for _ in range(n):
            opt.step(closure)
        momentum = opt.state[param]["momentum"]
        errors.append(float(torch.cat([param.detach() - q_ref, momentum - p_ref]).abs().max()))
    slope = fit_slope([final_time / n for n in steps], errors)
    assert abs(slope - 4) <= tolerance_for(4), (slope, errors)
    assert min(errors) > FLOOR_FACTOR * floor  # every error is measured, not the reference's


# -- step(closure) ---------------------------------------------------------------------------
def test_step_without_closure_raises_and_changes_nothing(derived):
    param = torch.nn.Parameter(Q0.clone())
    opt = derived("classical").cls([param])
    param.grad = torch.ones(3)
    with pytest.raises(ValueError, match=r"takes 3 gradients per step .*step\(closure\)"):
        opt.step()
    with pytest.raises(TypeError, match="closure must be callable"):
        opt.step(1.0)
    assert torch.equal(param.detach(), Q0) and len(opt.state) == 0


def test_closure_is_called_once_per_kick_and_the_first_loss_is_returned(derived):
    param = torch.nn.Parameter(Q0.clone())
    opt = derived("relativistic").cls([param])
    losses = []

    def closure():
        opt.zero_grad()
        loss = (param**2).sum() + len(losses)  # a different value at every call
        loss.backward()
        losses.append(loss.detach())
        return loss

    returned = opt.step(closure)
    assert len(losses) == 3
    assert returned.item() == losses[0].item()
    assert len(set(float(x) for x in losses)) == 3


def test_yoshida_trains_a_network(derived, mlp):
    net, loss_fn = mlp()
    opt = derived("classical").cls(net.parameters(), lr=0.3, beta1=0.75)

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(60):
        last = opt.step(closure).item()
    assert last < 0.75 * first


# -- options ---------------------------------------------------------------------------------
def _run(cls, potential, steps=4, **kwargs):
    param = torch.nn.Parameter(Q0.clone())
    opt = cls([param], **kwargs)
    closure = _closure(opt, param, potential)
    for _ in range(steps):
        opt.step(closure)
    return param.detach(), opt.state[param]["momentum"]


def test_maximize_is_minimizing_the_negated_loss(derived):
    cls, U = derived("relativistic").cls, anharmonic(3)
    up = _run(cls, lambda q: -U(q), maximize=True)
    down = _run(cls, U)
    for a, b in zip(up, down, strict=True):
        assert torch.equal(a, b)


def test_weight_decay_is_coupled(derived):
    """weight_decay λ steps as U + λ|θ|²/2 does."""
    cls, U, lam = derived("classical").cls, anharmonic(3), 0.3
    decayed = _run(cls, U, weight_decay=lam)
    penalised = _run(cls, lambda q: U(q) + lam / 2 * (q**2).sum())
    for a, b in zip(decayed, penalised, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
    assert not torch.equal(decayed[0], _run(cls, U)[0])


def test_param_groups_step_with_their_own_hyperparameters(derived):
    """On a separable loss, two groups in one optimizer = two optimizers, one per group."""
    cls = derived("relativistic").cls
    U = anharmonic(3)
    a, b = torch.nn.Parameter(Q0.clone()), torch.nn.Parameter(-2 * Q0)
    joint = cls([{"params": [a]}, {"params": [b], "lr": 0.05, "c": 0.5}], lr=0.2)
    closure = _closure(joint, a, lambda _: U(a) + U(b))
    for _ in range(4):
        joint.step(closure)
    alone_a = _run(cls, U, lr=0.2)
    param = torch.nn.Parameter(-2 * Q0)
    alone = cls([param], lr=0.05, c=0.5)
    for _ in range(4):
        alone.step(_closure(alone, param, U))
    assert torch.equal(a.detach(), alone_a[0])
    assert torch.equal(b.detach(), param.detach())


def test_a_parameter_without_gradient_gets_no_state(derived):
    used, unused = torch.nn.Parameter(Q0.clone()), torch.nn.Parameter(Q0.clone())
    opt = derived("classical").cls([used, unused], weight_decay=0.1)
    opt.step(_closure(opt, used, lambda q: (q**2).sum()))
    assert unused not in opt.state and torch.equal(unused.detach(), Q0)
    assert set(opt.state[used]) == {"momentum"}


def _poisoned_at(opt, param, call):
    """A closure whose gradient is NaN at its ``call``-th call (1-based) and finite otherwise;
    ``closure.losses``: what it returned."""

    def closure():
        opt.zero_grad()
        loss = (param**2).sum()
        if len(closure.losses) + 1 == call:
            loss = loss + math.nan * param.sum()
        loss.backward()
        closure.losses.append(loss)
        return loss

    closure.losses = []
    return closure


@pytest.mark.parametrize("first_step", [True, False], ids=["first step", "later step"])
@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
def test_a_nonfinite_gradient_at_a_later_kick_leaves_the_step_undone(
    derived, nonfinite, first_step
):
    """The second kick's gradient is NaN after rows have moved θ and p: "raise" raises and
    "skip" skips, both with every parameter and momentum as before the step (and no momentum
    where there was none)."""
    param = torch.nn.Parameter(Q0.clone())
    opt = derived("relativistic").cls([param], nonfinite=nonfinite)
    if not first_step:
        opt.step(_closure(opt, param, lambda q: (q**2).sum()))
    before = param.detach().clone(), {k: v["momentum"].clone() for k, v in opt.state.items()}
    closure = _poisoned_at(opt, param, 2)
    if nonfinite == "raise":
        with pytest.raises(
            ValueError, match=r"Yoshida4: non-finite gradient .* nothing was updated"
        ):
            opt.step(closure)
    else:
        assert opt.step(closure) is closure.losses[0]
    assert len(closure.losses) == 2  # no call after the bad one
    assert torch.equal(param.detach(), before[0])
    assert opt.state.keys() == before[1].keys()
    for key, momentum in before[1].items():
        assert torch.equal(opt.state[key]["momentum"], momentum)


@pytest.mark.parametrize("first_step", [True, False], ids=["first step", "later step"])
def test_a_closure_that_raises_at_a_later_kick_leaves_the_step_undone(derived, first_step):
    """The closure raises at the second kick, after rows have moved θ and p: the exception
    goes on, with every parameter and momentum as before the step (it left θ moved and a new
    momentum)."""
    param = torch.nn.Parameter(Q0.clone())
    opt = derived("relativistic").cls([param])
    if not first_step:
        opt.step(_closure(opt, param, lambda q: (q**2).sum()))
    before = param.detach().clone(), {k: v["momentum"].clone() for k, v in opt.state.items()}
    calls = []

    def closure():
        calls.append(None)
        if len(calls) == 2:
            raise RuntimeError("the data loader failed")
        opt.zero_grad()
        loss = (param**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="the data loader failed"):
        opt.step(closure)
    assert torch.equal(param.detach(), before[0])
    assert opt.state.keys() == before[1].keys()
    for key, momentum in before[1].items():
        assert torch.equal(opt.state[key]["momentum"], momentum)


def test_nonfinite_ignore_steps_unchecked(derived):
    param = torch.nn.Parameter(Q0.clone())
    opt = derived("relativistic").cls([param], nonfinite="ignore")
    opt.step(_poisoned_at(opt, param, 2))
    assert param.detach().isnan().all()


def test_a_parameter_is_in_one_group_once_and_real(derived):
    cls, param = derived("classical").cls, torch.nn.Parameter(Q0.clone())
    with pytest.raises(ValueError, match="repeats its parameter 0"):
        cls([param, param])
    with pytest.raises(ValueError, match="is already in param group 0"):
        cls([{"params": [param]}, {"params": [param]}])
    with pytest.raises(TypeError, match="Yoshida4: complex parameters are not supported"):
        cls([torch.nn.Parameter(torch.ones(2, dtype=torch.complex128))])


def test_half_precision_keeps_a_float32_momentum(derived):
    """As every generated optimizer: a bfloat16 parameter's momentum is float32, also after
    a state_dict round trip."""
    param = torch.nn.Parameter(Q0.to(torch.bfloat16))
    opt = derived("relativistic").cls([param])
    opt.step(_closure(opt, param, lambda q: (q.double() ** 2).sum()))
    assert opt.state[param]["momentum"].dtype == torch.float32
    assert param.dtype == torch.bfloat16 and not torch.equal(param.detach().double(), Q0)
    opt.load_state_dict(opt.state_dict())
    assert opt.state[param]["momentum"].dtype == torch.float32


# -- arguments and state -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argument", "value", "error", "message"),
    [
        ("lr", -0.1, ValueError, r"lr must be in \[0, inf\)"),  # 0 is taken, as torch takes it
        ("lr", math.nan, ValueError, "lr must be in"),
        ("lr", "0.1", TypeError, "lr must be a real number"),
        ("beta1", 0.0, ValueError, r"beta1 must be in \(0, 1\]"),
        ("beta1", 1.5, ValueError, r"beta1 must be in \(0, 1\]"),
        ("m", 0.0, ValueError, r"m must be in \(0, inf\)"),
        ("c", -2.0, ValueError, r"c must be in \(0, inf\)"),
        ("weight_decay", -1e-3, ValueError, r"weight_decay must be in \[0, inf\)"),
        ("maximize", 1, TypeError, "maximize must be True or False"),
        ("nonfinite", "warn", ValueError, "nonfinite must be 'raise', 'skip' or 'ignore'"),
    ],
)
def test_bad_hyperparameters_are_refused(derived, argument, value, error, message):
    cls = derived("relativistic").cls
    param = torch.nn.Parameter(Q0.clone())
    with pytest.raises(error, match=message):
        cls([param], **{argument: value})
    opt = cls([param])
    with pytest.raises(error, match=message):
        opt.add_param_group({"params": [torch.nn.Parameter(Q0.clone())], argument: value})
    assert len(opt.param_groups) == 1
    state = opt.state_dict()
    state["param_groups"][0][argument] = value
    with pytest.raises(error, match=message):
        opt.load_state_dict(state)
    assert opt.param_groups[0][argument] == opt.defaults[argument]


@pytest.mark.parametrize(("option", "value"), [("state_dtype", torch.bfloat16), ("foreach", True)])
def test_an_option_the_class_does_not_take_is_refused_in_a_group(derived, option, value):
    """A rule of several kicks keeps its momentum in the parameter's type and has one path:
    ``state_dtype`` in a param group was a KeyError deep in the runtime, and set after the
    constructor it was ignored (the state stayed float32). Both are a TypeError naming it;
    a key that is no option of the runtime is the user's and is kept, as torch keeps it."""
    cls = derived("relativistic").cls
    param = torch.nn.Parameter(Q0.clone())
    message = f"Yoshida4 does not take the option {option} .*param group 0"
    with pytest.raises(TypeError, match=message):
        cls([{"params": [param], option: value}])
    opt = cls([param], lr=0.1)
    opt.param_groups[0][option] = value
    with pytest.raises(TypeError, match=message):
        opt.step(_closure(opt, param, lambda q: (q**2).sum()))
    assert torch.equal(param.detach(), Q0) and not opt.state
    del opt.param_groups[0][option]
    opt.param_groups[0]["name"] = "layer 0"
    opt.step(_closure(opt, param, lambda q: (q**2).sum()))
    assert not torch.equal(param.detach(), Q0)


def test_state_dict_round_trip_continues_bit_identically(derived, mlp):
    cls = derived("relativistic").cls
    net, loss_fn = mlp()
    opt = cls(net.parameters(), lr=0.2, weight_decay=0.01)

    def closure_of(optimizer, loss):
        def closure():
            optimizer.zero_grad()
            value = loss()
            value.backward()
            return value

        return closure

    for _ in range(3):
        opt.step(closure_of(opt, loss_fn))
    saved = copy.deepcopy(opt.state_dict())
    twin, twin_loss = mlp()
    twin.load_state_dict(net.state_dict())
    resumed = cls(twin.parameters(), lr=0.2, weight_decay=0.01)
    resumed.load_state_dict(saved)
    for _ in range(3):
        opt.step(closure_of(opt, loss_fn))
        resumed.step(closure_of(resumed, twin_loss))
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(next(net.parameters()), next(mlp()[0].parameters()))


def test_load_state_dict_refuses_a_state_that_does_not_fit(derived):
    cls = derived("classical").cls
    param = torch.nn.Parameter(Q0.clone())
    opt = cls([param])
    opt.step(_closure(opt, param, lambda q: (q**2).sum()))
    good = opt.state_dict()
    shape = copy.deepcopy(good)
    shape["state"][0]["momentum"] = torch.zeros(4)
    foreign = copy.deepcopy(good)
    foreign["state"][0]["exp_avg"] = torch.zeros(3)
    groups = copy.deepcopy(good)
    groups["param_groups"].append(copy.deepcopy(groups["param_groups"][0]))
    for bad, message in [
        (shape, "has shape"),
        (foreign, r"keeps \['momentum'\]"),
        (groups, "2 param groups"),
    ]:
        before = opt.state[param]["momentum"].clone()
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(bad)
        assert torch.equal(opt.state[param]["momentum"], before)


# -- the derivation ------------------------------------------------------------------------------
def _top_level_imports(source):
    """The top-level packages a module's own import statements name."""
    return [
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.parse(source).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]


def test_module_is_deterministic_and_holds_only_its_derivation(derived):
    """The generated module is its scheme, its velocity and its class on the runtime, and the
    same inputs give it byte for byte."""
    first = derived("relativistic")
    again = derive_multigradient(relativistic(), "yoshida", name="Yoshida4")
    assert again.source == first.source
    assert set(_top_level_imports(first.source)) == {"torch", "hamopt"}
    assert "from hamopt.runtime import GeneratedMultiGradientOptimizer, real\n" in first.source
    tree = ast.parse(first.source)
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defined == ["_velocity", "Yoshida4"]


#: Five steps of an exported Yoshida4 ``m.Yoshida4`` on a quartic; ``out``: θ and p after.
_FIVE_STEPS = """
p = torch.nn.Parameter(torch.linspace(-1, 1, 7, dtype=torch.float64))
opt = m.Yoshida4([p], lr=0.2, beta1=0.8, c=0.7, weight_decay=0.01)
def closure():
    opt.zero_grad()
    loss = (p**4 / 4 + p**2 / 2).sum()
    loss.backward()
    return loss
for _ in range(5):
    opt.step(closure)
out = p.detach().tolist(), opt.state[p]["momentum"].tolist()
"""


def test_exported_module_runs_without_hamopt_and_steps_as_the_class(derived, tmp_path):
    """``export`` inlines the runtime: a fresh interpreter runs the file importing torch and the
    standard library only, and its steps are those of the class built in process."""
    first = derived("relativistic")
    path = first.export(tmp_path / "yoshida4_export.py")
    assert set(_top_level_imports(path.read_text())) <= set(sys.stdlib_module_names) | {"torch"}
    child = (
        "import importlib.util, sys, torch\n"
        f"spec = importlib.util.spec_from_file_location('yoshida4_export', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"{_FIVE_STEPS}"
        "assert not [k for k in sys.modules if k.startswith('hamopt')]\n"
        "print(repr(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    here = {"torch": torch, "m": types.SimpleNamespace(Yoshida4=first.cls)}
    exec(_FIVE_STEPS, here)
    assert eval(result.stdout.strip()) == here["out"]
    assert here["out"][0] != torch.linspace(-1, 1, 7, dtype=torch.float64).tolist()  # it moved


def test_source_does_not_depend_on_hash_seed(derived):
    code = (
        "import sys; from hamopt.kinetic import relativistic; "
        "from hamopt.multigradient import derive_multigradient; "
        "sys.stdout.write(derive_multigradient(relativistic(), 'yoshida', name='Yoshida4').source)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.stdout == derived("relativistic").source


def test_rendering_names_every_row_and_closure_call(derived):
    d = derived("relativistic_norm")
    md, tex = d.markdown(), d.latex()
    assert md.count("closure call") == d.kicks == 3
    assert md.count("drift F") == sum(1 for flow, _ in yoshida.rows if flow == "F")
    assert tex.startswith("\\begin{aligned}") and tex.count("\\\\") == len(d.equations()) - 1
    assert r"\lVert p \rVert" in tex  # the norm-coupled velocity
    assert "3 gradients per step" in d.source and "step(closure)" in d.source


def test_text_energy_with_declared_parameters():
    k = sp.Symbol("k", positive=True)
    d = derive_multigradient(
        sp.log(sp.cosh(k * P)) / k, "yoshida", name="LogCosh", params=(positive("k", 2.0),)
    )
    param = torch.nn.Parameter(Q0.clone())
    opt = d.cls([param], k=3.0)
    opt.step(_closure(opt, param, anharmonic(3)))
    assert opt.param_groups[0]["k"] == 3.0 and np.isfinite(param.detach().numpy()).all()
    assert "torch.tanh" in d.source


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: derive_multigradient(classical(), "verlet"), ValueError, "unknown scheme"),
        (lambda: derive_multigradient(classical(), "nag"), ValueError, r"\['G'\] rows"),
        (lambda: derive_multigradient(classical(), yoshida, name="class"), ValueError, "keyword"),
        (lambda: derive_multigradient(classical(), yoshida, name="torch"), ValueError, "torch"),
        (lambda: derive_multigradient(classical(), yoshida, lr=-1.0), ValueError, "lr must be"),
        (
            lambda: derive_multigradient(classical(), yoshida, beta1="1"),
            TypeError,
            "beta1 must be a real number",
        ),
        (lambda: derive_multigradient(classical(), yoshida, beta1=0.0), ValueError, r"\(0, 1\]"),
        (
            lambda: derive_multigradient(relativistic_norm(scope="global"), yoshida),
            ValueError,
            "scope='global'",
        ),
        (
            lambda: derive_multigradient(
                sp.Symbol("momentum", positive=True) * P**2, yoshida, params=("momentum",)
            ),
            ValueError,
            "energy parameter 'momentum' is reserved",
        ),
    ],
)
def test_bad_derivations_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_recipe_of_hamopt_derive():
    """hamopt.derive hands a scheme with several kicks over, as a Recipe; the result records it
    and carries its spec file as HAMOPT_SPEC."""
    from hamopt.codegen.module import with_spec_constant
    from hamopt.specfile import dump_spec

    derived = hamopt.derive(relativistic(), "yoshida", name="Yoshida4", lr=0.05, betas=(0.8, 0.9))
    assert derived.recipe.scheme is yoshida and derived.recipe.lr == 0.05
    direct = derive_multigradient(relativistic(), yoshida, name="Yoshida4", lr=0.05, beta1=0.8)
    assert derived.source == with_spec_constant(direct.source, dump_spec(derived.recipe))
    assert derived.cls([torch.nn.Parameter(Q0.clone())]).defaults["beta1"] == 0.8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"closures": ("adam",)}, r"yoshida takes 3 gradients per step: .* not \['adam'\]"),
        ({"momentum": "sum"}, r"no momentum 'sum'; use momentum='ema'$"),
        ({"init": "grad"}, r"no init 'grad'; use init='zeros'$"),
        ({"betas": (0.0, 0.999)}, r"betas\[0\] is its β"),
    ],
)
def test_recipes_the_step_cannot_follow_are_refused(changes, message):
    recipe = Recipe("Yoshida4", classical(), yoshida, ("none",))
    assert derive_multigradient(recipe).recipe is recipe
    with pytest.raises(ValueError, match=message):
        derive_multigradient(dataclasses.replace(recipe, **changes))
    with pytest.raises(TypeError, match="give a Recipe alone"):
        derive_multigradient(recipe, yoshida)


def test_a_several_kick_derivation_records_the_physical_parameterisation():
    """yoshida's step is in physical units (lr = h) whatever is asked, and its recipe and the
    spec it carries say "physical", not the "ml" default."""
    derived = hamopt.derive(classical(), "yoshida", name="Yoshida4")
    assert derived.recipe.parameterisation == "physical"
    assert 'parameterisation = "physical"' in derived.source


@pytest.mark.parametrize("energy", ["log_cosh", "huber", "power", "adam_energy"])
def test_every_library_energy_with_a_parameter_derives_a_multigradient_step(energy):
    """No energy of the library names a parameter as the optimizer names its own arguments:
    log cosh's sharpness ``beta`` sits beside the decay ``beta1``, and each keeps its value."""
    kinetic = getattr(hamopt.kinetic, energy)()
    derived = hamopt.derive(kinetic, "yoshida", name="Multi")
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float32))
    optimizer = derived.cls([param], lr=0.1, beta1=0.5)
    group = optimizer.param_groups[0]
    assert group["beta1"] == 0.5
    assert all(group[prm.name] == prm.default for prm in kinetic.params)
    optimizer.step(_closure(optimizer, param, lambda x: (x**2).sum()))
    assert torch.isfinite(param).all() and not torch.equal(param, torch.tensor([1.0, -2.0]))
