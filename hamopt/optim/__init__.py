"""The zoo's generated optimizers (``torch.optim`` drop-in replacements).

Each module here is generated from a derivation in :mod:`hamopt.zoo`; do not edit them,
regenerate with ``python -m hamopt.zoo.regenerate``. Importing this package needs only torch.
"""

from hamopt.optim.adam import Adam
from hamopt.optim.adamax import Adamax
from hamopt.optim.adamw import AdamW
from hamopt.optim.apollo import Apollo
from hamopt.optim.dlpf import DLPF
from hamopt.optim.lion import Lion
from hamopt.optim.nadam import NAdam
from hamopt.optim.nag import NAG
from hamopt.optim.rad import RAD
from hamopt.optim.radam import RAdam
from hamopt.optim.rgd import RGD
from hamopt.optim.sgd import SGD

__all__ = [
    "DLPF",
    "NAG",
    "RAD",
    "RGD",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Apollo",
    "Lion",
    "NAdam",
    "RAdam",
]
