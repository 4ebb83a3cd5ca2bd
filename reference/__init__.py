"""entropy-atlas reference layer: readable NumPy float64 definitions, one function per method id.

These functions are the definitions people audit and port. They are deliberately simple (explicit
loops are allowed), always compute in float64, validate their inputs with :mod:`spec.validate`, and
never import :mod:`accelerated`.
"""

from spec.discovery import load_families

#: The family packages of this layer (``reference.<family>``), discovered from the folder.
FAMILIES = load_families("reference")

__all__ = ["FAMILIES"]
