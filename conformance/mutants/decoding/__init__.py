"""Mutants of the ``decoding`` family, one module per method group."""
