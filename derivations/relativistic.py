"""Derivation: the per-particle relativistic kinetic energy
T(p) = sum_i c sqrt(p_i^2 + m^2 c^2).

Velocity c p / sqrt(p^2 + m^2 c^2): every coordinate moves slower than c, so one step moves
each coordinate by less than h c whatever the gradient (the speed limit). With the
second-moment closure this energy gives RAD.

Run ``python derivations/relativistic.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import relativistic

if __name__ == "__main__":
    sys.exit(derive(relativistic(), description=__doc__))
