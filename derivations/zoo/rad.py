"""Derivation of RAD — relativistic energy, second-moment closure, step-size bias correction — from
the energy to torch code.

Run: python derivations/zoo/rad.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["RAD", *sys.argv[1:]]))
