"""Derivation of Adamax — Adam's energy, infinity-norm closure — from the energy to torch code.

Run: python derivations/zoo/adamax.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["Adamax", *sys.argv[1:]]))
