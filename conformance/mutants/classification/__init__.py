"""Mutants of the ``classification`` family, one module per method group."""
