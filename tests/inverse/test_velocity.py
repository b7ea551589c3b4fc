"""identify: T from a velocity map, certified, or refused with the reason.

The catalogue of the issue, each an exact symbolic identity T' = v (or T = the library form),
every library energy round-tripping T → v → T, vector maps (integrable or not), the norm form,
and the refusals.
"""

import numpy as np
import pytest
import sympy as sp

from hamopt import derive, kinetic
from hamopt.inverse import identify
from hamopt.symbols import p

BETA = sp.Symbol("beta", positive=True)
EPS = sp.Symbol("epsilon", positive=True)


def same(a: sp.Expr, b: sp.Expr) -> bool:
    """a == b for every real p (checked with p = |x| and p = −|x|)."""
    x = sp.Symbol("x", positive=True)
    return all(sp.simplify((a - b).xreplace({p: s * x})) == 0 for s in (1, -1))


@pytest.mark.parametrize(
    ("velocity", "params", "energy", "family"),
    [
        ("sign(p)", (), sp.Abs(p), "massless"),
        (
            "p/(abs(p) + epsilon)",
            ("epsilon",),
            sp.Abs(p) - EPS * sp.log(1 + sp.Abs(p) / EPS),
            "adam",
        ),
        ("tanh(beta*p)", ("beta",), sp.log(sp.cosh(BETA * p)) / BETA, "log_cosh"),
        ("p/sqrt(p**2 + 1)", (), sp.sqrt(p**2 + 1) - 1, "relativistic"),
        (
            "clip(p, -1, 1)",
            (),
            sp.Piecewise((p**2 / 2, sp.Abs(p) <= 1), (sp.Abs(p) - sp.Rational(1, 2), True)),
            "huber",
        ),
        ("p", (), p**2 / 2, "classical"),
        ("sign(p)*abs(p)**(1/2)", (), 2 * sp.Abs(p) ** sp.Rational(3, 2) / 3, "power"),
    ],
)
def test_catalogue(velocity, params, energy, family):
    found = identify(velocity, params)
    if energy.has(sp.Piecewise):  # Huber: compare on a grid of both pieces, exactly
        for x in (sp.Rational(k, 4) for k in range(-12, 13)):
            assert found.energy.expr.xreplace({p: x}) == energy.xreplace({p: x})
    else:
        assert same(found.energy.expr, energy), found.energy.expr
    assert found.match is not None and found.match.family == family
    assert found.match.residual <= 1e-12
    assert {c.property.split(",")[0] for c in found.certificates} >= {
        "odd",
        "finite for finite p",
        "monotone",
        "round trip T' = v",
    }


LIBRARY = [getattr(kinetic, name) for name in kinetic.__all__ if name not in ("KineticEnergy",)]


@pytest.mark.parametrize("make", LIBRARY, ids=lambda f: f.__name__)
def test_library_round_trip(make):
    """T → v → T: the identified energy is the library's, up to the constant T(0)."""
    energy = make()
    if energy.coupling == "norm":  # the speed along the ray, f'(‖p‖), with p for ‖p‖
        found = identify(sp.diff(energy.expr, p), energy.params, coupling="norm")
    else:
        found = identify(energy.velocity_expr, energy.params)
    expected = energy.expr - energy.expr.xreplace({p: 0})
    assert same(found.energy.expr, expected), (found.energy.expr, expected)
    assert found.energy.coupling == energy.coupling


def test_identified_energy_derives_an_optimizer():
    import torch

    found = identify("tanh(p)")
    opt = derive(found.energy, "leapfrog", closure="adam", name="LogCosh")
    w = torch.tensor([3.0, -2.0, 0.5], requires_grad=True)
    o = opt.cls([w], lr=0.05)
    for _ in range(200):
        o.zero_grad()
        (w**2).sum().backward()
        o.step()
    assert float((w.detach() ** 2).sum()) < 1e-2


def test_vector_maps():
    radial = identify(["p1/sqrt(p1**2 + p2**2 + 1)", "p2/sqrt(p1**2 + p2**2 + 1)"])
    assert radial.energy.coupling == "norm"
    assert same(radial.energy.expr, sp.sqrt(p**2 + 1) - 1)
    assert [c.property for c in radial.certificates[:2]] == [
        "integrable, symmetric Jacobian",
        "radial",
    ]
    separable = identify(["tanh(p1)", "tanh(p2)", "tanh(p3)"])
    assert separable.energy.coupling == "particle"
    assert same(separable.energy.expr, sp.log(sp.cosh(p)))


@pytest.mark.parametrize(
    ("velocity", "kwargs", "message"),
    [
        ("p*exp(-p**2)", {}, "is not monotone"),
        ("p + 1", {}, "is not odd"),
        ("p**2", {}, "is not odd"),
        ("1/p", {}, "is not finite for finite p"),
        ("p - 1", {"coupling": "norm"}, "is negative at ‖p‖ = 0"),
        ("q*p", {}, "unknown name 'q'"),
        ("tanh(beta*p)", {}, "unknown name 'beta'"),
        (["p2", "-p1"], {}, "not integrable"),
        (["p1*p2**2", "p2"], {}, "∂v1/∂p2 = 2\\*p1\\*p2 ≠ ∂v2/∂p1 = 0"),
        (["tanh(p1)", "p2"], {}, "coordinates move differently"),
        (["p1 + p2", "p1 + p2"], {}, "neither a sum over coordinates nor a function of ‖p‖"),
        (["p1"], {}, "at least 2 components"),
        ("p", {"coupling": "tensor"}, "coupling must be"),
        ("tanh(b*p)", {"params": ["b", "c"]}, r"does not use the declared parameter\(s\) \['c'\]"),
    ],
)
def test_refusals(velocity, kwargs, message):
    with pytest.raises(ValueError, match=message):
        identify(velocity, **kwargs)


def test_type_errors():
    with pytest.raises(TypeError, match="velocity must be text or a SymPy expression"):
        identify(3)
    with pytest.raises(TypeError, match="not one str"):
        identify("tanh(beta*p)", "beta")


def test_a_velocity_that_overflows_at_a_sample_is_judged_where_it_is_finite():
    """|p|^a·sign(p) at the sample a = 1000 overflows for |p| > 1: np.diff made inf - inf,
    a NumPy warning reached the command line's output (an error under -W error), and the
    scale of the monotonicity tolerance became inf, so nothing on that grid was judged."""
    import warnings

    from hamopt.parameters import positive

    a = positive("a", 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = identify(sp.sign(p) * sp.Abs(p) ** a.symbol, [a])
    assert found.energy.expr.has(sp.Abs(p))
    with pytest.raises(ValueError, match="is not monotone"):
        identify(sp.sign(p) * sp.Abs(p) ** a.symbol - sp.tanh(p) / 2, [a])


def test_the_energy_named_is_finite_where_its_velocity_is():
    """∫ log(1 + |p|) is (|p|+1) log(|p|+1) - |p|; simplify's shorter log((|p|+1)^(|p|+1)) - |p|
    was taken, which is inf for |p| ≳ 143 in NumPy and torch while the velocity is finite."""
    import torch

    found = identify("log(1 + abs(p))*sign(p)", [])
    energy = found.energy
    numeric, _ = energy.numpy_functions()
    values = numeric(np.array([-1e3, -1.0, 0.0, 2.0, 1e6]))
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[-1], 1000001 * np.log(1000001) - 1e6, rtol=1e-12)
    tensor_energy, _ = energy.torch_functions()
    assert torch.isfinite(tensor_energy(torch.tensor([1e3, -1e6], dtype=torch.float64))).all()
