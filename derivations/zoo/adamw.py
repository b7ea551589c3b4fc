"""Derivation of AdamW — Adam's energy, conformal Euler, decoupled weight decay — from the energy
to torch code.

Run: python derivations/zoo/adamw.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["AdamW", *sys.argv[1:]]))
