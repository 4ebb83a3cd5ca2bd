"""Case strategies and curated cases of the ``categorical`` family, one module per method group."""
