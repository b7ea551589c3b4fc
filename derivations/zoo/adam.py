"""Derivation of Adam — Adam's energy, conformal Euler, second-moment closure — from the energy to
torch code.

Run: python derivations/zoo/adam.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["Adam", *sys.argv[1:]]))
