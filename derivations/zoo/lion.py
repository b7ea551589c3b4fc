"""Derivation of Lion — massless energy |p|, conformal Euler read at the look-ahead — from the
energy to torch code.

Run: python derivations/zoo/lion.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["Lion", *sys.argv[1:]]))
