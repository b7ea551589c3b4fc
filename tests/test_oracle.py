"""Derived optimizers against an independent oracle: correct code for every valid energy.

Every derived optimizer's step — single-tensor, foreach, the fused path's C++ kernel, and for a
few torch.compile — runs once in float64 from a prepared state and is compared with
:mod:`hamopt.rule.oracle`: the symbolic rule evaluated by mpmath at 50 digits (more where it
cancels), not the printing of the same expressions. The inputs reach every corner: momenta and
gradients of both signs, exact zeros, ±1e-30, ±1, ±10; parameters 0, 1 and -10; second moments
from v² up. Properties:

* the step is finite wherever the oracle is (no NaN or Inf from a form floating point cannot
  evaluate, such as ``sqrt`` of a negative momentum in ``Abs(sqrt(v))``);
* it agrees with the oracle elementwise: ``|got - exact| <= 1e-10 |exact| + 1e-200`` (below
  1e-200, powers inside a steep rule such as v¹¹ at |v| = 1e-31 leave float64's range, and the
  comparison is absolute);
* an even energy's update is exactly odd in the gradient: from a zero state the gradients -g
  give -Δθ bitwise, on every path;
* the same energy typed as text or built from the library gives the same rule.

Energies: a catalogue typed as text (through the parser) and random energies of the hypothesis
grammar (:mod:`hamopt.testing.strategies`); each derived with ``closure`` "none" or "adam" and
scheme euler or leapfrog. Derivations are cached; about 45 s on one core.
"""

from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from hamopt.derive import derive
from hamopt.kinetic import library
from hamopt.kinetic.energy import KineticEnergy
from hamopt.parameters import positive
from hamopt.parse import parse_energy
from hamopt.rule import oracle
from hamopt.rule.reductions import Norm2
from hamopt.rule.update_rule import Assign, UpdateRule, grad, param
from hamopt.testing.strategies import DrawnEnergy, energies

RELATIVE = 1e-10
#: Below this magnitude agreement is absolute (float64's range, not the code, limits it).
FLOOR = 1e-200
#: Momenta and gradients: both signs, exact zeros, tiny and large.
VALUES = (0.0, 1e-30, -1e-30, 1.0, -1.0, 10.0, -10.0)
THETAS = (0.0, 1.0, -10.0)
#: Hyperparameters that make every term of a rule count (the energy's own keep their defaults).
HYPER = {"lr": 0.1, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.01}
PATHS = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}

#: Energies typed as text: name → (text, parameters with defaults).
CATALOGUE = {
    "abs^1.5": ("abs(p)**1.5", ()),
    "abs^2.5": ("abs(p)**2.5", ()),
    "abs^(4/3)": ("abs(p)**(4/3)", ()),
    "quartic + quadratic": ("p**4/4 + p**2/2", ()),
    "abs + quadratic": ("abs(p) + p**2/2", ()),
    "cosh": ("cosh(p)", ()),
    "log-cosh": ("log(cosh(p))", ()),
    "sqrt(1 + p^2)": ("sqrt(1 + p**2)", ()),
    "atan velocity": ("p*atan(p) - log(1 + p**2)/2", ()),
    "Born-Infeld": ("b**2*(sqrt(1 + p**2/b**2) - 1)", (("b", 2.0),)),
    "Adam's": ("abs(p) - epsilon*log(1 + abs(p)/epsilon)", (("epsilon", 0.5),)),
    "relativistic": ("c*sqrt(p**2 + m**2*c**2)", (("m", 1.0), ("c", 1.5))),
    "exp(p^2/2)": ("exp(p**2/2)", ()),
    "log-cosh squared": ("log(cosh(p))**2", ()),
    "(sqrt(1 + p^2) - 1)^2": ("(sqrt(1 + p**2) - 1)**2", ()),
    "(|p| - log(1 + |p|))^2": ("(abs(p) - log(1 + abs(p)))**2", ()),
}
#: Energies whose rule holds the energy itself (a composition): slower to derive, one pair each.
COMPOSED = ("log-cosh squared", "(sqrt(1 + p^2) - 1)^2", "(|p| - log(1 + |p|))^2")
#: Each other energy with two of the four (scheme, closure) pairs, alternating: all are used.
PAIRS = (("euler", "none"), ("leapfrog", "adam"), ("euler", "adam"), ("leapfrog", "none"))
CASES = [
    (name, *PAIRS[(2 * i + j) % 4])
    for i, name in enumerate(CATALOGUE)
    for j in range(1 if name in COMPOSED else 2)
]


# -- deriving and stepping ---------------------------------------------------------------------
@functools.cache
def _typed(name: str, scheme: str, closure: str):
    text, params = CATALOGUE[name]
    expr = parse_energy(text, [n for n, _ in params])
    T = KineticEnergy(expr, [positive(n, d) for n, d in params], name="typed")
    return derive(T, scheme, closure, name="Typed")


@functools.cache
def _drawn(drawn: DrawnEnergy, scheme: str, closure: str):
    return derive(drawn.kinetic(), scheme, closure, name="Drawn")


