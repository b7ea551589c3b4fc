"""Derivation: Adam's kinetic energy
T(p) = sum_i |p_i| - ε log(1 + |p_i|/ε).

Velocity p/(|p| + ε), the shape of Adam's step v/(sqrt(y) + ε); with the second-moment closure
it gives Adam (estimator form, α = h, ε_Adam = ε(1-β1)/h).

Run ``python derivations/adam.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import adam_energy

if __name__ == "__main__":
    sys.exit(derive(adam_energy(), description=__doc__))
