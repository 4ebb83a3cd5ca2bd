"""Case strategies and curated cases of the ``classification`` family, one module per method group."""
