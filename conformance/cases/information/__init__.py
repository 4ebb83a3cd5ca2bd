"""Case strategies and curated cases of the ``information`` family, one module per method group."""
