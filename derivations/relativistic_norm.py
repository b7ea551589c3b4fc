"""Derivation: the norm-coupled relativistic kinetic
energy T(p) = c sqrt(||p||^2 + m^2 c^2) (França et al.'s relativistic gradient descent).

Velocity c p / sqrt(||p||^2 + m^2 c^2): the whole group moves slower than c. The particles
interact through the norm, so the symbolic symplecticity proof runs on n = 2 particles.

Run ``python derivations/relativistic_norm.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import relativistic_norm

if __name__ == "__main__":
    sys.exit(derive(relativistic_norm(), description=__doc__))
