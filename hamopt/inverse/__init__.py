"""Inverse design: the kinetic energy behind an update rule.

:func:`identify` recovers :math:`T` from a velocity map :math:`v = \\nabla T` and certifies it;
:func:`identify_optimizer` probes a ``torch.optim`` optimizer class for its velocity map and
names the library energy it matches.
"""

from hamopt.inverse.families import FAMILIES, Fit
from hamopt.inverse.probe import Probe, identify_optimizer
from hamopt.inverse.velocity import Certificate, Identification, identify

__all__ = [
    "FAMILIES",
    "Certificate",
    "Fit",
    "Identification",
    "Probe",
    "identify",
    "identify_optimizer",
]
