"""Backends the harness runs a method on: the NumPy reference and the accelerated versions.

A backend converts NumPy float64 case inputs to its arrays at a dtype and converts outputs back.
``reference`` is the truth (float64 only). ``numpy`` runs the *accelerated* array-API code on NumPy
arrays — the same code path CuPy takes, so CI exercises it without a GPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from spec.errors import BackendUnavailableError
from spec.model import MethodSpec

__all__ = ["BACKENDS", "Backend", "available_backends", "get_backend"]


@cache
def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


@cache
def _cupy() -> Any:
    try:
        cp = importlib.import_module("cupy")
        if cp.cuda.runtime.getDeviceCount() < 1:
            return None
        return cp
    except Exception:  # ImportError, CUDA driver errors: no usable CuPy
        return None


@dataclass(frozen=True)
class Backend:
    name: str
    dtypes: tuple[str, ...]
    library: str  # "numpy" | "torch" | "cupy"
    device: str = "cpu"
    is_reference: bool = False

    def available(self) -> bool:
        if self.library == "numpy":
            return True
        if self.library == "torch":
            torch = _torch()
            if torch is None:
                return False
            return self.device == "cpu" or bool(torch.cuda.is_available())
        return _cupy() is not None

    def function(self, spec: MethodSpec) -> Callable[..., Any]:
        layer = "reference" if self.is_reference else "accelerated"
        module = importlib.import_module(f"{layer}.{spec.family}")
        fn: Callable[..., Any] = getattr(module, spec.id)
        return fn

    # -- conversion
    def asarray(self, x: Any, dtype: str, *, requires_grad: bool = False) -> Any:
        if x is None:
            return None
        a = np.asarray(x)
        floating = np.issubdtype(a.dtype, np.floating)
        if self.library == "numpy":
            if not floating:
                return a
            if dtype == "bfloat16":
                raise BackendUnavailableError("NumPy has no bfloat16")
            return a.astype(dtype)
        if self.library == "torch":
            torch = _torch()
            t = torch.from_numpy(np.array(a, copy=True, order="C")).to(self.device)
            if floating:
                t = t.to(getattr(torch, dtype))
                if requires_grad:
                    t.requires_grad_(True)
            return t
        cp = _cupy()
        if cp is None:
            raise BackendUnavailableError("CuPy with a CUDA device is not available")
        return cp.asarray(a.astype(dtype) if floating else a)

    def to_numpy(self, y: Any) -> npt.NDArray[Any]:
        if self.library == "torch":
            t = y.detach().cpu()
            if t.is_floating_point():
                t = t.to(_torch().float64)
            return np.asarray(t.numpy())
        if self.library == "cupy":
            y = _cupy().asnumpy(y)
        a = np.asarray(y)
        return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a

    def as_float64(self, x: Any) -> Any:
        """An array of this backend at float64 (for gradient checks)."""
        return self.asarray(x, "float64")


BACKENDS: dict[str, Backend] = {
    "reference": Backend("reference", ("float64",), "numpy", is_reference=True),
    "numpy": Backend("numpy", ("float64", "float32", "float16"), "numpy"),
    "torch-cpu": Backend("torch-cpu", ("float64", "float32", "bfloat16", "float16"), "torch", "cpu"),
    "torch-cuda": Backend("torch-cuda", ("float64", "float32", "bfloat16", "float16"), "torch", "cuda"),
    "cupy": Backend("cupy", ("float64", "float32", "float16"), "cupy", "cuda"),
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendUnavailableError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}") from None


def available_backends() -> list[Backend]:
    return [b for b in BACKENDS.values() if b.available()]
