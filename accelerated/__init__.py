"""entropy-atlas accelerated layer: the same functions as :mod:`reference`, for Torch, CuPy and NumPy.

One implementation per method is written against the Python array API (through
``array-api-compat``), so the same code runs on Torch (CPU and CUDA), CuPy and NumPy — CI exercises
the CuPy logic through NumPy without a GPU. Backend-specific fast paths (fused Torch kernels) live in
:mod:`accelerated.torch_fast` and are chosen by the generic functions when they pay.

Conventions: outputs keep the input's floating dtype; bfloat16/float16 inputs are computed with
float32 accumulation; no Python loops over rows or tokens.
"""

from spec.discovery import load_families

#: The family packages of this layer (``accelerated.<family>``), discovered from the folder.
FAMILIES = load_families("accelerated")

__all__ = ["FAMILIES"]
