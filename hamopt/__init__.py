"""hamopt: derive optimizers from conformal Hamiltonian systems.

Kinetic energy T(p) + potential U(q) + friction r → splitting scheme → symbolic one-step map
→ change of variables and closures → update rule → generated ``torch.optim`` optimizer, with
checks (conformal symplecticity, energy, order, reductions) along the way; and back:
:func:`identify` finds the kinetic energy behind a velocity map or an optimizer class.
"""

from hamopt import kinetic, schemes
from hamopt.derive import derive
from hamopt.inverse import identify, identify_optimizer
from hamopt.kinetic import KineticEnergy
from hamopt.schemes import Scheme
from hamopt.stepmap import StepMap
from hamopt.system import ConformalHamiltonian

__all__ = [
    "ConformalHamiltonian",
    "KineticEnergy",
    "Scheme",
    "StepMap",
    "derive",
    "identify",
    "identify_optimizer",
    "kinetic",
    "schemes",
]
__version__ = "0.1.0"
