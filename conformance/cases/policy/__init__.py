"""Case strategies and curated cases of the ``policy`` family, one module per method group."""
