"""Derivation of SGD — classical energy, conformal Euler (sum form), Nesterov = NAG scheme — from
the energy to torch code.

Run: python derivations/zoo/sgd.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["SGD", *sys.argv[1:]]))
