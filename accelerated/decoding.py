"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``decoding`` family."""
