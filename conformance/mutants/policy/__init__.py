"""Mutants of the ``policy`` family, one module per method group."""
