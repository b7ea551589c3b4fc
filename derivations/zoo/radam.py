"""Derivation of RAdam — Adam's energy, conformal Euler, second moment, step-size bias
correction, variance rectification — from the energy to torch code.

Run: python derivations/zoo/radam.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["RAdam", *sys.argv[1:]]))
