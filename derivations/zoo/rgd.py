"""Derivation of RGD — norm-coupled relativistic energy, conformal Euler and leapfrog — from the
energy to torch code.

Run: python derivations/zoo/rgd.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["RGD", *sys.argv[1:]]))
