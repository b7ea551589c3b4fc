"""Hyperparameter names may not shadow the names the generated code binds."""

import dataclasses

import pytest

from hamopt.codegen import generate_module
from hamopt.codegen.names import GENERATED_NAMES, check_names, clash
from hamopt.zoo import ZOO


@pytest.mark.parametrize(
    "name", ["step", "grad", "param", "torch", "closure", "fused", "nonfinite"]
)
def test_spec_with_a_generated_name_is_refused(name):
    spec = ZOO["SGD"][1]()
    hps = tuple(
        dataclasses.replace(hp, name=name) if hp.name == "dampening" else hp
        for hp in spec.hyperparameters
    )
    with pytest.raises(ValueError, match=f"hyperparameter name '{name}' is reserved"):
        generate_module(dataclasses.replace(spec, hyperparameters=hps))


def test_rule_quantities_and_keywords_are_reserved():
    with pytest.raises(ValueError, match="'exp_avg' is reserved: the optimizer already uses"):
        check_names("Mine", ["lr", "exp_avg"], {"exp_avg", "exp_avgs"})
    assert clash("class") == "class is a Python keyword"
    assert "builtin" in clash("sum")
    assert clash("mass") is None
    assert all(clash(name) is not None for name in GENERATED_NAMES)
