"""Mutants of the ``information`` family, one module per method group."""
