"""Specs of the ``decoding`` family: truncation filters, temperature and sampling."""
