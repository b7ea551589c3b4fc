"""Derivation: the massless kinetic energy T(p) = sum_i |p_i|.

Velocity sign(p): every drift moves each coordinate by exactly h·(its fraction), a sign-descent
step. The velocity has zero derivative wherever it is defined, so even NAG's gradient drift is
symplectic here: the NAG contrast of the other energies does not show.

Run ``python derivations/massless.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import massless

if __name__ == "__main__":
    sys.exit(derive(massless(), description=__doc__))
