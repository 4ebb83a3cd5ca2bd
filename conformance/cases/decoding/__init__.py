"""Case strategies and curated cases of the ``decoding`` family, one module per method group."""
