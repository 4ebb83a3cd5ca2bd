"""The ``classification`` family of the ``reference`` layer: one module per method group, discovered."""

from spec.discovery import load_groups

__all__ = load_groups(__name__, globals())
