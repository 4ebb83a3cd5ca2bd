"""Accelerated (array API: Torch, CuPy, NumPy) implementations of the ``policy`` family."""
