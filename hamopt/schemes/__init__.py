"""Splitting schemes as data, and the papers' schemes."""

from hamopt.schemes.library import (
    SCHEMES,
    euler,
    euler_fkd,
    hamiltonian_descent,
    leapfrog,
    leapfrog_fsal,
    nag,
    scheme_named,
    yoshida,
)
from hamopt.schemes.scheme import Scheme, compose

__all__ = [
    "SCHEMES",
    "Scheme",
    "compose",
    "euler",
    "euler_fkd",
    "hamiltonian_descent",
    "leapfrog",
    "leapfrog_fsal",
    "nag",
    "scheme_named",
    "yoshida",
]