def _arguments(derived) -> tuple[dict, dict]:
    """Constructor arguments (``HYPER`` where the optimizer takes them, else the defaults)
    and the same values by the rule's symbol names, for the oracle."""
    kwargs, values = {}, {}
    for hp in derived.spec.hyperparameters:
        defaults = hp.default if hp.is_pair else (hp.default,)
        chosen = [HYPER.get(s.name, d) for s, d in zip(hp.symbols, defaults, strict=True)]
        values |= {s.name: x for s, x in zip(hp.symbols, chosen, strict=True)}
        kwargs[hp.name] = tuple(chosen) if hp.is_pair else chosen[0]
    return kwargs, values


def _inputs(rule) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(θ, g, state)`` over the grid: every momentum × gradient × parameter; the momentum
    buffer ``exp_avg`` takes the momenta, any other buffer (a second moment) v² and v² + 1."""
    others = [b.name for b in rule.buffers if b.name != "exp_avg"]
    rows = [
        (v, g, theta, v * v + extra)
        for v, g, theta in itertools.product(VALUES, VALUES, THETAS)
        for extra in ((0.0, 1.0) if others else (0.0,))
    ]
    v, g, theta, second = np.array(rows).T
    state = {b.name: (v if b.name == "exp_avg" else second) for b in rule.buffers}
    return theta, g, state


def _step(derived, path: dict, theta, g, state, t: int) -> dict[str, np.ndarray]:
    """One step of the generated optimizer from this state (step count t - 1 before it)."""
    kwargs, _ = _arguments(derived)
    p = torch.nn.Parameter(torch.tensor(theta))
    optimizer = derived.cls([p], **kwargs, **path)
    p.grad = torch.tensor(g)
    optimizer.state[p] = {"step": torch.tensor(float(t - 1), dtype=torch.float32)}
    optimizer.state[p] |= {name: torch.tensor(x) for name, x in state.items()}
    with warnings.catch_warnings():  # the fused path must run its kernel, not fall back
        warnings.simplefilter("error", RuntimeWarning)
        optimizer.step()
    out = {"param": p.detach().numpy()}
    return out | {name: optimizer.state[p][name].numpy() for name in state}


def assert_matches_oracle(derived, paths=PATHS, t: int = 4) -> None:
    """The step on every path, against the oracle: finite where it is finite, and agreeing."""
    rule = derived.spec.variants[0][1]
    theta, g, state = _inputs(rule)
    _, values = _arguments(derived)
    exact = oracle.step(rule, param=theta, grad=g, state=state, hyperparameters=values, t=t)
    for name, ref in exact.items():  # valid inputs: the rule is finite (and real) everywhere
        finite = oracle.finite(ref)
        assert finite.all(), (name, _where(~finite, theta, g, state, ref, ref))
    for path, options in paths.items():
        got = _step(derived, options, theta, g, state, t)
        for name, ref in exact.items():
            want = oracle.as_float(ref)
            nan = ~np.isfinite(got[name])
            assert not nan.any(), (path, name, _where(nan, theta, g, state, got[name], want))
            bad = np.abs(got[name] - want) > RELATIVE * np.abs(want) + FLOOR
            assert not bad.any(), (path, name, _where(bad, theta, g, state, got[name], want))


def _where(mask, theta, g, state, got, want) -> str:
    i = int(np.argmax(mask))
    at = ", ".join(f"{k}={v[i]:.3g}" for k, v in state.items())
    return f"θ={theta[i]:.3g}, g={g[i]:.3g}, {at}: got {got[i]!r}, exact {want[i]!r}"


def assert_odd_in_the_gradient(derived, paths=PATHS) -> None:
    """From a zero state, three steps with the gradients -g_k land on exactly -θ (every path)."""
    kwargs, _ = _arguments(derived)
    base = torch.tensor([*VALUES, 0.3, -2.5, 1e-8])
    grads = [base.roll(k) * (1 + k / 10) for k in range(3)]
    for path, options in paths.items():
        ends = []
        for sign in (1, -1):
            p = torch.nn.Parameter(torch.zeros_like(base))
            optimizer = derived.cls([p], **kwargs, **options)
            for gk in grads:
                p.grad = sign * gk
                optimizer.step()
            ends.append(p.detach().clone())
        assert torch.all(torch.isfinite(ends[0])), path
        assert torch.equal(ends[1], -ends[0]), (path, ends[0], ends[1])


@pytest.fixture(autouse=True)
def _kernel_not_compile(monkeypatch):
    monkeypatch.delenv("HAMOPT_FUSED", raising=False)


# -- the catalogue -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "scheme", "closure"), CASES)
def test_typed_energy_matches_the_oracle_on_every_path(name, scheme, closure):
    assert_matches_oracle(_typed(name, scheme, closure))


@pytest.mark.parametrize(("name", "scheme", "closure"), CASES)
def test_typed_even_energy_steps_exactly_odd_in_the_gradient(name, scheme, closure):
    assert_odd_in_the_gradient(_typed(name, scheme, closure))


def test_signed_momentum_under_a_fractional_power_is_finite():
    # the case: |p|^1.5 printed as torch.abs(torch.sqrt(exp_avg)), NaN for v < 0
    derived = _typed("abs^1.5", "euler", "none")
    assert "torch.sqrt(exp_avg)" not in derived.source
    assert_matches_oracle(derived, {"single": PATHS["single"]})


# -- text and library ----------------------------------------------------------------------------
#: Library energies and the same typed as text (with the parameters the text declares).
LIBRARY = [
    (library.power(1.5), "abs(p)**1.5/1.5", ()),
    (library.power(2.5), "abs(p)**2.5/2.5", ()),
    (library.relativistic(), "c*sqrt(p**2 + m**2*c**2)", ("m", "c")),
    (library.adam_energy(), "abs(p) - epsilon*log(1 + abs(p)/epsilon)", ("epsilon",)),
    (library.classical(), "p**2/(2*m)", ("m",)),
]


def _derive_or_error(kinetic, closure: str, name: str):
    try:
        return derive(kinetic, "euler", closure, name=name)
    except ValueError as error:
        return str(error).replace(name, "…")


@pytest.mark.parametrize("closure", ["none", "adam"])
@pytest.mark.parametrize(("built", "text", "names"), LIBRARY, ids=[t for _, t, _ in LIBRARY])
def test_text_and_library_give_the_same_rule(built, text, names, closure):
    params = [prm for prm in built.params if prm.name in names]
    typed = KineticEnergy(parse_energy(text, names), params, name=built.name)
    a = _derive_or_error(built, closure, "Built")
    b = _derive_or_error(typed, closure, "Typed")
    if isinstance(a, str) or isinstance(b, str):  # refused: both, for the same reason
        assert a == b
        return
    rule_a, rule_b = a.spec.variants[0][1], b.spec.variants[0][1]
    assert [x.name for x in rule_a.buffers] == [x.name for x in rule_b.buffers]
    assert [x.target for x in rule_a.assignments] == [x.target for x in rule_b.assignments]
    theta, g, state = _inputs(rule_a)
    values = _arguments(a)[1] | _arguments(b)[1]  # the library's exponent a at its default
    one = oracle.step(rule_a, param=theta, grad=g, state=state, hyperparameters=values, t=4)
    two = oracle.step(rule_b, param=theta, grad=g, state=state, hyperparameters=values, t=4)
    for name in one:  # the same function: equal to 40 digits wherever either is finite
        finite = oracle.finite(one[name])
        assert np.array_equal(finite, oracle.finite(two[name])), name
        for x, y in zip(one[name][finite], two[name][finite], strict=True):
            assert abs(x - y) <= 1e-40 * abs(x) + 1e-300, (name, x, y)


# -- the grammar ---------------------------------------------------------------------------------
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(energies(), st.sampled_from(["euler", "leapfrog"]), st.sampled_from(["none", "adam"]))
def test_grammar_energy_matches_the_oracle_and_steps_odd(drawn, scheme, closure):
    try:
        derived = _drawn(drawn, scheme, closure)
    except ValueError as error:  # a parameter that only shifts T by a constant: no optimizer
        if "changes nothing" not in str(error):
            raise
        reject()
    with np.errstate(all="ignore"):
        assert_matches_oracle(derived)
    assert_odd_in_the_gradient(derived)


# -- torch.compile, on a few --------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("name", "scheme", "closure"), [("abs^1.5", "leapfrog", "adam")])
def test_compiled_path_matches_the_oracle(monkeypatch, name, scheme, closure):
    monkeypatch.setenv("HAMOPT_FUSED", "compile")  # the fused path on torch.compile, not the kernel
    derived = _typed(name, scheme, closure)
    assert_matches_oracle(derived, {"compile": PATHS["fused"]})
    assert_odd_in_the_gradient(derived, {"compile": PATHS["fused"]})


# -- the oracle itself ---------------------------------------------------------------------------
def _one_step(expr, g):
    rule = UpdateRule("r", (), (), (Assign(param, expr),))
    return oracle.step(rule, param=[0.0] * len(g), grad=g, state={}, hyperparameters={}, t=1)


def test_oracle_keeps_sympy_semantics_and_flags_what_is_not_real():
    g = [-4.0, 0.0, 9.0]
    out = _one_step(sp.Abs(sp.sqrt(grad)), g)["param"]
    assert oracle.as_float(out).tolist() == [2.0, 0.0, 3.0]  # |sqrt(-4)| = |2i| = 2
    assert oracle.finite(_one_step(sp.sqrt(grad), g)["param"]).tolist() == [False, True, True]
    assert oracle.finite(_one_step(1 / grad, g)["param"]).tolist() == [True, False, True]
    out = _one_step(-grad / Norm2(grad), [3.0, 4.0])["param"]  # a reduction over all elements
    assert oracle.as_float(out).tolist() == [-0.6, -0.8]


def test_oracle_raises_its_precision_where_the_rule_cancels():
    out = _one_step(sp.cosh(grad) - 1, [1e-30])["param"]  # 0 at 50 digits
    assert oracle.as_float(out)[0] == pytest.approx(5e-61, rel=1e-15)
