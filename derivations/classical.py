"""Derivation: the classical kinetic energy T(p) = sum_i p_i^2 / (2m).

Velocity p/m. The conformal symplectic Euler step D·K·F reads
p_{k+1} = e^{-rh} p_k - h ∇U(q_k), q_{k+1} = q_k + (h/m) p_{k+1}: heavy-ball momentum, which
becomes SGD with momentum in EMA form after v = -(1-β1) p/h, β1 = e^{-rh},
α = h²/((1-β1) m). No speed limit: the step grows with the gradient.

Run ``python derivations/classical.py [--out DIR] [--quick]``.
"""

import sys

from _common import derive

from hamopt.kinetic import classical

if __name__ == "__main__":
    sys.exit(derive(classical(), description=__doc__))
