"""Derivation: the power kinetic energy T(p) = sum_i |p_i|^a / a, a > 1
(Maddison et al.'s Hamiltonian descent).

Velocity sign(p) |p|^{a-1}; a = 2 is the classical energy with m = 1, a → 1 the massless one.

Run ``python derivations/power.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import power

if __name__ == "__main__":
    sys.exit(derive(power(), description=__doc__))
