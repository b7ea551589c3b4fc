"""Code generation: printers over SymPy expressions and the optimizer module generator."""

from hamopt.codegen.module import generate_module

__all__ = ["generate_module"]
