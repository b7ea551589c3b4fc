"""Derivation of NAG — classical energy, Nesterov's scheme (not conformal symplectic) — from the
energy to torch code.

Run: python derivations/zoo/nag.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["NAG", *sys.argv[1:]]))
