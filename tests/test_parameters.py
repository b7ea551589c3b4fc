import pytest
import sympy as sp

from hamopt.parameters import Parameter, in_range, positive


def test_symbol_assumptions_follow_the_interval():
    assert positive("m").symbol.is_positive
    assert in_range("beta", 0.9, sp.Interval.Ropen(0, 1)).symbol.is_nonnegative
    assert Parameter("x").symbol.is_real and Parameter("x").symbol.is_positive is None


def test_validate_names_parameter_and_range():
    beta = in_range("beta", 0.9, sp.Interval.Ropen(0, 1))
    assert beta.validate(0) == 0.0
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\), got 1"):
        beta.validate(1)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\), got nan"):
        beta.validate(float("nan"))
    with pytest.raises(TypeError, match="beta must be a real number, got bool"):
        beta.validate(True)


def test_a_sympy_or_numpy_number_is_a_real_number():
    """``power(sp.Rational(4, 3))``, the Hamiltonian-descent energy as SymPy writes 4/3, was a
    TypeError ("must be a real number, got Rational 4/3"). A real SymPy or NumPy number is
    taken as the float it stands for; a symbol or a complex number is still refused."""
    import numpy as np

    from hamopt.kinetic import power

    assert power(sp.Rational(4, 3)).params[0].default == 4 / 3
    assert positive("m").validate(np.float32(0.5)) == 0.5
    assert positive("m", sp.sqrt(2)).default == 2**0.5
    for bad in (sp.Symbol("a"), sp.I, 1 + 2j):
        with pytest.raises(TypeError, match="m must be a real number"):
            positive("m").validate(bad)


def test_bad_default_and_name():
    with pytest.raises(ValueError, match=r"m must be in \(0, inf\), got -1"):
        positive("m", -1.0)
    with pytest.raises(ValueError, match="not a Python identifier"):
        Parameter("1m")
    with pytest.raises(ValueError, match=r"Python reads it as 'm' \(identifiers are NFKC"):
        Parameter("ｍ")  # full-width: the generated code would bind m
    with pytest.raises(TypeError, match="parameter name must be a str, got Symbol m"):
        Parameter(sp.Symbol("m"))


def test_samples_are_valid():
    for prm in (
        positive("m", 1.0),
        in_range("a", None, sp.Interval.open(1, sp.oo)),
        in_range("beta", None, sp.Interval.Ropen(0, 1)),
    ):
        assert prm.samples()
        for v in prm.samples():
            prm.validate(v)
