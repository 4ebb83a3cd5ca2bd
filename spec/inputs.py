"""The input rules, written once for every method on both layers.

:func:`with_input_rules` wraps each public method of ``reference`` and ``accelerated`` (the family
packages apply it when they re-export their groups, see :mod:`spec.discovery`), so both layers accept
and reject the same array arguments, before the method's own checks run:

* **Python sequences and scalars** are arrays: the reference converts them with NumPy; the accelerated
  layer converts them to the library, device and floating dtype of the call's other array arguments
  (NumPy float64 when there are none). Float inputs become float64 (or that dtype), others keep NumPy's
  inferred dtype (``[0, 2]`` is an int64 index array, ``[True, False]`` a bool mask).
* **Integer or boolean arrays** where the spec declares a float input (logits, probabilities, log-probs,
  values) raise :class:`~spec.errors.DTypeError` on both layers; nothing is converted silently (passing
  class indices for logits is a bug). Integer inputs (class indices, group ids) are checked by the
  method itself, because some also accept probabilities (``cross_entropy``'s soft targets).
* **Mixed array libraries** (a NumPy array and a Torch tensor in one call) raise ``DTypeError`` naming
  the argument; the reference also accepts Torch/CuPy arrays of one library (it converts them to NumPy).
* **Mixed float dtypes** are promoted to the widest (``float32`` + ``float64`` → ``float64``, the NumPy and
  Torch rule); accelerated outputs then have the promoted dtype, reference outputs are float64 as always.
* **0-d arrays** are arrays: the method's shape rules decide (the same on both layers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from spec.errors import DTypeError

__all__ = ["library", "with_input_rules"]

Layer = Literal["reference", "accelerated"]


def library(x: Any) -> str:
    """``"numpy"``, ``"torch"``, ``"cupy"``, ``"python"`` (a list, tuple or number) or ``"other"``."""
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    if isinstance(x, (list, tuple, int, float, bool)):
        return "python"
    root = type(x).__module__.split(".", 1)[0]
    return root if root in ("torch", "cupy") else "other"


def _is_float_dtype(x: Any) -> bool:
    dt = x.dtype
    if isinstance(dt, np.dtype):
        return bool(np.issubdtype(dt, np.floating))
    return bool(getattr(dt, "is_floating_point", False)) or "float" in str(dt)


def _to_numpy(x: Any) -> Any:
    if library(x) == "torch":
        return x.detach().cpu().numpy()
    if library(x) == "cupy":
        return x.get()
    return x


def with_input_rules(fn: Callable[..., Any], method_id: str, layer: Layer) -> Callable[..., Any]:
    """``fn`` with the module docstring's input rules applied to its array arguments."""
    kinds: dict[str, str] = {}
    positional: list[str] = []

    def prepare() -> None:
        from spec.registry import get

        spec = get(method_id)
        kinds.update({i.name: i.dtype for i in spec.inputs})
        positional.extend(i.name for i in spec.inputs if i.positional and not i.optional)

    @functools.wraps(fn)
    def method(*args: Any, **kwargs: Any) -> Any:
        if not kinds:
            prepare()
        named = {name: args[k] for k, name in enumerate(positional) if k < len(args)}
        named.update({k: v for k, v in kwargs.items() if k in kinds})
        converted = _apply(method_id, layer, kinds, named)
        args = tuple(converted.get(positional[k], a) if k < len(positional) else a for k, a in enumerate(args))
        kwargs = {k: converted.get(k, v) if k in kinds else v for k, v in kwargs.items()}
        return fn(*args, **kwargs)

    method.__method_id__ = method_id  # type: ignore[attr-defined]
    return method


def _apply(method_id: str, layer: Layer, kinds: dict[str, str], named: dict[str, Any]) -> dict[str, Any]:
    present = {k: v for k, v in named.items() if v is not None}
    libraries = {k: library(v) for k, v in present.items()}
    arrays = {k: lib for k, lib in libraries.items() if lib not in ("python", "other")}
    if len(set(arrays.values())) > 1:
        first = next(iter(arrays))
        for name, lib in arrays.items():
            if lib != arrays[first]:
                raise DTypeError(method_id, name, f"an array of the same library as {first!r} ({arrays[first]})",
                                 f"a {type(present[name]).__module__}.{type(present[name]).__name__}")
    out = dict(present)
    if layer == "reference":
        for name in arrays:
            out[name] = _to_numpy(present[name])
        like: Any = None
    else:
        like = next((present[k] for k in arrays if kinds.get(k) == "float"), None)
        if like is None and arrays:
            like = present[next(iter(arrays))]
    for name, lib in libraries.items():
        if lib == "python":
            out[name] = _from_python(present[name], kinds.get(name, "float"), layer, like)
    floats = [k for k in out if kinds.get(k) == "float" and hasattr(out[k], "dtype")]
    for name in floats:
        if not _is_float_dtype(out[name]):
            raise DTypeError(method_id, name, "a real floating dtype (integer and boolean arrays are not converted)",
                             f"dtype {str(out[name].dtype).replace('torch.', '')}")
    if layer == "accelerated" and len({out[k].dtype for k in floats}) > 1:
        import array_api_compat

        xp = array_api_compat.array_namespace(*[out[k] for k in floats])
        wide = xp.result_type(*[out[k].dtype for k in floats])
        for name in floats:
            if out[name].dtype != wide:
                out[name] = xp.astype(out[name], wide)
    return out


def _from_python(value: Any, kind: str, layer: Layer, like: Any) -> Any:
    a = np.asarray(value)
    if kind == "float" and (a.dtype == object or np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        a = a.astype(np.float64) if a.dtype != bool else a
    if layer == "reference" or like is None or library(like) == "numpy":
        if like is not None and kind == "float" and np.issubdtype(a.dtype, np.floating):
            a = a.astype(like.dtype)
        return a
    if library(like) == "torch":
        import torch

        t = torch.as_tensor(a, device=like.device)
        return t.to(like.dtype) if kind == "float" and t.is_floating_point() else t
    import cupy

    c = cupy.asarray(a)
    return c.astype(like.dtype) if kind == "float" and c.dtype.kind == "f" else c
