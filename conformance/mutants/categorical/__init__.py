"""Mutants of the ``categorical`` family, one module per method group."""
