"""How a third-party implementation is checked: pinned parameters, accepted conventions, layout.

``entropy-atlas check`` and :func:`conformance.assert_conforms` take these options so that someone
else's function can be audited without writing a wrapper module:

* ``params`` — parameters pinned to one value (``--param mode=token-mean``): every drawn and curated
  case holds them, and properties that would change them do not run; a pinned parameter that the
  function's signature does not have is held fixed but not passed;
* ``accept`` — named conventions (``--accept cross_entropy:all_ignored_nan``): the documented other
  forms of the spec's differences (:class:`spec.model.Difference`) that the implementation may follow;
  a case passes when it matches our reference *or* an accepted convention, and the report counts the
  cases on which each convention was needed;
* ``class_axis`` — where the function expects the category axis (``--class-axis 1`` for
  torch/scipy-style class dimensions): inputs and outputs are moved there and back around each call
  (an array with ``class_axis`` dimensions or fewer keeps categories last, as torch's ``(C,)`` input);
* ``third_party`` — the function is not ours: its errors level accepts any ``ValueError`` /
  ``TypeError`` (our own code must raise our classes, naming the argument).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spec.errors import EntropyAtlasError
from spec.model import Difference, MethodSpec

__all__ = ["CheckOptions", "UsageError", "adapt", "category_symbol", "nearest", "resolve_conventions"]


class UsageError(EntropyAtlasError, ValueError):
    """A misuse of the harness (unknown method, parameter, convention, backend/dtype pair ...).

    The message is one line and says how to fix it.
    """


@dataclass(frozen=True)
class CheckOptions:
    """Options for checking an implementation (see the module docstring)."""

    params: Mapping[str, object] = field(default_factory=dict)
    accept: tuple[str, ...] = ()
    class_axis: int | None = None
    third_party: bool = False

    @property
    def default(self) -> bool:
        return not self.params and not self.accept and self.class_axis is None and not self.third_party


def nearest(word: str, choices: list[str], n: int = 3) -> str:
    """``" (did you mean a, b?)"`` for the closest choices, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def resolve_conventions(spec: MethodSpec, names: tuple[str, ...]) -> dict[str, Difference]:
    """Accepted convention names (``id:name`` or ``name``) to the spec's executable differences."""
    known = spec.conventions()
    out: dict[str, Difference] = {}
    for raw in names:
        method, _, name = raw.rpartition(":")
        if method and method != spec.id:
            raise UsageError(f"--accept {raw}: that convention belongs to {method!r}, not {spec.id!r}")
        if name not in known:
            listed = ", ".join(f"{spec.id}:{k}" for k in known) or "none"
            raise UsageError(f"--accept {raw}: {spec.id} has no convention {name!r}{nearest(name, list(known))}; "
                             f"its conventions: {listed}")
        d = known[name]
        if not d.executable:
            runnable = ", ".join(f"{spec.id}:{k}" for k, v in known.items() if v.executable) or "none"
            raise UsageError(f"--accept {raw}: documented ({d.topic}: {d.code}) but without an executable form yet, "
                             f"so a check cannot compare against it; executable conventions of {spec.id}: {runnable}")
        out[name] = d
    return out


def validate(spec: MethodSpec, options: CheckOptions) -> None:
    """Unknown pinned parameters, values outside their domain and unknown conventions are usage errors."""
    names = [p.name for p in spec.params]
    for name, value in options.params.items():
        if name not in names:
            raise UsageError(f"--param {name}: {spec.id} has no parameter {name!r}{nearest(name, names)}; "
                             f"its parameters: {', '.join(names) or 'none'}")
        p = spec.param(name)
        if not p.contains(value):
            raise UsageError(f"--param {name}={value!r}: expected {p.domain.describe()}")
    resolve_conventions(spec, options.accept)
    if options.class_axis is not None and category_symbol(spec) is None:
        raise UsageError(f"--class-axis: {spec.id} has no category axis (its inputs: "
                         f"{', '.join(f'{i.name}{tuple(i.shape)}' for i in spec.inputs)})")


def category_symbol(spec: MethodSpec) -> str | None:
    """The shape symbol of the category axis: the last symbol of the first input shaped ``(..., V)``."""
    for inp in spec.inputs:
        if len(inp.shape) >= 2 and inp.shape[0] == "..." and inp.shape[-1] != "...":
            return inp.shape[-1]
    return None


def _move(x: Any, source: int, axis: int) -> Any:
    """Move ``source`` to ``axis`` (clamped to the array's last axis) in any array library."""
    if x is None or not hasattr(x, "ndim") or x.ndim < 2:
        return x
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    target = min(axis, x.ndim - 1)
    src = source % x.ndim
    return x if src == target else xp.moveaxis(x, src, target)


def _accepted_keywords(fn: Callable[..., Any]) -> set[str] | None:
    """The keyword names ``fn`` accepts, or None when it takes ``**kwargs`` or has no inspectable signature."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {name for name, p in sig.parameters.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY}


def adapt(fn: Callable[..., Any], spec: MethodSpec, options: CheckOptions) -> Callable[..., Any]:
    """``fn`` wrapped so that it sees categories on ``options.class_axis``, and so that pinned parameters its
    signature does not have are held fixed in the cases but not passed (a token-mean-only loss has no ``mode``)."""
    accepted = _accepted_keywords(fn)
    hidden = {k for k in options.params if accepted is not None and k not in accepted}
    if hidden:
        inner = fn

        def without_hidden(*args: Any, **kwargs: Any) -> Any:
            return inner(*args, **{k: v for k, v in kwargs.items() if k not in hidden})

        without_hidden.__name__ = getattr(fn, "__name__", "adapted")
        without_hidden.__wrapped__ = fn  # type: ignore[attr-defined]
        fn = without_hidden
    axis = options.class_axis
    symbol = category_symbol(spec)
    if axis is None or symbol is None:
        return fn
    moved_in = {i.name for i in spec.inputs if i.shape and i.shape[-1] == symbol and "..." in i.shape}
    moved_out = [bool(o.shape) and o.shape[-1] == symbol for o in spec.outputs]
    order = [i.name for i in spec.inputs if i.positional and not i.optional]

    def adapted(*args: Any, **kwargs: Any) -> Any:
        named = {**dict(zip(order, args, strict=False)), **kwargs}
        shaped = [tuple(v.shape) for k, v in named.items() if k in moved_in and hasattr(v, "shape")]
        # an input declared without the category axis that has exactly the shape of one that has it (probability
        # targets of cross_entropy, shaped like the logits) carries categories last too
        moves = {k for k, v in named.items() if k in moved_in or (hasattr(v, "shape") and tuple(v.shape) in shaped)}
        args = tuple(_move(a, -1, axis) if k < len(order) and order[k] in moves else a for k, a in enumerate(args))
        kwargs = {k: _move(v, -1, axis) if k in moves else v for k, v in kwargs.items()}
        out = fn(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return tuple(_back(o, axis) if k < len(moved_out) and moved_out[k] else o for k, o in enumerate(out))
        return _back(out, axis) if moved_out and moved_out[0] else out

    adapted.__name__ = getattr(fn, "__name__", "adapted")
    adapted.__wrapped__ = fn  # type: ignore[attr-defined]
    return adapted


def _back(x: Any, axis: int) -> Any:
    if x is None or not hasattr(x, "ndim") or x.ndim < 2:
        return x
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    src = min(axis, x.ndim - 1)
    return x if src == x.ndim - 1 else xp.moveaxis(x, src, -1)
