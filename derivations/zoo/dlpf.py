"""Derivation of DLPF — classical energy, conformal leapfrog (first-same-as-last) — from the energy
to torch code.

Run: python derivations/zoo/dlpf.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["DLPF", *sys.argv[1:]]))
