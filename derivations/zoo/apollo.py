"""Derivation of Apollo — classical energy, conformal Euler, a diagonal mass from the rectified
curvature |B| updated by the weak secant equation — from the energy to torch code.

Run: python derivations/zoo/apollo.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["Apollo", *sys.argv[1:]]))
