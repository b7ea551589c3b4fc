"""Derivation of NAdam — Adam's energy, Nesterov's scheme, frozen mass, Dozat's momentum
schedule — from the energy to torch code.

Run: python derivations/zoo/nadam.py [--out DIR]
"""

import sys

from hamopt.zoo.explain import main

if __name__ == "__main__":
    raise SystemExit(main(["NAdam", *sys.argv[1:]]))
