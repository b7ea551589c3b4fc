"""Test helpers for researchers extending hamopt: hypothesis strategies over kinetic energies.

Needs ``hypothesis`` (the ``test`` extra); nothing in the rest of the package imports it.
"""
