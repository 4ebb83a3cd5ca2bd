"""Reference (NumPy float64) implementations of the ``decoding`` family."""
