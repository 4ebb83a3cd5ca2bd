"""Reference (NumPy float64) implementations of the ``policy`` family."""
